//! The partition log on a real file system: append, read, roll, reopen, recover, retain.

use std::path::Path;
use std::sync::Arc;

use idem_log::{Log, LogConfig, LogError, StdStorage, Storage};
use idem_wire::batch::{self, BatchHeader};

fn storage() -> Arc<dyn Storage> {
    Arc::new(StdStorage)
}

/// A client-style batch (base offset 0) of `n` records of `value_len` bytes; record `i` at
/// timestamp `ts + i`.
fn client_batch(n: i32, ts: i64, value_len: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..n)
        .map(|i| vec![b'a' + (i % 26) as u8; value_len])
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    batch::client_batch(-1, -1, -1, ts, 1, &refs)
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

/// Appends `count` batches of 3 records, rolling as the log asks; returns the batches' bytes.
fn fill(log: &mut Log, count: usize) -> Vec<Vec<u8>> {
    let mut stored = Vec::new();
    for i in 0..count {
        let b = client_batch(3, 1_000 + i as i64 * 10, 120);
        if log.should_roll(b.len(), 1_000 + i as i64 * 10 + 2, 0) {
            log.roll().expect("roll");
        }
        let info = log.append(&b, 0).expect("append");
        assert_eq!(info.base_offset, i as i64 * 3);
        let mut s = b.clone();
        batch::set_base_offset(&mut s, info.base_offset);
        batch::set_partition_leader_epoch(&mut s, 0);
        stored.push(s);
    }
    stored
}

/// Reads everything from `from` by repeated fetches, as a consumer would.
fn read_all(log: &Log, from: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let plan = log.plan_read(offset, log.log_end_offset()).expect("plan");
        let bytes = plan.read(1000, true).expect("read");
        if bytes.is_empty() {
            break;
        }
        let mut pos = 0;
        while pos < bytes.len() {
            let h = BatchHeader::parse(&bytes[pos..]).expect("whole batches only");
            batch::verify_crc(&bytes[pos..], &h).expect("crc");
            offset = h.last_offset() + 1;
            pos += h.total_len();
        }
        out.extend_from_slice(&bytes);
    }
    out
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    v.sort();
    v
}

#[test]
fn appends_roll_and_read_back_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    let stored = fill(&mut log, 60);
    assert!(segment_files(&dir).len() > 3, "small segments roll");
    assert_eq!(log.log_end_offset(), 180);
    assert_eq!(read_all(&log, 0), stored.concat());
    // A read from the middle of a batch starts at that batch.
    let plan = log.plan_read(31, 180).expect("plan");
    let bytes = plan.read(1, true).expect("read");
    assert_eq!(BatchHeader::parse(&bytes).expect("batch").base_offset, 30);
    // Without "at least one", a batch larger than the budget is not returned, from anywhere.
    for offset in [0, 31, 95, 179] {
        let plan = log.plan_read(offset, 180).expect("plan");
        assert!(
            plan.read(10, false).expect("read").is_empty(),
            "offset {offset}"
        );
    }
    // The high watermark caps reads.
    let plan = log.plan_read(0, 6).expect("plan");
    let bytes = plan.read(1 << 20, true).expect("read");
    assert_eq!(bytes.as_ref(), stored[..2].concat().as_slice());
    assert!(matches!(
        log.plan_read(181, 181),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(log
        .plan_read(180, 180)
        .expect("plan at end")
        .read(100, true)
        .expect("read")
        .is_empty());
}

#[test]
fn clean_and_unclean_reopen_serve_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    let stored = fill(&mut log, 50);
    log.close().expect("close");
    drop(log);
    for clean in [true, false] {
        let (log, report) = Log::open(storage(), &dir, small_segments(), clean).expect("open");
        assert!(report.truncated.is_empty(), "{report:?}");
        assert_eq!(log.log_end_offset(), 150);
        assert_eq!(read_all(&log, 0), stored.concat());
        if !clean {
            assert!(report.verified_segments >= 1);
        }
    }
}

