//! Which partition a record goes to, as Kafka's Java client decides it: a record with a
//! partition goes there; a keyed record goes to `murmur2(key) % partitions` (the hash of
//! Kafka's `Utils.murmur2`, made positive the same way, so keys land where Java puts them);
//! an unkeyed record goes to the topic's sticky partition, which changes each time a batch
//! for it is closed (KIP-480).

/// Kafka's murmur2 (32-bit, seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils`.
pub fn murmur2(data: &[u8]) -> i32 {
    let length = data.len() as i32;
    let seed: i32 = 0x9747_b28c_u32 as i32;
    let m: i32 = 0x5bd1_e995;
    let r = 24;
    let mut h: i32 = seed ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= ((k as u32) >> r) as i32;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= i32::from(tail[2]) << 16;
            h ^= i32::from(tail[1]) << 8;
            h ^= i32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        2 => {
            h ^= i32::from(tail[1]) << 8;
            h ^= i32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        1 => {
            h ^= i32::from(tail[0]);
            h = h.wrapping_mul(m);
        }
        _ => {}
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(m);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// Kafka's `Utils.toPositive`: clears the sign bit.
pub(super) fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record.
pub fn keyed(key: &[u8], partitions: i32) -> i32 {
    to_positive(murmur2(key)) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values computed with Kafka's `Utils.murmur2` (its own unit test vectors).
    #[test]
    fn matches_javas_murmur2() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), want, "{}", String::from_utf8_lossy(data));
        }
        assert_eq!(keyed(b"foobar", 3), to_positive(-790_332_482) % 3);
    }
}
