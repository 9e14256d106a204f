//! Produce (0), v3+: validate each batch, append it (or answer a duplicate), then answer when
//! the acks level is met.
//!
//! Validation and appends run right away, in request order, so pipelined produces from one
//! connection land in the order sent. With acks=all the answer then waits, off the reader,
//! until every partition's high watermark covers its batch (under the `always` flush policy:
//! until it is synced); a duplicate waits for its original batch the same way.

use std::sync::Arc;
use std::time::Duration;

use idem_wire::batch::{self, HEADER_LEN};
use idem_wire::compression::{Codec, RecordsError};
use idem_wire::records;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};

use super::{str_bytes, Ctx, Dispatch, Response};
use crate::broker::{now_ms, Broker};
use crate::config::TimestampType;
use crate::error_codes as ec;
use crate::metrics::Metrics;
use crate::partition::{Dedupe, Partition, PartitionError, Produced};

/// Why a partition's batch was refused, as the response reports it.
struct Refusal {
    code: i16,
    message: String,
    /// Refused before reaching the log (format, size, CRC, acks...): Kafka then answers a
    /// log start offset of -1.
    before_log: bool,
    /// Records at fault (batch index, reason), reported from Produce v8.
    record_errors: Vec<(i32, String)>,
}

impl From<PartitionError> for Refusal {
    fn from(e: PartitionError) -> Refusal {
        Refusal {
            code: e.code,
            message: e.message,
            before_log: false,
            record_errors: Vec::new(),
        }
    }
}

/// One partition's outcome, before the acks wait.
struct Outcome {
    index: i32,
    partition: Option<Arc<Partition>>,
    result: Result<Produced, Refusal>,
}

struct TopicOutcome {
    name: String,
    id: uuid::Uuid,
    partitions: Vec<Outcome>,
}

fn err(code: i16, message: impl Into<String>) -> Result<Produced, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
        before_log: false,
        record_errors: Vec::new(),
    })
}

/// A refusal Kafka makes before the log (ProduceRequest and request-level checks).
fn early(code: i16, message: impl Into<String>) -> Result<Produced, Refusal> {
    Err(Refusal {
        code,
        message: message.into(),
        before_log: true,
        record_errors: Vec::new(),
    })
}

pub(super) fn handle(broker: &Arc<Broker>, ctx: Ctx, req: ProduceRequest) -> Dispatch {
    let acks = req.acks;
    let now = now_ms();
    let metrics = Arc::clone(broker.metrics());
    let transactional = req.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records
                .as_ref()
                .and_then(|r| batch::BatchHeader::parse_prefix(r).ok())
                .is_some_and(|h| h.is_transactional())
        })
    });
    let request_error = if !matches!(acks, -1..=1) {
        Some((
            ec::INVALID_REQUIRED_ACKS,
            "acks must be -1, 0 or 1".to_string(),
        ))
    } else if transactional {
        Some((
            ec::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            "idem does not support transactions".to_string(),
        ))
    } else {
        None
    };
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for t in &req.topic_data {
        let topic = if ctx.version >= 13 {
            broker.topic_by_id(&t.topic_id)
        } else {
            broker.topic(&t.name.0)
        };
        let unknown = if ctx.version >= 13 {
            ec::UNKNOWN_TOPIC_ID
        } else {
            ec::UNKNOWN_TOPIC_OR_PARTITION
        };
        let mut partitions = Vec::with_capacity(t.partition_data.len());
        for p in &t.partition_data {
            let partition = topic.as_ref().and_then(|topic| {
                usize::try_from(p.index)
                    .ok()
                    .and_then(|i| topic.partitions.get(i).cloned())
            });
            let result = match (&request_error, &partition) {
                (Some((code, message)), _) => early(*code, message.clone()),
                (None, None) => err(unknown, "This server does not host this topic-partition."),
                // Kafka: "Cannot append to internal topic" (InvalidTopicException).
                (None, Some(partition)) if &**partition.topic() == crate::groups::OFFSETS_TOPIC => {
                    err(
                        ec::INVALID_TOPIC_EXCEPTION,
                        "Cannot append to internal topic __consumer_offsets",
                    )
                }
                (None, Some(partition)) => {
                    produce_one(broker, partition, p.records.as_deref(), ctx.version, now)
                }
            };
            partitions.push(Outcome {
                index: p.index,
                partition,
                result,
            });
        }
        topics.push(TopicOutcome {
            name: t.name.0.to_string(),
            id: t.topic_id,
            partitions,
        });
    }
    match acks {
        0 => {
            // No response; Kafka closes the connection on an error so the producer notices.
            let failure = topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find_map(|o| o.result.as_ref().err());
            Dispatch::Now(match failure {
                Some(e) => Response::Close(format!("acks=0 produce failed: {}", e.message)),
                None => Response::Nothing,
            })
        }
        -1 => {
            let timeout = Duration::from_millis(u64::try_from(req.timeout_ms.max(0)).unwrap_or(0));
            let deadline = tokio::time::Instant::now() + timeout;
            Dispatch::Later(Box::pin(async move {
                for o in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                    if let (Ok(produced), Some(p)) = (&o.result, &o.partition) {
                        if let Err(code) =
                            p.wait_for(produced.required_high_watermark, deadline).await
                        {
                            let message = if code == ec::REQUEST_TIMED_OUT {
                                "the batch is in the log but not yet durable"
                            } else {
                                "the partition went offline before the batch was durable"
                            };
                            o.result = err(code, message);
                        }
                    }
                }
                ctx.respond(&response(&ctx, topics, &metrics))
            }))
        }
        _ => Dispatch::Now(ctx.respond(&response(&ctx, topics, &metrics))),
    }
}

