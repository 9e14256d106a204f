//! The per-partition producer table and its decision procedure.

use std::collections::{BTreeMap, VecDeque};

use crate::sequence::{in_sequence, increment_sequence};
use crate::{BATCHES_TO_RETAIN, NO_PRODUCER_EPOCH, NO_SEQUENCE};

/// What the table needs to know about an incoming or stored batch: header fields only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Producer id; negative means the batch is not idempotent.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record.
    pub base_sequence: i32,
    /// Records in the batch minus one; also the offset span of the batch.
    pub last_offset_delta: i32,
    /// Largest record timestamp (the append time on LogAppendTime topics).
    pub max_timestamp: i64,
    /// CRC-32C of the batch, to tell a true retry from a reused sequence range.
    pub crc: u32,
}

impl BatchInfo {
    /// Sequence of the last record, wrapping past `i32::MAX`.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// A remembered batch: enough to answer its retry exactly as the first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// First sequence.
    pub first_seq: i32,
    /// Last sequence.
    pub last_seq: i32,
    /// Offset of the last record.
    pub last_offset: i64,
    /// `last_offset - first_offset`.
    pub offset_delta: i32,
    /// Max timestamp of the batch (what Kafka answers as LogAppendTimeMs for a duplicate).
    pub timestamp: i64,
    /// CRC-32C of the stored batch.
    pub crc: u32,
}

impl BatchMetadata {
    /// Offset of the first record: the base offset the first answer carried.
    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

/// Everything the table remembers about one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer id.
    pub producer_id: i64,
    /// Current epoch; [`NO_PRODUCER_EPOCH`] for a producer that writes without one.
    pub epoch: i16,
    /// The newest batches of the current epoch, oldest first, at most [`BATCHES_TO_RETAIN`].
    pub(crate) batches: VecDeque<BatchMetadata>,
    /// Max timestamp of the newest batch (Kafka's `lastTimestamp`), or -1.
    pub last_timestamp: i64,
    /// Broker time of the last append, in ms. idem expires producers by this clock, not by the
    /// client-supplied timestamps Kafka uses.
    pub last_append_ms: i64,
    /// Always -1: idem has no transaction coordinator.
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    fn empty(producer_id: i64) -> ProducerEntry {
        ProducerEntry {
            producer_id,
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
            last_timestamp: -1,
            last_append_ms: -1,
            coordinator_epoch: -1,
        }
    }

    /// Sequence of the newest batch's last record, or [`NO_SEQUENCE`].
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Offset of the newest batch's last record, or -1.
    pub fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    /// The remembered batches, oldest first.
    pub fn batches(&self) -> impl ExactSizeIterator<Item = &BatchMetadata> + '_ {
        self.batches.iter()
    }

    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<&BatchMetadata> {
        if epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
    }

    /// Records a batch that is now in the log. A change of epoch starts a fresh window.
    fn push(&mut self, epoch: i16, batch: BatchMetadata, now_ms: i64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
        self.last_append_ms = now_ms;
    }
}

/// A validated append, waiting for the log to assign its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a staged append does nothing until committed"]
pub struct StagedAppend {
    batch: BatchInfo,
    /// The producer's epoch when the batch was judged, to assert that nothing changed
    /// between check and commit (they must run under the same partition lock).
    epoch_at_check: Option<i16>,
    last_seq_at_check: i32,
}

impl StagedAppend {
    /// The batch being appended.
    pub fn batch(&self) -> &BatchInfo {
        &self.batch
    }

    /// Replaces the timestamp to remember, for a broker that rewrote it (LogAppendTime).
    pub fn set_max_timestamp(&mut self, timestamp: i64) {
        self.batch.max_timestamp = timestamp;
    }

    /// True when this append starts a new epoch (clearing the window).
    pub fn bumps_epoch(&self) -> bool {
        self.epoch_at_check
            .is_some_and(|e| e != self.batch.producer_epoch)
    }
}

/// A retry of a batch already in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    /// The original batch: its offsets are the answer.
    pub original: BatchMetadata,
    /// Same sequence range and epoch, but a different CRC: a client that re-stamped its
    /// retry (kafkajs does), a LogAppendTime rewrite seen after a restart, or another writer
    /// reusing the range. The caller compares the records themselves: equal apart from
    /// timestamps is a duplicate, otherwise [`Duplicate::reused`] refuses the batch.
    pub content_differs: bool,
}

