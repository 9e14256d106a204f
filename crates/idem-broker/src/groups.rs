//! The group coordinator at the edge: `idem-group`'s state machine, its durable log and the
//! requests parked on it.
//!
//! The state lives in one [`Coordinator`] under a mutex. Every operation runs under that
//! mutex, and the records it produces are appended to the internal topic
//! `__consumer_offsets` (one partition, created on first use like Kafka's, retention off)
//! before the mutex is released, so the log order is the order of the state changes. The
//! answers (including those to other members' parked JoinGroup and SyncGroup requests) are
//! sent only once the high watermark covers the appended records: under the default flush
//! policy, after fdatasync. At start-up the log is replayed into a fresh coordinator; the
//! live state is rewritten as one batch (after a snapshot marker) and the older records
//! dropped with DeleteRecords when the log has grown well past the live state, since idem
//! has no compaction.
//!
//! A parked request waits on a oneshot keyed by its [`Ticket`]; a timer task calls
//! [`Groups::tick`] for session and rebalance timeouts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use idem_group::{Config, Coordinator, Outcome, Record, Reply, Ticket};
use idem_wire::batch::{BatchHeader, RawBatch, MAGIC_V2};
use idem_wire::records::{encode_record, RecordParts};
use tokio::sync::oneshot;

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::partition::{Dedupe, Partition};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How long an answer may wait for the coordinator log to become durable.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Rewrite the live state once the log holds this many records more than it.
const COMPACT_SLACK: u64 = 10_000;

/// The coordinator, its log and its parked requests.
#[derive(Debug)]
pub struct Groups {
    state: Mutex<State>,
    waiters: Mutex<HashMap<Ticket, oneshot::Sender<Reply>>>,
    next_ticket: AtomicU64,
}

#[derive(Debug)]
struct State {
    coordinator: Coordinator,
    /// Partition 0 of `__consumer_offsets`, once it exists.
    log: Option<Arc<Partition>>,
    /// Records appended since the last rewrite of the live state.
    records_since_snapshot: u64,
    /// A snapshot batch written at this offset, to become the log start once durable.
    pending_log_start: Option<i64>,
}

/// Answers to send once the records of an operation are durable.
#[derive(Debug)]
pub(crate) struct Delivery {
    replies: Vec<(Ticket, Reply)>,
    wait: Option<(Arc<Partition>, i64)>,
    failed: bool,
}

pub(crate) fn coordinator_config(c: &BrokerConfig) -> Config {
    Config {
        min_session_timeout_ms: c.group_min_session_timeout_ms,
        max_session_timeout_ms: c.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
        max_size: usize::try_from(c.group_max_size).unwrap_or(usize::MAX),
        offsets_retention_ms: c.offsets_retention_minutes.saturating_mul(60_000),
        offset_metadata_max_bytes: usize::try_from(c.offset_metadata_max_bytes).unwrap_or(4096),
        ..Config::default()
    }
}

impl Delivery {
    /// Nothing to deliver.
    pub(crate) fn none() -> Delivery {
        Delivery {
            replies: Vec::new(),
            wait: None,
            failed: false,
        }
    }
}

impl Groups {
    /// A coordinator with no groups; `log` is the internal partition if it already exists,
    /// replayed here.
    pub(crate) fn open(config: &BrokerConfig, log: Option<Arc<Partition>>) -> Groups {
        let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
        let mut coordinator = Coordinator::new(coordinator_config(config), nonce);
        let mut records = 0u64;
        if let Some(p) = &log {
            records = replay(p, &mut coordinator, config.max_decompressed_bytes);
            tracing::info!(
                groups = coordinator.group_count(),
                offsets = coordinator.offset_count(),
                records,
                "loaded consumer groups from {OFFSETS_TOPIC}"
            );
        }
        Groups {
            state: Mutex::new(State {
                coordinator,
                log,
                records_since_snapshot: records,
                pending_log_start: None,
            }),
            waiters: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the internal topic exists yet.
    pub(crate) fn has_log(&self) -> bool {
        self.lock().log.is_some()
    }

    /// Attaches the internal partition after it was created.
    pub(crate) fn attach_log(&self, log: Arc<Partition>) {
        let mut s = self.lock();
        if s.log.is_none() {
            s.log = Some(log);
        }
    }

    /// A new ticket whose reply arrives on the receiver.
    pub(crate) fn park(&self) -> (Ticket, oneshot::Receiver<Reply>) {
        let ticket = Ticket(self.next_ticket.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ticket, tx);
        (ticket, rx)
    }

    /// Forgets a ticket whose request gave up waiting.
    pub(crate) fn unpark(&self, ticket: Ticket) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ticket);
    }

