//! The producer-state machine against Kafka's decision table and against a reference model.

use idem_producer_state::snapshot::{self, SnapshotError};
use idem_producer_state::{
    check_issued, BatchInfo, Decision, ProducerStateTable, Rejection, BATCHES_TO_RETAIN,
    NO_PRODUCER_EPOCH,
};
use proptest::prelude::*;

const NOW: i64 = 1_000;

fn b(pid: i64, epoch: i16, seq: i32, n: i32) -> BatchInfo {
    BatchInfo {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        last_offset_delta: n - 1,
        max_timestamp: 500 + i64::from(seq),
        crc: (pid as u32) ^ (seq as u32).rotate_left(7) ^ (epoch as u32) << 20,
    }
}

/// A tiny log: appends what the table lets through and answers like a broker would.
#[derive(Default)]
struct Partition {
    table: ProducerStateTable,
    log: Vec<(BatchInfo, i64)>,
    next_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Appended(i64),
    Duplicate(i64),
    Error(i16),
}

impl Partition {
    fn produce(&mut self, batch: BatchInfo) -> Answer {
        match self.table.check(&batch) {
            Decision::AppendUntracked => {
                let base = self.append(batch);
                Answer::Appended(base)
            }
            Decision::Append(staged) => {
                let base = self.append(batch);
                self.table.commit(staged, base, NOW);
                Answer::Appended(base)
            }
            Decision::Duplicate(d) => Answer::Duplicate(d.original.first_offset()),
            Decision::Reject(r) => Answer::Error(r.error_code()),
        }
    }
    fn append(&mut self, batch: BatchInfo) -> i64 {
        let base = self.next_offset;
        self.log.push((batch, base));
        self.next_offset += i64::from(batch.last_offset_delta) + 1;
        base
    }
}

// ---- Where idem is stricter than Kafka.

#[test]
fn producer_ids_never_issued_are_refused_with_unknown_producer_id() {
    assert_eq!(check_issued(&b(999, 0, 0, 1), 1000), Ok(()));
    for forged in [1000, 0x7fff_ffff_ffff_fffe, i64::MAX] {
        let r = check_issued(&b(forged, 0, 0, 1), 1000).expect_err("never issued");
        assert_eq!(r.error_code(), 59, "{r}");
    }
    // Batches without a producer id are not idempotent: nothing to check.
    assert_eq!(check_issued(&b(-1, -1, -1, 1), 0), Ok(()));
}

#[test]
fn a_reused_range_with_other_records_is_refused_with_invalid_record() {
    let mut p = Partition::default();
    assert_eq!(p.produce(b(1, 0, 0, 3)), Answer::Appended(0));
    let mut other = b(1, 0, 0, 3);
    other.crc ^= 1;
    let Decision::Duplicate(d) = p.table.check(&other) else {
        panic!("same range: judged as a duplicate first");
    };
    assert!(d.content_differs);
    let r = d.reused(&other);
    assert_eq!(r.error_code(), 87, "{r}");
    assert!(r.to_string().contains("offset 0"), "{r}");
}

// ---- Kafka's decision table (kafka-idempotence.md §2.2 and the §9 scenarios), one by one.

#[test]
fn scenario_05_06_07_in_order_then_duplicate_returns_original_offset() {
    let mut p = Partition::default();
    assert_eq!(p.produce(b(1, 0, 0, 3)), Answer::Appended(0));
    assert_eq!(p.produce(b(1, 0, 3, 2)), Answer::Appended(3));
    assert_eq!(p.produce(b(1, 0, 3, 2)), Answer::Duplicate(3));
    assert_eq!(p.next_offset, 5, "a duplicate writes nothing");
}

#[test]
fn scenario_08_09_window_is_five_batches() {
    let mut p = Partition::default();
    for i in 0..6 {
        assert_eq!(p.produce(b(1, 0, i, 1)), Answer::Appended(i64::from(i)));
    }
    assert_eq!(
        p.produce(b(1, 0, 1, 1)),
        Answer::Duplicate(1),
        "5th newest cached"
    );
    assert_eq!(
        p.produce(b(1, 0, 0, 1)),
        Answer::Error(45),
        "6th newest evicted"
    );
    assert_eq!(BATCHES_TO_RETAIN, 5);
}

