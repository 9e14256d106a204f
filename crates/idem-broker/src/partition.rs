//! One partition: its log and its producer state under one lock, so that the dedupe check
//! and the append are a single step.
//!
//! The produce path, under the lock: judge the batch against the producer state, roll the
//! segment if needed (writing a producer snapshot at the new base offset), append, and only
//! then commit the staged producer update with the offset the log assigned. A batch that is
//! refused or whose append fails leaves the producer state as it was.
//!
//! The high watermark is what consumers may read and what acks=all waits for: the synced
//! offset under the `always` flush policy (a flusher task syncs in the background and many
//! concurrent requests share one fdatasync), the log end offset otherwise. A failed write or
//! sync takes the partition offline: waiting requests get KAFKA_STORAGE_ERROR, never an
//! acknowledgement.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use idem_log::{Log, LogError, Storage};
use idem_producer_state::{
    check_issued, snapshot, BatchInfo, Decision, Duplicate, ProducerEntry, ProducerStateTable,
    Rejection,
};
use idem_wire::batch::{self, BatchHeader};
use tokio::sync::{watch, Notify};

use crate::config::{FlushPolicy, TimestampType, TopicConfig};
use crate::error_codes as ec;
use crate::metrics::Metrics;

/// What consumers may read, and whether the partition still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermark {
    /// The high watermark.
    pub high: i64,
    /// A write or sync failed; nothing more is acknowledged.
    pub offline: bool,
}

/// A partition error: Kafka's code and a message for the log and the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// Kafka error code.
    pub code: i16,
    /// Human-readable reason.
    pub message: String,
}

impl PartitionError {
    fn new(code: i16, message: impl Into<String>) -> PartitionError {
        PartitionError {
            code,
            message: message.into(),
        }
    }

    fn from_log(e: &LogError) -> PartitionError {
        match e {
            LogError::OffsetOutOfRange { .. } => {
                PartitionError::new(ec::OFFSET_OUT_OF_RANGE, e.to_string())
            }
            _ => PartitionError::new(ec::KAFKA_STORAGE_ERROR, e.to_string()),
        }
    }
}

/// The outcome of a produce to this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Base offset to answer: the new one, or the original one for a duplicate.
    pub base_offset: i64,
    /// The high watermark that makes the answer durable (last offset + 1).
    pub required_high_watermark: i64,
    /// LogAppendTimeMs to answer.
    pub log_append_time: i64,
    /// True when nothing was written because the batch was already in the log.
    pub duplicate: bool,
}

/// Data read for a fetch.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole record batches.
    pub records: Bytes,
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Log start offset.
    pub log_start_offset: i64,
}

#[derive(Debug)]
struct Inner {
    log: Log,
    producers: ProducerStateTable,
}

/// A partition of a topic.
#[derive(Debug)]
pub struct Partition {
    topic: Arc<str>,
    index: i32,
    config: TopicConfig,
    inner: Mutex<Inner>,
    watermark: watch::Sender<Watermark>,
    flush_wake: Notify,
    closed: AtomicBool,
    metrics: Arc<Metrics>,
}

/// Where a partition lives and what it is.
#[derive(Debug, Clone)]
pub struct Setup {
    /// File system.
    pub storage: Arc<dyn Storage>,
    /// Partition directory.
    pub dir: PathBuf,
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub index: i32,
    /// Effective topic settings.
    pub config: TopicConfig,
    /// Broker counters.
    pub metrics: Arc<Metrics>,
}

/// How the produce path judges a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// Kafka's producer-state rules, and producer ids at or above `issued_below` (never
    /// handed out by InitProducerId) refused.
    On {
        /// Every producer id this cluster handed out is below this.
        issued_below: i64,
        /// Cap on decompressed bytes when a retry's records are compared with the stored
        /// batch's (`idem.max.decompressed.bytes`).
        max_decompressed_bytes: u64,
    },
    /// Every batch appended untracked (`idem.unsafe.disable.dedupe`, and the group
    /// coordinator's own records, which carry no producer id).
    Off,
}

/// Leader epoch stamped on stored batches. A single node never changes leader.
const LEADER_EPOCH: i32 = 0;

impl Partition {
    /// Creates a new, empty partition.
    pub fn create(setup: Setup) -> Result<Partition, LogError> {
        let log = Log::create(setup.storage, &setup.dir, setup.config.log_config())?;
        Ok(Partition::with(
            setup.topic,
            setup.index,
            setup.config,
            log,
            ProducerStateTable::new(),
            setup.metrics,
        ))
    }