impl Duplicate {
    /// The rejection for `batch` when its records differ from the original's.
    pub fn reused(&self, batch: &BatchInfo) -> Rejection {
        Rejection::ReusedSequence {
            producer_id: batch.producer_id,
            epoch: batch.producer_epoch,
            first_seq: batch.base_sequence,
            last_seq: batch.last_sequence(),
            original_offset: self.original.first_offset(),
        }
    }
}

/// Why a batch is refused. Each maps to Kafka's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// INVALID_PRODUCER_EPOCH (47): the batch's epoch is older than the producer's.
    #[error("producer {producer_id}: epoch {got} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// Producer id.
        producer_id: i64,
        /// Epoch on record.
        current: i16,
        /// Epoch of the batch.
        got: i16,
    },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45): a newer epoch not starting at 0.
    #[error(
        "producer {producer_id}: a new epoch {epoch} must start at sequence 0, got {first_seq}"
    )]
    NewEpochNotAtZero {
        /// Producer id.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// First sequence of the batch.
        first_seq: i32,
    },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45): a gap, a partial overlap, or a retry older than the
    /// remembered window.
    #[error(
        "producer {producer_id} epoch {epoch}: expected sequence {expected}, got {first_seq}..={last_seq}"
    )]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// The sequence that would have been in order.
        expected: i32,
        /// First sequence of the batch.
        first_seq: i32,
        /// Last sequence of the batch.
        last_seq: i32,
    },
    /// INVALID_RECORD (87): a producer id with a negative base sequence.
    #[error("producer {producer_id}: base sequence {base_sequence} is negative")]
    NegativeSequence {
        /// Producer id.
        producer_id: i64,
        /// The sequence.
        base_sequence: i32,
    },
    /// UNKNOWN_PRODUCER_ID (59): a producer id at or above every id this cluster ever handed
    /// out. Kafka accepts any producer id; idem refuses ids it never issued, so that a forged
    /// id can neither raise the allocation floor nor sit in the state waiting for the day the
    /// id is handed to a real producer (whose first batches would then be taken for
    /// duplicates and dropped).
    #[error("producer id {producer_id} was never issued by this cluster (ids issued so far are below {issued_below})")]
    NeverIssued {
        /// Producer id.
        producer_id: i64,
        /// Every id handed out so far is below this.
        issued_below: i64,
    },
    /// INVALID_RECORD (87): the epoch and sequence range of a batch already in the log, but
    /// other records (keys, values, headers or count; timestamps are not compared, since
    /// some clients re-stamp a retried batch). Kafka answers such a batch as a duplicate,
    /// with the original's offset, so the new records are silently never stored; idem says
    /// so instead. The caller compares the records and builds this rejection.
    #[error("producer {producer_id} epoch {epoch}: sequences {first_seq}..={last_seq} were already written at offset {original_offset} with other records; this batch is not stored")]
    ReusedSequence {
        /// Producer id.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// First sequence of the batch.
        first_seq: i32,
        /// Last sequence of the batch.
        last_seq: i32,
        /// Base offset of the batch already stored with this range.
        original_offset: i64,
    },
}

/// Refuses a batch whose producer id was never handed out: `issued_below` is the end of the
/// newest durable producer-id block (every id InitProducerId ever answered is below it).
/// Batches without a producer id pass.
pub fn check_issued(batch: &BatchInfo, issued_below: i64) -> Result<(), Rejection> {
    if batch.producer_id >= 0 && batch.producer_id >= issued_below {
        return Err(Rejection::NeverIssued {
            producer_id: batch.producer_id,
            issued_below,
        });
    }
    Ok(())
}

impl Rejection {
    /// Kafka's error code for this rejection.
    pub fn error_code(&self) -> i16 {
        match self {
            Rejection::InvalidProducerEpoch { .. } => 47,
            Rejection::NewEpochNotAtZero { .. } | Rejection::OutOfOrderSequence { .. } => 45,
            Rejection::NegativeSequence { .. } | Rejection::ReusedSequence { .. } => 87,
            Rejection::NeverIssued { .. } => 59,
        }
    }
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No producer id: append, and there is nothing to remember.
    AppendUntracked,
    /// Append, then [`ProducerStateTable::commit`] the staged update with the assigned offset.
    Append(StagedAppend),
    /// Already in the log: answer with the original offsets, write nothing.
    Duplicate(Duplicate),
    /// Refuse with an error code.
    Reject(Rejection),
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    /// An empty table.
    pub fn new() -> ProducerStateTable {
        ProducerStateTable::default()
    }

