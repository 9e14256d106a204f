//! A pure-Rust Kafka client for idem (and any Kafka broker): an idempotent-by-default
//! producer, a consumer with explicit assignment, and an admin client.
//!
//! - [`Producer`]: exactly-once-per-partition writes through retries and lost
//!   acknowledgements, with Kafka's Java-client rules (see [`producer`]).
//! - [`Consumer`]: assign, seek, long-poll.
//! - [`GroupConsumer`]: subscribe in a consumer group (classic protocol, range or
//!   roundrobin), committed offsets, rebalances.
//! - [`Admin`]: topics, partitions, offsets, producer state, configs.
//! - [`ClientConfig`]: settings under Kafka's names.
//!
//! Below them, [`connection::Connection`] pipelines requests on one socket and
//! [`cluster::Cluster`] keeps metadata and one connection per broker.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod consumer;
mod error;
pub mod group;
pub mod producer;

pub use admin::{Admin, NewTopic, OffsetSpec};
pub use config::ClientConfig;
pub use consumer::{Consumer, ConsumerRecord, Seek};
pub use error::{Error, KafkaCode, Result};
pub use group::{Assignor, GroupConsumer};
pub use producer::{Producer, ProducerRecord, RecordMetadata};

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
