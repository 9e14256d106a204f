//! Sequence arithmetic: sequences are per record and wrap from `i32::MAX` to 0, never to a
//! negative number (Kafka's `DefaultRecordBatch.incrementSequence`, KAFKA-5283, KAFKA-7692).

/// `sequence + increment`, wrapping from `i32::MAX` to 0.
///
/// Computed in 64 bits so no input can overflow, not even a malformed negative increment.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let sum = i64::from(sequence) + i64::from(increment);
    if sum > i64::from(i32::MAX) {
        (sum - i64::from(i32::MAX) - 1) as i32
    } else {
        sum as i32
    }
}

/// Whether `next` directly follows `last` (Kafka's `ProducerAppendInfo.inSequence`).
pub fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_past_max_to_zero() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(2_147_483_646, 3), 1);
        assert_eq!(increment_sequence(2_147_483_645, 2), i32::MAX);
        assert_eq!(increment_sequence(0, 0), 0);
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(-1, 0));
        assert!(in_sequence(4, 5));
        assert!(!in_sequence(4, 6));
        assert!(!in_sequence(i32::MAX, 1));
    }
}
