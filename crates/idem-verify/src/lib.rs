//! `idem verify`: a Jepsen-style single-node test of exactly-once, per partition.
//!
//! N idempotent producers (idem's client) write unique values `p{i}:{partition}:{seq}` to P
//! partitions through an in-process [`idem_proxy::Proxy`] that loses produce responses after
//! the broker handled them (forcing retries of appended batches), while a nemesis kills the
//! broker (an `idem serve` child) with SIGKILL at random intervals and starts it again on the
//! same data directory. At the end every partition is read from offset 0, straight from the
//! broker, and [`checker::check`] compares it with what each producer was told.
//!
//! Everything random (kill times, which responses are lost) comes from one seed.

pub mod broker;
pub mod checker;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use idem_client::{
    Admin, ClientConfig, Consumer, NewTopic, OffsetSpec, Producer, ProducerRecord, Seek,
};
use idem_proxy::{Proxy, ProxyConfig, Rule};
use serde::Serialize;

use broker::BrokerProcess;
use checker::{Anomalies, Outcome, Stored, Streams, Totals};

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `idem` binary that runs the broker.
    pub idem_bin: PathBuf,
    /// Where the history, the summary, the broker's log and (unless `data_dir`) its data go.
    pub out: PathBuf,
    /// Broker data directory; `out/data` if unset. Must be empty or absent.
    pub data_dir: Option<PathBuf>,
    /// Producers.
    pub producers: usize,
    /// Partitions of the test topic.
    pub partitions: i32,
    /// Kill the broker at least this many times.
    pub kills: u32,
    /// Run at least this long (kills go on until both are reached).
    pub duration: Duration,
    /// Time between a restart and the next kill: uniform in this range.
    pub kill_interval: (Duration, Duration),
    /// Records per second, all producers together.
    pub rate: u64,
    /// Probability that the proxy loses a produce response (and closes the connection).
    pub drop_probability: f64,
    /// The seed of every random choice.
    pub seed: u64,
    /// Broker settings (`NAME=VALUE`), e.g. `idem.unsafe.disable.dedupe=true` for the self-test.
    pub broker_sets: Vec<String>,
    /// How long producers may take to deliver what is still pending when the workload stops.
    pub drain_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            idem_bin: PathBuf::from("idem"),
            out: PathBuf::from("verify-out"),
            data_dir: None,
            producers: 4,
            partitions: 8,
            kills: 5,
            duration: Duration::ZERO,
            kill_interval: (Duration::from_secs(3), Duration::from_secs(10)),
            rate: 2_000,
            drop_probability: 0.05,
            seed: 1,
            broker_sets: Vec::new(),
            drain_timeout: Duration::from_secs(300),
        }
    }
}

