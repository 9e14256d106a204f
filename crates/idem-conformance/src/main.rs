//! `idem-conformance`: plays the same scenarios against several Kafka-protocol brokers (the
//! first is the reference, normally Apache Kafka) and compares what they answered and stored.
//!
//! ```text
//! idem-conformance --broker kafka=127.0.0.1:9292 --broker idem=127.0.0.1:9092 \
//!     --out target/conformance --allow interop/conformance/allow.txt
//! ```
//!
//! Each scenario runs on its own fresh topics (`conf-<run>-<scenario>-<alias>`, `<run>`
//! random per broker run) with its own producer ids, so scenarios are independent and a
//! broker needs no restart between them. Exit status: 0 when every scenario gave the same
//! observation on every broker or differed only where the allow-list says so; 1 otherwise
//! (including a scenario that failed to run); 2 when the run itself could not be made.

mod batches;
mod client;
mod compare;
mod ctx;
mod observation;
mod report;
mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;

use crate::compare::{differences, Allowance, Difference};
use crate::ctx::Ctx;
use crate::observation::Observation;
use crate::scenarios::Scenario;

/// A scenario that takes longer than this on one broker is an error (the slowest waits 1.5 s).
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a broker may take to answer InitProducerId at the start (Kafka allocates its
/// first producer id block from the controller).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    name = "idem-conformance",
    about = "Plays idempotence, produce-validation and protocol scenarios against Kafka-protocol brokers and compares their answers."
)]
struct Cli {
    /// A broker, NAME=HOST:PORT; repeat for each. The first is the reference (Kafka).
    #[arg(
        long = "broker",
        value_name = "NAME=HOST:PORT",
        required_unless_present = "list"
    )]
    brokers: Vec<String>,
    /// Where to write conformance.md and observations.json.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Known differences: `scenario-id[/path]  reason` per line.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Run only the scenarios whose id contains PATTERN (repeatable: any of them).
    #[arg(long, value_name = "PATTERN")]
    only: Vec<String>,
    /// Print the scenario table and exit.
    #[arg(long)]
    list: bool,
}

/// A broker under test.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    /// Random per run: keeps topic names unique across runs against the same broker.
    pub(crate) run_id: String,
}

/// What a broker did with one scenario.
pub(crate) type Outcome = Result<Observation, String>;

/// The verdict of one scenario across brokers, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// It failed to run on some broker.
    Error,
    /// A difference no allow-list entry covers.
    Different,
    /// Differences, all covered by the allow-list.
    Allowed,
    /// The same observation everywhere.
    Same,
}