    /// Judges a batch from a client. Never mutates the table.
    pub fn check(&self, batch: &BatchInfo) -> Decision {
        // Kafka: `hasProducerId` is `producerId > -1`.
        if batch.producer_id < 0 {
            return Decision::AppendUntracked;
        }
        if batch.base_sequence < 0 {
            return Decision::Reject(Rejection::NegativeSequence {
                producer_id: batch.producer_id,
                base_sequence: batch.base_sequence,
            });
        }
        let entry = self.producers.get(&batch.producer_id);
        let first_seq = batch.base_sequence;
        let last_seq = batch.last_sequence();

        // 1. Duplicate first, before any epoch or sequence rule (UnifiedLog.scala).
        if let Some(original) =
            entry.and_then(|e| e.find_duplicate(batch.producer_epoch, first_seq, last_seq))
        {
            return Decision::Duplicate(Duplicate {
                original: *original,
                content_differs: original.crc != batch.crc,
            });
        }

        // 2. Epoch fencing, on signed 16-bit epochs (so a wrapped epoch is fenced too).
        let current_epoch = entry.map_or(NO_PRODUCER_EPOCH, |e| e.epoch);
        if batch.producer_epoch < current_epoch {
            return Decision::Reject(Rejection::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                current: current_epoch,
                got: batch.producer_epoch,
            });
        }

        // 3. Sequence (ProducerAppendInfo.checkSequence).
        if batch.producer_epoch != current_epoch {
            // A newer epoch restarts at 0, unless the producer had no epoch before (a new
            // producer id, or one that wrote without an epoch), which may start anywhere
            // (KIP-360: an unknown producer is accepted with any first sequence).
            if first_seq != 0 && current_epoch != NO_PRODUCER_EPOCH {
                return Decision::Reject(Rejection::NewEpochNotAtZero {
                    producer_id: batch.producer_id,
                    epoch: batch.producer_epoch,
                    first_seq,
                });
            }
        } else if current_epoch != NO_PRODUCER_EPOCH {
            let last = entry.map_or(NO_SEQUENCE, ProducerEntry::last_seq);
            if !in_sequence(last, first_seq) {
                return Decision::Reject(Rejection::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    epoch: batch.producer_epoch,
                    expected: increment_sequence(last, 1),
                    first_seq,
                    last_seq,
                });
            }
        }
        Decision::Append(StagedAppend {
            batch: *batch,
            epoch_at_check: entry.map(|e| e.epoch),
            last_seq_at_check: entry.map_or(NO_SEQUENCE, ProducerEntry::last_seq),
        })
    }

    /// Applies a staged append after the log stored it at `base_offset`.
    ///
    /// Must run under the same lock as the [`check`](Self::check) that staged it: the table
    /// must not have changed in between, which is asserted.
    pub fn commit(&mut self, staged: StagedAppend, base_offset: i64, now_ms: i64) {
        let entry = self.producers.get(&staged.batch.producer_id);
        assert_eq!(
            entry.map(|e| e.epoch),
            staged.epoch_at_check,
            "producer state changed between check and commit"
        );
        assert_eq!(
            entry.map_or(NO_SEQUENCE, ProducerEntry::last_seq),
            staged.last_seq_at_check,
            "producer state changed between check and commit"
        );
        self.apply(&staged.batch, base_offset, now_ms);
    }

    /// Applies a batch read back from the log, without any check (Kafka's REPLICATION origin,
    /// used by recovery). Batches without a producer id are ignored.
    pub fn replay(&mut self, batch: &BatchInfo, base_offset: i64, now_ms: i64) {
        if batch.producer_id >= 0 {
            self.apply(batch, base_offset, now_ms);
        }
    }

    fn apply(&mut self, batch: &BatchInfo, base_offset: i64, now_ms: i64) {
        let metadata = BatchMetadata {
            first_seq: batch.base_sequence,
            last_seq: batch.last_sequence(),
            last_offset: base_offset + i64::from(batch.last_offset_delta),
            offset_delta: batch.last_offset_delta,
            timestamp: batch.max_timestamp,
            crc: batch.crc,
        };
        self.producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry::empty(batch.producer_id))
            .push(batch.producer_epoch, metadata, now_ms);
    }

    /// Forgets producers idle (by broker clock) for at least `expiration_ms`; returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_append_ms) < expiration_ms);
        before - self.producers.len()
    }

    /// The entry of a producer id.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// All entries, by producer id.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &ProducerEntry> + '_ {
        self.producers.values()
    }

    /// Number of producers remembered.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is remembered.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub(crate) fn insert_entry(&mut self, entry: ProducerEntry) {
        self.producers.insert(entry.producer_id, entry);
    }

    pub(crate) fn new_entry(producer_id: i64) -> ProducerEntry {
        ProducerEntry::empty(producer_id)
    }
}