/// What a run found, as written to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Producers, partitions, rate, drop probability.
    pub producers: usize,
    /// Partitions.
    pub partitions: i32,
    /// Target records per second.
    pub rate: u64,
    /// Probability of a lost produce response.
    pub drop_probability: f64,
    /// Broker settings given.
    pub broker_sets: Vec<String>,
    /// Seconds of workload (before the drain).
    pub workload_seconds: f64,
    /// Seconds of the whole run.
    pub total_seconds: f64,
    /// SIGKILLs sent to the broker.
    pub kills: u32,
    /// Restart times (spawn to accepting connections), ms: median and maximum.
    pub restart_ms_median: f64,
    /// Largest restart time, ms.
    pub restart_ms_max: f64,
    /// Produce requests the proxy forwarded.
    pub produce_requests: u64,
    /// Produce responses the proxy lost after the broker handled the request: each forces a
    /// retry of batches the broker (unless killed meanwhile) had appended.
    pub forced_retries: u64,
    /// Retried batches the broker answered from its dedupe window (sum over broker
    /// lifetimes of `idem_duplicates_total`, scraped before each kill: a lower bound).
    pub dedupe_hits: u64,
    /// Duplicates whose bytes differed from the original (`idem_duplicate_payload_mismatches_total`).
    pub payload_mismatches: u64,
    /// Counts of values sent, acknowledged, failed, unknown, read back.
    pub totals: Totals,
    /// Anomalies found by the checker.
    pub anomalies: Anomalies,
    /// The first client errors seen (delivery failures), with counts.
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    /// A Markdown table of the run.
    pub fn table(&self) -> String {
        let a = &self.anomalies;
        let t = &self.totals;
        let mut s = String::new();
        let mut row = |k: &str, v: String| s.push_str(&format!("| {k} | {v} |\n"));
        row("seed", self.seed.to_string());
        row(
            "workload",
            format!(
                "{} producers, {} partitions, {} records/s, lost responses p={}",
                self.producers, self.partitions, self.rate, self.drop_probability
            ),
        );
        if !self.broker_sets.is_empty() {
            row("broker settings", self.broker_sets.join(" "));
        }
        row(
            "duration",
            format!(
                "{:.1} s workload, {:.1} s total",
                self.workload_seconds, self.total_seconds
            ),
        );
        row(
            "kill -9",
            format!(
                "{} (restart median {:.1} ms, max {:.1} ms)",
                self.kills, self.restart_ms_median, self.restart_ms_max
            ),
        );
        row("produce requests", self.produce_requests.to_string());
        row(
            "forced retries (responses lost by the proxy)",
            self.forced_retries.to_string(),
        );
        row(
            "broker dedupe hits (idem_duplicates_total)",
            format!("≥ {}", self.dedupe_hits),
        );
        row(
            "duplicate payload mismatches",
            self.payload_mismatches.to_string(),
        );
        row("values sent", t.attempted.to_string());
        row("acknowledged", t.acked.to_string());
        row("failed", t.failed.to_string());
        row("unknown (no answer)", t.unknown.to_string());
        row("records read back", t.stored.to_string());
        row(
            "unacknowledged values found in the log",
            t.unacked_stored.to_string(),
        );
        row("**lost**", a.lost.to_string());
        row("**duplicated**", a.duplicated.to_string());
        row(
            "**unacknowledged duplicated**",
            a.unacked_duplicated.to_string(),
        );
        row("**reordered**", a.reordered.to_string());
        row("**gaps**", a.gaps.to_string());
        row("**wrong offset**", a.wrong_offset.to_string());
        row("**inconsistent offset**", a.inconsistent_offset.to_string());
        row("**foreign**", a.foreign.to_string());
        let mut out = String::from("| | |\n|---|---|\n");
        out.push_str(&s);
        for e in &a.examples {
            out.push_str(&format!("\n- {e}"));
        }
        if !self.errors.is_empty() {
            out.push_str("\n\nclient errors:");
            for (e, n) in &self.errors {
                out.push_str(&format!("\n- {n} × {e}"));
            }
        }
        out.push('\n');
        out
    }
}

const TOPIC: &str = "idem-verify";

/// One line of `history.jsonl`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Event<'a> {
    /// A value's fate, written when it is known.
    Write {
        producer: &'a str,
        partition: i32,
        seq: usize,
        sent_ms: u64,
        done_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Kill {
        at_ms: u64,
        pid: Option<u32>,
        dedupe_hits_in_lifetime: u64,
    },
    Start {
        at_ms: u64,
        ready_ms: f64,
        pid: Option<u32>,
    },
    Unknown {
        producer: &'a str,
        partition: i32,
        seq: usize,
    },
}

/// History lines, written from a thread of their own so producers never wait on the disk.
#[derive(Debug, Clone)]
struct History {
    tx: std::sync::mpsc::Sender<String>,
    epoch: Instant,
}

impl History {
    fn open(
        path: &Path,
    ) -> anyhow::Result<(History, std::thread::JoinHandle<std::io::Result<()>>)> {
        let file =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let writer = std::thread::spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            for line in rx {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.flush()
        });
        Ok((
            History {
                tx,
                epoch: Instant::now(),
            },
            writer,
        ))
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn log(&self, e: &Event<'_>) {
        if let Ok(line) = serde_json::to_string(e) {
            let _ = self.tx.send(line);
        }
    }
}

