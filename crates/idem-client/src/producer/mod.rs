//! The producer: idempotent by default, like Kafka's Java client since 3.0.
//!
//! Defaults as the seed says and Kafka does: `enable.idempotence=true`, `acks=all`, retries
//! unlimited within `delivery.timeout.ms` (120 s), at most 5 requests in flight per broker,
//! order kept per partition through retries.
//!
//! ```text
//!  send() ──► accumulator (per partition: an open batch, then closed batches in order)
//!                 │ linger.ms / batch.size / flush
//!                 ▼
//!           sender task ──► Produce requests (one batch per partition per request,
//!                 ▲          ≤ max.in.flight per broker, pipelined on one connection)
//!                 └── completions: offsets to the waiting records, or retry / fail
//! ```
//!
//! Idempotence: a batch gets its producer id, epoch and base sequence when it is first sent
//! and keeps them on every retry, so the broker recognises a retry and answers with the
//! original offset. The epoch is bumped (KIP-360) only when the broker reports a gap at the
//! head of a partition (its state was lost, or a batch failed for good): the partition's
//! unacknowledged batches are then re-stamped from sequence 0 under the new epoch once none
//! of them is in flight, and the other partitions move to the new epoch as they drain. An
//! exhausted epoch (32767) gets a new producer id. With `stop.on.data.loss=true` (an idem
//! option, like franz-go's) a gap fails the partition's records instead of being skipped.
//!
//! Every public async function is cancel-safe: [`Producer::send`] enqueues nothing if its
//! future is dropped before it returns; [`Producer::flush`] and [`Producer::close`] only wait.

mod partitioner;
mod sender;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, Notify, Semaphore};

pub use partitioner::{keyed as keyed_partition, murmur2};

use crate::cluster::Cluster;
use crate::config::{ClientConfig, ProducerSettings};
use crate::error::{Error, Result};

/// A record to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Partition; chosen by key (murmur2) or stickily when `None`.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Timestamp (ms); now when `None`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value.
    pub fn new(topic: &str, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.to_string(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    /// Sets the partition.
    pub fn partition(mut self, partition: i32) -> ProducerRecord {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: &str, value: impl Into<Bytes>) -> ProducerRecord {
        self.headers.push((key.to_string(), Some(value.into())));
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, ms: i64) -> ProducerRecord {
        self.timestamp = Some(ms);
        self
    }

    fn encoded_size_hint(&self) -> usize {
        // The record's fields plus framing; used for batch.size and buffer.memory.
        24 + self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| 8 + k.len() + v.as_ref().map_or(0, Bytes::len))
                .sum::<usize>()
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset; -1 with acks=0 (no answer) or when the broker answered
    /// DUPLICATE_SEQUENCE_NUMBER (delivered, offset unknown).
    pub offset: i64,
    /// Timestamp: the broker's append time on LogAppendTime topics, else the record's.
    pub timestamp: i64,
}

/// Gathers the results of one [`Producer::send_batch`] call.
#[derive(Debug)]
struct Collector {
    results: Mutex<Vec<Option<Result<RecordMetadata>>>>,
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<Vec<Result<RecordMetadata>>>>>,
}

impl Collector {
    fn complete(&self, index: usize, result: Result<RecordMetadata>) {
        self.results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let results =
                std::mem::take(&mut *self.results.lock().unwrap_or_else(|p| p.into_inner()))
                    .into_iter()
                    .map(|r| r.unwrap_or(Err(Error::Closed)))
                    .collect();
            if let Some(tx) = self.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(results);
            }
        }
    }
}

/// Who waits for a record's result.
#[derive(Debug)]
enum Waiter {
    One(oneshot::Sender<Result<RecordMetadata>>),
    Slot(Arc<Collector>, usize),
}

impl Waiter {
    fn complete(self, result: Result<RecordMetadata>) {
        match self {
            Waiter::One(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Slot(c, i) => c.complete(i, result),
        }
    }
}

/// One record in a batch being built.
#[derive(Debug)]
struct Pending {
    waiter: Waiter,
    timestamp: i64,
    /// Bytes of buffer.memory held until the record completes.
    size: usize,
}

/// The result of one record, when it is known.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

/// The results of a [`Producer::send_batch`], in the order the records were given.
#[derive(Debug)]
pub struct BatchDeliveryFuture {
    rx: oneshot::Receiver<Vec<Result<RecordMetadata>>>,
}

impl Future for BatchDeliveryFuture {
    type Output = Result<Vec<Result<RecordMetadata>>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.map_err(|_| Error::Closed))
    }
}