fn produce_one(
    broker: &Broker,
    partition: &Partition,
    records: Option<&[u8]>,
    version: i16,
    now: i64,
) -> Result<Produced, Refusal> {
    let config = partition.config();
    let Some(records) = records else {
        return early(ec::INVALID_RECORD, "no record batch");
    };
    let header = match batch::validate_client_batch(records, config.max_message_bytes, version) {
        Ok(h) => h,
        Err(e) => {
            broker.metrics().invalid_batches.inc();
            return if e.before_log() {
                early(e.code(), e.to_string())
            } else {
                err(e.code(), e.to_string())
            };
        }
    };
    // Every record is walked in place (never copied or kept), as Kafka's LogValidator reads
    // them: a batch whose records do not fit together is refused, so no consumer can be
    // handed a poison pill. Compressed sections are decompressed as a stream under a cap.
    let codec = header.codec().unwrap_or(Codec::None);
    let summary = match records::check(
        codec,
        &records[HEADER_LEN..],
        header.records_count,
        broker.config().max_decompressed_bytes,
    ) {
        Ok(s) => s,
        Err(e) => {
            broker.metrics().invalid_batches.inc();
            let message = match e {
                RecordsError::TooLarge { max } => {
                    format!("records decompress to more than {max} bytes")
                }
                other => other.to_string(),
            };
            return err(ec::INVALID_RECORD, message);
        }
    };
    let dedupe = if broker.config().unsafe_disable_dedupe {
        Dedupe::Off
    } else {
        Dedupe::On {
            issued_below: broker.pids.issued_below(),
            max_decompressed_bytes: broker.config().max_decompressed_bytes,
        }
    };
    let limits = Limits {
        now,
        before: config.timestamp_before_max_ms,
        after: config.timestamp_after_max_ms,
    };
    let max_decompressed = broker.config().max_decompressed_bytes;
    if header.is_log_append_time() {
        // Kafka reads every record of such a batch as stamped with the header's max
        // timestamp. A LogAppendTime topic refuses the bit outright; a CreateTime topic checks
        // that one timestamp and stores the batch as CreateTime.
        let ts = header.max_timestamp;
        if config.timestamp_type == TimestampType::LogAppendTime || ts == -1 {
            broker.metrics().invalid_batches.inc();
            return Err(invalid_timestamps(
                (0..header.records_count)
                    .map(|i| {
                        let m = "Invalid timestamp type in message: the producer should not \
                                 set the timestamp type to LogAppendTime";
                        (i, m.to_string())
                    })
                    .collect(),
            ));
        }
        if limits.invalid(ts) {
            broker.metrics().invalid_batches.inc();
            return Err(invalid_timestamps(
                (0..header.records_count)
                    .map(|i| (i, limits.describe(ts, i64::from(i))))
                    .collect(),
            ));
        }
        let mut copy = records.to_vec();
        batch::set_create_time(&mut copy);
        let mut fixed = header;
        fixed.attributes = header.attributes & !LOG_APPEND_TIME_BIT;
        fixed.crc = batch::compute_crc(&copy);
        return partition
            .produce(&copy, &fixed, now, dedupe)
            .map_err(Refusal::from);
    }
    if config.timestamp_type == TimestampType::LogAppendTime {
        return partition
            .produce(records, &header, now, dedupe)
            .map_err(Refusal::from);
    }
    // The common case decides from the smallest and largest delta the record walk above
    // already found; only a batch that may hold an out-of-range record is walked again, to
    // find which records (Kafka checks each record but those stamped -1).
    let fast = summary.timestamp_deltas.and_then(|(lo, hi)| {
        let base = i128::from(header.base_timestamp);
        limits
            .all_valid(base + i128::from(lo), base + i128::from(hi))
            .then(|| header.base_timestamp + hi)
    });
    let highest = match fast {
        Some(highest) => highest,
        None => {
            let mut record_errors = Vec::new();
            let mut highest = -1i64;
            let mut index = 0i32;
            let _ = records::walk(
                codec,
                &records[HEADER_LEN..],
                header.records_count,
                max_decompressed,
                |r| {
                    // Kafka adds the delta as a Java long: wrapping.
                    let ts = header.base_timestamp.wrapping_add(r.timestamp_delta);
                    if ts != -1 && limits.invalid(ts) {
                        record_errors.push((index, limits.describe(ts, i64::from(r.offset_delta))));
                    }
                    highest = highest.max(ts);
                    index += 1;
                    true
                },
            );
            if !record_errors.is_empty() {
                broker.metrics().invalid_batches.inc();
                return Err(invalid_timestamps(record_errors));
            }
            highest
        }
    };
    // Kafka stores the largest timestamp the records carry, starting from -1, whatever the
    // header said: the rare batch that disagrees is copied and its CRC recomputed.
    let highest = highest.max(-1);
    if highest == header.max_timestamp {
        return partition
            .produce(records, &header, now, dedupe)
            .map_err(Refusal::from);
    }
    let mut copy = records.to_vec();
    batch::set_max_timestamp(&mut copy, highest);
    let mut fixed = header;
    fixed.max_timestamp = highest;
    fixed.crc = batch::compute_crc(&copy);
    partition
        .produce(&copy, &fixed, now, dedupe)
        .map_err(Refusal::from)
}