/// A small seeded generator (splitmix64) for the nemesis.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (
            lo.as_millis() as u64,
            hi.as_millis().max(lo.as_millis()) as u64,
        );
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(l.local_addr()?.port())
}

/// What one producer task learned: outcomes per partition, and error texts.
type ProducerResult = (Vec<Vec<Outcome>>, BTreeMap<String, u64>);

/// Runs the workload, the nemesis and the checker; writes `history.jsonl`, `summary.json`
/// and `summary.md` to `options.out`.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let run_started = Instant::now();
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("create {}", options.out.display()))?;
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| options.out.join("data"));
    if data_dir.exists()
        && std::fs::read_dir(&data_dir)
            .with_context(|| format!("read {}", data_dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: a run needs a fresh data directory",
            data_dir.display()
        );
    }
    if options.producers == 0 || options.partitions <= 0 || options.rate == 0 {
        bail!("producers, partitions and rate must be positive");
    }
    let (history, writer) = History::open(&options.out.join("history.jsonl"))?;

    let addr = format!("127.0.0.1:{}", free_port()?);
    let http = format!("127.0.0.1:{}", free_port()?);
    let mut broker = BrokerProcess::new(
        &options.idem_bin,
        &data_dir,
        &options.out.join("broker.log"),
        addr.clone(),
        http,
        options.broker_sets.clone(),
    );
    let ready = broker.start().await?;
    let mut restarts = vec![ready.as_secs_f64() * 1000.0];
    history.log(&Event::Start {
        at_ms: history.ms(Instant::now()),
        ready_ms: restarts[0],
        pid: broker.pid(),
    });

    let direct = ClientConfig::new().set("bootstrap.servers", &addr);
    let admin = Admin::new(&direct)?;
    admin
        .create_topics(&[NewTopic::new(TOPIC, options.partitions)])
        .await?
        .remove(0)
        .context("create the test topic")?;
    drop(admin);

    let rule = Rule::parse(&format!(
        "produce:drop-response:prob={}",
        options.drop_probability
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let proxy = Proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".into(),
        upstream: addr.clone(),
        advertise: None,
        rules: if options.drop_probability > 0.0 {
            vec![rule]
        } else {
            Vec::new()
        },
        seed: options.seed,
        control: None,
    })
    .await?;

    // The producers.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let per_producer = options.rate as f64 / options.producers as f64;
    for i in 0..options.producers {
        let config = ClientConfig::new()
            .set("bootstrap.servers", proxy.addr.to_string())
            .set("client.id", format!("idem-verify-p{i}"))
            .set("enable.idempotence", "true")
            .set("linger.ms", 2)
            // Long enough that nothing expires across kills and restarts: every value gets
            // an answer, so the checker judges every one.
            .set("delivery.timeout.ms", 3_600_000)
            .set("request.timeout.ms", 30_000)
            .set("retry.backoff.max.ms", 500);
        let producer = Producer::new(&config)?;
        tasks.push(tokio::spawn(produce(
            format!("p{i}"),
            producer,
            options.partitions,
            per_producer,
            Arc::clone(&stop),
            Arc::clone(&sent),
            history.clone(),
            options.drain_timeout,
        )));
    }

    // The nemesis, in this task.
    let workload_started = Instant::now();
    let mut rng = Rng(options.seed ^ 0x6e65_6d65_7369_7321);
    let mut kills = 0u32;
    let mut dedupe_hits = 0u64;
    let mut mismatches = 0u64;
    loop {
        let wait = rng.between(options.kill_interval.0, options.kill_interval.1);
        let enough = kills >= options.kills && workload_started.elapsed() >= options.duration;
        if enough {
            break;
        }
        // Do not sleep past the end when no more kills are due.
        let wait = if kills >= options.kills {
            wait.min(options.duration.saturating_sub(workload_started.elapsed()))
        } else {
            wait
        };
        tokio::time::sleep(wait).await;
        if kills >= options.kills && workload_started.elapsed() >= options.duration {
            break;
        }
        // Scrape right before the kill: the counter dies with the process.
        let hits = broker.counter("idem_duplicates_total").await.unwrap_or(0);
        mismatches += broker
            .counter("idem_duplicate_payload_mismatches_total")
            .await
            .unwrap_or(0);
        dedupe_hits += hits;
        let pid = broker.pid();
        broker.kill().await?;
        kills += 1;
        history.log(&Event::Kill {
            at_ms: history.ms(Instant::now()),
            pid,
            dedupe_hits_in_lifetime: hits,
        });
        let ready = broker.start().await?;
        restarts.push(ready.as_secs_f64() * 1000.0);
        history.log(&Event::Start {
            at_ms: history.ms(Instant::now()),
            ready_ms: ready.as_secs_f64() * 1000.0,
            pid: broker.pid(),
        });
        tracing::info!(
            kills,
            sent = sent.load(Ordering::Relaxed),
            restart_ms = ready.as_millis() as u64,
            "broker killed and restarted"
        );
    }
    let workload_seconds = workload_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let mut streams = Streams::new();
    let mut errors = BTreeMap::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (outcomes, errs) = task.await.context("producer task")??;
        for (partition, o) in outcomes.into_iter().enumerate() {
            streams.insert((format!("p{i}"), partition as i32), o);
        }
        for (e, n) in errs {
            *errors.entry(e).or_insert(0) += n;
        }
    }
    for ((producer, partition), outcomes) in &streams {
        for (seq, o) in outcomes.iter().enumerate() {
            if *o == Outcome::Unknown {
                history.log(&Event::Unknown {
                    producer,
                    partition: *partition,
                    seq,
                });
            }
        }
    }
    let forced_retries = proxy.stats.faults("drop-response");
    let produce_requests = proxy
        .stats
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&0)
        .copied()
        .unwrap_or(0);
    drop(proxy);
    dedupe_hits += broker.counter("idem_duplicates_total").await.unwrap_or(0);
    mismatches += broker
        .counter("idem_duplicate_payload_mismatches_total")
        .await
        .unwrap_or(0);

    let log = read_back(&direct, options.partitions).await?;
    broker.stop().await?;
    let (anomalies, totals) = checker::check(&streams, &log);
    drop(history);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("history writer panicked"))?
        .context("write history.jsonl")?;

    restarts.sort_by(f64::total_cmp);
    let report = Report {
        seed: options.seed,
        producers: options.producers,
        partitions: options.partitions,
        rate: options.rate,
        drop_probability: options.drop_probability,
        broker_sets: options.broker_sets.clone(),
        workload_seconds,
        total_seconds: run_started.elapsed().as_secs_f64(),
        kills,
        restart_ms_median: restarts[restarts.len() / 2],
        restart_ms_max: restarts.last().copied().unwrap_or(0.0),
        produce_requests,
        forced_retries,
        dedupe_hits,
        payload_mismatches: mismatches,
        totals,
        anomalies,
        errors,
    };
    std::fs::write(
        options.out.join("summary.json"),
        serde_json::to_string_pretty(&report)?,
    )
    .context("write summary.json")?;
    std::fs::write(options.out.join("summary.md"), report.table()).context("write summary.md")?;
    Ok(report)
}