    /// A partition whose directory could not be opened: offline from the start (Metadata
    /// shows it with KAFKA_STORAGE_ERROR, Produce and Fetch get KAFKA_STORAGE_ERROR), so
    /// that one damaged partition does not keep the broker down. Its directory is not
    /// touched; the next start tries it again.
    pub fn offline(setup: Setup, reason: String) -> Partition {
        let log = Log::offline(setup.storage, &setup.dir, setup.config.log_config(), reason);
        let partition = Partition::with(
            setup.topic,
            setup.index,
            setup.config,
            log,
            ProducerStateTable::new(),
            setup.metrics,
        );
        partition.publish(&partition.lock());
        partition
    }

    /// Opens an existing partition: recovers the log, then rebuilds the producer state from
    /// the newest valid snapshot plus the batches after it. A snapshot that does not decode
    /// is set aside and the next older one is tried; with none, the whole log is replayed.
    pub fn open(
        setup: Setup,
        clean_shutdown: bool,
        now_ms: i64,
        producer_id_expiration_ms: i64,
    ) -> Result<Partition, LogError> {
        let Setup {
            storage,
            dir,
            topic,
            index,
            config,
            metrics,
        } = setup;
        let (log, report) = Log::open(storage, &dir, config.log_config(), clean_shutdown)?;
        if !report.truncated.is_empty() || !report.dropped_segments.is_empty() {
            tracing::warn!(topic = %topic, partition = index, ?report, "recovered partition log");
        }
        let mut producers = None;
        let mut from = 0;
        for offset in log.snapshot_offsets()?.into_iter().rev() {
            let decoded = log
                .read_snapshot(offset)
                .map_err(|e| e.to_string())
                .and_then(|bytes| snapshot::decode(&bytes).map_err(|e| e.to_string()));
            match decoded {
                Ok((table, end)) if end == offset => {
                    producers = Some(table);
                    from = offset;
                    break;
                }
                Ok((_, end)) => {
                    tracing::warn!(topic = %topic, partition = index, offset, end, "producer snapshot names the wrong offset; setting it aside");
                    log.set_aside_snapshot(offset)?;
                }
                Err(e) => {
                    tracing::warn!(topic = %topic, partition = index, offset, error = %e, "producer snapshot is damaged; setting it aside");
                    log.set_aside_snapshot(offset)?;
                }
            }
        }
        let mut producers = producers.unwrap_or_default();
        let mut replayed = 0usize;
        log.for_each_batch_from(from, |h| {
            replayed += 1;
            producers.replay(&batch_info(h), h.base_offset, now_ms);
        })?;
        let expired = producers.expire(now_ms, producer_id_expiration_ms);
        tracing::debug!(topic = %topic, partition = index, snapshot = from, replayed, expired, producers = producers.len(), "producer state loaded");
        Ok(Partition::with(
            topic, index, config, log, producers, metrics,
        ))
    }

