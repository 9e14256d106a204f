//! Client settings under Kafka's names, validated the way Kafka's Java client validates them.

use std::collections::BTreeMap;
use std::time::Duration;

use idem_wire::compression::Codec;

use crate::connection::ConnectionConfig;
use crate::error::{Error, Result};

/// Settings as `name = value` pairs, with Kafka's names (`bootstrap.servers`, `acks`,
/// `enable.idempotence`, `linger.ms`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    values: BTreeMap<String, String>,
}

/// Every setting this client reads; anything else is ignored with a warning, as the Java
/// client logs unused configs.
const KNOWN: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "acks",
    "enable.idempotence",
    "retries",
    "max.in.flight.requests.per.connection",
    "delivery.timeout.ms",
    "linger.ms",
    "batch.size",
    "buffer.memory",
    "compression.type",
    "max.request.size",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "max.block.ms",
    "stop.on.data.loss",
    "fetch.max.wait.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "auto.offset.reset",
    "isolation.level",
    "group.id",
    "group.instance.id",
    "session.timeout.ms",
    "max.poll.interval.ms",
    "heartbeat.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "partition.assignment.strategy",
];

impl ClientConfig {
    /// Empty settings.
    pub fn new() -> ClientConfig {
        ClientConfig::default()
    }

    /// Sets one value.
    pub fn set(mut self, name: &str, value: impl ToString) -> ClientConfig {
        self.values.insert(name.to_string(), value.to_string());
        self
    }

    /// A value, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| Error::Config(format!("{name}={v:?} is not valid"))),
        }
    }

    fn millis(&self, name: &str, default: u64) -> Result<Duration> {
        Ok(Duration::from_millis(self.parsed(name, default)?))
    }

    fn warn_unknown(&self) {
        for k in self.values.keys() {
            if !KNOWN.contains(&k.as_str()) {
                tracing::warn!("ignoring unknown setting {k}");
            }
        }
    }

    /// `bootstrap.servers`, required.
    pub fn bootstrap_servers(&self) -> Result<String> {
        self.get("bootstrap.servers")
            .map(str::to_string)
            .ok_or_else(|| Error::Config("bootstrap.servers is required".into()))
    }

    /// Connection settings.
    pub fn connection(&self) -> Result<ConnectionConfig> {
        Ok(ConnectionConfig {
            client_id: self.get("client.id").unwrap_or("idem-rust").to_string(),
            request_timeout: self.millis("request.timeout.ms", 30_000)?,
            connect_timeout: self.millis("socket.connection.setup.timeout.ms", 10_000)?,
            ..ConnectionConfig::default()
        })
    }

    /// Producer settings, validated as Kafka's `ProducerConfig` does (KAFKA-13673): with
    /// `enable.idempotence=true` set explicitly, `acks` other than all, `retries=0` or more
    /// than 5 requests in flight are errors; with idempotence only by default, the same
    /// conflicts turn it off with a warning.
    pub fn producer(&self) -> Result<ProducerSettings> {
        self.warn_unknown();
        let acks = match self.get("acks").unwrap_or("all") {
            "all" | "-1" => -1,
            "1" => 1,
            "0" => 0,
            other => {
                return Err(Error::Config(format!(
                    "acks={other:?} must be all, -1, 0 or 1"
                )))
            }
        };
        let retries: i64 = self.parsed("retries", i64::from(i32::MAX))?;
        let max_in_flight: usize = self.parsed("max.in.flight.requests.per.connection", 5)?;
        if max_in_flight == 0 {
            return Err(Error::Config(
                "max.in.flight.requests.per.connection must be >= 1".into(),
            ));
        }
        let explicit = self.get("enable.idempotence");
        let idempotence = match explicit {
            None => {
                let conflicts = conflicts(acks, retries, max_in_flight);
                if let Some(why) = &conflicts {
                    tracing::warn!("idempotence disabled because {why}; set enable.idempotence=true to make this an error");
                }
                conflicts.is_none()
            }
            Some("true") => {
                if let Some(why) = conflicts(acks, retries, max_in_flight) {
                    return Err(Error::Config(format!(
                        "enable.idempotence=true cannot be used with {why}"
                    )));
                }
                true
            }
            Some("false") => false,
            Some(other) => {
                return Err(Error::Config(format!(
                    "enable.idempotence={other:?} must be true or false"
                )))
            }
        };
        let linger = self.millis("linger.ms", 5)?;
        let request_timeout = self.millis("request.timeout.ms", 30_000)?;
        let delivery_timeout = match self.get("delivery.timeout.ms") {
            Some(_) => {
                let d = self.millis("delivery.timeout.ms", 120_000)?;
                if d < linger + request_timeout {
                    return Err(Error::Config(
                        "delivery.timeout.ms must be at least linger.ms + request.timeout.ms"
                            .into(),
                    ));
                }
                d
            }
            // Java raises the default to the sum when the other two are larger.
            None => Duration::from_millis(120_000).max(linger + request_timeout),
        };
        let compression = match self.get("compression.type").unwrap_or("none") {
            "none" => Codec::None,
            "gzip" => Codec::Gzip,
            "snappy" => Codec::Snappy,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            other => {
                return Err(Error::Config(format!(
                    "compression.type={other:?} must be none, gzip, snappy, lz4 or zstd"
                )))
            }
        };
        // 1,000,000 like librdkafka and franz-go, not Java's 16384: one Produce request
        // carries one batch per partition, so small batches cap a busy partition at
        // (5 in flight × 16 KiB) per round trip. Memory stays bounded by buffer.memory.
        let batch_size: usize = self.parsed("batch.size", 1_000_000)?;
        let max_request_size: usize = self.parsed("max.request.size", 1_048_576)?;
        Ok(ProducerSettings {
            acks,
            idempotence,
            retries,
            max_in_flight,
            delivery_timeout,
            linger,
            batch_size: batch_size.max(1),
            buffer_memory: self.parsed("buffer.memory", 32 << 20)?,
            compression,
            max_request_size,
            retry_backoff: self.millis("retry.backoff.ms", 100)?,
            retry_backoff_max: self.millis("retry.backoff.max.ms", 1000)?,
            max_block: self.millis("max.block.ms", 60_000)?,
            stop_on_data_loss: self.parsed("stop.on.data.loss", false)?,
        })
    }

    /// Consumer settings.
    pub fn consumer(&self) -> Result<ConsumerSettings> {
        self.warn_unknown();
        let reset = match self.get("auto.offset.reset").unwrap_or("latest") {
            "earliest" => Reset::Earliest,
            "latest" => Reset::Latest,
            "none" => Reset::None,
            other => {
                return Err(Error::Config(format!(
                    "auto.offset.reset={other:?} must be earliest, latest or none"
                )))
            }
        };
        let read_committed = match self.get("isolation.level").unwrap_or("read_uncommitted") {
            "read_uncommitted" => false,
            "read_committed" => true,
            other => return Err(Error::Config(format!("isolation.level={other:?}"))),
        };
        Ok(ConsumerSettings {
            fetch_max_wait: self.millis("fetch.max.wait.ms", 500)?,
            fetch_min_bytes: self.parsed("fetch.min.bytes", 1)?,
            fetch_max_bytes: self.parsed("fetch.max.bytes", 52_428_800)?,
            max_partition_fetch_bytes: self.parsed("max.partition.fetch.bytes", 1_048_576)?,
            reset,
            read_committed,
        })
    }
}

