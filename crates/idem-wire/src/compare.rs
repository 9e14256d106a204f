//! Whether two batches hold the same records, timestamps aside.
//!
//! Used only off the hot path: when a batch arrives with the producer id, epoch and sequence
//! range of a batch already stored but a different CRC. A true retry carries the same
//! records; some clients re-encode a retried batch with new timestamps (kafkajs does), and on
//! LogAppendTime topics the stored batch has the broker's timestamps. Anything else (other
//! keys, values, headers or record count) is a different write reusing the range.

use crate::compression::RecordsError;
use crate::records::decode_batch;

/// True when `a` and `b` (whole batches, header included) hold the same records in the same
/// order: equal count, and per record equal key, value and headers. Timestamps, the
/// compression codec and the header fields are not compared. Decompression is capped at
/// `max_decompressed_bytes` per batch.
pub fn same_records(
    a: &bytes::Bytes,
    b: &bytes::Bytes,
    max_decompressed_bytes: u64,
) -> Result<bool, RecordsError> {
    let (_, left) = decode_batch(a, max_decompressed_bytes)?;
    let (_, right) = decode_batch(b, max_decompressed_bytes)?;
    Ok(left.len() == right.len()
        && left.iter().zip(&right).all(|(x, y)| {
            // Offsets are relative in both (deltas 0, 1, 2, ... are checked by the decoder).
            x.key == y.key && x.value == y.value && x.headers == y.headers
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::client_batch;

    fn batch(values: &[&[u8]], base_timestamp: i64, step: i64) -> bytes::Bytes {
        bytes::Bytes::from(client_batch(7, 0, 0, base_timestamp, step, values))
    }

    #[test]
    fn timestamps_do_not_count_records_do() {
        let a = batch(&[b"x", b"y"], 1_000, 1);
        let restamped = batch(&[b"x", b"y"], 9_999, 5);
        let other = batch(&[b"x", b"z"], 1_000, 1);
        let shorter = batch(&[b"x"], 1_000, 1);
        assert!(same_records(&a, &restamped, 1 << 20).expect("decode"));
        assert!(!same_records(&a, &other, 1 << 20).expect("decode"));
        assert!(!same_records(&a, &shorter, 1 << 20).expect("decode"));
    }

    #[test]
    fn garbage_is_an_error() {
        let a = batch(&[b"x"], 0, 0);
        let junk = bytes::Bytes::from_static(&[0u8; 10]);
        assert!(same_records(&a, &junk, 1 << 20).is_err());
    }
}