    fn with(
        topic: Arc<str>,
        index: i32,
        config: TopicConfig,
        log: Log,
        producers: ProducerStateTable,
        metrics: Arc<Metrics>,
    ) -> Partition {
        let high = log.log_end_offset();
        let (watermark, _) = watch::channel(Watermark {
            high,
            offline: false,
        });
        Partition {
            topic,
            index,
            config,
            inner: Mutex::new(Inner { log, producers }),
            watermark,
            flush_wake: Notify::new(),
            closed: AtomicBool::new(false),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under this lock is a bug that already failed loudly; the data it guards is
        // consistent at every await-free step, so keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Topic name.
    pub fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// Partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// Effective topic settings.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// The current watermark.
    pub fn watermark(&self) -> Watermark {
        *self.watermark.borrow()
    }

    /// A receiver that wakes when the watermark changes (fetch long-polls).
    pub fn subscribe(&self) -> watch::Receiver<Watermark> {
        self.watermark.subscribe()
    }

    /// `(log start, log end, high watermark)`.
    pub fn offsets(&self) -> (i64, i64, i64) {
        let inner = self.lock();
        (
            inner.log.log_start_offset(),
            inner.log.log_end_offset(),
            self.watermark().high,
        )
    }

    /// Publishes the high watermark the policy allows; wakes fetches and acks=all waits.
    fn publish(&self, inner: &Inner) {
        let high = match self.config.flush_policy {
            FlushPolicy::Always => inner.log.flushed_offset(),
            FlushPolicy::Interval | FlushPolicy::Never => inner.log.log_end_offset(),
        };
        let offline = inner.log.offline_reason().is_some();
        self.watermark.send_if_modified(|w| {
            let next = Watermark {
                high: w.high.max(high),
                offline: w.offline || offline,
            };
            let changed = next != *w;
            *w = next;
            changed
        });
    }

    /// Appends a batch a client sent, after [`idem_wire::batch::validate_client_batch`]
    /// accepted it. With [`Dedupe::Off`] (a debug switch) the producer state is bypassed.
    pub fn produce(
        &self,
        batch_bytes: &[u8],
        header: &BatchHeader,
        now_ms: i64,
        dedupe: Dedupe,
    ) -> Result<Produced, PartitionError> {
        let mut inner = self.lock();
        if let Some(reason) = inner.log.offline_reason() {
            return Err(PartitionError::new(
                ec::KAFKA_STORAGE_ERROR,
                format!("partition is offline: {reason}"),
            ));
        }
        let info = batch_info(header);
        let (decision, max_decompressed) = match dedupe {
            Dedupe::On {
                issued_below,
                max_decompressed_bytes,
            } => match check_issued(&info, issued_below) {
                Ok(()) => (inner.producers.check(&info), max_decompressed_bytes),
                Err(r) => (Decision::Reject(r), 0),
            },
            Dedupe::Off => (Decision::AppendUntracked, 0),
        };
        let staged = match decision {
            Decision::Reject(r) => return Err(self.refuse(r)),
            Decision::Duplicate(d) => {
                if d.content_differs
                    && !self.same_records(&inner, &d, batch_bytes, max_decompressed)
                {
                    self.metrics.duplicate_payload_mismatches.inc();
                    let r = d.reused(&info);
                    tracing::warn!(topic = %self.topic, partition = self.index, "refused batch: {r}");
                    return Err(self.refuse(r));
                }
                self.metrics.duplicates.inc();
                return Ok(Produced {
                    base_offset: d.original.first_offset(),
                    required_high_watermark: d.original.last_offset + 1,
                    log_append_time: d.original.timestamp,
                    duplicate: true,
                });
            }
            Decision::Append(staged) => Some(staged),
            Decision::AppendUntracked => None,
        };
        // Kafka rolls on the validated batch's max timestamp: the append time on LogAppendTime.
        let roll_ts = match self.config.timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => header.max_timestamp,
        };
        if inner.log.should_roll(batch_bytes.len(), roll_ts, now_ms) {
            self.roll(&mut inner)?;
        }
        let log_append_time = match self.config.timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => -1,
        };
        let result = if log_append_time >= 0 {
            let mut copy = batch_bytes.to_vec();
            batch::set_log_append_time(&mut copy, now_ms);
            inner.log.append(&copy, LEADER_EPOCH)
        } else {
            inner.log.append(batch_bytes, LEADER_EPOCH)
        };
        let appended = match result {
            Ok(a) => a,
            Err(e) => {
                self.publish(&inner);
                return Err(PartitionError::from_log(&e));
            }
        };
        if let Some(mut staged) = staged {
            if log_append_time >= 0 {
                // Remember what was stored: a duplicate answers with the original append
                // time. (The client's CRC is kept, so its retry still compares equal; after a
                // restart the replayed CRC is the rewritten one and a retry of such a batch
                // is counted as a payload mismatch, a warning only.)
                staged.set_max_timestamp(log_append_time);
            }
            inner.producers.commit(staged, appended.base_offset, now_ms);
        }
        self.metrics.batches_appended.inc();
        self.metrics
            .records_appended
            .add(u64::try_from(header.records_count).unwrap_or(0));
        self.metrics.bytes_appended.add(batch_bytes.len() as u64);
        self.publish(&inner);
        drop(inner);
        if self.config.flush_policy == FlushPolicy::Always {
            self.flush_wake.notify_one();
        }
        Ok(Produced {
            base_offset: appended.base_offset,
            required_high_watermark: appended.last_offset + 1,
            log_append_time,
            duplicate: false,
        })
    }

    /// Counts a refusal and turns it into the partition's answer.
    fn refuse(&self, r: Rejection) -> PartitionError {
        match r.error_code() {
            ec::OUT_OF_ORDER_SEQUENCE_NUMBER => self.metrics.out_of_order.inc(),
            ec::INVALID_PRODUCER_EPOCH => self.metrics.fenced_epochs.inc(),
            _ => self.metrics.invalid_batches.inc(),
        }
        tracing::debug!(topic = %self.topic, partition = self.index, "refused batch: {r}");
        PartitionError::new(r.error_code(), r.to_string())
    }