#[test]
fn scenario_10_gap_is_out_of_order_then_the_right_sequence_is_accepted() {
    let mut p = Partition::default();
    for i in 0..6 {
        p.produce(b(1, 0, i, 1));
    }
    assert_eq!(p.produce(b(1, 0, 7, 1)), Answer::Error(45));
    assert_eq!(p.produce(b(1, 0, 6, 1)), Answer::Appended(6));
}

#[test]
fn scenario_11_partial_overlap_is_not_a_duplicate() {
    let mut p = Partition::default();
    p.produce(b(1, 0, 0, 10));
    assert_eq!(p.produce(b(1, 0, 0, 5)), Answer::Error(45));
    assert_eq!(p.produce(b(1, 0, 5, 10)), Answer::Error(45));
}

#[test]
fn scenario_12_same_range_different_payload_is_flagged_but_answered_as_kafka() {
    let mut p = Partition::default();
    p.produce(b(1, 0, 0, 3));
    let mut other = b(1, 0, 0, 3);
    other.crc ^= 0xdead_beef;
    match p.table.check(&other) {
        Decision::Duplicate(d) => {
            assert!(d.content_differs);
            assert_eq!(d.original.first_offset(), 0);
        }
        d => panic!("expected a duplicate, got {d:?}"),
    }
    match p.table.check(&b(1, 0, 0, 3)) {
        Decision::Duplicate(d) => assert!(!d.content_differs),
        d => panic!("expected a duplicate, got {d:?}"),
    }
}

#[test]
fn scenario_13_unknown_producer_may_start_anywhere() {
    let mut p = Partition::default();
    assert_eq!(p.produce(b(9, 0, 42, 1)), Answer::Appended(0));
    assert_eq!(p.produce(b(9, 0, 44, 1)), Answer::Error(45));
    assert_eq!(p.produce(b(9, 0, 43, 1)), Answer::Appended(1));
}

#[test]
fn scenario_14_to_18_epochs() {
    let mut p = Partition::default();
    for i in 0..6 {
        p.produce(b(1, 0, i, 1));
    }
    // 15: a bump must restart at 0.
    assert_eq!(p.produce(b(1, 1, 6, 1)), Answer::Error(45));
    // 14: bump at 0 accepted, then the old epoch is fenced, even for a cached batch.
    assert_eq!(p.produce(b(1, 1, 0, 1)), Answer::Appended(6));
    assert_eq!(p.produce(b(1, 0, 5, 1)), Answer::Error(47));
    // 16: stale epoch with a continuing sequence.
    assert_eq!(p.produce(b(1, 0, 6, 1)), Answer::Error(47));
    // 17: epochs may jump.
    assert_eq!(p.produce(b(1, 5, 0, 1)), Answer::Appended(7));
    // 18: a wrapped epoch is older.
    let mut q = Partition::default();
    q.produce(b(2, i16::MAX, 0, 1));
    assert_eq!(q.produce(b(2, i16::MIN, 0, 1)), Answer::Error(47));
}

#[test]
fn epoch_bump_clears_the_window() {
    let mut p = Partition::default();
    p.produce(b(1, 0, 0, 1));
    p.produce(b(1, 1, 0, 1));
    let e = p.table.get(1).expect("entry");
    assert_eq!(e.epoch, 1);
    assert_eq!(e.batches().len(), 1);
}

