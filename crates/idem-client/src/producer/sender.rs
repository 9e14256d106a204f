//! The sender task: closes batches, stamps them, sends Produce requests, and applies Kafka's
//! Java-client rules to every answer (see the producer module documentation).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::{close_open_batch, Inner, PartitionQueue, ReadyBatch, RecordMetadata, Shared, Stamp};
use crate::error::{Error, KafkaCode, Result};

type Tp = (Arc<str>, i32);
/// A batch done with: its offsets (base offset, log append time) or why it failed.
type Finished = (Tp, ReadyBatch, Result<(i64, i64)>);

/// What came back for one batch.
#[derive(Debug)]
enum Outcome {
    Appended {
        base_offset: i64,
        log_append_time: i64,
    },
    /// DUPLICATE_SEQUENCE_NUMBER: delivered before, offset unknown.
    Duplicate,
    /// A Kafka error code.
    Code(i16),
    /// The request failed without an answer: it may or may not have been applied.
    Lost(Error),
}

#[derive(Debug)]
struct Completion {
    node: i32,
    results: Vec<(Tp, ReadyBatch, Outcome)>,
}

/// The producer id and epoch in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    producer_id: i64,
    epoch: i16,
}

#[derive(Debug)]
struct Sender {
    inner: Arc<Inner>,
    identity: Option<Identity>,
    /// The epoch must move on (a partition's sequences need a restart) or the id is spent.
    bump_needed: bool,
    in_flight_by_node: HashMap<i32, usize>,
    /// Topics whose leaders must be looked up again.
    stale_topics: HashSet<Arc<str>>,
    completions: mpsc::UnboundedSender<Completion>,
    /// One task per broker submits its requests in order.
    dispatchers: HashMap<i32, mpsc::UnboundedSender<Vec<(Tp, ReadyBatch)>>>,
    /// InitProducerId attempts failed in a row (backoff and log volume follow it).
    init_failures: u32,
}

/// Produce versions this client speaks: v3 is the first with v2 batches.
const PRODUCE: (i16, i16) = (3, 12);
const INIT_PRODUCER_ID: (i16, i16) = (0, 4);
/// Batches per producer and partition the broker remembers (Kafka's
/// `NUM_BATCHES_TO_RETAIN`): the most that may be stamped past an unacknowledged one.
const WINDOW: usize = 5;