    /// Whether a batch with a known sequence range but another CRC holds the records of the
    /// stored one (a retry re-stamped by its client, or a LogAppendTime rewrite). Reads the
    /// stored batch back: this runs only for such retries, never on the normal append path.
    /// When the stored batch cannot be read or decoded (removed by retention meanwhile), the
    /// retry is answered as Kafka answers it, as a duplicate.
    fn same_records(&self, inner: &Inner, d: &Duplicate, batch_bytes: &[u8], max: u64) -> bool {
        let offset = d.original.first_offset();
        let stored = inner
            .log
            .plan_read(offset, inner.log.log_end_offset())
            .and_then(|plan| plan.read(batch_bytes.len(), true));
        let verdict = match stored {
            Ok(stored) => match BatchHeader::parse_prefix(&stored) {
                Ok(h) if h.base_offset == offset => idem_wire::compare::same_records(
                    &stored.slice(..h.total_len().min(stored.len())),
                    &Bytes::copy_from_slice(batch_bytes),
                    max,
                )
                .map_err(|e| e.to_string()),
                Ok(h) => Err(format!("found the batch at {} instead", h.base_offset)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match verdict {
            Ok(same) => {
                if same {
                    self.metrics.duplicate_restamped.inc();
                }
                same
            }
            Err(e) => {
                tracing::warn!(topic = %self.topic, partition = self.index, offset, "cannot compare a retried batch with the stored one ({e}); answering it as a duplicate");
                true
            }
        }
    }

    /// Rolls the active segment and writes a producer snapshot at the new base offset.
    fn roll(&self, inner: &mut Inner) -> Result<(), PartitionError> {
        let base = inner.log.roll().map_err(|e| {
            self.publish(inner);
            PartitionError::from_log(&e)
        })?;
        let bytes = snapshot::encode(&inner.producers, base);
        if let Err(e) = inner.log.write_snapshot(base, &bytes) {
            // The snapshot is a cache of what the log holds; without it a restart replays more.
            tracing::warn!(topic = %self.topic, partition = self.index, error = %e, "could not write producer snapshot");
        }
        self.publish(inner);
        Ok(())
    }

    /// Waits until the high watermark reaches `required` (acks=all), the partition goes
    /// offline (KAFKA_STORAGE_ERROR) or `deadline` passes (REQUEST_TIMED_OUT).
    pub async fn wait_for(&self, required: i64, deadline: tokio::time::Instant) -> Result<(), i16> {
        let mut rx = self.watermark.subscribe();
        loop {
            let w = *rx.borrow_and_update();
            if w.offline {
                return Err(ec::KAFKA_STORAGE_ERROR);
            }
            if w.high >= required {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ec::KAFKA_STORAGE_ERROR),
                Err(_) => return Err(ec::REQUEST_TIMED_OUT),
            }
        }
    }

    /// Syncs under the flush policy until the partition is closed: on every wake-up for
    /// `always` (concurrent appends share one fdatasync), every `flush.ms` for `interval`.
    pub async fn run_flusher(self: Arc<Self>) {
        let period = Duration::from_millis(self.config.flush_ms.max(1));
        loop {
            match self.config.flush_policy {
                FlushPolicy::Always => self.flush_wake.notified().await,
                FlushPolicy::Interval => tokio::time::sleep(period).await,
                FlushPolicy::Never => return,
            }
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            let (file, target) = {
                let inner = self.lock();
                if inner.log.offline_reason().is_some() {
                    return;
                }
                if inner.log.flushed_offset() >= inner.log.log_end_offset() {
                    continue;
                }
                inner.log.sync_target()
            };
            let started = std::time::Instant::now();
            let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
            self.metrics.fsyncs.inc();
            self.metrics.fsync_latency.observe(started.elapsed());
            let mut inner = self.lock();
            match synced {
                Ok(Ok(())) => inner.log.mark_flushed(target),
                Ok(Err(e)) => inner.log.set_offline(format!("fdatasync failed: {e}")),
                Err(e) => inner.log.set_offline(format!("fdatasync task failed: {e}")),
            }
            self.publish(&inner);
            if inner.log.offline_reason().is_some() {
                return;
            }
        }
    }

    /// Stops the flusher (topic deleted or broker stopping).
    pub fn close_flusher(&self) {
        self.closed.store(true, Ordering::Release);
        self.flush_wake.notify_one();
    }

    /// Reads whole batches from `offset`, up to the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        at_least_one: bool,
    ) -> Result<ReadResult, PartitionError> {
        let (plan, high, start) = {
            let inner = self.lock();
            let w = self.watermark();
            if w.offline {
                return Err(PartitionError::new(
                    ec::KAFKA_STORAGE_ERROR,
                    "partition is offline",
                ));
            }
            let plan = inner
                .log
                .plan_read(offset, w.high)
                .map_err(|e| PartitionError::from_log(&e))?;
            (plan, w.high, inner.log.log_start_offset())
        };
        let records = plan
            .read(max_bytes, at_least_one)
            .map_err(|e| PartitionError::from_log(&e))?;
        Ok(ReadResult {
            records,
            high_watermark: high,
            log_start_offset: start,
        })
    }

    /// ListOffsets: `(timestamp, offset)` for a target timestamp or one of Kafka's special
    /// values (-1 latest, -2 earliest, -3 max timestamp, -4 earliest local, -5 latest tiered).
    pub fn list_offset(
        &self,
        timestamp: i64,
        max_decompressed_bytes: u64,
    ) -> Result<(i64, i64), PartitionError> {
        let inner = self.lock();
        let high = self.watermark().high;
        let found = match timestamp {
            -1 => Some((-1, high)),
            -2 | -4 => Some((-1, inner.log.log_start_offset())),
            -5 => Some((-1, -1)),
            -3 => inner
                .log
                .max_timestamp_record(high, max_decompressed_bytes)
                .map_err(|e| PartitionError::from_log(&e))?
                .map(|(offset, ts)| (ts, offset)),
            t if t >= 0 => inner
                .log
                .offset_for_timestamp(t, high, max_decompressed_bytes)
                .map_err(|e| PartitionError::from_log(&e))?
                .map(|(offset, ts)| (ts, offset)),
            _ => {
                return Err(PartitionError::new(
                    ec::INVALID_REQUEST,
                    format!("timestamp {timestamp} is not a time or a special value"),
                ))
            }
        };
        Ok(found.unwrap_or((-1, -1)))
    }

    /// DeleteRecords: moves the log start to `offset` (-1: the high watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        let mut inner = self.lock();
        let high = self.watermark().high;
        let target = if offset == -1 { high } else { offset };
        if target < 0 || target > high {
            return Err(PartitionError::new(
                ec::OFFSET_OUT_OF_RANGE,
                format!("offset {offset} is beyond the high watermark {high}"),
            ));
        }
        inner
            .log
            .advance_log_start(target)
            .map_err(|e| PartitionError::from_log(&e))
    }

