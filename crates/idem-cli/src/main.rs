//! `idem`: one binary for the broker and its tools.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use idem_broker::config::{self, BrokerConfig};

mod tools;

#[derive(Debug, Parser)]
#[command(
    name = "idem",
    version,
    about = "A Kafka-compatible broker whose idempotent producers land exactly once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker: the Kafka protocol on 127.0.0.1:9092, data in ./idem-data.
    #[command(after_long_help = config::settings_help())]
    Serve(ServeArgs),
    /// Run a fault-injecting Kafka proxy in front of a broker (idem or Kafka).
    #[command(after_long_help = PROXY_HELP)]
    Proxy(ProxyArgs),
    /// Send lines of standard input (or a file) as records, idempotently.
    #[command(after_long_help = PRODUCE_HELP)]
    Produce(tools::ProduceArgs),
    /// Print records of a topic (kcat-style --format).
    #[command(after_long_help = CONSUME_HELP)]
    Consume(tools::ConsumeArgs),
    /// Create, list, describe or delete topics.
    #[command(subcommand, after_long_help = TOPICS_HELP)]
    Topics(tools::TopicsCommand),
    /// Show the producer ids, epochs and last sequences a partition remembers.
    #[command(after_long_help = PRODUCERS_HELP)]
    Producers(tools::ProducersArgs),
    /// Measure throughput and latency.
    #[command(subcommand, after_long_help = BENCH_HELP)]
    Bench(tools::BenchCommand),
    /// Prove exactly-once: producers through lost acks and kill -9 restarts, then a checker.
    #[command(after_long_help = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// The Duplicate Fighter, live: a broker, the fault proxy and a producer behind a web page.
    #[command(after_long_help = DEMO_HELP)]
    Demo(DemoArgs),
}

const DEMO_HELP: &str =
    "Starts, in this process, a broker on a temporary directory, the fault proxy in front of it,
a producer driven by the page's buttons and a web server; prints the URL (it opens nothing).
Ctrl-C stops everything and removes the temporary data.

EXAMPLES:
  idem demo                          # http://127.0.0.1:8080
  idem demo --http 0.0.0.0:8080      # reachable from other machines, by IP address
                                     # (host names other than localhost get 403)";

const VERIFY_HELP: &str =
    "Runs its own broker (this binary's `serve`, on free 127.0.0.1 ports and a fresh data