/// One scenario's outcomes on every broker and the comparison.
#[derive(Debug)]
pub(crate) struct ScenarioReport {
    pub(crate) scenario: Scenario,
    /// One per broker, in `--broker` order.
    pub(crate) outcomes: Vec<Outcome>,
    /// Per non-reference broker (index into brokers, from 1): its differences.
    pub(crate) differences: Vec<(usize, Vec<Difference>)>,
    pub(crate) verdict: Verdict,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list {
        for s in scenarios::all() {
            println!("{:<36} {:<12} {}", s.id, s.family, s.title);
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("idem-conformance: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("idem-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs everything; `Ok(passed)`.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let out = cli.out.context("--out is required")?;
    let brokers = cli
        .brokers
        .iter()
        .enumerate()
        .map(|(i, spec)| parse_broker(spec, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if brokers.len() < 2 {
        bail!("give at least two --broker NAME=HOST:PORT (the first is the reference)");
    }
    let allow = match &cli.allow {
        Some(file) => compare::read_allow_list(file)?,
        None => Vec::new(),
    };
    let selected: Vec<Scenario> = scenarios::all()
        .into_iter()
        .filter(|s| cli.only.is_empty() || cli.only.iter().any(|p| s.id.contains(p.as_str())))
        .collect();
    if selected.is_empty() {
        bail!("no scenario id contains any of {:?}", cli.only);
    }

    let mut outcomes: Vec<Vec<Outcome>> = Vec::new();
    for broker in &brokers {
        wait_ready(broker).await?;
        eprintln!(
            "== {} ({}), run {}: {} scenarios",
            broker.name,
            broker.addr,
            broker.run_id,
            selected.len()
        );
        let mut per_broker = Vec::new();
        for s in &selected {
            let started = Instant::now();
            let outcome = run_one(broker, s).await;
            eprintln!(
                "   {:<36} {:>6} ms  {}",
                s.id,
                started.elapsed().as_millis(),
                match &outcome {
                    Ok(o) => o.summary(),
                    Err(e) => format!("ERROR: {e}"),
                }
            );
            per_broker.push(outcome);
        }
        outcomes.push(per_broker);
    }

    let reports: Vec<ScenarioReport> = selected
        .iter()
        .enumerate()
        .map(|(i, s)| judge(*s, outcomes.iter().map(|o| o[i].clone()).collect(), &allow))
        .collect();
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    report::write(&out, &brokers, &reports, &allow)?;
    let counts = report::Counts::of(&reports);
    eprintln!(
        "== {} scenarios: {} same, {} allowed, {} DIFFERENT, {} errors; report in {}",
        reports.len(),
        counts.same,
        counts.allowed,
        counts.different,
        counts.error,
        out.join("conformance.md").display()
    );
    Ok(counts.different == 0 && counts.error == 0)
}

fn parse_broker(spec: &str, index: usize) -> anyhow::Result<Broker> {
    use std::net::ToSocketAddrs;
    let (name, addr) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--broker {spec}: want NAME=HOST:PORT"))?;
    let addr = addr
        .to_socket_addrs()
        .with_context(|| format!("--broker {spec}"))?
        .next()
        .ok_or_else(|| anyhow!("--broker {spec}: no address"))?;
    Ok(Broker {
        name: name.to_string(),
        addr,
        run_id: run_id(index),
    })
}

/// Six base-36 characters from the clock and the process id: unique enough per run.
fn run_id(salt: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut x = nanos ^ (u128::from(std::process::id()) << 64) ^ (salt as u128 * 0x9E37_79B9);
    // A few rounds of xorshift so consecutive runs do not share a prefix.
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|i| alphabet[((x >> (i * 6)) % 36) as usize] as char)
        .collect()
}

/// Waits until the broker hands out a producer id (Kafka needs its first id block first).
async fn wait_ready(broker: &Broker) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let attempt = async {
            let mut c = Ctx::new(broker.addr, &broker.run_id, "ready").await?;
            c.producer().await
        };
        match attempt.await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                bail!("{} ({}) is not ready: {e:#}", broker.name, broker.addr)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn run_one(broker: &Broker, s: &Scenario) -> Outcome {
    let body = async {
        let mut c = Ctx::new(broker.addr, &broker.run_id, s.id).await?;
        (s.run)(&mut c).await?;
        c.finish().await
    };
    match tokio::time::timeout(SCENARIO_TIMEOUT, body).await {
        Ok(Ok(o)) => Ok(o),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("did not finish within {SCENARIO_TIMEOUT:?}")),
    }
}

fn judge(scenario: Scenario, outcomes: Vec<Outcome>, allow: &[Allowance]) -> ScenarioReport {
    let mut verdict = Verdict::Same;
    let mut all_differences = Vec::new();
    if outcomes.iter().any(Result::is_err) {
        verdict = Verdict::Error;
    } else if let Some(Ok(reference)) = outcomes.first() {
        for (i, other) in outcomes.iter().enumerate().skip(1) {
            let Ok(other) = other else { continue };
            let d = differences(scenario.id, reference, other, allow);
            let v = if d.is_empty() {
                Verdict::Same
            } else if d.iter().all(|d| d.allowed_by.is_some()) {
                Verdict::Allowed
            } else {
                Verdict::Different
            };
            verdict = verdict.min(v);
            all_differences.push((i, d));
        }
    }
    ScenarioReport {
        scenario,
        outcomes,
        differences: all_differences,
        verdict,
    }
}
