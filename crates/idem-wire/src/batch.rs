//! The record batch v2 header, parsed by hand.
//!
//! The produce path never decodes the records of a batch it stores: it reads the 61-byte
//! header, checks the CRC-32C over the bytes it covers, and patches the base offset and the
//! partition leader epoch in place (neither is covered by the CRC, which is why Kafka put them
//! first). The stored bytes are then exactly what consumers receive.
//!
//! Layout (big-endian), from Kafka's `DefaultRecordBatch`:
//!
//! ```text
//!  0 base_offset            i64
//!  8 batch_length           i32   bytes after this field
//! 12 partition_leader_epoch i32
//! 16 magic                  i8    must be 2
//! 17 crc                    u32   CRC-32C of bytes [21, end)
//! 21 attributes             i16   bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//! 23 last_offset_delta      i32
//! 27 base_timestamp         i64
//! 35 max_timestamp          i64
//! 43 producer_id            i64   -1: not idempotent
//! 51 producer_epoch         i16
//! 53 base_sequence          i32
//! 57 records_count          i32
//! 61 records ...
//! ```
//!
//! This module does not validate broker policy (sizes, timestamps, sequence numbers): see
//! [`validate_client_batch`] for the checks Kafka's `LogValidator` applies to client batches.

use crate::compression::Codec;

/// Bytes in a v2 batch header, records excluded.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batch_length` ends: the smallest prefix that tells the batch size.
pub const LOG_OVERHEAD: usize = 12;
/// The only record batch format idem stores.
pub const MAGIC_V2: i8 = 2;

const OFFSET_BASE_OFFSET: usize = 0;
const OFFSET_LENGTH: usize = 8;
const OFFSET_LEADER_EPOCH: usize = 12;
const OFFSET_MAGIC: usize = 16;
const OFFSET_CRC: usize = 17;
const OFFSET_ATTRIBUTES: usize = 21;
const OFFSET_LAST_OFFSET_DELTA: usize = 23;
const OFFSET_BASE_TIMESTAMP: usize = 27;
const OFFSET_MAX_TIMESTAMP: usize = 35;
const OFFSET_PRODUCER_ID: usize = 43;
const OFFSET_PRODUCER_EPOCH: usize = 51;
const OFFSET_BASE_SEQUENCE: usize = 53;
const OFFSET_RECORDS_COUNT: usize = 57;

const ATTR_CODEC_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// Why bytes are not a well-formed v2 batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than a header, or than the header's own length claims.
    #[error("record batch truncated: {have} bytes, need {need}")]
    Truncated {
        /// Bytes available.
        have: usize,
        /// Bytes the batch needs.
        need: usize,
    },
    /// `batch_length` is smaller than the rest of the header.
    #[error("record batch length {0} is smaller than the header")]
    LengthTooSmall(i32),
    /// Magic byte other than 2.
    #[error("record batch magic {0} is not supported (only v2)")]
    Magic(i8),
    /// CRC-32C mismatch.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
}

/// The fields of a v2 batch header, copied out of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (0 when sent by a client).
    pub base_offset: i64,
    /// Bytes after the `batch_length` field.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for a parsed header.
    pub magic: i8,
    /// Stored CRC-32C.
    pub crc: u32,
    /// Codec, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (or the append time for LogAppendTime topics).
    pub max_timestamp: i64,
    /// Producer id, -1 for a non-idempotent producer.
    pub producer_id: i64,
    /// Producer epoch, -1 when there is no producer id.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 when there is no producer id.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Size of the batch that starts at `buf`, read from its first 12 bytes.
///
/// `None` when fewer than 12 bytes are there. The value is not checked against `buf.len()`.
pub fn batch_size(buf: &[u8]) -> Option<Result<usize, BatchError>> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    let length = i32_at(buf, OFFSET_LENGTH);
    if length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Some(Err(BatchError::LengthTooSmall(length)));
    }
    Some(Ok(LOG_OVERHEAD + length as usize))
}