directory under --out) behind an in-process proxy that loses produce responses, kills it
with SIGKILL at random intervals and restarts it, then reads every partition from offset 0
and checks: lost, duplicated, reordered, gaps, wrong offset, inconsistent offset,
unacknowledged values stored twice. Writes OUT/history.jsonl (every value's fate, every kill and restart),
OUT/summary.json and OUT/summary.md, and prints the summary table.

EXAMPLES:
  idem verify --kills 20                                # about two minutes
  idem verify --duration 60m --kills 300 --rate 2500    # the long run of RELIABILITY.md
  idem verify --self-test                               # dedupe off: must find duplicates

EXIT CODES: 0 no anomaly (and the --require-* numbers reached); 1 an anomaly, a number not
reached, or an error; with --self-test, 0 only if duplicates were found.";

const PRODUCE_HELP: &str = "EXAMPLES:
  printf 'a\\nb\\n' | idem produce -t orders
  idem produce -t orders -K : -f keyed.txt              # lines 'key:value'
  idem produce -t orders -H source=cli -z zstd -X linger.ms=20
  idem produce -t orders --report acks.jsonl < lines.txt   # offsets per record, as JSON lines

EXIT CODES: 0 every record acknowledged; 1 any record not delivered, or an error; 2 bad usage.";

const CONSUME_HELP: &str = "EXAMPLES:
  idem consume -t orders                                 # from the beginning to the end, values
  idem consume -t orders -o end --follow                 # new records as they come
  idem consume -t orders -p 0 -o 1200 -c 10 -f '%o %k=%s\\n'
  idem consume -t orders -o @1767225600000               # from a timestamp (ms)
  idem consume -t orders -G billing                      # as a member of group billing,
                                                         # from its committed offsets";

const TOPICS_HELP: &str = "EXAMPLES:
  idem topics create orders -p 3 -c retention.ms=86400000
  idem topics list
  idem topics describe orders
  idem topics delete orders";

const PRODUCERS_HELP: &str = "EXAMPLES:
  idem producers orders
  idem producers orders -p 0

LAST_OFFSET and LAST_APPEND_MS are idem extensions (tagged fields other brokers do not send);
against Kafka they show '-'.";

const BENCH_HELP: &str = "EXAMPLES:
  idem bench produce -n 1000000 -s 100
  idem bench produce -n 200000 -s 1024 --partitions 3 --json
  idem bench produce --throughput 50000 -n 500000        # latency at a fixed rate";

const PROXY_HELP: &str = "RULES: API:ACTION[:SELECTOR][:ms=D], first match wins.
  API       produce, fetch, metadata, init-producer-id, ... (kebab case), a key number, or any
  ACTION    drop-response  forward, swallow the response, close: a lost acknowledgement
            delay          hold the response ms= milliseconds
            reset-before   close without forwarding
            reset-after    forward, then close before the response
            duplicate      forward twice, drop the copy's response
            blackhole      swallow the request, never answer
  SELECTOR  every=N | first=N | prob=P (seeded by --seed); none: every request

EXAMPLES:
  idem proxy --upstream 127.0.0.1:9092 --listen 127.0.0.1:19092 --rule produce:drop-response:every=10
  idem proxy --upstream 127.0.0.1:9092 --rule produce:drop-response:first=1 --control 127.0.0.1:19099
  curl -X PUT --data 'fetch:delay:prob=0.5:ms=200' http://127.0.0.1:19099/rules
  curl http://127.0.0.1:19099/stats";

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where to serve the page, host:port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    http: String,
    /// How long each request is shown in flight before its answer (ms), for the eye.
    #[arg(long, value_name = "MS", default_value_t = 400)]
    wire_delay_ms: u64,
    /// Log filter (RUST_LOG syntax).
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    log: String,
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    init_logs(&args.log)?;
    runtime()?.block_on(async move {
        let signals = Signals::new()?;
        let running =
            idem_demo::start(&args.http, Duration::from_millis(args.wire_delay_ms)).await?;
        let dir = running.demo.data_dir().to_path_buf();
        println!("Duplicate Fighter: http://{}/", running.addr);
        println!("data: {} (removed on exit); Ctrl-C to stop", dir.display());
        signals.wait().await;
        running.stop().await?;
        println!("stopped; removed {}", dir.display());
        Ok(())
    })
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Directory for the history, the summary, the broker's log and data (must not hold data).
    #[arg(long, value_name = "DIR", default_value = "verify-out")]
    out: PathBuf,
    /// Idempotent producers (idem's client).
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Partitions of the test topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Kill the broker (SIGKILL) at least this many times.
    #[arg(long, default_value_t = 5)]
    kills: u32,
    /// Run at least this long (e.g. 90s, 60m, 2h); kills go on until both are reached.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    duration: Duration,
    /// Least time from a restart to the next kill (ms).
    #[arg(long, value_name = "MS", default_value_t = 3_000)]
    kill_min_ms: u64,
    /// Most time from a restart to the next kill (ms).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    kill_max_ms: u64,
    /// Records per second, all producers together.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Probability that the proxy loses a produce response after the broker handled it.
    #[arg(long, value_name = "P", default_value_t = 0.05)]
    drop: f64,
    /// Seed of every random choice (kill times, lost responses).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A broker setting for the run, NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Fail unless at least this many values were acknowledged.
    #[arg(long, value_name = "N", default_value_t = 0)]
    require_acked: u64,
    /// Fail unless the proxy lost at least this many produce responses.
    #[arg(long, value_name = "N", default_value_t = 0)]
    require_forced_retries: u64,
    /// Check the checker: run with dedupe switched off in the broker
    /// (idem.unsafe.disable.dedupe=true); succeed only if duplicates are reported.
    #[arg(long)]
    self_test: bool,
    /// Log filter (RUST_LOG syntax) for verify itself (the proxy's per-fault lines are at
    /// info, its upstream-refused lines during restarts at warn).
    #[arg(long, value_name = "FILTER", default_value = "info,idem_proxy=error")]
    log: String,
}

/// `90s`, `60m`, `2h`, `1500ms` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit (ms, s, m, h)"))?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n.saturating_mul(1_000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        other => return Err(format!("{other:?} is not a unit: use ms, s, m or h")),
    };
    Ok(Duration::from_millis(ms))
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    init_logs(&args.log)?;
    let mut sets = args.set.clone();
    if args.self_test {
        sets.push("idem.unsafe.disable.dedupe=true".into());
    }
    let options = idem_verify::Options {
        idem_bin: std::env::current_exe().context("the path of this binary")?,
        out: args.out.clone(),
        data_dir: None,
        producers: args.producers,
        partitions: args.partitions,
        kills: args.kills,
        duration: args.duration,
        kill_interval: (
            Duration::from_millis(args.kill_min_ms),
            Duration::from_millis(args.kill_max_ms),
        ),
        rate: args.rate,
        drop_probability: args.drop,
        seed: args.seed,
        broker_sets: sets,
        drain_timeout: Duration::from_secs(300),
    };
    let report = runtime()?.block_on(idem_verify::run(&options))?;
    println!("{}", report.table());
    println!("history: {}", args.out.join("history.jsonl").display());
    let a = &report.anomalies;
    if args.self_test {
        if a.duplicated + a.unacked_duplicated == 0 {
            anyhow::bail!("self-test failed: with dedupe off the checker found no duplicate");
        }
        println!(
            "self-test passed: with dedupe off the checker found {} duplicated values",
            a.duplicated + a.unacked_duplicated
        );
        return Ok(());
    }
    if a.total() > 0 {
        anyhow::bail!("{} anomalies (see the table above)", a.total());
    }
    if report.totals.acked < args.require_acked {
        anyhow::bail!(
            "only {} values acknowledged, {} required",
            report.totals.acked,
            args.require_acked
        );
    }
    if report.forced_retries < args.require_forced_retries {
        anyhow::bail!(
            "only {} forced retries, {} required",
            report.forced_retries,
            args.require_forced_retries
        );
    }
    println!(
        "exactly once: {} acknowledged values, each stored once, in order, at its offset",
        report.totals.acked
    );
    Ok(())
}

