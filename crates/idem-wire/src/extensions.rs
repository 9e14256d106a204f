//! idem's additions to Kafka responses, carried in tagged fields that every standard client
//! skips (KIP-482: unknown tags are ignored), so nothing changes for them.
//!
//! Tags are numbered from 10,000: far above the ones Kafka assigns (in the single digits), so
//! a future Kafka field cannot collide. Each value is a big-endian i64.

use bytes::{Buf, Bytes};

/// DescribeProducers, per producer: offset of the last record of its newest batch.
pub const DESCRIBE_PRODUCERS_LAST_OFFSET: i32 = 10_000;
/// DescribeProducers, per producer: broker time (ms) of its last append, the clock idem's
/// producer expiry runs on.
pub const DESCRIBE_PRODUCERS_LAST_APPEND_MS: i32 = 10_001;

/// Encodes one i64 tag value.
pub fn encode_i64(value: i64) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// Decodes one i64 tag value; `None` unless it is exactly 8 bytes.
pub fn decode_i64(value: &Bytes) -> Option<i64> {
    (value.len() == 8).then(|| value.clone().get_i64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_round_trips_and_rejects_other_sizes() {
        for v in [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX] {
            assert_eq!(decode_i64(&encode_i64(v)), Some(v));
        }
        assert_eq!(decode_i64(&Bytes::from_static(&[1, 2, 3])), None);
    }
}