impl BatchHeader {
    /// Parses the header at the start of `buf`.
    ///
    /// Checks the magic byte and that `buf` holds the whole batch; does not check the CRC.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        let header = BatchHeader::parse_prefix(buf)?;
        if buf.len() < header.total_len() {
            return Err(BatchError::Truncated {
                have: buf.len(),
                need: header.total_len(),
            });
        }
        Ok(header)
    }

    /// Parses the header from the first 61 bytes only, for scans that read headers without
    /// the records. Checks the magic byte and that the length is at least a header.
    pub fn parse_prefix(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_LEN {
            // Report the magic first when we can: a v0/v1 message set is shorter than a v2
            // header and "magic 1" is the useful answer.
            if buf.len() > OFFSET_MAGIC && buf[OFFSET_MAGIC] as i8 != MAGIC_V2 {
                return Err(BatchError::Magic(buf[OFFSET_MAGIC] as i8));
            }
            return Err(BatchError::Truncated {
                have: buf.len(),
                need: HEADER_LEN,
            });
        }
        let magic = buf[OFFSET_MAGIC] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::Magic(magic));
        }
        let batch_length = i32_at(buf, OFFSET_LENGTH);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::LengthTooSmall(batch_length));
        }
        Ok(BatchHeader {
            base_offset: i64_at(buf, OFFSET_BASE_OFFSET),
            batch_length,
            partition_leader_epoch: i32_at(buf, OFFSET_LEADER_EPOCH),
            magic,
            crc: i32_at(buf, OFFSET_CRC) as u32,
            attributes: i16_at(buf, OFFSET_ATTRIBUTES),
            last_offset_delta: i32_at(buf, OFFSET_LAST_OFFSET_DELTA),
            base_timestamp: i64_at(buf, OFFSET_BASE_TIMESTAMP),
            max_timestamp: i64_at(buf, OFFSET_MAX_TIMESTAMP),
            producer_id: i64_at(buf, OFFSET_PRODUCER_ID),
            producer_epoch: i16_at(buf, OFFSET_PRODUCER_EPOCH),
            base_sequence: i32_at(buf, OFFSET_BASE_SEQUENCE),
            records_count: i32_at(buf, OFFSET_RECORDS_COUNT),
        })
    }

    /// Total bytes of the batch, header included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The compression codec, or the raw id when it is not one Kafka defines.
    pub fn codec(&self) -> Result<Codec, u8> {
        Codec::from_id((self.attributes & ATTR_CODEC_MASK) as u8)
    }

    /// True when the batch timestamps were set by the broker (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// True for a batch written inside a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// True for a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// True when the batch carries a producer id (Kafka: `producerId > -1`).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence of the last record, wrapping past `i32::MAX` to 0 as Kafka does
    /// (`DefaultRecordBatch.incrementSequence`).
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// Sequence arithmetic belongs to the dedupe rules; the header only applies it.
pub use idem_producer_state::increment_sequence;

/// CRC-32C over the bytes the stored CRC covers.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[OFFSET_ATTRIBUTES..])
}