    /// Runs one operation on the coordinator (plus any timer it made due), appends its
    /// records and returns its result with the answers to deliver.
    pub(crate) fn run<T>(
        &self,
        op: impl FnOnce(&mut Coordinator, i64) -> (T, Outcome),
    ) -> (T, Delivery) {
        let now = now_ms();
        let mut s = self.lock();
        let (value, mut outcome) = op(&mut s.coordinator, now);
        if s.coordinator.has_due_timer(now) {
            let more = s.coordinator.tick(now);
            outcome.replies.extend(more.replies);
            outcome.records.extend(more.records);
        }
        let delivery = s.persist(outcome, now);
        (value, delivery)
    }

    /// A read-only look at the coordinator.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Coordinator) -> T) -> T {
        f(&self.lock().coordinator)
    }

    /// The offset a reader must wait for so that what it reads is durable.
    pub(crate) fn durable_point(&self) -> Option<(Arc<Partition>, i64)> {
        let s = self.lock();
        let log = s.log.clone()?;
        let (_, end, _) = log.offsets();
        Some((log, end))
    }

    /// Fires due timers; called periodically by the server.
    pub(crate) fn tick(&self) -> Delivery {
        self.run(|c, now| ((), c.tick(now))).1
    }

    /// Offset retention; called every `offsets.retention.check.interval.ms`.
    pub(crate) fn expire_offsets(&self) -> Delivery {
        let d = self.run(|c, now| ((), c.expire_offsets(now))).1;
        self.maybe_compact();
        d
    }

    /// Rewrites the live state when the log is mostly superseded records, and moves the log
    /// start past them once that rewrite is durable.
    pub(crate) fn maybe_compact(&self) {
        let now = now_ms();
        let mut s = self.lock();
        let Some(log) = s.log.clone() else {
            return;
        };
        if let Some(start) = s.pending_log_start {
            if log.watermark().high > start {
                match log.delete_records(start) {
                    Ok(_) => {
                        tracing::info!(
                            log_start = start,
                            "dropped superseded {OFFSETS_TOPIC} records"
                        );
                        s.pending_log_start = None;
                    }
                    Err(e) => tracing::warn!("{OFFSETS_TOPIC}: delete records: {}", e.message),
                }
            }
            return;
        }
        let live = (s.coordinator.offset_count() + s.coordinator.group_count()) as u64;
        if s.records_since_snapshot <= live.saturating_mul(2) + COMPACT_SLACK {
            return;
        }
        let snapshot = s.coordinator.snapshot();
        match append(&log, &snapshot, now) {
            Ok((base, _)) => {
                s.records_since_snapshot = snapshot.len() as u64;
                s.pending_log_start = Some(base);
            }
            Err(e) => tracing::warn!("{OFFSETS_TOPIC}: snapshot not written: {e}"),
        }
    }

    /// Sends the answers once their records are durable. Runs on its own task, so that
    /// other members' answers go out even if the request that caused them is gone.
    /// Resolves to false if the records could not be made durable.
    pub(crate) fn deliver(self: &Arc<Self>, d: Delivery) -> tokio::task::JoinHandle<bool> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ok = !d.failed;
            if let Some((log, required)) = d.wait {
                let deadline = tokio::time::Instant::now() + PERSIST_TIMEOUT;
                if let Err(code) = log.wait_for(required, deadline).await {
                    tracing::warn!(code, "{OFFSETS_TOPIC} records not durable");
                    ok = false;
                }
            }
            let mut waiters = this.waiters.lock().unwrap_or_else(|p| p.into_inner());
            for (ticket, reply) in d.replies {
                if let Some(tx) = waiters.remove(&ticket) {
                    let _ = tx.send(reply);
                }
            }
            ok
        })
    }
}

impl State {
    fn persist(&mut self, outcome: Outcome, now: i64) -> Delivery {
        let mut delivery = Delivery {
            replies: outcome.replies,
            wait: None,
            failed: false,
        };
        if outcome.records.is_empty() {
            return delivery;
        }
        let Some(log) = self.log.clone() else {
            tracing::error!("{OFFSETS_TOPIC} does not exist; group state not persisted");
            delivery.failed = true;
            return delivery;
        };
        match append(&log, &outcome.records, now) {
            Ok((_, required)) => {
                self.records_since_snapshot += outcome.records.len() as u64;
                delivery.wait = Some((log, required));
            }
            Err(e) => {
                tracing::error!("{OFFSETS_TOPIC}: append failed: {e}");
                delivery.failed = true;
            }
        }
        delivery
    }
}