    /// Applies retention; returns the number of segments deleted.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, PartitionError> {
        let mut inner = self.lock();
        let (count, takes_active) = inner.log.retention_plan(now_ms);
        if count == 0 {
            return Ok(0);
        }
        if takes_active {
            self.roll(&mut inner)?;
        }
        inner
            .log
            .delete_oldest_segments(count)
            .map_err(|e| PartitionError::from_log(&e))?;
        Ok(count)
    }

    /// Forgets producers idle for `expiration_ms` by the broker clock.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        let n = self.lock().producers.expire(now_ms, expiration_ms);
        self.metrics.producers_expired.add(n as u64);
        n
    }

    /// The producer state, for DescribeProducers and the inspector.
    pub fn producers(&self) -> Vec<ProducerEntry> {
        self.lock().producers.entries().cloned().collect()
    }

    /// Largest producer id in the state, for the producer id allocator's floor.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.lock().producers.entries().map(|e| e.producer_id).max()
    }

    /// Clean shutdown: a producer snapshot at the log end, indexes written, data synced.
    pub fn close(&self) -> Result<(), LogError> {
        self.close_flusher();
        let mut inner = self.lock();
        if inner.log.offline_reason().is_some() {
            return Ok(());
        }
        let end = inner.log.log_end_offset();
        let bytes = snapshot::encode(&inner.producers, end);
        inner.log.write_snapshot(end, &bytes)?;
        inner.log.close()
    }
}

/// The producer-state view of a batch header.
pub fn batch_info(h: &BatchHeader) -> BatchInfo {
    BatchInfo {
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        last_offset_delta: h.last_offset_delta,
        max_timestamp: h.max_timestamp,
        crc: h.crc,
    }
}
