//! Broker counters, shared by every connection and partition. Plain atomics: the hot path
//! pays one relaxed increment per event.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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

/// A value that goes up and down (bytes held, for instance), with its high-water mark.
#[derive(Debug, Default)]
pub struct Gauge {
    value: AtomicU64,
    peak: AtomicU64,
}

impl Gauge {
    /// Adds `n` and raises the high-water mark if passed.
    pub fn add(&self, n: u64) {
        let now = self.value.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
    /// Subtracts `n` (saturating: a bug must not wrap the gauge to 2^64).
    pub fn sub(&self, n: u64) {
        let _ = self
            .value
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
    /// The highest value since start.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the fsync latency buckets, in microseconds (the last bucket is +Inf).
pub const FSYNC_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// A latency histogram with fixed buckets (Prometheus' cumulative `le` buckets are computed
/// when rendered; each observation is one relaxed increment here).
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; FSYNC_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = FSYNC_BUCKETS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(FSYNC_BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket (the last is the total), and the sum in microseconds.
    pub fn snapshot(&self) -> (Vec<u64>, u64) {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        (cumulative, self.sum_us.load(Ordering::Relaxed))
    }
}

/// One counter per API key.
#[derive(Debug)]
pub struct ByApi(pub [Counter; 128]);

impl Default for ByApi {
    fn default() -> ByApi {
        ByApi(std::array::from_fn(|_| Counter::default()))
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
    /// Batches refused with INVALID_RECORD because they reuse the epoch and sequence range
    /// of a stored batch with other records (Kafka would answer them as duplicates).
    pub duplicate_payload_mismatches: Counter,
    /// Duplicates whose bytes differed from the stored batch only in timestamps (a client
    /// re-stamped its retry, or a LogAppendTime rewrite); answered as duplicates.
    pub duplicate_restamped: Counter,
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
    /// Requests by API key (keys above 127 land in 127: none exists today).
    pub requests_by_api: ByApi,
    /// Error codes answered, by (API key, code): per partition for Produce, Fetch,
    /// ListOffsets and DeleteRecords, per topic for Metadata, CreateTopics, DeleteTopics and
    /// CreatePartitions, whole-response for InitProducerId. Guarded by a mutex: errors are
    /// rare next to requests.
    pub errors: Mutex<BTreeMap<(i16, i16), u64>>,
    /// fdatasync latency on the produce path.
    pub fsync_latency: Histogram,
    /// Bytes of Fetch responses granted from `idem.response.memory.bytes`: built and not yet
    /// written to their socket.
    pub response_bytes_held: Gauge,
    /// Fetches that waited for response memory.
    pub response_memory_waits: Counter,
    /// Connections not read because their unwritten responses reached
    /// `idem.response.memory.per.connection.bytes`.
    pub connections_read_paused: Gauge,
    /// Connections closed because a response made no write progress for
    /// `idem.response.write.timeout.ms`.
    pub connections_write_stalled: Counter,
}

impl Metrics {
    /// The response memory series in Prometheus text (appended to `/metrics`).
    pub fn render_response_memory(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP idem_response_bytes_held Bytes of Fetch responses built and not yet written (idem.response.memory.bytes).\n# TYPE idem_response_bytes_held gauge\nidem_response_bytes_held {}",
            self.response_bytes_held.get()
        );
        let _ = writeln!(
            out,
            "# HELP idem_response_bytes_held_peak Highest idem_response_bytes_held since start.\n# TYPE idem_response_bytes_held_peak gauge\nidem_response_bytes_held_peak {}",
            self.response_bytes_held.peak()
        );
        let _ = writeln!(
            out,
            "# HELP idem_response_memory_waits_total Fetches that waited for response memory.\n# TYPE idem_response_memory_waits_total counter\nidem_response_memory_waits_total {}",
            self.response_memory_waits.get()
        );
        let _ = writeln!(
            out,
            "# HELP idem_connections_read_paused Connections not read until their responses drain (idem.response.memory.per.connection.bytes).\n# TYPE idem_connections_read_paused gauge\nidem_connections_read_paused {}",
            self.connections_read_paused.get()
        );
        let _ = writeln!(
            out,
            "# HELP idem_connections_write_stalled_total Connections closed because a response made no write progress for idem.response.write.timeout.ms.\n# TYPE idem_connections_write_stalled_total counter\nidem_connections_write_stalled_total {}",
            self.connections_write_stalled.get()
        );
    }

    /// Counts a request of this API.
    pub fn request(&self, api_key: i16) {
        self.requests.inc();
        self.requests_by_api.0[usize::try_from(api_key).unwrap_or(127).min(127)].inc();
    }

    /// Counts each error code of a response (zeros are ignored).
    pub fn errors_of(&self, api_key: i16, codes: impl IntoIterator<Item = i16>) {
        for code in codes {
            self.error(api_key, code);
        }
    }

    /// Counts an error code answered (0 is not an error and is ignored).
    pub fn error(&self, api_key: i16, code: i16) {
        if code != 0 {
            *self
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((api_key, code))
                .or_default() += 1;
        }
    }
}