/// A batch being filled.
#[derive(Debug)]
struct OpenBatch {
    created: Instant,
    records: Vec<u8>,
    pending: Vec<Pending>,
    base_timestamp: i64,
    max_timestamp: i64,
}

/// The producer id and epoch stamped on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
}

/// A closed batch: encoded once, stamped when first sent, resent as it is.
#[derive(Debug)]
pub(crate) struct ReadyBatch {
    pub(crate) created: Instant,
    /// The whole v2 batch (compressed records, header); producer fields set at first send.
    pub(crate) bytes: Vec<u8>,
    pub(crate) count: i32,
    pending: Vec<Pending>,
    pub(crate) stamp: Option<Stamp>,
    pub(crate) attempts: u32,
    /// Not before this instant (retry backoff).
    pub(crate) not_before: Option<Instant>,
    /// Sent at least once with an outcome we do not know (a lost response).
    pub(crate) outcome_unknown: bool,
}

impl ReadyBatch {
    /// Splits a batch the broker refused as too large (MESSAGE_TOO_LARGE) into two halves
    /// by record count, as Java's producer splits one; the halves keep the batch's place
    /// and, when it had one, its stamp (the first half its base sequence, the second the
    /// sequence after the first half). Halving always makes progress, where Java's split
    /// by `batch.size` loops when the topic's limit is below it (KAFKA-8350). A batch of
    /// one record, or one that cannot be decoded, comes back unchanged.
    pub(crate) fn split(
        mut self,
        codec: idem_wire::compression::Codec,
    ) -> std::result::Result<(ReadyBatch, ReadyBatch), ReadyBatch> {
        if self.count < 2 {
            return Err(self);
        }
        let bytes = bytes::Bytes::from(self.bytes.clone());
        let Ok((_, records)) = idem_wire::records::decode_batch(&bytes, u64::MAX) else {
            return Err(self);
        };
        if records.len() != self.pending.len() {
            return Err(self);
        }
        let half = records.len() / 2;
        let encode = |rs: &[idem_wire::records::Record]| {
            let base = rs[0].timestamp;
            let mut out = Vec::new();
            for (i, r) in rs.iter().enumerate() {
                let headers: Vec<(&str, Option<&[u8]>)> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_deref()))
                    .collect();
                idem_wire::records::encode_record(
                    &mut out,
                    &idem_wire::records::RecordParts {
                        offset_delta: i as i32,
                        timestamp_delta: r.timestamp - base,
                        key: r.key.as_deref(),
                        value: r.value.as_deref(),
                        headers: &headers,
                    },
                );
            }
            let max = rs.iter().map(|r| r.timestamp).max().unwrap_or(base);
            seal(out, rs.len() as i32, base, max, codec)
        };
        let second_pending = self.pending.split_off(half);
        let mut first = ReadyBatch {
            created: self.created,
            bytes: encode(&records[..half]),
            count: half as i32,
            pending: self.pending,
            stamp: self.stamp,
            attempts: self.attempts,
            not_before: None,
            outcome_unknown: false,
        };
        let mut second = ReadyBatch {
            created: self.created,
            bytes: encode(&records[half..]),
            count: (records.len() - half) as i32,
            pending: second_pending,
            stamp: self.stamp.map(|s| Stamp {
                base_sequence: idem_wire::batch::increment_sequence(s.base_sequence, half as i32),
                ..s
            }),
            attempts: self.attempts,
            not_before: None,
            outcome_unknown: false,
        };
        for b in [&mut first, &mut second] {
            if let Some(s) = b.stamp {
                idem_wire::batch::set_producer_state(
                    &mut b.bytes,
                    s.producer_id,
                    s.epoch,
                    s.base_sequence,
                );
            }
        }
        Ok((first, second))
    }

    fn last_sequence(&self) -> Option<i32> {
        self.stamp
            .map(|s| idem_wire::batch::increment_sequence(s.base_sequence, self.count - 1))
    }
}

