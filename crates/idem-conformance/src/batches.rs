//! Record batches as a client sends them, and deliberately broken ones.
//!
//! Well-formed batches come from `idem_wire::batch` (the same builder idem's tests use); the
//! broken ones are those bytes patched in one place, with the CRC recomputed unless the CRC
//! is what is being broken, so each case tests exactly one rule.

use idem_wire::batch::{client_batch, compute_crc, encode_simple_records, BatchHeader, RawBatch};
use idem_wire::compression::{compress, Codec};

const OFFSET_LAST_OFFSET_DELTA: usize = 23;
const OFFSET_ATTRIBUTES: usize = 21;
const OFFSET_CRC: usize = 17;
const OFFSET_MAGIC: usize = 16;
const OFFSET_RECORDS_COUNT: usize = 57;

/// `n` values `"{tag}-{i}"`.
pub(crate) fn values(tag: &str, n: i32) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{tag}-{i}").into_bytes()).collect()
}

/// An uncompressed CreateTime batch, every record stamped `timestamp`.
pub(crate) fn client(
    pid: i64,
    epoch: i16,
    seq: i32,
    timestamp: i64,
    values: &[Vec<u8>],
) -> Vec<u8> {
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    client_batch(pid, epoch, seq, timestamp, 0, &refs)
}

/// A batch whose records section is compressed with `codec` (attributes bits 0-2 set).
pub(crate) fn compressed(
    codec: Codec,
    pid: i64,
    epoch: i16,
    seq: i32,
    timestamp: i64,
    values: &[Vec<u8>],
) -> anyhow::Result<Vec<u8>> {
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let plain = encode_simple_records(&refs, 0);
    let records = compress(codec, &plain)?;
    let n = i32::try_from(values.len())?;
    Ok(RawBatch {
        header: header(pid, epoch, seq, n, timestamp, i16::from(codec.id())),
        records,
    }
    .to_bytes())
}

/// A batch of one record per timestamp (`timestamps[i]` for record `i`, as the delta from
/// `base`), values `"{tag}-{i}"`, the header's max timestamp set to `max`, records compressed
/// with `codec`. Deltas never overflow here: callers pick `base` so that every
/// `timestamps[i] - base` fits (a reader adding them back must not wrap).
pub(crate) fn stamped(
    codec: Codec,
    base: i64,
    max: i64,
    timestamps: &[i64],
    tag: &str,
) -> anyhow::Result<Vec<u8>> {
    let mut plain = Vec::new();
    for (i, ts) in timestamps.iter().enumerate() {
        let value = format!("{tag}-{i}");
        let delta = ts
            .checked_sub(base)
            .ok_or_else(|| anyhow::anyhow!("scenario bug: timestamp delta overflows"))?;
        idem_wire::records::encode_record(
            &mut plain,
            &idem_wire::records::RecordParts {
                offset_delta: i32::try_from(i)?,
                timestamp_delta: delta,
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            },
        );
    }
    let records = match codec {
        Codec::None => plain,
        other => compress(other, &plain)?,
    };
    let n = i32::try_from(timestamps.len())?;
    let mut header = header(-1, -1, -1, n, base, i16::from(codec.id()));
    header.max_timestamp = max;
    Ok(RawBatch { header, records }.to_bytes())
}

/// A v2 header as a client fills it: base offset 0, leader epoch -1, count `n`.
pub(crate) fn header(
    pid: i64,
    epoch: i16,
    seq: i32,
    n: i32,
    timestamp: i64,
    attributes: i16,
) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes,
        last_offset_delta: n - 1,
        base_timestamp: timestamp,
        max_timestamp: timestamp,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        records_count: n,
    }
}

/// Rewrites the CRC after a patch.
pub(crate) fn fix_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets the attributes (codec, timestamp type, transactional, control bits); CRC fixed.
pub(crate) fn set_attributes(batch: &mut [u8], attributes: i16) {
    batch[OFFSET_ATTRIBUTES..OFFSET_ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    fix_crc(batch);
}

/// Sets the last offset delta; CRC fixed.
pub(crate) fn set_last_offset_delta(batch: &mut [u8], delta: i32) {
    batch[OFFSET_LAST_OFFSET_DELTA..OFFSET_LAST_OFFSET_DELTA + 4]
        .copy_from_slice(&delta.to_be_bytes());
    fix_crc(batch);
}

/// Sets the record count; CRC fixed.
pub(crate) fn set_records_count(batch: &mut [u8], count: i32) {
    batch[OFFSET_RECORDS_COUNT..OFFSET_RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    fix_crc(batch);
}

/// Sets the magic byte. The magic is not covered by the CRC, so the CRC stays valid.
pub(crate) fn set_magic(batch: &mut [u8], magic: i8) {
    batch[OFFSET_MAGIC] = magic as u8;
}

/// A legacy message set of one message (magic 0 or 1) with a null key and `value`, as a
/// pre-0.11 client writes it: `offset i64, size i32, crc u32, magic i8, attributes i8,
/// [timestamp i64 (v1)], key bytes, value bytes`; the CRC is CRC-32 (IEEE) from the magic on.
pub(crate) fn legacy_message_set(magic: i8, timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut body = vec![magic as u8, 0];
    if magic >= 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let crc = crc32_ieee(&body);
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// CRC-32 (IEEE 802.3, reflected, as `java.util.zip.CRC32`), bit by bit: a few bytes per run.
fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn patched_batches_keep_a_valid_crc() {
        let mut b = client(1, 0, 0, 1000, &values("x", 2));
        set_attributes(&mut b, 0x20);
        let h = BatchHeader::parse(&b).expect("parse");
        assert!(h.is_control());
        assert!(idem_wire::batch::verify_crc(&b, &h).is_ok());
    }
}