fn conflicts(acks: i16, retries: i64, max_in_flight: usize) -> Option<String> {
    if acks != -1 {
        Some(format!("acks={acks} (idempotence needs acks=all)"))
    } else if retries == 0 {
        Some("retries=0 (idempotence needs retries)".into())
    } else if max_in_flight > 5 {
        Some(format!(
            "max.in.flight.requests.per.connection={max_in_flight} (at most 5 keep order)"
        ))
    } else {
        None
    }
}

/// Resolved producer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSettings {
    /// -1, 0 or 1.
    pub acks: i16,
    /// Idempotence in effect.
    pub idempotence: bool,
    /// Retries of a batch (unlimited within the delivery timeout by default).
    pub retries: i64,
    /// Requests in flight per broker.
    pub max_in_flight: usize,
    /// Time from `send` to giving up on a record.
    pub delivery_timeout: Duration,
    /// Time a batch waits for more records.
    pub linger: Duration,
    /// Bytes of records per batch before it is sent.
    pub batch_size: usize,
    /// Bytes of records buffered before `send` waits.
    pub buffer_memory: usize,
    /// Codec of every batch.
    pub compression: Codec,
    /// Largest request.
    pub max_request_size: usize,
    /// Pause before a retry.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the cap of the exponential backoff between attempts that
    /// keep failing (metadata, producer id).
    pub retry_backoff_max: Duration,
    /// Longest `send` waits for buffer space.
    pub max_block: Duration,
    /// (idem) Fail instead of skipping ahead when the broker's acknowledgements show a gap.
    pub stop_on_data_loss: bool,
}

impl ProducerSettings {
    /// The pause before attempt `failures + 1` of something that keeps failing: doubling
    /// from `retry.backoff.ms` up to `retry.backoff.max.ms`, as Kafka's clients do (without
    /// their jitter: one producer per process here has no herd to spread).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self.retry_backoff.saturating_mul(1u32 << failures.min(16));
        doubled.min(self.retry_backoff_max.max(self.retry_backoff))
    }
}

/// What to do without a valid position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// Start from the log start.
    Earliest,
    /// Start from the end.
    Latest,
    /// Fail.
    None,
}

/// Resolved consumer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Long-poll wait.
    pub fetch_max_wait: Duration,
    /// Bytes a fetch waits for.
    pub fetch_min_bytes: i32,
    /// Bytes per fetch response.
    pub fetch_max_bytes: i32,
    /// Bytes per partition per fetch.
    pub max_partition_fetch_bytes: i32,
    /// `auto.offset.reset`
    pub reset: Reset,
    /// `isolation.level=read_committed`
    pub read_committed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ClientConfig {
        ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092")
    }

    #[test]
    fn idempotence_is_on_by_default_with_kafkas_defaults() {
        let p = base().producer().expect("valid");
        assert!(p.idempotence);
        assert_eq!((p.acks, p.max_in_flight), (-1, 5));
        assert_eq!(p.delivery_timeout, Duration::from_secs(120));
        assert_eq!(p.retries, i64::from(i32::MAX));
    }

    #[test]
    fn explicit_idempotence_with_conflicts_is_an_error_default_is_disabled() {
        for (k, v) in [
            ("acks", "1"),
            ("retries", "0"),
            ("max.in.flight.requests.per.connection", "6"),
        ] {
            let err = base()
                .set("enable.idempotence", "true")
                .set(k, v)
                .producer()
                .expect_err("conflict");
            assert!(matches!(err, Error::Config(_)), "{k}={v}");
            let p = base().set(k, v).producer().expect("silently disabled");
            assert!(!p.idempotence, "{k}={v}");
        }
    }

    #[test]
    fn delivery_timeout_must_cover_linger_and_request_timeout() {
        assert!(base()
            .set("delivery.timeout.ms", "1000")
            .producer()
            .is_err());
        let p = base()
            .set("request.timeout.ms", "200000")
            .producer()
            .expect("raised");
        assert_eq!(p.delivery_timeout, Duration::from_millis(200_005));
    }
}