#[test]
fn scenario_19_20_sequences_wrap() {
    let mut p = Partition::default();
    assert_eq!(p.produce(b(1, 0, 2_147_483_645, 3)), Answer::Appended(0));
    assert_eq!(p.table.get(1).map(|e| e.last_seq()), Some(i32::MAX));
    assert_eq!(p.produce(b(1, 0, 0, 2)), Answer::Appended(3));
    let mut q = Partition::default();
    assert_eq!(q.produce(b(2, 0, 2_147_483_646, 4)), Answer::Appended(0));
    assert_eq!(q.table.get(2).map(|e| e.last_seq()), Some(1));
    assert_eq!(q.produce(b(2, 0, 2_147_483_646, 4)), Answer::Duplicate(0));
    assert_eq!(q.produce(b(2, 0, 2, 1)), Answer::Appended(4));
}

#[test]
fn scenario_21_negative_sequence_with_producer_id_is_invalid_record() {
    let p = Partition::default();
    match p.table.check(&b(1, 0, -1, 1)) {
        Decision::Reject(r @ Rejection::NegativeSequence { .. }) => assert_eq!(r.error_code(), 87),
        d => panic!("{d:?}"),
    }
}

#[test]
fn scenario_23_no_producer_id_is_never_deduplicated() {
    let mut p = Partition::default();
    assert_eq!(p.produce(b(-1, -1, -1, 1)), Answer::Appended(0));
    assert_eq!(p.produce(b(-1, -1, -1, 1)), Answer::Appended(1));
    assert!(p.table.is_empty());
}

#[test]
fn rule_07_known_epoch_with_empty_window_needs_zero() {
    // A table decoded from a snapshot whose producer kept no batch (Kafka's LastOffset -1).
    let mut t = ProducerStateTable::new();
    t.replay(&b(3, 4, 0, 1), 0, NOW);
    let bytes = snapshot::encode(&t, 1);
    let (t2, _) = snapshot::decode(&bytes).expect("decode");
    assert_eq!(t, t2);
}

#[test]
fn rule_12_producer_without_epoch_is_never_sequence_checked() {
    let mut p = Partition::default();
    assert_eq!(
        p.produce(b(4, NO_PRODUCER_EPOCH, 10, 1)),
        Answer::Appended(0)
    );
    assert_eq!(
        p.produce(b(4, NO_PRODUCER_EPOCH, 99, 1)),
        Answer::Appended(1)
    );
    assert_eq!(
        p.produce(b(4, NO_PRODUCER_EPOCH, 99, 1)),
        Answer::Duplicate(1)
    );
    assert_eq!(p.produce(b(4, -5, 0, 1)), Answer::Error(47));
}

#[test]
fn check_never_mutates_and_a_dropped_stage_leaves_state_untouched() {
    let mut p = Partition::default();
    p.produce(b(1, 0, 0, 1));
    let before = p.table.clone();
    // Staged but never committed: the append "failed".
    let _ = p.table.check(&b(1, 0, 1, 1));
    let _ = p.table.check(&b(1, 1, 0, 1));
    assert_eq!(p.table, before);
    assert_eq!(p.produce(b(1, 0, 1, 1)), Answer::Appended(1));
}

#[test]
#[should_panic(expected = "changed between check and commit")]
fn commit_of_a_stale_stage_is_a_bug() {
    let mut t = ProducerStateTable::new();
    let Decision::Append(s1) = t.check(&b(1, 0, 0, 1)) else {
        panic!()
    };
    let Decision::Append(s2) = t.check(&b(1, 0, 0, 1)) else {
        panic!()
    };
    t.commit(s1, 0, NOW);
    t.commit(s2, 1, NOW);
}

#[test]
fn expiry_uses_the_broker_clock() {
    let mut t = ProducerStateTable::new();
    let mut old = b(1, 0, 0, 1);
    old.max_timestamp = 0; // a client timestamp from 1970 does not matter
    t.replay(&old, 0, 10_000);
    t.replay(&b(2, 0, 0, 1), 1, 15_000);
    assert_eq!(t.expire(10_500, 1_000), 0);
    assert_eq!(t.expire(11_000, 1_000), 1);
    assert!(t.get(1).is_none() && t.get(2).is_some());
}

// ---- Snapshots.