/// One producer: values round robin over the partitions at a steady rate until told to
/// stop, then waits (up to `drain`) for every answer.
#[allow(clippy::too_many_arguments)]
async fn produce(
    name: String,
    producer: Producer,
    partitions: i32,
    rate: f64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    history: History,
    drain: Duration,
) -> anyhow::Result<ProducerResult> {
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); partitions as usize];
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut pending = FuturesUnordered::new();
    let mut start = Instant::now();
    let mut n = 0u64;
    let record = |outcomes: &mut Vec<Vec<Outcome>>,
                  errors: &mut BTreeMap<String, u64>,
                  (partition, seq, at, result): (
        i32,
        usize,
        Instant,
        idem_client::Result<idem_client::RecordMetadata>,
    )| {
        let (offset, error) = match result {
            Ok(m) => {
                outcomes[partition as usize][seq] = Outcome::Acked(m.offset);
                (Some(m.offset), None)
            }
            Err(e) => {
                outcomes[partition as usize][seq] = Outcome::Failed;
                let text = e.to_string();
                *errors.entry(text.clone()).or_insert(0) += 1;
                (None, Some(text))
            }
        };
        history.log(&Event::Write {
            producer: &name,
            partition,
            seq,
            sent_ms: history.ms(at),
            done_ms: history.ms(Instant::now()),
            offset,
            error,
        });
    };
    while !stop.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        let now = Instant::now();
        if due > now {
            // Collect answers while waiting for the next send.
            let sleep = tokio::time::sleep_until(due.into());
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    Some(done) = pending.next(), if !pending.is_empty() => {
                        record(&mut outcomes, &mut errors, done);
                    }
                }
            }
        } else if now - due > Duration::from_secs(1) {
            // Far behind (the broker was down and sends blocked): do not burst to catch up.
            start = now;
            n = 0;
        }
        let partition = (n % partitions as u64) as i32;
        let seq = outcomes[partition as usize].len();
        let value = format!("{name}:{partition}:{seq}");
        outcomes[partition as usize].push(Outcome::Unknown);
        let at = Instant::now();
        match producer
            .send(ProducerRecord::new(TOPIC, value).partition(partition))
            .await
        {
            Ok(f) => pending.push(async move { (partition, seq, at, f.await) }),
            Err(e) => record(&mut outcomes, &mut errors, (partition, seq, at, Err(e))),
        }
        n += 1;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let deadline = tokio::time::Instant::now() + drain;
    let flush = producer.flush();
    tokio::pin!(flush);
    let mut flushed = false;
    while !(flushed && pending.is_empty()) {
        tokio::select! {
            Some(done) = pending.next(), if !pending.is_empty() => {
                record(&mut outcomes, &mut errors, done);
            }
            r = &mut flush, if !flushed => {
                flushed = true;
                if let Err(e) = r {
                    tracing::warn!(producer = %name, "flush: {e}");
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!(producer = %name, pending = pending.len(), "drain timed out; the rest stays unknown");
                break;
            }
        }
    }
    drop(pending);
    let _ = producer.close(Duration::from_secs(5)).await;
    Ok((outcomes, errors))
}