/// Appends records as one uncompressed batch; returns (base offset, high watermark needed).
fn append(log: &Partition, records: &[Record], now: i64) -> Result<(i64, i64), String> {
    let mut body = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let (key, value) = r.encode();
        encode_record(
            &mut body,
            &RecordParts {
                offset_delta: i as i32,
                timestamp_delta: 0,
                key: Some(&key),
                value: value.as_deref(),
                headers: &[],
            },
        );
    }
    let n = records.len() as i32;
    let bytes = RawBatch {
        header: BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: now,
            max_timestamp: now,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: n,
        },
        records: body,
    }
    .to_bytes();
    let header = BatchHeader::parse(&bytes).map_err(|e| e.to_string())?;
    let produced = log
        .produce(&bytes, &header, now, Dedupe::Off)
        .map_err(|e| e.message)?;
    Ok((produced.base_offset, produced.required_high_watermark))
}

/// Replays the whole internal log into `coordinator`; returns how many records it read.
fn replay(log: &Partition, coordinator: &mut Coordinator, max_decompressed: u64) -> u64 {
    let now = now_ms();
    let (start, _, _) = log.offsets();
    let mut offset = start;
    let mut count = 0u64;
    loop {
        let read = match log.read(offset, 1 << 20, true) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(
                    offset,
                    "{OFFSETS_TOPIC}: read failed during load: {}",
                    e.message
                );
                break;
            }
        };
        if read.records.is_empty() {
            break;
        }
        let mut rest: Bytes = read.records;
        while !rest.is_empty() {
            let Some(Ok(len)) = idem_wire::batch::batch_size(&rest) else {
                break;
            };
            if len > rest.len() {
                break;
            }
            let batch = rest.split_to(len);
            match idem_wire::records::decode_batch(&batch, max_decompressed) {
                Ok((header, records)) => {
                    for r in records {
                        let Some(key) = r.key else { continue };
                        match Record::decode(&key, r.value.as_deref()) {
                            Ok(rec) => {
                                coordinator.replay(rec, now);
                                count += 1;
                            }
                            Err(e) => {
                                tracing::warn!(
                                    offset = r.offset,
                                    "{OFFSETS_TOPIC}: skipping record: {e}"
                                )
                            }
                        }
                    }
                    offset = header.last_offset() + 1;
                }
                Err(e) => {
                    tracing::error!(offset, "{OFFSETS_TOPIC}: undecodable batch: {e}");
                    return count;
                }
            }
        }
        if offset >= read.high_watermark {
            break;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlushPolicy;
    use crate::Broker;
    use idem_group::OffsetCommitRequest;

    fn open(dir: &std::path::Path) -> Broker {
        let mut config = BrokerConfig {
            data_dir: dir.to_path_buf(),
            ..BrokerConfig::default()
        };
        // No flusher runs outside a runtime: with `never` the high watermark is the log end.
        config.topic_defaults.flush_policy = FlushPolicy::Never;
        Broker::open(config).expect("open")
    }

    fn commit(groups: &Groups, group: &str, offset: i64) {
        let req = OffsetCommitRequest {
            group_id: group.into(),
            generation_id: -1,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, offset, -1, None)],
            ..OffsetCommitRequest::default()
        };
        let (codes, d) = groups.run(|c, now| c.commit_offsets(now, req));
        assert_eq!(codes, vec![0]);
        assert!(!d.failed && d.wait.is_some());
    }

    fn committed(groups: &Groups, group: &str) -> Option<i64> {
        groups
            .read(|c| c.fetch_offsets(group, None))
            .expect("fetch")
            .first()
            .and_then(|(_, _, c)| c.as_ref().map(|c| c.offset))
    }

    #[test]
    fn superseded_records_are_dropped_and_the_state_survives() {
        let tmp = tempfile::tempdir().expect("tmp");
        {
            let broker = open(tmp.path());
            broker
                .create_topic("t", 1, 1, Default::default())
                .expect("topic");
            broker.ensure_offsets_topic().expect("offsets topic");
            let groups = broker.groups();
            let n = COMPACT_SLACK as i64 + 100;
            for i in 1..=n {
                commit(groups, "a", i);
            }
            commit(groups, "b", 7);
            let log = broker.partition(OFFSETS_TOPIC, 0).expect("log");
            assert_eq!(log.offsets().0, 0);
            // First call: the live state (marker + 2 offsets) is appended...
            groups.maybe_compact();
            let (start, end, _) = log.offsets();
            assert_eq!((start, end), (0, n + 1 + 3));
            // ...second call, once durable: the log starts at the marker.
            groups.maybe_compact();
            assert_eq!(log.offsets().0, n + 1);
            // Nothing more to do.
            groups.maybe_compact();
            assert_eq!(log.offsets(), (n + 1, n + 4, n + 4));
            commit(groups, "a", n + 1);
            broker.close().expect("close");
        }
        let broker = open(tmp.path());
        let groups = broker.groups();
        assert_eq!(committed(groups, "a"), Some(COMPACT_SLACK as i64 + 101));
        assert_eq!(committed(groups, "b"), Some(7));
    }
}
