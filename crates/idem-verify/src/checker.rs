//! The checker: what producers were told against what the log holds. Pure: no I/O, so it is
//! tested on hand-made histories (including ones that must fail).
//!
//! Values are `"{producer}:{partition}:{seq}"`, unique per write attempt, written to
//! `partition`, `seq` counting up per (producer, partition) in send order.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// What a producer learned about one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged at this offset.
    Acked(i64),
    /// The client gave up with an error: the value may or may not be in the log.
    Failed,
    /// No answer was ever given (the run ended first).
    Unknown,
}

/// One (producer, partition) stream: `outcomes[seq]`.
pub type Streams = BTreeMap<(String, i32), Vec<Outcome>>;

/// A record read back: partition, offset, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// Anomaly counts, with a few examples of each.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Anomalies {
    /// Acknowledged, absent from the log.
    pub lost: u64,
    /// Acknowledged values stored more than once (extra copies).
    pub duplicated: u64,
    /// Unacknowledged (failed or unknown) values stored more than once (extra copies).
    pub unacked_duplicated: u64,
    /// Within one (producer, partition), a value stored before one sent earlier.
    pub reordered: u64,
    /// Unacknowledged values absent from the log while a later value of the same
    /// (producer, partition) is present: the stream is not gapless. (Absent acknowledged
    /// values are `lost`.) With a delivery timeout longer than the run nothing fails, so
    /// the idempotent producer must leave no hole.
    pub gaps: u64,
    /// Acknowledged at an offset where it is not stored.
    pub wrong_offset: u64,
    /// One offset acknowledged for two values, or holding another value than acknowledged.
    pub inconsistent_offset: u64,
    /// Stored values the workload never wrote, or in another partition than written to.
    pub foreign: u64,
    /// Up to 10 examples, in words.
    pub examples: Vec<String>,
}

impl Anomalies {
    /// Total anomalies.
    pub fn total(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.unacked_duplicated
            + self.reordered
            + self.gaps
            + self.wrong_offset
            + self.inconsistent_offset
            + self.foreign
    }

    fn note(&mut self, example: impl FnOnce() -> String) {
        if self.examples.len() < 10 {
            self.examples.push(example());
        }
    }
}

/// Counts of what happened, beside the anomalies.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Values sent.
    pub attempted: u64,
    /// Acknowledged.
    pub acked: u64,
    /// Failed with an error.
    pub failed: u64,
    /// Without an answer.
    pub unknown: u64,
    /// Records read back.
    pub stored: u64,
    /// Failed or unknown values found in the log (once): writes that landed without the
    /// producer knowing. Not an anomaly.
    pub unacked_stored: u64,
}

/// Parses `"{producer}:{partition}:{seq}"`.
pub fn parse_value(v: &[u8]) -> Option<(String, i32, usize)> {
    let s = std::str::from_utf8(v).ok()?;
    let mut parts = s.rsplitn(3, ':');
    let seq = parts.next()?.parse().ok()?;
    let partition = parts.next()?.parse().ok()?;
    let producer = parts.next()?.to_string();
    Some((producer, partition, seq))
}

