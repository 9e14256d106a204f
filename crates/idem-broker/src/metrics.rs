//! Broker counters, shared by every connection and partition. Plain atomics: the hot path
//! pays one relaxed increment per event.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds one and returns the new value.
    pub fn inc_get(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the broker counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Batches appended.
    pub batches_appended: Counter,
    /// Records appended.
    pub records_appended: Counter,
    /// Bytes appended.
    pub bytes_appended: Counter,
    /// Retried batches answered with their original offsets, nothing written.
    pub duplicates: Counter,
    /// Duplicates whose bytes differed from the original (same epoch and sequence range).
    pub duplicate_payload_mismatches: Counter,
    /// OUT_OF_ORDER_SEQUENCE_NUMBER answers.
    pub out_of_order: Counter,
    /// INVALID_PRODUCER_EPOCH answers.
    pub fenced_epochs: Counter,
    /// Batches refused by validation (CRC, format, size, timestamps).
    pub invalid_batches: Counter,
    /// Producer ids handed out.
    pub producer_ids_allocated: Counter,
    /// Producers forgotten by expiry.
    pub producers_expired: Counter,
    /// fdatasync calls on the produce path.
    pub fsyncs: Counter,
    /// Connections accepted.
    pub connections_accepted: Counter,
    /// Connections closed because of a protocol error.
    pub connections_refused: Counter,
    /// Requests handled.
    pub requests: Counter,
}
