//! The producer snapshot format: the whole table as bytes, versioned and checksummed.
//!
//! Kafka's snapshot (version 1) keeps only the newest batch of each producer, so after a
//! restart a retry of an older in-flight batch is refused with OUT_OF_ORDER_SEQUENCE_NUMBER
//! and the Java client re-sends everything as duplicates. idem's version 2 keeps every
//! remembered batch, so the whole window survives a restart.
//!
//! ```text
//! i16  version = 2
//! u32  CRC-32C of every byte after this field
//! i64  map end offset: the state covers the log strictly below this offset
//! i32  producer count
//! per producer:
//!   i64 producer id, i16 epoch, i64 last timestamp, i64 last append (broker ms),
//!   i32 coordinator epoch, u8 batch count (0..=5)
//!   per batch: i32 first seq, i32 last seq, i64 last offset, i32 offset delta,
//!              i64 max timestamp, u32 crc
//! ```
//!
//! All integers big-endian, like every other Kafka format. Decoding checks every count
//! against the bytes left and never panics; a bad file is a [`SnapshotError`], and the caller
//! falls back to an older snapshot or to the log.

use crate::table::{BatchMetadata, ProducerStateTable};
use crate::BATCHES_TO_RETAIN;

/// The version this crate writes and reads.
pub const VERSION: i16 = 2;
const HEADER_LEN: usize = 2 + 4 + 8 + 4;
const PRODUCER_LEN: usize = 8 + 2 + 8 + 8 + 4 + 1;
const BATCH_LEN: usize = 4 + 4 + 8 + 4 + 8 + 4;

/// Why snapshot bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Shorter than its own header or counts say.
    #[error("snapshot truncated at byte {0}")]
    Truncated(usize),
    /// A version this build does not read.
    #[error("snapshot version {0} is not supported (expected {VERSION})")]
    Version(i16),
    /// Checksum mismatch.
    #[error("snapshot CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// CRC in the file.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// Values that cannot be right (negative count, too many batches, trailing bytes).
    #[error("snapshot is malformed: {0}")]
    Malformed(&'static str),
}

/// Encodes the table as of `map_end_offset`.
pub fn encode(table: &ProducerStateTable, map_end_offset: i64) -> Vec<u8> {
    let batches: usize = table.entries().map(|e| e.batches.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + table.len() * PRODUCER_LEN + batches * BATCH_LEN);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&map_end_offset.to_be_bytes());
    out.extend_from_slice(&(table.len() as i32).to_be_bytes());
    for e in table.entries() {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.epoch.to_be_bytes());
        out.extend_from_slice(&e.last_timestamp.to_be_bytes());
        out.extend_from_slice(&e.last_append_ms.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.push(e.batches.len() as u8);
        for b in &e.batches {
            out.extend_from_slice(&b.first_seq.to_be_bytes());
            out.extend_from_slice(&b.last_seq.to_be_bytes());
            out.extend_from_slice(&b.last_offset.to_be_bytes());
            out.extend_from_slice(&b.offset_delta.to_be_bytes());
            out.extend_from_slice(&b.timestamp.to_be_bytes());
            out.extend_from_slice(&b.crc.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&out[6..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let end = self
            .pos
            .checked_add(N)
            .filter(|end| *end <= self.buf.len())
            .ok_or(SnapshotError::Truncated(self.pos))?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, SnapshotError> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_be_bytes(self.take()?))
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Decodes a snapshot; returns the table and its map end offset.
pub fn decode(bytes: &[u8]) -> Result<(ProducerStateTable, i64), SnapshotError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.i16()?;
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    let stored = r.u32()?;
    let computed = crc32c::crc32c(&bytes[6..]);
    if stored != computed {
        return Err(SnapshotError::Crc { stored, computed });
    }
    let map_end_offset = r.i64()?;
    if map_end_offset < 0 {
        return Err(SnapshotError::Malformed("negative map end offset"));
    }
    let count = r.i32()?;
    if count < 0 || count as usize > r.remaining() / PRODUCER_LEN {
        return Err(SnapshotError::Malformed(
            "producer count exceeds the bytes left",
        ));
    }
    let mut table = ProducerStateTable::new();
    let mut previous_id = None;
    for _ in 0..count {
        let producer_id = r.i64()?;
        if producer_id < 0 || previous_id.is_some_and(|p| p >= producer_id) {
            return Err(SnapshotError::Malformed(
                "producer ids must be non-negative and ascending",
            ));
        }
        previous_id = Some(producer_id);
        let mut entry = ProducerStateTable::new_entry(producer_id);
        entry.epoch = r.i16()?;
        entry.last_timestamp = r.i64()?;
        entry.last_append_ms = r.i64()?;
        entry.coordinator_epoch = r.i32()?;
        let batches = r.u8()? as usize;
        if batches > BATCHES_TO_RETAIN {
            return Err(SnapshotError::Malformed(
                "more than 5 batches for a producer",
            ));
        }
        for _ in 0..batches {
            let b = BatchMetadata {
                first_seq: r.i32()?,
                last_seq: r.i32()?,
                last_offset: r.i64()?,
                offset_delta: r.i32()?,
                timestamp: r.i64()?,
                crc: r.u32()?,
            };
            if b.offset_delta < 0 || b.last_offset < i64::from(b.offset_delta) {
                return Err(SnapshotError::Malformed("batch offsets are impossible"));
            }
            if b.last_offset >= map_end_offset {
                return Err(SnapshotError::Malformed(
                    "batch beyond the snapshot's end offset",
                ));
            }
            entry.batches.push_back(b);
        }
        table.insert_entry(entry);
    }
    if r.remaining() != 0 {
        return Err(SnapshotError::Malformed("bytes after the last producer"));
    }
    Ok((table, map_end_offset))
}