pub(super) async fn run(inner: Arc<Inner>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut s = Sender {
        inner,
        identity: None,
        bump_needed: false,
        in_flight_by_node: HashMap::new(),
        stale_topics: HashSet::new(),
        completions: tx,
        dispatchers: HashMap::new(),
        init_failures: 0,
    };
    loop {
        while let Ok(c) = rx.try_recv() {
            s.complete(c);
        }
        if s.inner.closing.load(Ordering::Acquire) && s.idle() {
            return;
        }
        if s.inner.settings.idempotence && (s.identity.is_none() || s.needs_new_id()) {
            if let Err(e) = s.init_producer_id().await {
                if is_fatal(&e) {
                    s.fatal(e);
                    return;
                }
                // A warning for the first failure and every tenth: an unreachable
                // cluster is worth saying, not worth ten lines a second.
                if s.init_failures.is_multiple_of(10) {
                    tracing::warn!(
                        failures = s.init_failures + 1,
                        "InitProducerId failed, retrying: {e}"
                    );
                } else {
                    tracing::debug!(
                        failures = s.init_failures + 1,
                        "InitProducerId failed, retrying: {e}"
                    );
                }
                let pause = s.inner.settings.backoff(s.init_failures);
                s.init_failures = s.init_failures.saturating_add(1);
                tokio::time::sleep(pause).await;
                continue;
            }
            s.init_failures = 0;
        }
        if !s.stale_topics.is_empty() {
            let topics: Vec<Arc<str>> = s.stale_topics.drain().collect();
            let names: Vec<&str> = topics.iter().map(|t| &**t).collect();
            if let Err(e) = s.inner.cluster.refresh(Some(&names), true).await {
                tracing::debug!("metadata refresh failed: {e}");
                s.stale_topics.extend(topics);
            }
        }
        let next_wake = s.prepare_and_send();
        let wait = next_wake.map_or(Duration::from_secs(1), |t| {
            t.saturating_duration_since(Instant::now())
        });
        tokio::select! {
            c = rx.recv() => if let Some(c) = c { s.complete(c) },
            _ = s.inner.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn is_fatal(e: &Error) -> bool {
    matches!(e.code(), Some(KafkaCode(31 | 35 | 53 | 90)))
        || matches!(e, Error::UnsupportedApi(_) | Error::Fatal(_))
}

/// Fails every queued record (fatal errors, close with a deadline).
pub(super) fn fail_everything(inner: &Inner, error: &Error) {
    let mut shared = inner.shared.lock().unwrap_or_else(|p| p.into_inner());
    let mut failed = Vec::new();
    for queue in shared.partitions.values_mut() {
        if let Some(open) = queue.open.take() {
            failed.extend(open.pending);
        }
        for batch in queue.ready.drain(..) {
            failed.extend(batch.pending);
        }
    }
    let n = failed.len();
    for p in failed {
        inner.memory.add_permits(p.size);
        p.waiter.complete(Err(error.clone()));
    }
    shared.outstanding -= n.min(shared.outstanding);
    if shared.outstanding == 0 {
        inner.drained.notify_waiters();
    }
}

impl Sender {
    fn idle(&self) -> bool {
        self.in_flight_by_node.values().all(|n| *n == 0)
            && self
                .inner
                .shared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .outstanding
                == 0
    }

    fn needs_new_id(&self) -> bool {
        self.bump_needed && self.identity.is_some_and(|i| i.epoch == i16::MAX)
    }

    fn fatal(&mut self, e: Error) {
        let e = Error::Fatal(e.to_string());
        tracing::error!("producer failed: {e}");
        *self.inner.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        fail_everything(&self.inner, &e);
    }

    async fn init_producer_id(&mut self) -> Result<()> {
        let conn = self.inner.cluster.any_connection().await?;
        let version = conn.version(ApiKey::InitProducerId, INIT_PRODUCER_ID)?;
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX);
        let resp: InitProducerIdResponse =
            conn.request(ApiKey::InitProducerId, version, &req).await?;
        if resp.error_code != 0 {
            return Err(Error::broker(resp.error_code, None));
        }
        tracing::debug!(
            producer_id = resp.producer_id.0,
            epoch = resp.producer_epoch,
            "producer id"
        );
        self.identity = Some(Identity {
            producer_id: resp.producer_id.0,
            epoch: resp.producer_epoch,
        });
        self.bump_needed = false;
        Ok(())
    }

    /// Under the lock: close lingering batches, expire old ones, move partitions to the
    /// current epoch, stamp and collect what can be sent; then send it. Returns when the
    /// loop should look again (a linger or backoff deadline).
    fn prepare_and_send(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let settings = self.inner.settings.clone();
        let mut next_wake: Option<Instant> = None;
        let mut wake_at = |t: Instant| {
            next_wake = Some(next_wake.map_or(t, |n: Instant| n.min(t)));
        };
        let mut expired = Vec::new();
        let mut requests: BTreeMap<i32, Vec<Vec<(Tp, ReadyBatch)>>> = BTreeMap::new();
        {
            let inner = Arc::clone(&self.inner);
            let mut shared = inner.shared.lock().unwrap_or_else(|p| p.into_inner());
            let closing = self.inner.closing.load(Ordering::Acquire);
            let flush = std::mem::take(&mut shared.flush_requested) || closing;
            // Close batches whose linger is over.
            let to_close: Vec<Tp> = shared
                .partitions
                .iter()
                .filter_map(|(tp, q)| {
                    let open = q.open.as_ref()?;
                    let due = open.created + settings.linger;
                    if flush || now >= due {
                        Some(tp.clone())
                    } else {
                        wake_at(due);
                        None
                    }
                })
                .collect();
            for (topic, partition) in to_close {
                close_open_batch(&mut shared, &topic, partition, &settings);
            }
            let identity = self.identity;
            let mut bump = false;
            for queue in shared.partitions.values_mut() {
                // Delivery timeout of batches waiting to be sent.
                while let Some(pos) = queue
                    .ready
                    .iter()
                    .position(|b| now.duration_since(b.created) >= settings.delivery_timeout)
                {
                    let Some(batch) = queue.ready.remove(pos) else {
                        break;
                    };
                    if batch.outcome_unknown {
                        // It may have landed: the next answers of this partition tell.
                        queue.unresolved = batch.last_sequence();
                    }
                    // Given up on: it no longer holds the window open.
                    acknowledge(queue, &batch);
                    expired.push(batch);
                }
                if let Some(b) = queue.ready.front() {
                    wake_at(b.created + settings.delivery_timeout);
                }
                if settings.idempotence {
                    bump |= settle(queue, identity);
                }
            }
            if bump {
                self.bump_needed = true;
            }
            if let Some(identity) = identity.filter(|_| self.bump_needed && !self.needs_new_id()) {
                // KIP-360: a client-side bump; partitions restart at sequence 0 as they drain.
                let next = Identity {
                    epoch: identity.epoch + 1,
                    ..identity
                };
                tracing::info!(
                    producer_id = next.producer_id,
                    epoch = next.epoch,
                    "bumping the producer epoch"
                );
                self.identity = Some(next);
                self.bump_needed = false;
                // Quiet partitions move to the new epoch now, not at the next wake-up
                // (there may be none until a delivery timeout).
                for queue in shared.partitions.values_mut() {
                    settle(queue, self.identity);
                }
            }
            if !settings.idempotence || (self.identity.is_some() && !self.bump_needed) {
                self.drain(&mut shared, now, &mut requests, &mut wake_at);
            }
        }
        for batch in expired {
            self.finish(
                batch,
                Err(Error::DeliveryTimeout(
                    settings.delivery_timeout.as_millis() as u64,
                )),
                None,
            );
        }
        for (node, batches) in requests {
            self.send(node, batches);
        }
        next_wake
    }

    /// Collects the batches that may be sent now: for each broker, up to its free in-flight
    /// slots of requests; in each request at most one batch per partition, and a partition's
    /// k-th batch in the broker's k-th request, so they reach it in sequence order.
    fn drain(
        &mut self,
        shared: &mut Shared,
        now: Instant,
        requests: &mut BTreeMap<i32, Vec<Vec<(Tp, ReadyBatch)>>>,
        wake_at: &mut impl FnMut(Instant),
    ) {
        let settings = &self.inner.settings;
        let identity = self.identity;
        let mut sizes: HashMap<(i32, usize), usize> = HashMap::new();
        for (tp, queue) in shared.partitions.iter_mut() {
            let mut k = 0;
            while let Some(head) = queue.ready.front() {
                if let Some(t) = head.not_before.filter(|t| *t > now) {
                    wake_at(t);
                    break;
                }
                if settings.idempotence && blocked(queue, head, identity) {
                    break;
                }
                let Some(node) = self.inner.cluster.leader(&tp.0, tp.1) else {
                    self.stale_topics.insert(tp.0.clone());
                    break;
                };
                let busy = self.in_flight_by_node.get(&node).copied().unwrap_or(0);
                if k >= settings.max_in_flight.saturating_sub(busy) {
                    break;
                }
                let size = sizes.entry((node, k)).or_default();
                if *size > 0 && *size + head.bytes.len() > settings.max_request_size {
                    break;
                }
                if settings.idempotence && head.stamp.is_none() && queue.window.len() >= WINDOW {
                    break;
                }
                let Some(mut batch) = queue.ready.pop_front() else {
                    break;
                };
                if let (true, None, Some(id)) = (settings.idempotence, batch.stamp, identity) {
                    let stamp = Stamp {
                        producer_id: id.producer_id,
                        epoch: id.epoch,
                        base_sequence: queue.next_sequence,
                    };
                    idem_wire::batch::set_producer_state(
                        &mut batch.bytes,
                        stamp.producer_id,
                        stamp.epoch,
                        stamp.base_sequence,
                    );
                    queue.next_sequence =
                        idem_wire::batch::increment_sequence(queue.next_sequence, batch.count);
                    queue.window.push_back((stamp.base_sequence, false));
                    batch.stamp = Some(stamp);
                }
                *size += batch.bytes.len();
                queue.in_flight += 1;
                let list = requests.entry(node).or_default();
                while list.len() <= k {
                    list.push(Vec::new());
                }
                list[k].push((tp.clone(), batch));
                k += 1;
            }
        }
    }

    /// Hands requests to the broker's dispatcher, which submits them in this order.
    fn send(&mut self, node: i32, requests: Vec<Vec<(Tp, ReadyBatch)>>) {
        let dispatcher = self.dispatchers.entry(node).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(dispatch(
                Arc::clone(&self.inner),
                node,
                rx,
                self.completions.clone(),
            ));
            tx
        });
        for batches in requests {
            tracing::trace!(node, batches = ?batches.iter().map(|(tp, b)| (tp.1, b.stamp.map(|s| (s.epoch, s.base_sequence)), b.attempts)).collect::<Vec<_>>(), "sending");
            *self.in_flight_by_node.entry(node).or_default() += 1;
            if let Err(mpsc::error::SendError(batches)) = dispatcher.send(batches) {
                let results = batches
                    .into_iter()
                    .map(|(tp, b)| (tp, b, Outcome::Lost(Error::Closed)))
                    .collect();
                let _ = self.completions.send(Completion { node, results });
            }
        }
    }

    /// Applies the answers of one request.
    fn complete(&mut self, c: Completion) {
        if let Some(n) = self.in_flight_by_node.get_mut(&c.node) {
            *n = n.saturating_sub(1);
        }
        let settings = self.inner.settings.clone();
        let mut finished = Vec::new();
        {
            let mut shared = self.inner.shared.lock().unwrap_or_else(|p| p.into_inner());
            for (tp, mut batch, outcome) in c.results {
                tracing::trace!(partition = tp.1, stamp = ?batch.stamp.map(|s| (s.epoch, s.base_sequence)), ?outcome, "completed");
                let queue = shared.partitions.entry(tp.clone()).or_default();
                queue.in_flight = queue.in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Appended {
                        base_offset,
                        log_append_time,
                    } => {
                        acknowledge(queue, &batch);
                        if let (Some(last), true) = (batch.last_sequence(), settings.idempotence) {
                            let current =
                                batch.stamp.map(|s| (s.producer_id, s.epoch)) == queue.identity;
                            if current
                                && queue
                                    .last_acked_sequence
                                    .is_none_or(|acked| seq_after(last, acked))
                            {
                                queue.last_acked_sequence = Some(last);
                            }
                        }
                        finished.push((tp, batch, Ok((base_offset, log_append_time))));
                    }
                    Outcome::Duplicate => {
                        acknowledge(queue, &batch);
                        finished.push((tp, batch, Ok((-1, -1))));
                    }
                    Outcome::Lost(e) => {
                        batch.outcome_unknown = true;
                        self.stale_topics.insert(tp.0.clone());
                        self.retry_or_fail(queue, batch, &tp, e, &mut finished);
                    }
                    Outcome::Code(code) => {
                        // REQUEST_TIMED_OUT and NOT_ENOUGH_REPLICAS_AFTER_APPEND come after
                        // the append: the batch may be in the log. Every other code means it
                        // is not.
                        batch.outcome_unknown = matches!(code, 7 | 20);
                        let kafka = KafkaCode(code);
                        if kafka.invalidates_metadata() {
                            self.stale_topics.insert(tp.0.clone());
                        }
                        match code {
                            45 if settings.idempotence => {
                                let expected = queue
                                    .last_acked_sequence
                                    .map_or(0, |s| idem_wire::batch::increment_sequence(s, 1));
                                let current =
                                    batch.stamp.map(|s| (s.producer_id, s.epoch)) == queue.identity;
                                // The head of the partition: the sequence the broker should
                                // expect, or nothing earlier left in flight or queued.
                                let nothing_earlier = queue.in_flight == 0
                                    && !queue.ready.iter().any(|b| {
                                        matches!((b.stamp, batch.stamp), (Some(o), Some(m)) if seq_after(m.base_sequence, o.base_sequence))
                                    });
                                let head = current
                                    && (batch.stamp.is_some_and(|s| s.base_sequence == expected)
                                        || nothing_earlier);
                                if head && !queue.reset_pending {
                                    if settings.stop_on_data_loss {
                                        let why = format!("{}-{}: the broker expected another sequence than {expected} (it lost acknowledged data or its producer state)", tp.0, tp.1);
                                        tracing::error!("{why}");
                                        let mut failed = vec![batch];
                                        failed.extend(queue.ready.drain(..));
                                        for b in failed {
                                            finished.push((
                                                tp.clone(),
                                                b,
                                                Err(Error::DataLoss(why.clone())),
                                            ));
                                        }
                                        queue.reset_pending = true;
                                        continue;
                                    }
                                    tracing::warn!(topic = %tp.0, partition = tp.1, "gap at the head of the partition: restarting its sequences under a new epoch");
                                    queue.reset_pending = true;
                                }
                                self.requeue(queue, batch);
                            }
                            47 => {
                                queue.reset_pending = true;
                                acknowledge(queue, &batch);
                                finished.push((tp, batch, Err(Error::broker(code, None))));
                            }
                            31 | 35 | 53 | 90 => {
                                drop(shared);
                                self.fatal(Error::broker(code, None));
                                finished.push((tp, batch, Err(Error::broker(code, None))));
                                return self.finish_all(finished);
                            }
                            // Too large for the broker: halves may fit. Their sequences
                            // restart under a new epoch (the one Java bumps for any failed
                            // batch) so the 5-batch window still holds for every batch.
                            10 if batch.count > 1 && !batch.outcome_unknown => {
                                let stamped = batch.stamp.is_some();
                                match batch.split(settings.compression) {
                                    Ok((first, second)) => {
                                        tracing::info!(topic = %tp.0, partition = tp.1, records = first.count + second.count, "MESSAGE_TOO_LARGE: splitting the batch in two");
                                        if settings.idempotence && stamped {
                                            queue.reset_pending = true;
                                            insert_in_order(queue, second);
                                            insert_in_order(queue, first);
                                        } else {
                                            queue.ready.push_front(second);
                                            queue.ready.push_front(first);
                                        }
                                    }
                                    Err(batch) => {
                                        if settings.idempotence && batch.stamp.is_some() {
                                            queue.reset_pending = true;
                                        }
                                        acknowledge(queue, &batch);
                                        finished.push((tp, batch, Err(Error::broker(code, None))));
                                    }
                                }
                            }
                            _ if kafka.is_retriable() => {
                                self.retry_or_fail(
                                    queue,
                                    batch,
                                    &tp,
                                    Error::broker(code, None),
                                    &mut finished,
                                );
                            }
                            _ => {
                                if settings.idempotence && batch.stamp.is_some() {
                                    // Its sequences are used but not in the log: later
                                    // batches would hit a gap.
                                    queue.reset_pending = true;
                                }
                                acknowledge(queue, &batch);
                                finished.push((tp, batch, Err(Error::broker(code, None))));
                            }
                        }
                    }
                }
            }
        }
        self.finish_all(finished);
    }

    fn finish_all(&mut self, finished: Vec<Finished>) {
        for (tp, batch, result) in finished {
            self.finish(batch, result, Some(&tp));
        }
    }

    fn requeue(&self, queue: &mut PartitionQueue, mut batch: ReadyBatch) {
        batch.attempts += 1;
        batch.not_before = Some(Instant::now() + self.inner.settings.retry_backoff);
        insert_in_order(queue, batch);
    }

    fn retry_or_fail(
        &self,
        queue: &mut PartitionQueue,
        batch: ReadyBatch,
        tp: &Tp,
        error: Error,
        finished: &mut Vec<Finished>,
    ) {
        let settings = &self.inner.settings;
        let expired = batch.created.elapsed() >= settings.delivery_timeout;
        if expired || i64::from(batch.attempts) >= settings.retries {
            if batch.outcome_unknown {
                queue.unresolved = batch.last_sequence();
            } else if settings.idempotence && batch.stamp.is_some() {
                queue.reset_pending = true;
            }
            let error = if expired {
                Error::DeliveryTimeout(settings.delivery_timeout.as_millis() as u64)
            } else {
                error
            };
            acknowledge(queue, &batch);
            finished.push((tp.clone(), batch, Err(error)));
        } else {
            tracing::debug!(topic = %tp.0, partition = tp.1, "retrying a batch: {error}");
            self.requeue(queue, batch);
        }
    }

    /// Completes a batch's records.
    fn finish(&self, batch: ReadyBatch, result: Result<(i64, i64)>, tp: Option<&Tp>) {
        let n = batch.pending.len();
        let topic: Arc<str> = tp.map_or_else(|| Arc::from(""), |t| t.0.clone());
        let partition = tp.map_or(-1, |t| t.1);
        for (i, p) in batch.pending.into_iter().enumerate() {
            self.inner.memory.add_permits(p.size);
            let r = match &result {
                Ok((base, append_time)) => Ok(RecordMetadata {
                    topic: topic.clone(),
                    partition,
                    offset: if *base >= 0 { base + i as i64 } else { -1 },
                    timestamp: if *append_time >= 0 {
                        *append_time
                    } else {
                        p.timestamp
                    },
                }),
                Err(e) => Err(e.clone()),
            };
            p.waiter.complete(r);
        }
        let mut shared = self.inner.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.outstanding -= n.min(shared.outstanding);
        if shared.outstanding == 0 {
            self.inner.drained.notify_waiters();
        }
    }
}

