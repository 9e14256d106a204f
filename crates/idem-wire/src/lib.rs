//! The Kafka wire layer of idem: everything about bytes on the wire, nothing about sockets.
//!
//! - [`frame`]: the 4-byte size prefix, with a maximum checked before any allocation.
//! - [`schema`]: a structural pre-check of request and response bodies, so that a hostile
//!   length or count is refused before `kafka-protocol` allocates for it.
//! - [`request`]: request header parsing and typed decoding of the APIs idem serves.
//! - [`batch`]: the 61-byte record batch v2 header, parsed by hand for the zero-copy produce
//!   path (CRC-32C check, base offset patch).
//! - [`compression`]: codecs with a cap on decompressed bytes.
//! - [`records`]: the records inside a batch, checked in place (Kafka's `LogValidator`).
//! - [`compare`]: whether two batches hold the same records, timestamps aside (a retry
//!   that reuses a sequence range with other records is refused).
//! - [`versions`]: the API versions idem advertises, and which of them it answers.
//!
//! This crate does no I/O and never imports tokio.

pub mod batch;
pub mod compare;
pub mod compression;
pub mod extensions;
pub mod frame;
pub mod records;
pub mod request;
pub mod schema;
pub mod versions;

pub use kafka_protocol;
