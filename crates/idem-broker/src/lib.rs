//! The idem broker: the Kafka wire protocol over tokio, on top of `idem-log` and
//! `idem-producer-state`.
//!
//! - [`server`]: listener, connections (pipelined requests answered in order), shutdown.
//! - `handlers`: one module per Kafka API.
//! - [`broker`]: topics and partitions, the catalog, producer ids.
//! - [`partition`]: a partition's log and producer state under one lock; the produce path;
//!   the flush policy and high watermark.
//! - [`config`]: settings under Kafka's names.
//! - [`catalog`] and [`pid`]: durable broker metadata and producer id blocks.
//! - [`groups`]: the consumer-group coordinator (`idem-group`) with its log,
//!   `__consumer_offsets`, and the requests parked on it.
//! - [`metrics`], the counters.
//! - `memory`: the byte budget of responses built and not yet written.

pub mod broker;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod dir_lock;
pub mod error_codes;
pub mod groups;
mod handlers;
pub mod http;
pub mod inspect;
mod memory;
pub mod metrics;
pub mod partition;
pub mod pid;
pub mod server;

pub use broker::Broker;
pub use config::BrokerConfig;
pub use server::{start, RunningBroker};