/// Attributes bit 3: the batch's timestamps were set by the broker.
const LOG_APPEND_TIME_BIT: i16 = 0x08;

/// A topic's timestamp limits at the broker's `now`, checked exactly as Kafka's LogValidator
/// does (`now - ts > before || ts - now > after`, in wrapping 64-bit arithmetic), so that
/// negative timestamps and i64::MIN are judged the way Kafka judges them.
#[derive(Clone, Copy)]
struct Limits {
    now: i64,
    before: i64,
    after: i64,
}

impl Limits {
    fn invalid(self, ts: i64) -> bool {
        let diff = self.now.wrapping_sub(ts);
        diff > self.before || diff.wrapping_neg() > self.after
    }

    /// True when every timestamp in `lo..=hi` (exact values) is valid: both inside i64 and
    /// within `[now - before, now + after]`, where Kafka's subtraction cannot wrap.
    fn all_valid(self, lo: i128, hi: i128) -> bool {
        let now = i128::from(self.now);
        lo >= i128::from(i64::MIN)
            && hi <= i128::from(i64::MAX)
            && lo >= now - i128::from(self.before)
            && hi <= now + i128::from(self.after)
    }

    fn describe(self, ts: i64, offset: i64) -> String {
        format!(
            "Timestamp {ts} of message with offset {offset} is out of range. The timestamp \
             should be within [{}, {}]",
            self.now.saturating_sub(self.before),
            self.now.saturating_add(self.after)
        )
    }
}

fn invalid_timestamps(record_errors: Vec<(i32, String)>) -> Refusal {
    Refusal {
        code: ec::INVALID_TIMESTAMP,
        message: "One or more records have been rejected due to invalid timestamp".into(),
        before_log: false,
        record_errors,
    }
}

fn response(ctx: &Ctx, topics: Vec<TopicOutcome>, metrics: &Metrics) -> ProduceResponse {
    let v = ctx.version;
    let responses = topics
        .into_iter()
        .map(|t| {
            let partition_responses = t
                .partitions
                .into_iter()
                .map(|o| {
                    let mut log_start = o.partition.as_ref().map_or(-1, |p| p.offsets().0);
                    let mut r = PartitionProduceResponse::default().with_index(o.index);
                    match o.result {
                        Ok(produced) => {
                            r = r.with_base_offset(produced.base_offset);
                            if v >= 2 {
                                r = r.with_log_append_time_ms(produced.log_append_time);
                            }
                        }
                        Err(e) => {
                            if e.before_log {
                                log_start = -1;
                            }
                            metrics.error(ctx.api_key as i16, e.code);
                            r = r.with_error_code(e.code).with_base_offset(-1);
                            if v >= 8 {
                                r = r
                                    .with_error_message(Some(str_bytes(&e.message)))
                                    .with_record_errors(
                                        e.record_errors
                                            .iter()
                                            .map(|(i, m)| {
                                                BatchIndexAndErrorMessage::default()
                                                    .with_batch_index(*i)
                                                    .with_batch_index_error_message(Some(
                                                        str_bytes(m),
                                                    ))
                                            })
                                            .collect(),
                                    );
                            }
                        }
                    }
                    if v >= 5 {
                        r = r.with_log_start_offset(log_start);
                    }
                    r
                })
                .collect();
            let mut topic =
                TopicProduceResponse::default().with_partition_responses(partition_responses);
            if v >= 13 {
                topic = topic.with_topic_id(t.id);
            } else {
                topic = topic.with_name(TopicName(str_bytes(&t.name)));
            }
            topic
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