/// Marks a batch acknowledged in the partition's window and drops the acknowledged prefix.
fn acknowledge(queue: &mut PartitionQueue, batch: &ReadyBatch) {
    if let Some(stamp) = batch.stamp {
        if let Some(entry) = queue
            .window
            .iter_mut()
            .find(|(seq, _)| *seq == stamp.base_sequence)
        {
            entry.1 = true;
        }
    }
    while queue.window.front().is_some_and(|(_, acked)| *acked) {
        queue.window.pop_front();
    }
}

/// Retried batches go back in the order they were first sent (by stamp), ahead of batches
/// never sent.
fn insert_in_order(queue: &mut PartitionQueue, batch: ReadyBatch) {
    let key = batch.stamp.map(|s| s.base_sequence);
    let pos = queue
        .ready
        .iter()
        .position(|b| match (b.stamp, key) {
            (None, _) => true,
            (Some(_), None) => false,
            // Sequences grow in sending order within an identity (a wrap is one batch away
            // from the end of the range, never inside the small window in flight).
            (Some(s), Some(k)) => seq_after(s.base_sequence, k),
        })
        .unwrap_or(queue.ready.len());
    queue.ready.insert(pos, batch);
}

/// Whether sequence `a` comes after `b`, for sequences within a window of each other.
fn seq_after(a: i32, b: i32) -> bool {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(1 << 31);
    d != 0 && d < (1 << 30)
}

