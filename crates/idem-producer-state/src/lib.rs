//! The idempotent-producer state of one partition: Kafka's dedupe rules, and nothing else.
//!
//! For every producer id that wrote to the partition, the table keeps the producer epoch and
//! the metadata of its last [`BATCHES_TO_RETAIN`] batches (sequence range, offsets, max
//! timestamp, CRC). A new batch is judged against it in Kafka's order
//! (`UnifiedLog.analyzeAndValidateProducerState`, `ProducerAppendInfo`):
//!
//! 1. same epoch and exactly the (first, last) sequence range of a cached batch: a duplicate,
//!    answered with the original offsets and not written again;
//! 2. an older epoch: INVALID_PRODUCER_EPOCH;
//! 3. a newer epoch must start at sequence 0, the same epoch must continue at last + 1
//!    (wrapping from `i32::MAX` to 0), an unknown producer may start anywhere; otherwise
//!    OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! Before the table, [`check_issued`] refuses producer ids the cluster never handed out
//! (UNKNOWN_PRODUCER_ID), and a duplicate whose records differ from the stored batch is
//! refused by the caller with [`Rejection::ReusedSequence`] (INVALID_RECORD): both are
//! places where idem is stricter than Kafka (interop/conformance/allow.txt).
//!
//! Judging never mutates: [`ProducerStateTable::check`] returns a [`Decision`] holding a
//! [`StagedAppend`], and [`ProducerStateTable::commit`] applies it only after the log append
//! succeeded, with the offset the log assigned. A failed append simply drops the staged value.
//!
//! The same table serves the produce path, start-up recovery ([`ProducerStateTable::replay`]
//! applies stored batches without checks, as Kafka's REPLICATION origin does), snapshots
//! ([`snapshot`]) and introspection. It does no I/O and reads no clock: callers pass the time.

mod sequence;
pub mod snapshot;
mod table;

pub use sequence::{in_sequence, increment_sequence};
pub use table::{
    check_issued, BatchInfo, BatchMetadata, Decision, Duplicate, ProducerEntry, ProducerStateTable,
    Rejection, StagedAppend,
};

/// Batches remembered per producer: the client keeps at most 5 requests in flight, so any
/// batch appended but not acknowledged is among the newest 5 (KAFKA-5494).
pub const BATCHES_TO_RETAIN: usize = 5;

/// Producer id of a batch without one.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch without one; also the stored epoch of a producer first seen
/// without an epoch (after which Kafka applies no sequence checks to it).
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Sequence of a batch without one.
pub const NO_SEQUENCE: i32 = -1;