/// Checks the stored CRC of a whole batch (as returned by [`BatchHeader::parse`]).
pub fn verify_crc(batch: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    let computed = compute_crc(&batch[..header.total_len()]);
    if computed != header.crc {
        return Err(BatchError::Crc {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// Writes the base offset. Not covered by the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[OFFSET_BASE_OFFSET..OFFSET_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch. Not covered by the CRC.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[OFFSET_LEADER_EPOCH..OFFSET_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Rewrites the producer id, epoch and base sequence (a client's epoch bump re-stamps the
/// batches it has not had acknowledged) and recomputes the CRC.
pub fn set_producer_state(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    batch[OFFSET_PRODUCER_ID..OFFSET_PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[OFFSET_PRODUCER_EPOCH..OFFSET_PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    batch[OFFSET_BASE_SEQUENCE..OFFSET_BASE_SEQUENCE + 4]
        .copy_from_slice(&base_sequence.to_be_bytes());
    let crc = compute_crc(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets the max timestamp and recomputes the CRC (Kafka stores what the records carry).
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    batch[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8]
        .copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Clears the LogAppendTime bit (the max timestamp stays) and recomputes the CRC, as Kafka
/// does when it stores a client batch that carried the bit on a CreateTime topic.
pub fn set_create_time(batch: &mut [u8]) {
    let attributes = i16_at(batch, OFFSET_ATTRIBUTES) & !ATTR_LOG_APPEND_TIME;
    batch[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = compute_crc(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Marks the batch as LogAppendTime with the given broker time and recomputes the CRC, as
/// Kafka does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], append_time_ms: i64) {
    let attributes = i16_at(batch, OFFSET_ATTRIBUTES) | ATTR_LOG_APPEND_TIME;
    batch[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[OFFSET_MAX_TIMESTAMP..OFFSET_MAX_TIMESTAMP + 8]
        .copy_from_slice(&append_time_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Why a client batch is refused, with the Kafka error code a broker answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBatchError {
    /// CORRUPT_MESSAGE (2): CRC mismatch or a batch whose own length is impossible.
    #[error("corrupt record batch: {0}")]
    Corrupt(BatchError),
    /// INVALID_RECORD (87): not exactly one v2 batch (Kafka's `ProduceRequest` check,
    /// before the log is reached).
    #[error("invalid record batch: {0}")]
    Format(&'static str),
    /// INVALID_RECORD (87): one v2 batch that breaks a rule for client batches (Kafka's
    /// `LogValidator`).
    #[error("invalid record batch: {0}")]
    Invalid(&'static str),
    /// MESSAGE_TOO_LARGE (10): larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge {
        /// Batch size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// UNSUPPORTED_COMPRESSION_TYPE (76): zstd before Produce v7.
    #[error("zstd needs Produce v7 or later")]
    UnsupportedCompression,
}

impl ClientBatchError {
    /// Whether Kafka refuses this before reaching the log (it then answers a log start
    /// offset of -1): format, CRC, size and codec-version checks; not the `LogValidator` rules.
    pub fn before_log(&self) -> bool {
        !matches!(self, ClientBatchError::Invalid(_))
    }

    /// The Kafka error code for this refusal.
    pub fn code(&self) -> i16 {
        match self {
            ClientBatchError::Corrupt(_) => 2,
            ClientBatchError::Format(_) | ClientBatchError::Invalid(_) => 87,
            ClientBatchError::TooLarge { .. } => 10,
            ClientBatchError::UnsupportedCompression => 76,
        }
    }
}

/// Checks the one batch a Produce request (v3+) carries for a partition, as Kafka's
/// `ProduceRequest.validateRecords`, `UnifiedLog.analyzeAndValidateRecords` and
/// `LogValidator.validateBatch` do for a client: exactly one v2 batch, base offset 0, size
/// within `max_message_bytes`, a matching CRC, a known codec, `records_count ==
/// last_offset_delta + 1 > 0`, no control batch, and no negative base sequence with a producer
/// id. Records are not decoded here.
pub fn validate_client_batch(
    records: &[u8],
    max_message_bytes: usize,
    produce_version: i16,
) -> Result<BatchHeader, ClientBatchError> {
    let header = match BatchHeader::parse(records) {
        Ok(h) => h,
        // Kafka: an old format (magic 0 or 1) at Produce v3+ is INVALID_RECORD; a magic it
        // does not know at all is a corrupt record.
        Err(BatchError::Magic(0 | 1)) => {
            return Err(ClientBatchError::Format(
                "produce v3+ needs record batch magic 2",
            ))
        }
        Err(e @ BatchError::Magic(_)) => return Err(ClientBatchError::Corrupt(e)),
        Err(BatchError::Truncated { .. }) => {
            return Err(ClientBatchError::Format(
                "produce v3+ needs exactly one record batch per partition",
            ))
        }
        Err(e @ BatchError::LengthTooSmall(_)) => return Err(ClientBatchError::Corrupt(e)),
        Err(e) => return Err(ClientBatchError::Corrupt(e)),
    };
    if header.total_len() != records.len() {
        return Err(ClientBatchError::Format(
            "produce v3+ needs exactly one record batch per partition",
        ));
    }
    if header.base_offset != 0 {
        return Err(ClientBatchError::Invalid(
            "the base offset of a client batch must be 0",
        ));
    }
    if records.len() > max_message_bytes {
        return Err(ClientBatchError::TooLarge {
            size: records.len(),
            max: max_message_bytes,
        });
    }
    verify_crc(records, &header).map_err(ClientBatchError::Corrupt)?;
    match header.codec() {
        Ok(Codec::Zstd) if produce_version < 7 => {
            return Err(ClientBatchError::UnsupportedCompression)
        }
        Ok(_) => {}
        Err(_) => return Err(ClientBatchError::Invalid("unknown compression codec")),
    }
    if header.records_count <= 0
        || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1
    {
        return Err(ClientBatchError::Invalid(
            "record count must equal last offset delta + 1 and be positive",
        ));
    }
    if header.is_control() {
        return Err(ClientBatchError::Invalid(
            "clients may not send control batches",
        ));
    }
    if header.has_producer_id() && header.base_sequence < 0 {
        return Err(ClientBatchError::Invalid(
            "a batch with a producer id needs a base sequence >= 0",
        ));
    }
    Ok(header)
}

/// Builds a v2 batch from already-encoded record bytes; for tests and tools that need exact
/// control over header fields (the client uses `kafka-protocol`'s encoder).
#[derive(Debug, Clone)]
pub struct RawBatch {
    /// Header fields; `batch_length` and `crc` are computed by [`RawBatch::to_bytes`].
    pub header: BatchHeader,
    /// The records section (possibly compressed), exactly as it follows the header.
    pub records: Vec<u8>,
}

impl RawBatch {
    /// Encodes header and records, filling in the length and the CRC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_LEN + self.records.len());
        out.extend_from_slice(&h.base_offset.to_be_bytes());
        let length = (HEADER_LEN - LOG_OVERHEAD + self.records.len()) as i32;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
        out.push(h.magic as u8);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&h.attributes.to_be_bytes());
        out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
        out.extend_from_slice(&h.base_timestamp.to_be_bytes());
        out.extend_from_slice(&h.max_timestamp.to_be_bytes());
        out.extend_from_slice(&h.producer_id.to_be_bytes());
        out.extend_from_slice(&h.producer_epoch.to_be_bytes());
        out.extend_from_slice(&h.base_sequence.to_be_bytes());
        out.extend_from_slice(&h.records_count.to_be_bytes());
        out.extend_from_slice(&self.records);
        let crc = compute_crc(&out);
        out[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }
}

/// Encodes uncompressed v2 records (`[length varint][attributes][ts delta][offset delta]
/// [key][value][headers=0]`) for values with no key and no headers; record `i` has timestamp
/// delta `i * timestamp_step`. For tests and tools.
pub fn encode_simple_records(values: &[&[u8]], timestamp_step: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut body = Vec::new();
        body.push(0u8); // attributes
        put_varlong(&mut body, i as i64 * timestamp_step);
        put_varlong(&mut body, i as i64); // offset delta
        put_varlong(&mut body, -1); // null key
        put_varlong(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        put_varlong(&mut body, 0); // no headers
        put_varlong(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// A batch as a client sends it (base offset 0, uncompressed, CreateTime): one record per
/// value, record `i` stamped `timestamp + i * timestamp_step`. For tests and tools.
pub fn client_batch(
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    timestamp: i64,
    timestamp_step: i64,
    values: &[&[u8]],
) -> Vec<u8> {
    let n = values.len() as i32;
    RawBatch {
        header: BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: timestamp,
            max_timestamp: timestamp + i64::from(n - 1) * timestamp_step,
            producer_id,
            producer_epoch,
            base_sequence,
            records_count: n,
        },
        records: encode_simple_records(values, timestamp_step),
    }
    .to_bytes()
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pid: i64, seq: i32, n: i32) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        client_batch(pid, 0, seq, 1000, 0, &refs)
    }

    #[test]
    fn parses_and_validates_a_good_batch() {
        let b = sample(7, 0, 3);
        let h = validate_client_batch(&b, 1 << 20, 9).expect("valid");
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_sequence(), 2);
        assert_eq!(h.total_len(), b.len());
        assert_eq!(h.producer_id, 7);
    }

    #[test]
    fn patching_offsets_keeps_the_crc_valid() {
        let mut b = sample(-1, -1, 2);
        set_base_offset(&mut b, 12345);
        set_partition_leader_epoch(&mut b, 9);
        let h = BatchHeader::parse(&b).expect("parse");
        assert_eq!(h.base_offset, 12345);
        assert_eq!(h.partition_leader_epoch, 9);
        verify_crc(&b, &h).expect("crc still valid");
    }

    #[test]
    fn log_append_time_rewrites_crc() {
        let mut b = sample(-1, -1, 2);
        set_log_append_time(&mut b, 99);
        let h = BatchHeader::parse(&b).expect("parse");
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99);
        verify_crc(&b, &h).expect("crc recomputed");
    }

    #[test]
    fn refusals_carry_kafka_codes() {
        let good = sample(1, 0, 2);
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        assert_eq!(
            validate_client_batch(&bad_crc, 1 << 20, 9)
                .unwrap_err()
                .code(),
            2
        );
        let mut magic1 = good.clone();
        magic1[16] = 1;
        assert_eq!(
            validate_client_batch(&magic1, 1 << 20, 9)
                .unwrap_err()
                .code(),
            87
        );
        let mut offset5 = good.clone();
        set_base_offset(&mut offset5, 5);
        assert_eq!(
            validate_client_batch(&offset5, 1 << 20, 9)
                .unwrap_err()
                .code(),
            87
        );
        assert_eq!(validate_client_batch(&good, 10, 9).unwrap_err().code(), 10);
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(
            validate_client_batch(&two, 1 << 20, 9).unwrap_err().code(),
            87
        );
        assert_eq!(
            validate_client_batch(&good[..30], 1 << 20, 9)
                .unwrap_err()
                .code(),
            87
        );
        let neg_seq = sample(1, -1, 1);
        assert_eq!(
            validate_client_batch(&neg_seq, 1 << 20, 9)
                .unwrap_err()
                .code(),
            87
        );
    }
}