/// Whether a partition may not send its head batch now (idempotence rules).
fn blocked(queue: &PartitionQueue, head: &ReadyBatch, identity: Option<Identity>) -> bool {
    let Some(id) = identity else {
        return true;
    };
    // Waiting to learn whether an expired batch landed, or to restart sequences.
    if queue.unresolved.is_some() || queue.reset_pending {
        return true;
    }
    // A partition moves to a new identity only once nothing of the old one is in flight.
    if queue.identity != Some((id.producer_id, id.epoch)) {
        return true;
    }
    // A retry goes only when nothing else of the partition is in flight, so it is resent
    // in order.
    head.stamp.is_some() && head.attempts > 0 && queue.in_flight > 0
}

/// Resolves a partition's idempotence state when it is quiet; returns true when the
/// producer epoch must be bumped.
fn settle(queue: &mut PartitionQueue, identity: Option<Identity>) -> bool {
    if queue.in_flight > 0 {
        return false;
    }
    if let Some(seq) = queue.unresolved.take() {
        let landed = queue
            .last_acked_sequence
            .is_some_and(|acked| acked == seq || seq_after(acked, seq));
        if !landed {
            queue.reset_pending = true;
        }
    }
    let Some(id) = identity else {
        return false;
    };
    let current = Some((id.producer_id, id.epoch));
    if queue.reset_pending && queue.identity == current && queue.identity.is_some() {
        // Sequences must restart: that takes a new epoch.
        return true;
    }
    if queue.identity != current {
        // Batches whose outcome is unknown must be resent exactly as they were first sent.
        if queue
            .ready
            .iter()
            .any(|b| b.outcome_unknown && b.stamp.is_some())
            && !queue.reset_pending
        {
            if let Some(b) = queue.ready.front() {
                if let Some(s) = b.stamp {
                    queue.identity = Some((s.producer_id, s.epoch));
                }
            }
            return false;
        }
        queue.identity = current;
        queue.next_sequence = 0;
        queue.last_acked_sequence = None;
        queue.reset_pending = false;
        queue.window.clear();
        for b in queue.ready.iter_mut() {
            b.stamp = None;
        }
    }
    false
}