/// Per partition: what is queued, and its idempotence bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct PartitionQueue {
    open: Option<OpenBatch>,
    pub(crate) ready: VecDeque<ReadyBatch>,
    pub(crate) in_flight: usize,
    /// The producer id and epoch this partition's sequences belong to.
    pub(crate) identity: Option<(i64, i16)>,
    pub(crate) next_sequence: i32,
    pub(crate) last_acked_sequence: Option<i32>,
    /// Sequences must restart: a gap at the head, or a batch that failed for good.
    pub(crate) reset_pending: bool,
    /// A sent batch expired without an answer: nothing more is sent until the in-flight
    /// batches tell whether it landed.
    pub(crate) unresolved: Option<i32>,
    /// Base sequences of the stamped batches from the oldest unacknowledged one on, with
    /// whether each is acknowledged. The broker remembers the last 5 batches of a producer:
    /// if more than that were stamped past the oldest unacknowledged batch, its retry could
    /// no longer be recognised, so no new batch is stamped while this holds 5.
    pub(crate) window: VecDeque<(i32, bool)>,
}

/// The state shared by `send` and the sender task.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) partitions: BTreeMap<(Arc<str>, i32), PartitionQueue>,
    sticky: HashMap<String, i32>,
    /// One shared name per topic, so queuing a record allocates none.
    names: HashMap<String, Arc<str>>,
    /// Close every open batch now (flush, close).
    pub(crate) flush_requested: bool,
    /// Records accepted by `send` and not yet completed.
    pub(crate) outstanding: usize,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) settings: ProducerSettings,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) shared: Mutex<Shared>,
    /// Wakes the sender: new records, flush, close.
    pub(crate) wake: Notify,
    /// Wakes `flush`: records completed.
    pub(crate) drained: Notify,
    pub(crate) memory: Semaphore,
    pub(crate) closing: AtomicBool,
    pub(crate) fatal: Mutex<Option<Error>>,
}

/// The producer. Cheap to clone; the last clone dropped stops the sender (call
/// [`Producer::close`] to deliver what is buffered first).
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Inner>,
    _sender: Arc<SenderHandle>,
}

#[derive(Debug)]
struct SenderHandle(tokio::task::JoinHandle<()>);

impl Drop for SenderHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Most bytes `send` can hold at once (the semaphore counts in u32 units).
const MAX_PERMITS: usize = u32::MAX as usize;

impl Producer {
    /// A producer from settings; see [`ClientConfig::producer`] for the validation.
    pub fn new(config: &ClientConfig) -> Result<Producer> {
        let settings = config.producer()?;
        let cluster = Arc::new(Cluster::new(
            &config.bootstrap_servers()?,
            config.connection()?,
        )?);
        let inner = Arc::new(Inner {
            memory: Semaphore::new(settings.buffer_memory.min(MAX_PERMITS)),
            settings,
            cluster,
            shared: Mutex::default(),
            wake: Notify::new(),
            drained: Notify::new(),
            closing: AtomicBool::new(false),
            fatal: Mutex::new(None),
        });
        let task = tokio::spawn(sender::run(Arc::clone(&inner)));
        Ok(Producer {
            inner,
            _sender: Arc::new(SenderHandle(task)),
        })
    }

    /// The settings in effect (idempotence may have been turned off by conflicts).
    pub fn settings(&self) -> &ProducerSettings {
        &self.inner.settings
    }