/// Reads every partition from offset 0 to its end, straight from the broker.
async fn read_back(config: &ClientConfig, partitions: i32) -> anyhow::Result<Vec<Stored>> {
    let admin = Admin::new(config)?;
    let mut ends = Vec::new();
    for p in 0..partitions {
        ends.push(
            admin
                .list_offset(TOPIC, p, OffsetSpec::Latest)
                .await?
                .offset,
        );
    }
    let mut consumer = Consumer::new(config)?;
    let assigned: Vec<(&str, i32)> = (0..partitions).map(|p| (TOPIC, p)).collect();
    consumer.assign(&assigned);
    for p in 0..partitions {
        consumer.seek(TOPIC, p, Seek::Earliest).await?;
    }
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done =
            (0..partitions).all(|p| consumer.position(TOPIC, p).unwrap_or(0) >= ends[p as usize]);
        if done {
            break;
        }
        if Instant::now() > deadline {
            bail!("reading the partitions back did not finish within 10 minutes");
        }
        for r in consumer.poll(Duration::from_millis(500), 100_000).await? {
            if r.offset < ends[r.partition as usize] {
                log.push(Stored {
                    partition: r.partition,
                    offset: r.offset,
                    value: r.value.map(|v| v.to_vec()).unwrap_or_default(),
                });
            }
        }
    }
    Ok(log)
}
