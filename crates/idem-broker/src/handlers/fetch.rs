//! Fetch (1), v4-18: whole batches up to the high watermark, with long-poll.
//!
//! No fetch sessions: every response says session id 0, which tells clients to keep sending
//! full fetch requests (KIP-227 allows it). Topic ids replace names from v13.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use tokio::sync::watch;

use super::{str_bytes, Ctx, Dispatch, Response};
use crate::broker::Broker;
use crate::error_codes as ec;
use crate::memory::{Grant, ResponseMemory};
use crate::partition::{Partition, Watermark};

/// Kafka's `fetch.max.bytes` default (55 MiB): the most a response carries, whatever the
/// client asks, so one request cannot make the broker read gigabytes.
const RESPONSE_MAX_BYTES: usize = 55 * 1024 * 1024;
/// Longest long-poll honoured.
const MAX_WAIT_CAP: Duration = Duration::from_secs(60);

struct Wanted {
    index: i32,
    offset: i64,
    max_bytes: usize,
    partition: Option<Arc<Partition>>,
}

struct WantedTopic {
    name: String,
    id: uuid::Uuid,
    partitions: Vec<Wanted>,
    unknown_code: i16,
}

pub(super) fn handle(
    broker: &Arc<Broker>,
    memory: &Arc<ResponseMemory>,
    ctx: Ctx,
    req: FetchRequest,
) -> Dispatch {
    let v = ctx.version;
    let max_wait =
        Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0)).min(MAX_WAIT_CAP);
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    // One response's share of the response memory: a client asking for 50 MiB gets at most
    // `idem.response.memory.per.connection.bytes` (beyond its first batch), as it would get
    // less from a busy Kafka; it fetches again for the rest.
    let max_bytes = if v >= 3 {
        usize::try_from(req.max_bytes.max(0)).unwrap_or(0)
    } else {
        usize::MAX
    }
    .min(RESPONSE_MAX_BYTES)
    .min(broker.config().response_memory.per_connection_bytes);
    let read_committed = v >= 4 && req.isolation_level == 1;
    let topics: Vec<WantedTopic> = req
        .topics
        .iter()
        .map(|t| {
            let (topic, unknown_code) = if v >= 13 {
                (broker.topic_by_id(&t.topic_id), ec::UNKNOWN_TOPIC_ID)
            } else {
                (broker.topic(&t.topic.0), ec::UNKNOWN_TOPIC_OR_PARTITION)
            };
            WantedTopic {
                name: t.topic.0.to_string(),
                id: t.topic_id,
                unknown_code,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| Wanted {
                        index: p.partition,
                        offset: p.fetch_offset,
                        max_bytes: usize::try_from(p.partition_max_bytes.max(0)).unwrap_or(0),
                        partition: topic.as_ref().and_then(|topic| {
                            usize::try_from(p.partition)
                                .ok()
                                .and_then(|i| topic.partitions.get(i).cloned())
                        }),
                    })
                    .collect(),
            }
        })
        .collect();
    // The floor of a grant: the largest batch any fetched partition accepts, so the first
    // batch (KIP-74) fits in what is granted.
    let floor = topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|w| w.partition.as_ref().map(|p| p.config().max_message_bytes))
        .max()
        .unwrap_or(0)
        .max(1);
    let metrics = Arc::clone(broker.metrics());
    let memory = Arc::clone(memory);
    Dispatch::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let mut receivers: Vec<watch::Receiver<Watermark>> = topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .filter_map(|w| w.partition.as_ref().map(|p| p.subscribe()))
                .collect();
            for r in &mut receivers {
                r.borrow_and_update();
            }
            let (response, bytes, errors, grant) = build_within_budget(
                &ctx,
                &topics,
                &memory,
                max_bytes,
                floor,
                deadline,
                read_committed,
            )
            .await;
            let done = bytes >= min_bytes
                || errors
                || max_wait.is_zero()
                || tokio::time::Instant::now() >= deadline;
            if done {
                metrics.errors_of(
                    ctx.api_key as i16,
                    std::iter::once(response.error_code).chain(
                        response
                            .responses
                            .iter()
                            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                    ),
                );
                let encoded = ctx.respond(&response);
                // The records are in the frame now: their copy goes, and its share of the
                // grant with it.
                drop(response);
                return match (encoded, grant) {
                    (Response::Frame(frame), Some(mut grant)) => {
                        grant.shrink(frame.len());
                        Response::Budgeted(frame, grant)
                    }
                    (other, _) => other,
                };
            }
            drop((response, grant));
            // Sleep until a partition's watermark moves or the wait is over, then read again.
            if receivers.is_empty() {
                tokio::time::sleep_until(deadline).await;
            } else {
                let changed = select_all(receivers.iter_mut().map(|r| Box::pin(r.changed())));
                let _ = tokio::time::timeout_at(deadline, changed).await;
            }
        }
    }))
}

/// Shortest wait for response memory, even for a fetch with no max wait: a consumer polling
/// with `max.wait.ms=0` while the memory is taken would otherwise spin on empty answers.
const MIN_MEMORY_WAIT: Duration = Duration::from_millis(100);