/// Checks the log against the outcomes.
pub fn check(streams: &Streams, log: &[Stored]) -> (Anomalies, Totals) {
    let mut a = Anomalies::default();
    let mut t = Totals::default();
    for outcomes in streams.values() {
        for o in outcomes {
            t.attempted += 1;
            match o {
                Outcome::Acked(_) => t.acked += 1,
                Outcome::Failed => t.failed += 1,
                Outcome::Unknown => t.unknown += 1,
            }
        }
    }
    t.stored = log.len() as u64;

    // Where each value is stored, in log order per partition.
    let mut log_sorted: Vec<&Stored> = log.iter().collect();
    log_sorted.sort_by_key(|s| (s.partition, s.offset));
    let mut at: HashMap<(String, i32, usize), Vec<i64>> = HashMap::new();
    let mut by_offset: HashMap<(i32, i64), &[u8]> = HashMap::new();
    let mut order: HashMap<(String, i32), Vec<usize>> = HashMap::new();
    for s in &log_sorted {
        by_offset.insert((s.partition, s.offset), &s.value);
        match parse_value(&s.value) {
            Some((producer, partition, seq))
                if partition == s.partition
                    && streams
                        .get(&(producer.clone(), partition))
                        .is_some_and(|o| seq < o.len()) =>
            {
                let copies = at.entry((producer.clone(), partition, seq)).or_default();
                if copies.is_empty() {
                    order.entry((producer, partition)).or_default().push(seq);
                }
                copies.push(s.offset);
            }
            _ => {
                a.foreign += 1;
                a.note(|| {
                    format!(
                        "foreign value {:?} at {}@{}",
                        String::from_utf8_lossy(&s.value),
                        s.partition,
                        s.offset
                    )
                });
            }
        }
    }

    let mut acked_at: HashMap<(i32, i64), (String, usize)> = HashMap::new();
    for ((producer, partition), outcomes) in streams {
        for (seq, o) in outcomes.iter().enumerate() {
            let copies = at
                .get(&(producer.clone(), *partition, seq))
                .map_or(&[][..], Vec::as_slice);
            let value = || format!("{producer}:{partition}:{seq}");
            match o {
                Outcome::Acked(offset) => {
                    if let Some((other_p, other_seq)) =
                        acked_at.insert((*partition, *offset), (producer.clone(), seq))
                    {
                        a.inconsistent_offset += 1;
                        a.note(|| format!("offset {partition}@{offset} acknowledged for {} and for {other_p}:{partition}:{other_seq}", value()));
                    }
                    match copies {
                        [] => {
                            a.lost += 1;
                            a.note(|| {
                                format!(
                                    "{} acknowledged at {partition}@{offset}, not in the log",
                                    value()
                                )
                            });
                        }
                        [first, rest @ ..] => {
                            if !rest.is_empty() {
                                a.duplicated += rest.len() as u64;
                                a.note(|| {
                                    format!(
                                        "{} stored {} times, at {partition}@{copies:?}",
                                        value(),
                                        copies.len()
                                    )
                                });
                            }
                            // Acknowledged at one of its copies (a duplicate, counted above)
                            // is not also a wrong offset.
                            if first != offset && !rest.contains(offset) {
                                a.wrong_offset += 1;
                                a.note(|| format!("{} acknowledged at {partition}@{offset}, stored at {partition}@{copies:?}", value()));
                                if let Some(held) = by_offset.get(&(*partition, *offset)) {
                                    a.inconsistent_offset += 1;
                                    a.note(|| {
                                        format!(
                                            "{partition}@{offset} acknowledged for {} holds {:?}",
                                            value(),
                                            String::from_utf8_lossy(held)
                                        )
                                    });
                                }
                            }
                        }
                    }
                }
                Outcome::Failed | Outcome::Unknown => {
                    if !copies.is_empty() {
                        t.unacked_stored += 1;
                    }
                    if copies.len() > 1 {
                        a.unacked_duplicated += copies.len() as u64 - 1;
                        a.note(|| {
                            format!("unacknowledged {} stored {} times", value(), copies.len())
                        });
                    }
                }
            }
        }
    }

    for ((producer, partition), seqs) in &order {
        let Some(&last) = seqs.iter().max() else {
            continue;
        };
        let outcomes = &streams[&(producer.clone(), *partition)];
        for (seq, o) in outcomes.iter().enumerate().take(last) {
            let absent = !at.contains_key(&(producer.clone(), *partition, seq));
            if absent && !matches!(o, Outcome::Acked(_)) {
                a.gaps += 1;
                a.note(|| {
                    format!("{producer}:{partition}:{seq} ({o:?}) absent, {producer}:{partition}:{last} stored")
                });
            }
        }
        let mut highest = None;
        for &seq in seqs {
            match highest {
                Some(h) if seq < h => {
                    a.reordered += 1;
                    a.note(|| {
                        format!(
                            "{producer}:{partition}:{seq} stored after {producer}:{partition}:{h}"
                        )
                    });
                }
                _ => highest = Some(seq),
            }
        }
    }
    (a, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(partition: i32, offset: i64, v: &str) -> Stored {
        Stored {
            partition,
            offset,
            value: v.as_bytes().to_vec(),
        }
    }

    fn streams(list: &[(&str, i32, &[Outcome])]) -> Streams {
        list.iter()
            .map(|(p, part, o)| ((p.to_string(), *part), o.to_vec()))
            .collect()
    }

    use Outcome::{Acked, Failed, Unknown};

    #[test]
    fn a_clean_history_has_no_anomaly() {
        let s = streams(&[
            ("p0", 0, &[Acked(0), Acked(1), Unknown, Failed]),
            ("p1", 0, &[Acked(2)]),
        ]);
        let log = [
            stored(0, 0, "p0:0:0"),
            stored(0, 1, "p0:0:1"),
            stored(0, 2, "p1:0:0"),
            stored(0, 3, "p0:0:2"),
        ];
        let (a, t) = check(&s, &log);
        assert_eq!(a, Anomalies::default());
        assert_eq!(
            (
                t.attempted,
                t.acked,
                t.failed,
                t.unknown,
                t.stored,
                t.unacked_stored
            ),
            (5, 3, 1, 1, 4, 1)
        );
    }

    #[test]
    fn a_lost_acknowledged_write_is_found() {
        let s = streams(&[("p0", 0, &[Acked(0), Acked(1)])]);
        let (a, _) = check(&s, &[stored(0, 0, "p0:0:0")]);
        assert_eq!((a.lost, a.total()), (1, 1));
    }

    #[test]
    fn duplicates_are_found_acked_or_not() {
        let s = streams(&[("p0", 0, &[Acked(0), Failed])]);
        let log = [
            stored(0, 0, "p0:0:0"),
            stored(0, 1, "p0:0:0"),
            stored(0, 2, "p0:0:1"),
            stored(0, 3, "p0:0:1"),
        ];
        let (a, _) = check(&s, &log);
        assert_eq!((a.duplicated, a.unacked_duplicated), (1, 1));
    }

    #[test]
    fn reordering_wrong_offsets_and_inconsistency_are_found() {
        let s = streams(&[("p0", 1, &[Acked(5), Acked(4)]), ("p1", 1, &[Acked(5)])]);
        let log = [stored(1, 4, "p0:1:1"), stored(1, 5, "p0:1:0")];
        let (a, _) = check(&s, &log);
        assert_eq!(a.reordered, 1, "{a:?}");
        // p1:1:0 acknowledged at 5 like p0:1:0, and it is lost.
        assert_eq!((a.inconsistent_offset, a.lost), (1, 1), "{a:?}");
        let s = streams(&[("p0", 1, &[Acked(7)])]);
        let (a, _) = check(&s, &[stored(1, 3, "p0:1:0"), stored(1, 7, "x")]);
        assert_eq!(
            (a.wrong_offset, a.inconsistent_offset, a.foreign),
            (1, 1, 1),
            "{a:?}"
        );
    }

    #[test]
    fn a_duplicate_acknowledged_at_its_second_copy_is_only_a_duplicate() {
        let s = streams(&[("p0", 0, &[Acked(1)])]);
        let (a, _) = check(&s, &[stored(0, 0, "p0:0:0"), stored(0, 1, "p0:0:0")]);
        assert_eq!((a.duplicated, a.total()), (1, 1), "{a:?}");
    }

    #[test]
    fn a_hole_before_a_stored_value_is_a_gap_and_an_unstored_tail_is_not() {
        let s = streams(&[("p0", 0, &[Acked(0), Failed, Acked(1), Unknown, Failed])]);
        let log = [stored(0, 0, "p0:0:0"), stored(0, 1, "p0:0:2")];
        let (a, _) = check(&s, &log);
        assert_eq!((a.gaps, a.total()), (1, 1), "{a:?}");
    }

    #[test]
    fn values_in_the_wrong_partition_are_foreign() {
        let s = streams(&[("p0", 0, &[Acked(0)])]);
        let (a, _) = check(&s, &[stored(1, 0, "p0:0:0")]);
        assert_eq!((a.foreign, a.lost), (1, 1));
    }

    #[test]
    fn producer_names_may_hold_colons() {
        assert_eq!(
            parse_value(b"ext:a:3:17"),
            Some(("ext:a".to_string(), 3, 17))
        );
        assert_eq!(parse_value(b"nonsense"), None);
    }
}