#[derive(Debug, Args)]
struct ProxyArgs {
    /// The broker to forward to, host:port.
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:19092")]
    listen: String,
    /// Address written into Metadata/FindCoordinator/DescribeCluster responses (default: the
    /// bound address), so clients keep connecting through the proxy.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// A fault rule (repeatable); see RULES below.
    #[arg(long = "rule", value_name = "RULE")]
    rules: Vec<String>,
    /// Seed of the random generator behind prob= rules.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// HTTP control port: GET /stats, GET /rules, PUT /rules, POST /rules.
    #[arg(long, value_name = "HOST:PORT")]
    control: Option<String>,
    /// Log filter (RUST_LOG syntax).
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Settings file (TOML, Kafka's setting names; see SETTINGS below).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (log.dirs).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on, host:port (listeners).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address clients are told to connect to, host:port (advertised.listeners).
    #[arg(long, value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// Serve /metrics (Prometheus text) over HTTP at host:port (idem.http.listener).
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    /// Any setting by its Kafka name, e.g. --set log.segment.bytes=1048576 (repeatable;
    /// wins over the file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Log filter (RUST_LOG syntax), e.g. info or idem_broker=debug.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Proxy(args) => proxy(args),
        Command::Produce(args) => client(tools::produce(args)),
        Command::Consume(args) => client(tools::consume(args)),
        Command::Topics(command) => client(tools::topics(command)),
        Command::Producers(args) => client(tools::producers(args)),
        Command::Bench(args) => client(tools::bench(args)),
        Command::Verify(args) => verify(args),
        Command::Demo(args) => demo(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idem: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn broker_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read settings file {}", path.display()))?;
        config::load_toml(&mut config, &text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("settings file {}", path.display()))?;
    }
    for kv in &args.set {
        let (name, value) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv:?}: expected NAME=VALUE"))?;
        config::apply_setting(&mut config, name.trim(), value).map_err(anyhow::Error::msg)?;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(listen) = &args.listen {
        config::apply_setting(&mut config, "listeners", listen).map_err(anyhow::Error::msg)?;
    }
    if let Some(http) = &args.http {
        config::apply_setting(&mut config, "idem.http.listener", http)
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(adv) = &args.advertised_listener {
        config::apply_setting(&mut config, "advertised.listeners", adv)
            .map_err(anyhow::Error::msg)?;
    }
    Ok(config)
}

fn init_logs(filter: &str) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter)
                .with_context(|| format!("--log {filter:?}"))?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

/// Runs a client command; its logs (warnings only by default) go to standard error.
fn client(command: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_string());
    init_logs(&filter)?;
    runtime()?.block_on(command)
}

fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    init_logs(&args.log)?;
    let rules = args
        .rules
        .iter()
        .map(|r| idem_proxy::Rule::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let config = idem_proxy::ProxyConfig {
        listen: args.listen,
        upstream: args.upstream,
        advertise: args.advertise,
        rules,
        seed: args.seed,
        control: args.control,
    };
    runtime()?.block_on(async move {
        let signals = Signals::new()?;
        let proxy = idem_proxy::Proxy::start(config).await?;
        println!("idem proxy listening on {}", proxy.addr);
        if let Some(control) = proxy.control_addr {
            println!("control: http://{control}/stats");
        }
        signals.wait().await;
        let stats = stats_line(&proxy);
        eprintln!("{stats}");
        Ok(())
    })
}

fn stats_line(proxy: &idem_proxy::Proxy) -> String {
    let s = proxy.stats.snapshot();
    format!(
        "proxy stats: connections={} requests={:?} faults={:?} rewritten={}",
        s.connections, s.requests, s.faults, s.rewritten
    )
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(&args.log)?;
    let config = broker_config(&args)?;
    runtime()?.block_on(async move {
        let signals = Signals::new()?;
        let running = idem_broker::start(config).await?;
        let stop = running.shutdown_handle();
        tokio::spawn(async move {
            signals.wait().await;
            tracing::info!("signal received: stopping");
            let _ = stop.send(true);
        });
        running.wait().await
    })
}

/// SIGTERM and SIGINT, registered when created: a signal that arrives before the waiting
/// starts is not lost (nor does it kill the process uncleanly).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listen for SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
