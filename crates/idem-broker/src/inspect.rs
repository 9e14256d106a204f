//! A read-only view of what a topic's partitions hold: offsets, the dedupe state of each
//! producer (its epoch, last sequence and window of batches with their offsets) and the
//! newest records. Served as JSON by the HTTP port (`/api/state`) and used by `idem demo`.
//! It takes each partition's lock briefly, like a Fetch or a DescribeProducers would.

use serde::Serialize;

use crate::broker::Broker;

/// Largest value shown per record; the rest is cut (this is a view, not a consumer).
const MAX_SHOWN_BYTES: usize = 200;
/// Bytes read to show the newest records.
const READ_BYTES: usize = 1 << 20;

/// One topic.
#[derive(Debug, Clone, Serialize)]
pub struct TopicView {
    /// Name.
    pub topic: String,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionView>,
}

/// One partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionView {
    /// Index.
    pub partition: i32,
    /// First offset kept.
    pub log_start_offset: i64,
    /// Offset up to which records are durable and readable.
    pub high_watermark: i64,
    /// Next offset to be written.
    pub log_end_offset: i64,
    /// The dedupe state, by producer id.
    pub producers: Vec<ProducerView>,
    /// The newest records, oldest first.
    pub records: Vec<RecordView>,
}

/// What the partition remembers of one producer.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerView {
    /// Producer id.
    pub producer_id: i64,
    /// Current epoch.
    pub epoch: i16,
    /// Last sequence appended, -1 if none.
    pub last_seq: i32,
    /// Broker time of the last append (ms).
    pub last_append_ms: i64,
    /// The last batches (at most 5), oldest first: what a retry is compared with.
    pub batches: Vec<BatchView>,
}

/// One batch of the dedupe window.
#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    /// First sequence.
    pub first_seq: i32,
    /// Last sequence.
    pub last_seq: i32,
    /// Offset of its first record.
    pub first_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// One record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    /// Offset.
    pub offset: i64,
    /// Producer id of its batch, -1 without idempotence.
    pub producer_id: i64,
    /// Epoch of its batch.
    pub epoch: i16,
    /// Its sequence number, -1 without idempotence.
    pub sequence: i32,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Key as text (lossy UTF-8, cut), if any.
    pub key: Option<String>,
    /// Value as text (lossy UTF-8, cut), if any.
    pub value: Option<String>,
}

fn shown(b: &[u8]) -> String {
    let cut = &b[..b.len().min(MAX_SHOWN_BYTES)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if b.len() > MAX_SHOWN_BYTES {
        s.push('…');
    }
    s
}

/// The names of all topics, sorted.
pub fn topics(broker: &Broker) -> Vec<String> {
    let mut names: Vec<String> = broker.topics().iter().map(|t| t.name.to_string()).collect();
    names.sort();
    names
}

/// A topic's view with up to `last_records` newest records per partition; `None` if there
/// is no such topic.
pub fn topic(broker: &Broker, name: &str, last_records: usize) -> Option<TopicView> {
    let topic = broker.topic(name)?;
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let (log_start_offset, log_end_offset, high_watermark) = p.offsets();
            let producers = p
                .producers()
                .iter()
                .map(|e| ProducerView {
                    producer_id: e.producer_id,
                    epoch: e.epoch,
                    last_seq: e.last_seq(),
                    last_append_ms: e.last_append_ms,
                    batches: e
                        .batches()
                        .map(|b| BatchView {
                            first_seq: b.first_seq,
                            last_seq: b.last_seq,
                            first_offset: b.first_offset(),
                            last_offset: b.last_offset,
                        })
                        .collect(),
                })
                .collect();
            let from = high_watermark
                .saturating_sub(i64::try_from(last_records).unwrap_or(i64::MAX))
                .max(log_start_offset);
            let records = if last_records == 0 || from >= high_watermark {
                Vec::new()
            } else {
                newest_records(p, from)
            };
            PartitionView {
                partition: p.index(),
                log_start_offset,
                high_watermark,
                log_end_offset,
                producers,
                records,
            }
        })
        .collect();
    Some(TopicView {
        topic: name.to_string(),
        partitions,
    })
}

/// Records from `from` to the high watermark (a failed read shows none: this is a view).
fn newest_records(p: &crate::partition::Partition, from: i64) -> Vec<RecordView> {
    let Ok(read) = p.read(from, READ_BYTES, true) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = read.records;
    while let Some(Ok(len)) = idem_wire::batch::batch_size(&rest) {
        if len > rest.len() {
            break;
        }
        let batch = rest.split_to(len);
        let Ok((h, records)) = idem_wire::records::decode_batch(&batch, READ_BYTES as u64 * 64)
        else {
            break;
        };
        for r in records {
            if r.offset < from {
                continue;
            }
            let sequence = if h.producer_id >= 0 {
                let delta = i32::try_from(r.offset - h.base_offset).unwrap_or(0);
                idem_producer_state::increment_sequence(h.base_sequence, delta)
            } else {
                -1
            };
            out.push(RecordView {
                offset: r.offset,
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                sequence,
                timestamp: r.timestamp,
                key: r.key.as_deref().map(shown),
                value: r.value.as_deref().map(shown),
            });
        }
    }
    out
}