/// Submits a broker's requests in the order they come, on its connection (reopened when it
/// breaks), and reports each request's outcome when its response arrives.
async fn dispatch(
    inner: Arc<Inner>,
    node: i32,
    mut rx: mpsc::UnboundedReceiver<Vec<(Tp, ReadyBatch)>>,
    completions: mpsc::UnboundedSender<Completion>,
) {
    // Responses come back in request order on a connection; awaiting them in that order
    // here keeps the completions in order too, which the sequence bookkeeping relies on.
    let mut answers = futures::stream::FuturesOrdered::new();
    loop {
        tokio::select! {
            request = rx.recv() => {
                let Some(batches) = request else {
                    break;
                };
                answers.push_back(submit(&inner, node, batches).await);
            }
            Some(completion) = futures::StreamExt::next(&mut answers), if !answers.is_empty() => {
                let _ = completions.send(completion);
            }
        }
    }
    while let Some(completion) = futures::StreamExt::next(&mut answers).await {
        let _ = completions.send(completion);
    }
}

type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Completion> + Send>>;

/// Queues one request on the broker's connection now; the returned future resolves to its
/// completion.
async fn submit(inner: &Arc<Inner>, node: i32, batches: Vec<(Tp, ReadyBatch)>) -> Answer {
    fn ready(c: Completion) -> Answer {
        Box::pin(std::future::ready(c))
    }
    let lost = move |batches: Vec<(Tp, ReadyBatch)>, e: Error| Completion {
        node,
        results: batches
            .into_iter()
            .map(|(tp, b)| (tp, b, Outcome::Lost(e.clone())))
            .collect(),
    };
    let conn = match inner.cluster.connection(node).await {
        Ok(c) => c,
        Err(e) => return ready(lost(batches, e)),
    };
    let version = match conn.version(ApiKey::Produce, PRODUCE) {
        Ok(v) => v,
        Err(e) => return ready(lost(batches, Error::Fatal(e.to_string()))),
    };
    let req = produce_request(inner, &batches);
    if inner.settings.acks == 0 {
        return ready(match conn.send_one_way(ApiKey::Produce, version, &req) {
            Ok(()) => Completion {
                node,
                results: batches
                    .into_iter()
                    .map(|(tp, b)| {
                        (
                            tp,
                            b,
                            Outcome::Appended {
                                base_offset: -1,
                                log_append_time: -1,
                            },
                        )
                    })
                    .collect(),
            },
            Err(e) => lost(batches, e),
        });
    }
    match conn.submit::<ProduceRequest, ProduceResponse>(ApiKey::Produce, version, &req) {
        Err(e) => ready(lost(batches, e)),
        Ok(response) => {
            let addr = conn.addr().to_string();
            Box::pin(async move {
                match response.await {
                    Ok(resp) => Completion {
                        node,
                        results: outcomes(&addr, batches, &resp),
                    },
                    Err(e) => lost(batches, e),
                }
            })
        }
    }
}

