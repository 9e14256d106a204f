//! When a segment rolls by time: by the records' timestamps as Kafka does
//! (`LogSegment.shouldRoll` / `timeWaitedForRoll`), by the wall clock only for batches
//! without timestamps.

use std::sync::Arc;

use idem_log::{Log, LogConfig, StdStorage};
use idem_wire::batch::{self, BatchHeader};

const HOUR: i64 = 3_600_000;
/// 2026-01-01 in milliseconds.
const NOW_2026: i64 = 1_767_225_600_000;

fn config() -> LogConfig {
    LogConfig {
        segment_ms: HOUR,
        ..LogConfig::default()
    }
}

/// Appends a one-record batch with the given timestamp, rolling as the log asks; returns
/// whether it rolled.
fn append(log: &mut Log, ts: i64, now: i64) -> bool {
    let b = batch::client_batch(-1, -1, -1, ts, 1, &[b"v".as_slice()]);
    let max = BatchHeader::parse(&b).expect("batch").max_timestamp;
    let rolled = log.should_roll(b.len(), max, now);
    if rolled {
        log.roll().expect("roll");
    }
    log.append(&b, 0).expect("append");
    rolled
}

#[test]
fn old_create_times_stay_in_one_segment() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log =
        Log::create(Arc::new(StdStorage), &dir.path().join("t-0"), config()).expect("log");
    // 50 batches stamped in 1970, a second apart, written in 2026: a backfill.
    for i in 0..50 {
        assert!(
            !append(&mut log, i * 1000, NOW_2026 + i),
            "batch {i} rolled"
        );
    }
    assert_eq!(log.segment_bases(), vec![0]);
    let plan = log.plan_read(0, log.log_end_offset()).expect("plan");
    let bytes = plan.read(1 << 20, true).expect("read");
    let mut pos = 0;
    let mut batches = 0;
    while pos < bytes.len() {
        pos += BatchHeader::parse(&bytes[pos..])
            .expect("batch")
            .total_len();
        batches += 1;
    }
    assert_eq!(batches, 50, "one read returns every batch");
}

#[test]
fn rolls_when_incoming_timestamps_move_past_segment_ms() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log =
        Log::create(Arc::new(StdStorage), &dir.path().join("t-0"), config()).expect("log");
    let t0 = 5_000;
    assert!(!append(&mut log, t0, NOW_2026));
    assert!(
        !append(&mut log, t0 + HOUR, NOW_2026),
        "exactly segment.ms: no roll"
    );
    // Older than the first batch: the difference is negative, no roll.
    assert!(!append(&mut log, t0 - HOUR * 5, NOW_2026));
    assert!(
        append(&mut log, t0 + HOUR + 1, NOW_2026),
        "past segment.ms: roll"
    );
    assert_eq!(log.segment_bases(), vec![0, 3]);
    // The new segment's age counts from its own first batch.
    assert!(!append(&mut log, t0 + 2 * HOUR, NOW_2026));
    assert!(append(&mut log, t0 + 2 * HOUR + 2, NOW_2026));
}

#[test]
fn batches_without_timestamps_roll_by_the_wall_clock_since_creation() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log =
        Log::create(Arc::new(StdStorage), &dir.path().join("t-0"), config()).expect("log");
    // The segment was created just now, by the system clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    assert!(!append(&mut log, -1, now));
    assert!(!append(&mut log, -1, now + HOUR / 2));
    // A timestamp on the incoming batch does not matter when the first batch had none.
    assert!(!append(&mut log, now + 10 * HOUR, now + HOUR / 2));
    assert!(
        append(&mut log, -1, now + HOUR + 60_000),
        "an hour since creation: roll"
    );
    assert_eq!(log.segment_bases().len(), 2);
}

#[test]
fn an_empty_segment_never_rolls_by_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::create(Arc::new(StdStorage), &dir.path().join("t-0"), config()).expect("log");
    assert!(!log.should_roll(100, NOW_2026, NOW_2026 + 100 * HOUR));
}