#[test]
fn recovery_truncates_a_torn_tail() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, LogConfig::default()).expect("create");
    let stored = fill(&mut log, 10);
    drop(log); // no close: an unclean stop
    let seg = dir.join(&segment_files(&dir)[0]);
    let len = std::fs::metadata(&seg).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open");
    f.set_len(len - 7).expect("truncate");
    let (log, report) = Log::open(storage(), &dir, LogConfig::default(), false).expect("open");
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(log.log_end_offset(), 27);
    assert_eq!(read_all(&log, 0), stored[..9].concat());
}

#[test]
fn recovery_cuts_at_a_flipped_byte_and_drops_later_segments() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    let stored = fill(&mut log, 40);
    drop(log);
    let files = segment_files(&dir);
    let last = dir.join(files.last().expect("segments"));
    let mut bytes = std::fs::read(&last).expect("read");
    // Flip a byte inside the second batch of the last segment (past its 61-byte header).
    let first_len = BatchHeader::parse(&bytes).expect("batch").total_len();
    bytes[first_len + 70] ^= 0x40;
    std::fs::write(&last, &bytes).expect("write");
    let (log, report) = Log::open(storage(), &dir, small_segments(), false).expect("open");
    assert_eq!(report.truncated.len(), 1, "{report:?}");
    assert!(report.truncated[0].2.contains("crc"), "{report:?}");
    let kept = log.log_end_offset();
    let kept_batches = (kept / 3) as usize;
    assert_eq!(read_all(&log, 0), stored[..kept_batches].concat());
    assert!(kept_batches < 40);
}

#[test]
fn a_corrupt_middle_segment_drops_everything_after_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    let stored = fill(&mut log, 40);
    drop(log);
    // Without a checkpoint every segment is verified.
    std::fs::remove_file(dir.join("partition.checkpoint")).expect("rm checkpoint");
    let files = segment_files(&dir);
    let second = dir.join(&files[1]);
    let mut bytes = std::fs::read(&second).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&second, &bytes).expect("write");
    let (log, report) = Log::open(storage(), &dir, small_segments(), false).expect("open");
    assert!(!report.dropped_segments.is_empty());
    let kept = (log.log_end_offset() / 3) as usize;
    assert_eq!(read_all(&log, 0), stored[..kept].concat());
    assert_eq!(segment_files(&dir).len(), 2);
}

#[test]
fn missing_or_garbage_indexes_are_rebuilt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    let stored = fill(&mut log, 40);
    log.close().expect("close");
    drop(log);
    let files = segment_files(&dir);
    std::fs::remove_file(dir.join(files[0].replace(".log", ".index"))).expect("rm index");
    std::fs::write(dir.join(files[1].replace(".log", ".index")), [0u8; 24]).expect("garbage");
    std::fs::write(dir.join(files[2].replace(".log", ".timeindex")), [7u8; 5]).expect("garbage");
    let (log, _) = Log::open(storage(), &dir, small_segments(), true).expect("open");
    assert_eq!(read_all(&log, 0), stored.concat());
    for offset in (0..120).step_by(7) {
        let bytes = log
            .plan_read(offset, 120)
            .expect("plan")
            .read(1, true)
            .expect("read");
        let h = BatchHeader::parse(&bytes).expect("batch");
        assert!(h.base_offset <= offset && offset <= h.last_offset());
    }
}