/// One pass over the partitions with record bytes taken from the response memory first.
/// The grant covers the records twice: once as read from the segment, once copied into the
/// encoded frame (the copy lives until the records are dropped, after encoding); so it is
/// at least twice `floor` (the first batch fits) and at most twice `max_bytes`. Returns the
/// response, its record bytes, whether a partition has an error, and the grant (trimmed to
/// twice the bytes read; the caller trims it to the frame once encoded) that travels with the
/// frame to the socket.
async fn build_within_budget(
    ctx: &Ctx,
    topics: &[WantedTopic],
    memory: &ResponseMemory,
    max_bytes: usize,
    floor: usize,
    deadline: tokio::time::Instant,
    read_committed: bool,
) -> (FetchResponse, usize, bool, Option<Grant>) {
    let pending = topics.iter().flat_map(|t| t.partitions.iter()).any(|w| {
        w.partition
            .as_ref()
            .is_some_and(|p| w.offset < p.watermark().high)
    });
    if !pending {
        // Nothing to read: no memory taken, and nothing read without it (a batch that
        // lands meanwhile is left for the next pass, as the watermark wakes it).
        let (response, bytes, errors) = build(ctx, topics, 0, false, read_committed);
        return (response, bytes, errors, None);
    }
    let wait = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .max(MIN_MEMORY_WAIT);
    let twice = |n: usize| n.saturating_mul(2);
    let mut grant = memory
        .grant(twice(floor), twice(max_bytes.max(floor)), wait)
        .await;
    let limit = grant.as_ref().map_or(0, |g| (g.bytes() / 2).min(max_bytes));
    let (mut response, mut bytes, mut errors) =
        build(ctx, topics, limit, grant.is_some(), read_committed);
    if let Some(g) = &grant {
        if twice(bytes) > g.bytes() {
            // A first batch larger than the floor (written before a topic's
            // max.message.bytes was lowered, or larger than the whole budget): give back
            // what is held (no one waits while holding), wait for what it needs and read
            // again. Beyond the whole budget, the one batch is served anyway: a consumer
            // must never be stuck behind it.
            let need = twice(bytes);
            drop((response, grant));
            grant = memory.grant(need, need, wait).await;
            let limit = grant.as_ref().map_or(0, |g| (g.bytes() / 2).min(max_bytes));
            (response, bytes, errors) = build(ctx, topics, limit, grant.is_some(), read_committed);
        }
    }
    if let Some(g) = &mut grant {
        g.shrink(twice(bytes));
    }
    (response, bytes, errors, grant)
}

/// One pass over the wanted partitions: the response, its record bytes, and whether any
/// partition has an error (errors are answered at once, not long-polled).
fn build(
    ctx: &Ctx,
    topics: &[WantedTopic],
    max_bytes: usize,
    first_batch: bool,
    read_committed: bool,
) -> (FetchResponse, usize, bool) {
    let v = ctx.version;
    let mut total = 0usize;
    let mut errors = false;
    let mut responses = Vec::with_capacity(topics.len());
    for t in topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for w in &t.partitions {
            let mut data = PartitionData::default()
                .with_partition_index(w.index)
                .with_high_watermark(-1)
                .with_records(Some(Bytes::new()));
            if v >= 4 {
                data = data
                    .with_last_stable_offset(-1)
                    .with_aborted_transactions(read_committed.then(Vec::new));
            }
            if v >= 5 {
                data = data.with_log_start_offset(-1);
            }
            match &w.partition {
                None => {
                    errors = true;
                    data = data.with_error_code(t.unknown_code);
                }
                Some(p) => {
                    // KIP-74: the first batch of the response is returned even when larger
                    // than the limits, so a big batch never stalls a consumer; as in Kafka,
                    // only until some partition has returned data, so a response exceeds
                    // `max_bytes` by at most that one batch (the response memory grant
                    // covers it: see `build_within_budget`).
                    let budget = max_bytes.saturating_sub(total).min(w.max_bytes);
                    let at_least_one = first_batch && total == 0;
                    match p.read(w.offset, budget, at_least_one) {
                        Ok(read) => {
                            total += read.records.len();
                            data = data
                                .with_high_watermark(read.high_watermark)
                                .with_records(Some(read.records));
                            if v >= 4 {
                                data = data.with_last_stable_offset(read.high_watermark);
                            }
                            if v >= 5 {
                                data = data.with_log_start_offset(read.log_start_offset);
                            }
                        }
                        Err(e) => {
                            errors = true;
                            let (start, _, high) = p.offsets();
                            data = data.with_error_code(e.code).with_high_watermark(high);
                            if v >= 4 {
                                data = data.with_last_stable_offset(high);
                            }
                            if v >= 5 {
                                data = data.with_log_start_offset(start);
                            }
                        }
                    }
                }
            }
            partitions.push(data);
        }
        let mut topic = FetchableTopicResponse::default().with_partitions(partitions);
        if v >= 13 {
            topic = topic.with_topic_id(t.id);
        } else {
            topic = topic.with_topic(TopicName(str_bytes(&t.name)));
        }
        responses.push(topic);
    }
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}