#[test]
fn snapshot_keeps_all_five_batches_and_rejects_damage() {
    let mut p = Partition::default();
    for i in 0..7 {
        p.produce(b(1, 0, i * 2, 2));
        p.produce(b(2, 3, i * 3, 3));
    }
    let bytes = snapshot::encode(&p.table, p.next_offset);
    let (t, end) = snapshot::decode(&bytes).expect("decode");
    assert_eq!(end, p.next_offset);
    assert_eq!(t, p.table);
    assert_eq!(t.get(1).map(|e| e.batches().len()), Some(5));
    // Every older batch still deduplicates after the round trip.
    let mut restored = Partition {
        table: t,
        ..Default::default()
    };
    for i in 2..7 {
        assert!(matches!(
            restored.produce(b(1, 0, i * 2, 2)),
            Answer::Duplicate(_)
        ));
    }
    // Every single-byte flip is detected; every truncation too.
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        assert!(snapshot::decode(&bad).is_err(), "flip at {i} not detected");
    }
    for len in 0..bytes.len() {
        assert!(snapshot::decode(&bytes[..len]).is_err());
    }
    assert!(matches!(
        snapshot::decode(&[0, 1, 0, 0, 0, 0]),
        Err(SnapshotError::Version(1))
    ));
}

proptest! {
    #[test]
    fn snapshot_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = snapshot::decode(&bytes);
    }
}

// ---- The machine against a reference model, with restarts.

/// Every batch of an epoch in order: (first sequence, last sequence, base offset).
type History = Vec<(i32, i32, i64)>;

/// The decision table restated over an unbounded history (no window data structure).
#[derive(Debug, Clone, Default)]
struct Model {
    /// pid -> (epoch, its history).
    producers: std::collections::HashMap<i64, (i16, History)>,
    next_offset: i64,
}

impl Model {
    fn produce(&mut self, batch: &BatchInfo) -> Answer {
        let n = i64::from(batch.last_offset_delta) + 1;
        if batch.producer_id < 0 {
            let base = self.next_offset;
            self.next_offset += n;
            return Answer::Appended(base);
        }
        if batch.base_sequence < 0 {
            return Answer::Error(87);
        }
        let (f, l) = (batch.base_sequence, batch.last_sequence());
        let (epoch, history) = self
            .producers
            .get(&batch.producer_id)
            .cloned()
            .unwrap_or((NO_PRODUCER_EPOCH, Vec::new()));
        if epoch == batch.producer_epoch {
            let recent = &history[history.len().saturating_sub(5)..];
            if let Some(&(_, _, base)) = recent.iter().find(|(bf, bl, _)| *bf == f && *bl == l) {
                return Answer::Duplicate(base);
            }
        }
        if batch.producer_epoch < epoch {
            return Answer::Error(47);
        }
        let accept = if batch.producer_epoch != epoch {
            f == 0 || epoch == NO_PRODUCER_EPOCH
        } else if epoch == NO_PRODUCER_EPOCH {
            true
        } else {
            let expected = match history.last() {
                Some(&(_, last, _)) if last == i32::MAX => 0,
                Some(&(_, last, _)) => last + 1,
                None => 0,
            };
            f == expected
        };
        if !accept {
            return Answer::Error(45);
        }
        let base = self.next_offset;
        self.next_offset += n;
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert((batch.producer_epoch, Vec::new()));
        if entry.0 != batch.producer_epoch {
            *entry = (batch.producer_epoch, Vec::new());
        }
        entry.1.push((f, l, base));
        Answer::Appended(base)
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// The next batch of producer `p`, `n` records.
    Send { p: usize, n: i32 },
    /// Resend the batch sent `back` sends ago by producer `p`.
    Retry { p: usize, back: usize },
    /// Skip `k` sequence numbers (a lost batch).
    Gap { p: usize, k: i32 },
    /// Client-side epoch bump (KIP-360) by `by`, sequences restart at 0.
    Bump { p: usize, by: i16 },
    /// Send with the previous epoch.
    Stale { p: usize },
    /// A fresh producer id starting near the sequence wrap.
    NearWrap { p: usize, below_max: i32 },
    /// A non-idempotent batch.
    Plain,
    /// Take a snapshot now.
    Snapshot,
    /// Restart: rebuild the table from a snapshot (the `which`-th, or none) plus log replay.
    Restart { which: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 1..4i32).prop_map(|(p, n)| Op::Send { p, n }),
        4 => (0..3usize, 0..8usize).prop_map(|(p, back)| Op::Retry { p, back }),
        1 => (0..3usize, 1..3i32).prop_map(|(p, k)| Op::Gap { p, k }),
        1 => (0..3usize, 1..3i16).prop_map(|(p, by)| Op::Bump { p, by }),
        1 => (0..3usize).prop_map(|p| Op::Stale { p }),
        1 => (0..3usize, 0..6i32).prop_map(|(p, below_max)| Op::NearWrap { p, below_max }),
        1 => Just(Op::Plain),
        1 => Just(Op::Snapshot),
        1 => (0..4usize).prop_map(|which| Op::Restart { which }),
    ]
}

