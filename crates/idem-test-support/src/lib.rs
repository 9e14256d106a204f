//! Test helpers shared by idem's integration tests (never used by the shipped binary).
//!
//! - [`Raw`]: one connection speaking the Kafka protocol with `kafka-protocol` types, plus
//!   typed shortcuts for the requests the idempotence tests need.
//! - [`batch`]: record batches with exact control over producer id, epoch and sequence.
//! - [`start`]: an in-process broker on 127.0.0.1:0 in a directory.

mod raw;

pub use raw::{ProduceResult, Raw};

use std::path::Path;

use idem_broker::{BrokerConfig, RunningBroker};

/// Broker settings for a test: loopback, an ephemeral port, `dir` for data, and no initial
/// rebalance delay for groups (as Kafka's own test brokers set it).
pub fn config(dir: &Path) -> BrokerConfig {
    BrokerConfig {
        data_dir: dir.to_path_buf(),
        listener: "127.0.0.1:0".into(),
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    }
}

/// Broker logs in the test output when RUST_LOG is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Starts a broker with default settings in `dir`.
pub async fn start(dir: &Path) -> RunningBroker {
    start_with(config(dir)).await
}

/// Starts an `idem proxy` in front of `upstream` with the given rules (seed 1).
pub async fn proxy(upstream: std::net::SocketAddr, rules: &[&str]) -> idem_proxy::Proxy {
    idem_proxy::Proxy::start(idem_proxy::ProxyConfig {
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_string(),
        advertise: None,
        rules: rules
            .iter()
            .map(|r| idem_proxy::Rule::parse(r).expect("rule"))
            .collect(),
        seed: 1,
        control: None,
    })
    .await
    .expect("proxy starts")
}

/// Starts a broker with the given settings.
pub async fn start_with(config: BrokerConfig) -> RunningBroker {
    init_logs();
    idem_broker::start(config).await.expect("broker starts")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Record batches for tests.
pub mod batch {
    /// A v2 batch as a client sends it (base offset 0): `n` records whose values are
    /// `"{tag}-{i}"`, producer fields as given, timestamps at `timestamp`.
    pub fn build(pid: i64, epoch: i16, seq: i32, n: i32, tag: &str, timestamp: i64) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        idem_wire::batch::client_batch(pid, epoch, seq, timestamp, 0, &refs)
    }

    /// An idempotent batch `B(epoch, seq, n)` of producer `pid`, stamped now.
    pub fn idempotent(pid: i64, epoch: i16, seq: i32, n: i32) -> Vec<u8> {
        build(
            pid,
            epoch,
            seq,
            n,
            &format!("p{pid}e{epoch}s{seq}"),
            super::now_ms(),
        )
    }

    /// A batch without a producer id.
    pub fn plain(n: i32, tag: &str) -> Vec<u8> {
        build(-1, -1, -1, n, tag, super::now_ms())
    }
}