#[test]
fn timestamps_find_the_first_record_at_or_after() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, small_segments()).expect("create");
    fill(&mut log, 40); // batch i: records at 1000 + 10 i + {0, 1, 2}, offsets 3 i + {0, 1, 2}
    assert_eq!(
        log.offset_for_timestamp(0, 120, 1 << 20).expect("ts"),
        Some((0, 1000))
    );
    assert_eq!(
        log.offset_for_timestamp(1_051, 120, 1 << 20).expect("ts"),
        Some((16, 1051))
    );
    assert_eq!(
        log.offset_for_timestamp(1_053, 120, 1 << 20).expect("ts"),
        Some((18, 1060))
    );
    assert_eq!(
        log.offset_for_timestamp(99_999, 120, 1 << 20).expect("ts"),
        None
    );
    assert_eq!(
        log.offset_for_timestamp(1_200, 60, 1 << 20).expect("ts"),
        None,
        "capped by max offset"
    );
    assert_eq!(
        log.max_timestamp_record(120, 1 << 20).expect("max"),
        Some((119, 1392))
    );
}

#[test]
fn retention_deletes_whole_old_segments_and_moves_the_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let config = LogConfig {
        retention_bytes: 6000,
        ..small_segments()
    };
    let mut log = Log::create(storage(), &dir, config.clone()).expect("create");
    let stored = fill(&mut log, 60);
    let (count, takes_active) = log.retention_plan(0);
    assert!(count > 0 && !takes_active);
    log.delete_oldest_segments(count).expect("delete");
    assert!(log.size_bytes() >= 6000 - 4096 && log.size_bytes() <= 6000 + 4096);
    let start = log.log_start_offset();
    assert!(start > 0);
    assert!(matches!(
        log.plan_read(0, 180),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    let tail = read_all(&log, start);
    assert!(stored.concat().ends_with(&tail));
    // Time retention: everything is older than a day at "now = 10 days".
    let mut log = log;
    log.set_config(LogConfig {
        retention_ms: 86_400_000,
        retention_bytes: -1,
        ..config
    });
    let (count, takes_active) = log.retention_plan(10 * 86_400_000);
    assert!(takes_active);
    log.roll().expect("roll");
    log.delete_oldest_segments(count).expect("delete");
    assert_eq!(log.log_start_offset(), 180);
    assert_eq!(log.log_end_offset(), 180);
    // DeleteRecords moves the start inside a segment and survives a reopen.
    let mut log = log;
    fill_more(&mut log);
    assert_eq!(log.advance_log_start(185).expect("advance"), 185);
    drop(log);
    let (log, _) = Log::open(storage(), &dir, small_segments(), false).expect("open");
    assert_eq!(log.log_start_offset(), 185);
}

fn fill_more(log: &mut Log) {
    for _ in 0..5 {
        let b = client_batch(3, 5_000, 10);
        log.append(&b, 0).expect("append");
    }
}

#[test]
fn snapshots_beyond_the_recovered_end_are_dropped() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let mut log = Log::create(storage(), &dir, LogConfig::default()).expect("create");
    fill(&mut log, 5);
    log.write_snapshot(9, b"nine").expect("snap");
    log.write_snapshot(15, b"fifteen").expect("snap");
    drop(log);
    let seg = dir.join(&segment_files(&dir)[0]);
    let len = std::fs::metadata(&seg).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(len - 1)
        .expect("cut");
    let (log, report) = Log::open(storage(), &dir, LogConfig::default(), false).expect("open");
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(report.dropped_snapshots, vec![15]);
    assert_eq!(log.snapshot_offsets().expect("list"), vec![9]);
    assert_eq!(log.read_snapshot(9).expect("read"), b"nine");
}

#[test]
fn a_partition_directory_lost_in_a_crash_comes_back_empty_and_usable() {
    // A crash during topic creation: the catalog names the partition, its directory never
    // became durable. Found by the power-loss simulation (crash.rs) at its first mutation.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("t-0");
    let (mut log, report) =
        Log::open(storage(), &dir, small_segments(), false).expect("open a missing directory");
    assert_eq!(report.verified_segments, 0);
    assert_eq!(log.log_end_offset(), 0);
    assert!(dir.exists());
    fill(&mut log, 3); // three batches of three records
    assert_eq!(log.log_end_offset(), 9);
}