    fn check_usable(&self) -> Result<()> {
        if let Some(e) = self
            .inner
            .fatal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Err(e);
        }
        if self.inner.closing.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Queues a record; the returned future completes with its offset once the broker
    /// acknowledged it (or with the reason it was not delivered).
    ///
    /// Waits for metadata of a new topic, and for buffer space (`max.block.ms`).
    /// Cancel-safe: nothing is queued unless it returns.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(vec![(record, Waiter::One(tx))]).await?;
        Ok(DeliveryFuture { rx })
    }

    /// Queues many records with one future for all their results (no per-record channel).
    /// Cancel-safe like [`Producer::send`].
    pub async fn send_batch(&self, records: Vec<ProducerRecord>) -> Result<BatchDeliveryFuture> {
        let (tx, rx) = oneshot::channel();
        if records.is_empty() {
            let _ = tx.send(Vec::new());
            return Ok(BatchDeliveryFuture { rx });
        }
        let collector = Arc::new(Collector {
            results: Mutex::new((0..records.len()).map(|_| None).collect()),
            remaining: AtomicUsize::new(records.len()),
            done: Mutex::new(Some(tx)),
        });
        let items = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| (r, Waiter::Slot(Arc::clone(&collector), i)))
            .collect();
        self.enqueue(items).await?;
        Ok(BatchDeliveryFuture { rx })
    }

    async fn enqueue(&self, items: Vec<(ProducerRecord, Waiter)>) -> Result<()> {
        self.check_usable()?;
        // Partition counts, one per item (waiting for metadata of new topics: Kafka's
        // producer lets Metadata create them).
        let mut counts: Vec<i32> = Vec::with_capacity(items.len());
        for (i, (r, _)) in items.iter().enumerate() {
            let count = match i.checked_sub(1) {
                Some(prev) if items[prev].0.topic == r.topic => counts[prev],
                _ => self.partition_count(&r.topic).await?,
            };
            counts.push(count);
        }
        let size: usize = items.iter().map(|(r, _)| r.encoded_size_hint()).sum();
        if size > self.inner.settings.buffer_memory {
            return Err(Error::Config(format!(
                "{size} bytes of records exceed buffer.memory"
            )));
        }
        let wanted = u32::try_from(size).unwrap_or(u32::MAX);
        // Space is usually free: take it without arming a timer (and reading the clock).
        let permits = match self.inner.memory.try_acquire_many(wanted) {
            Ok(permits) => permits,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(Error::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => tokio::time::timeout(
                self.inner.settings.max_block,
                self.inner.memory.acquire_many(wanted),
            )
            .await
            .map_err(|_| Error::Config("buffer.memory full for max.block.ms".into()))?
            .map_err(|_| Error::Closed)?,
        };
        // From here on nothing awaits: the records are queued atomically.
        permits.forget();
        let now = crate::now_ms();
        let mut wake = false;
        let mut shared = self.inner.shared.lock().unwrap_or_else(|p| p.into_inner());
        for ((record, waiter), partitions) in items.into_iter().zip(counts) {
            let partition = match record.partition {
                Some(p) if (0..partitions).contains(&p) => p,
                Some(p) => {
                    let size = record.encoded_size_hint();
                    self.inner.memory.add_permits(size);
                    waiter.complete(Err(Error::broker(
                        3,
                        Some(format!(
                            "{}-{p} does not exist ({partitions} partitions)",
                            record.topic
                        )),
                    )));
                    continue;
                }
                None => match &record.key {
                    Some(key) => partitioner::keyed(key, partitions),
                    None => match shared.sticky.get(record.topic.as_str()) {
                        Some(p) => *p,
                        None => {
                            let p = rand::Rng::gen_range(&mut rand::thread_rng(), 0..partitions);
                            shared.sticky.insert(record.topic.clone(), p);
                            p
                        }
                    },
                },
            };
            let size = record.encoded_size_hint();
            let timestamp = record.timestamp.unwrap_or(now);
            let name = match shared.names.get(record.topic.as_str()) {
                Some(name) => Arc::clone(name),
                None => {
                    let name: Arc<str> = Arc::from(record.topic.as_str());
                    shared.names.insert(record.topic.clone(), Arc::clone(&name));
                    name
                }
            };
            let key = (name, partition);
            // A record that would take the open batch past batch.size goes to a new one (as
            // in Java), so batches stay within it unless one record alone is larger.
            let overflows = shared
                .partitions
                .get(&key)
                .and_then(|q| q.open.as_ref())
                .is_some_and(|open| {
                    !open.pending.is_empty()
                        && open.records.len() + size > self.inner.settings.batch_size
                });
            if overflows {
                close_open_batch(&mut shared, &record.topic, partition, &self.inner.settings);
            }
            let queue = shared.partitions.entry(key).or_default();
            // The sender must hear of a new batch (to time its linger) or a closed one;
            // a record added to an open batch changes nothing it waits for.
            wake |= overflows || queue.open.is_none();
            let batch = queue.open.get_or_insert_with(|| OpenBatch {
                created: Instant::now(),
                // Grown as records come: most batches never reach batch.size.
                records: Vec::with_capacity(self.inner.settings.batch_size.min(16 << 10)),
                pending: Vec::new(),
                base_timestamp: timestamp,
                max_timestamp: timestamp,
            });
            let headers: Vec<(&str, Option<&[u8]>)> = record
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            idem_wire::records::encode_record(
                &mut batch.records,
                &idem_wire::records::RecordParts {
                    offset_delta: batch.pending.len() as i32,
                    timestamp_delta: timestamp - batch.base_timestamp,
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    headers: &headers,
                },
            );
            batch.max_timestamp = batch.max_timestamp.max(timestamp);
            batch.pending.push(Pending {
                waiter,
                timestamp,
                size,
            });
            let full = batch.records.len() >= self.inner.settings.batch_size;
            shared.outstanding += 1;
            if full {
                wake = true;
                let topic = record.topic.clone();
                close_open_batch(&mut shared, &topic, partition, &self.inner.settings);
            }
        }
        drop(shared);
        if wake {
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    async fn partition_count(&self, topic: &str) -> Result<i32> {
        let started = Instant::now();
        let deadline = started + self.inner.settings.max_block;
        let mut failures = 0u32;
        let mut last_error = None;
        loop {
            if let Some((code, partitions)) = self.inner.cluster.topic_summary(topic) {
                if code == 0 && partitions > 0 {
                    return Ok(partitions as i32);
                }
                if !crate::error::KafkaCode(code).is_retriable() && code != 0 {
                    return Err(Error::broker(code, Some(format!("topic {topic}"))));
                }
                if code != 0 {
                    last_error = Some(crate::error::KafkaCode(code).to_string());
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::MetadataTimeout {
                    topic: topic.to_string(),
                    waited_ms: now.duration_since(started).as_millis() as u64,
                    last_error,
                });
            }
            match self.inner.cluster.refresh(Some(&[topic]), true).await {
                // Look at the answer before pausing: the usual case is a topic just created.
                Ok(()) if failures == 0 => {
                    failures = 1;
                    continue;
                }
                Ok(()) => {}
                Err(e) => last_error = Some(e.to_string()),
            }
            // A topic the broker is auto-creating is missing from the first answer (as in
            // KRaft) and usually there a few milliseconds later: start from 10 ms and double,
            // never slower than the configured backoff.
            let fast = Duration::from_millis(10).saturating_mul(1u32 << failures.min(16));
            let pause = fast.min(self.inner.settings.backoff(failures));
            failures = failures.saturating_add(1);
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Sends every buffered record now and waits until each has its result. Cancel-safe.
    pub async fn flush(&self) -> Result<()> {
        loop {
            let notified = self.inner.drained.notified();
            {
                let mut shared = self.inner.shared.lock().unwrap_or_else(|p| p.into_inner());
                if shared.outstanding == 0 {
                    return Ok(());
                }
                shared.flush_requested = true;
            }
            self.inner.wake.notify_one();
            notified.await;
        }
    }

    /// Delivers what is buffered, waiting at most `deadline`, then stops; records not
    /// delivered by then fail with [`Error::Closed`]. Cancel-safe (it only waits; closing is
    /// idempotent).
    pub async fn close(&self, deadline: Duration) -> Result<()> {
        let flushed = tokio::time::timeout(deadline, self.flush()).await;
        self.inner.closing.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        match flushed {
            Ok(r) => r,
            Err(_) => {
                sender::fail_everything(&self.inner, &Error::Closed);
                Err(Error::Closed)
            }
        }
    }
}

/// Moves a partition's open batch to its ready queue: records compressed, header written
/// (producer fields are stamped at first send), the sticky partition moved on.
/// A whole v2 batch around encoded records, compressed with `codec`; producer fields unset.
fn seal(
    records: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    codec: idem_wire::compression::Codec,
) -> Vec<u8> {
    let (records, codec) = match idem_wire::compression::compress(codec, &records) {
        Ok(c) => (c, codec),
        // A codec that fails on valid input is a bug in the codec: send uncompressed.
        Err(_) => (records, idem_wire::compression::Codec::None),
    };
    idem_wire::batch::RawBatch {
        header: idem_wire::batch::BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: idem_wire::batch::MAGIC_V2,
            crc: 0,
            attributes: i16::from(codec.id()),
            last_offset_delta: count - 1,
            base_timestamp,
            max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        },
        records,
    }
    .to_bytes()
}

pub(crate) fn close_open_batch(
    shared: &mut Shared,
    topic: &str,
    partition: i32,
    settings: &ProducerSettings,
) {
    let key = (Arc::<str>::from(topic), partition);
    let Some(queue) = shared.partitions.get_mut(&key) else {
        return;
    };
    let Some(open) = queue.open.take() else {
        return;
    };
    let count = open.pending.len() as i32;
    let bytes = seal(
        open.records,
        count,
        open.base_timestamp,
        open.max_timestamp,
        settings.compression,
    );
    queue.ready.push_back(ReadyBatch {
        created: open.created,
        bytes,
        count,
        pending: open.pending,
        stamp: None,
        attempts: 0,
        not_before: None,
        outcome_unknown: false,
    });
    // KIP-480: the next unkeyed record of the topic goes to a newly chosen partition.
    if shared.sticky.get(topic) == Some(&partition) {
        shared.sticky.remove(topic);
    }
}