#[derive(Debug, Clone)]
struct Client {
    pid: i64,
    epoch: i16,
    next_seq: i32,
    sent: Vec<BatchInfo>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn machine_agrees_with_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut machine = Partition::default();
        let mut model = Model::default();
        let mut clients: Vec<Client> = (0..3)
            .map(|i| Client { pid: 100 + i, epoch: 0, next_seq: 0, sent: Vec::new() })
            .collect();
        let mut next_pid = 1_000;
        let mut snapshots: Vec<(Vec<u8>, usize)> = Vec::new();
        for op in ops {
            let batch = match op {
                Op::Send { p, n } => {
                    let c = &mut clients[p];
                    let batch = b(c.pid, c.epoch, c.next_seq, n);
                    c.next_seq = idem_producer_state::increment_sequence(c.next_seq, n);
                    c.sent.push(batch);
                    Some(batch)
                }
                Op::Retry { p, back } => {
                    let c = &clients[p];
                    c.sent.len().checked_sub(back + 1).map(|i| c.sent[i])
                }
                Op::Gap { p, k } => {
                    let c = &mut clients[p];
                    c.next_seq = idem_producer_state::increment_sequence(c.next_seq, k);
                    None
                }
                Op::Bump { p, by } => {
                    let c = &mut clients[p];
                    c.epoch = c.epoch.saturating_add(by);
                    c.next_seq = 0;
                    None
                }
                Op::Stale { p } => {
                    let c = &clients[p];
                    (c.epoch > 0).then(|| b(c.pid, c.epoch - 1, c.next_seq, 1))
                }
                Op::NearWrap { p, below_max } => {
                    let c = &mut clients[p];
                    c.pid = next_pid;
                    next_pid += 1;
                    c.epoch = 0;
                    c.next_seq = i32::MAX - below_max;
                    c.sent.clear();
                    None
                }
                Op::Plain => Some(b(-1, -1, -1, 1)),
                Op::Snapshot => {
                    snapshots.push((snapshot::encode(&machine.table, machine.next_offset), machine.log.len()));
                    None
                }
                Op::Restart { which } => {
                    let (mut table, from) = match snapshots.get(which) {
                        Some((bytes, log_len)) => {
                            let (t, end) = snapshot::decode(bytes).expect("own snapshot decodes");
                            let expected_end = machine.log.get(*log_len).map_or(machine.next_offset, |(_, o)| *o);
                            prop_assert_eq!(end, expected_end);
                            (t, *log_len)
                        }
                        None => (ProducerStateTable::new(), 0),
                    };
                    for (batch, base) in &machine.log[from..] {
                        table.replay(batch, *base, NOW);
                    }
                    prop_assert_eq!(&table, &machine.table, "rebuild differs from the live table");
                    machine.table = table;
                    None
                }
            };
            if let Some(batch) = batch {
                let got = machine.produce(batch);
                let want = model.produce(&batch);
                prop_assert_eq!(got, want, "batch {:?}", batch);
            }
        }
    }
}
