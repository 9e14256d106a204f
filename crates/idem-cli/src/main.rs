//! `idem`: one binary for the broker and its tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use idem_broker::config::{self, BrokerConfig};

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
    if let Some(adv) = &args.advertised_listener {
        config::apply_setting(&mut config, "advertised.listeners", adv)
            .map_err(anyhow::Error::msg)?;
    }
    Ok(config)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .with_context(|| format!("--log {:?}", args.log))?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = broker_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async move {
        let running = idem_broker::start(config).await?;
        let stop = running.shutdown_handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: stopping");
            let _ = stop.send(true);
        });
        running.wait().await
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