fn produce_request(inner: &Inner, batches: &[(Tp, ReadyBatch)]) -> ProduceRequest {
    let mut by_topic: BTreeMap<Arc<str>, Vec<PartitionProduceData>> = BTreeMap::new();
    for ((topic, partition), b) in batches {
        by_topic.entry(topic.clone()).or_default().push(
            PartitionProduceData::default()
                .with_index(*partition)
                .with_records(Some(bytes::Bytes::copy_from_slice(&b.bytes))),
        );
    }
    let timeout = inner
        .cluster
        .connection_config()
        .request_timeout
        .as_millis();
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(inner.settings.acks)
        .with_timeout_ms(i32::try_from(timeout).unwrap_or(i32::MAX))
        .with_topic_data(
            by_topic
                .into_iter()
                .map(|(t, partitions)| {
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partition_data(partitions)
                })
                .collect(),
        )
}

fn outcomes(
    addr: &str,
    batches: Vec<(Tp, ReadyBatch)>,
    resp: &ProduceResponse,
) -> Vec<(Tp, ReadyBatch, Outcome)> {
    batches
        .into_iter()
        .map(|(tp, b)| {
            let answer = resp
                .responses
                .iter()
                .filter(|t| *t.name.0 == *tp.0)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == tp.1);
            let outcome = match answer {
                None => Outcome::Lost(Error::Protocol {
                    addr: addr.to_string(),
                    reason: format!("no answer for {}-{}", tp.0, tp.1),
                }),
                Some(p) if p.error_code == 0 => Outcome::Appended {
                    base_offset: p.base_offset,
                    log_append_time: p.log_append_time_ms,
                },
                Some(p) if p.error_code == 46 => Outcome::Duplicate,
                Some(p) => Outcome::Code(p.error_code),
            };
            (tp, b, outcome)
        })
        .collect()
}
