//! Segments roll by the records' timestamps, as Kafka's `LogSegment.shouldRoll`: a backfill
//! of old CreateTime records stays in one segment and one Fetch returns it whole; a segment
//! still rolls when incoming timestamps move past `segment.ms`, and by the wall clock since
//! it was created for batches without timestamps.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use idem_test_support::{batch, config, start_with, Raw};
use idem_wire::batch::BatchHeader;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

const T: &str = "roll";
const HOUR: i64 = 3_600_000;

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(format!("{T}-0")))
        .expect("partition dir")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count()
}

/// One Fetch v12 of `t-0` from `offset` with room for everything: the batches it returned.
async fn fetch_once(raw: &mut Raw, offset: i64) -> Vec<BatchHeader> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(T)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(64 << 20)])]);
    let resp: FetchResponse = raw.call(ApiKey::Fetch, 12, &req).await;
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let records: Bytes = p.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let h = BatchHeader::parse(&records[pos..]).expect("whole batches");
        pos += h.total_len();
        out.push(h);
    }
    out
}

async fn produce_at(raw: &mut Raw, i: i32, ts: i64) {
    let r = raw
        .produce(T, 0, batch::build(-1, -1, -1, 2, &format!("b{i}"), ts))
        .await;
    assert_eq!(r.error_code, 0, "batch {i}");
}

#[tokio::test]
async fn a_backfill_of_1970_create_times_is_one_segment_and_one_fetch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start_with(config(tmp.path())).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(
        raw.create_topic(T, 1, &[("segment.ms", "3600000")]).await,
        0
    );
    for i in 0..50 {
        // January 1970, a second apart: far older than segment.ms by the broker's clock.
        produce_at(&mut raw, i, 1_000 * i64::from(i)).await;
    }
    assert_eq!(segments(tmp.path()), 1, "old timestamps do not roll");
    let got = fetch_once(&mut raw, 0).await;
    assert_eq!(got.len(), 50, "one fetch returns every batch");
    assert_eq!(got.last().map(|h| h.last_offset()), Some(99));
    broker.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn rolls_when_incoming_timestamps_move_past_segment_ms() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start_with(config(tmp.path())).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(
        raw.create_topic(T, 1, &[("segment.ms", "3600000")]).await,
        0
    );
    let t0 = 10_000;
    produce_at(&mut raw, 0, t0).await;
    produce_at(&mut raw, 1, t0 + HOUR).await;
    assert_eq!(segments(tmp.path()), 1, "exactly segment.ms later: no roll");
    produce_at(&mut raw, 2, t0 + HOUR + 1).await;
    assert_eq!(segments(tmp.path()), 2, "past segment.ms: a new segment");
    assert_eq!(
        fetch_once(&mut raw, 0).await.len(),
        2,
        "a fetch reads one segment"
    );
    broker.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn batches_without_timestamps_roll_by_the_wall_clock() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start_with(config(tmp.path())).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(T, 1, &[("segment.ms", "300")]).await, 0);
    produce_at(&mut raw, 0, -1).await;
    produce_at(&mut raw, 1, -1).await;
    assert_eq!(segments(tmp.path()), 1, "a young segment does not roll");
    // Bounded: the broker's clock must move past segment.ms since the segment's creation.
    tokio::time::sleep(Duration::from_millis(400)).await;
    produce_at(&mut raw, 2, -1).await;
    assert_eq!(
        segments(tmp.path()),
        2,
        "segment.ms of wall clock: a new segment"
    );
    broker.shutdown().await.expect("clean stop");
}

#[tokio::test]
async fn log_append_time_topics_roll_by_the_append_time() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start_with(config(tmp.path())).await;
    let mut raw = Raw::connect(broker.addr).await;
    let configs = [
        ("segment.ms", "300"),
        ("message.timestamp.type", "LogAppendTime"),
    ];
    assert_eq!(raw.create_topic(T, 1, &configs).await, 0);
    // The client's 1970 timestamps are replaced by the append time, which is what counts.
    produce_at(&mut raw, 0, 0).await;
    produce_at(&mut raw, 1, 0).await;
    assert_eq!(segments(tmp.path()), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    produce_at(&mut raw, 2, 0).await;
    assert_eq!(
        segments(tmp.path()),
        2,
        "segment.ms of append time: a new segment"
    );
    broker.shutdown().await.expect("clean stop");
}
