//! The single-node conformance scenarios of kafka-idempotence.md §9, over the wire with raw
//! requests. Each checks the error code, the base offset and what the log holds. 28 and 29
//! assert idem's improved answers (Kafka answers 45 there).

use std::path::Path;

use idem_broker::BrokerConfig;
use idem_test_support::{batch, config, start, start_with, Raw};
use idem_wire::batch::BatchHeader;

const T: &str = "t";

async fn setup(dir: &Path) -> (idem_broker::RunningBroker, Raw, i64) {
    setup_with(config(dir), &[]).await
}

async fn setup_with(
    config: BrokerConfig,
    topic_configs: &[(&str, &str)],
) -> (idem_broker::RunningBroker, Raw, i64) {
    let broker = start_with(config).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(T, 1, topic_configs).await, 0);
    let (code, pid, epoch) = raw.init_producer_id(4).await;
    assert_eq!((code, epoch), (0, 0));
    (broker, raw, pid)
}

/// `(error, base offset)` of producing `B(e, s, n)` for `pid` to `t-0`.
async fn b(raw: &mut Raw, pid: i64, e: i16, s: i32, n: i32) -> (i16, i64) {
    let r = raw.produce(T, 0, batch::idempotent(pid, e, s, n)).await;
    (r.error_code, r.base_offset)
}

fn ranges(headers: &[BatchHeader]) -> Vec<(i64, i32, i32)> {
    headers
        .iter()
        .map(|h| (h.base_offset, h.base_sequence, h.records_count))
        .collect()
}

#[tokio::test]
async fn s01_s02_s03_init_producer_id() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    let mut seen = std::collections::HashSet::new();
    for version in 0..=5 {
        let (code, pid, epoch) = raw.init_producer_id(version).await;
        assert_eq!((code, epoch), (0, 0), "v{version}");
        assert!(
            pid >= 0 && seen.insert(pid),
            "v{version}: a new id every call"
        );
    }
    // 2: a known id and epoch in the request still get a brand-new id, epoch 0 (no bump).
    let known = *seen.iter().next().expect("an id");
    let req = kafka_protocol::messages::InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_producer_id(kafka_protocol::messages::ProducerId(known))
        .with_producer_epoch(0);
    let resp: kafka_protocol::messages::InitProducerIdResponse = raw
        .call(kafka_protocol::messages::ApiKey::InitProducerId, 4, &req)
        .await;
    assert_eq!(resp.error_code, 0);
    assert_ne!(resp.producer_id.0, known);
    assert_eq!(resp.producer_epoch, 0);
    // 3: exactly one of id and epoch set is INVALID_REQUEST, with -1/-1.
    for (id, epoch) in [(-1, 3), (known, -1)] {
        let req = kafka_protocol::messages::InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_producer_id(kafka_protocol::messages::ProducerId(id))
            .with_producer_epoch(epoch);
        let resp: kafka_protocol::messages::InitProducerIdResponse = raw
            .call(kafka_protocol::messages::ApiKey::InitProducerId, 4, &req)
            .await;
        assert_eq!(
            (resp.error_code, resp.producer_id.0, resp.producer_epoch),
            (42, -1, -1)
        );
    }
    // An empty transactional id is INVALID_REQUEST too.
    let req = kafka_protocol::messages::InitProducerIdRequest::default().with_transactional_id(
        Some(kafka_protocol::messages::TransactionalId(
            kafka_protocol::protocol::StrBytes::from_static_str(""),
        )),
    );
    let resp: kafka_protocol::messages::InitProducerIdResponse = raw
        .call(kafka_protocol::messages::ApiKey::InitProducerId, 4, &req)
        .await;
    assert_eq!(resp.error_code, 42);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s05_to_s07_in_order_then_duplicate_keeps_the_original_offset() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    assert_eq!(b(&mut raw, p, 0, 0, 3).await, (0, 0));
    assert_eq!(raw.end_offset(T, 0).await, 3);
    assert_eq!(b(&mut raw, p, 0, 3, 2).await, (0, 3));
    assert_eq!(raw.end_offset(T, 0).await, 5);
    let first = raw.produce(T, 0, batch::idempotent(p, 0, 3, 2)).await;
    assert_eq!((first.error_code, first.base_offset), (0, 3));
    assert_eq!(first.log_start_offset, 0);
    assert_eq!(raw.end_offset(T, 0).await, 5);
    assert_eq!(
        ranges(&raw.stored_headers(T, 0).await),
        vec![(0, 0, 3), (3, 3, 2)]
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s08_s09_s10_window_of_five_and_gaps() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    for i in 0..6 {
        assert_eq!(b(&mut raw, p, 0, i, 1).await, (0, i64::from(i)));
    }
    assert_eq!(
        b(&mut raw, p, 0, 1, 1).await,
        (0, 1),
        "5th newest still cached"
    );
    let evicted = raw.produce(T, 0, batch::idempotent(p, 0, 0, 1)).await;
    assert_eq!((evicted.error_code, evicted.base_offset), (45, -1));
    assert_eq!(evicted.log_start_offset, 0);
    assert_eq!(b(&mut raw, p, 0, 7, 1).await, (45, -1), "gap");
    assert_eq!(b(&mut raw, p, 0, 6, 1).await, (0, 6));
    assert_eq!(raw.end_offset(T, 0).await, 7);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s11_partial_overlap_is_out_of_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    assert_eq!(b(&mut raw, p, 0, 0, 10).await, (0, 0));
    assert_eq!(b(&mut raw, p, 0, 0, 5).await.0, 45);
    assert_eq!(b(&mut raw, p, 0, 5, 10).await.0, 45);
    assert_eq!(raw.end_offset(T, 0).await, 10);
    broker.shutdown().await.expect("shutdown");
}

/// §9 #12 leaves it open whether to match Kafka's quirk (success with the old offset, the
/// new payload silently dropped). idem refuses it with INVALID_RECORD so no write is ever
/// silently replaced (interop/conformance/allow.txt; more cases in audit.rs).
#[tokio::test]
async fn s12_same_range_different_payload_is_refused_and_counted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    let original = batch::build(p, 0, 0, 3, "original", idem_test_support::now_ms());
    let other = batch::build(p, 0, 0, 3, "different", idem_test_support::now_ms());
    assert_eq!(raw.produce(T, 0, original.clone()).await.base_offset, 0);
    let r = raw.produce(T, 0, other).await;
    assert_eq!(r.error_code, 87);
    let stored = raw.fetch_batches(T, 0, 0).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        &stored[0][61..],
        &original[61..],
        "the new payload is not stored"
    );
    assert_eq!(
        broker.broker.metrics().duplicate_payload_mismatches.get(),
        1
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s13_unknown_producer_starts_anywhere() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, _) = setup(tmp.path()).await;
    let (_, q, _) = raw.init_producer_id(4).await;
    assert_eq!(b(&mut raw, q, 0, 42, 1).await, (0, 0));
    assert_eq!(b(&mut raw, q, 0, 44, 1).await.0, 45);
    assert_eq!(b(&mut raw, q, 0, 43, 1).await, (0, 1));
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s14_to_s18_epochs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    for i in 0..6 {
        b(&mut raw, p, 0, i, 1).await;
    }
    assert_eq!(
        b(&mut raw, p, 1, 6, 1).await,
        (45, -1),
        "15: bump must restart at 0"
    );
    assert_eq!(b(&mut raw, p, 1, 0, 1).await, (0, 6), "14: bump at 0");
    assert_eq!(
        b(&mut raw, p, 0, 5, 1).await,
        (47, -1),
        "14: old epoch fenced"
    );
    assert_eq!(b(&mut raw, p, 0, 6, 1).await, (47, -1), "16");
    assert_eq!(b(&mut raw, p, 5, 0, 1).await, (0, 7), "17: epochs may jump");
    let (_, q, _) = raw.init_producer_id(4).await;
    assert_eq!(b(&mut raw, q, i16::MAX, 0, 1).await, (0, 8));
    assert_eq!(
        b(&mut raw, q, i16::MIN, 0, 1).await,
        (47, -1),
        "18: wrapped epoch"
    );
    assert_eq!(raw.end_offset(T, 0).await, 9);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s19_s20_sequences_wrap() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    assert_eq!(b(&mut raw, p, 0, 2_147_483_645, 3).await, (0, 0));
    assert_eq!(b(&mut raw, p, 0, 0, 2).await, (0, 3));
    let (_, q, _) = raw.init_producer_id(4).await;
    assert_eq!(b(&mut raw, q, 0, 2_147_483_646, 4).await, (0, 5));
    assert_eq!(b(&mut raw, q, 0, 2, 1).await, (0, 9));
    assert_eq!(
        b(&mut raw, q, 0, 2_147_483_646, 4).await,
        (0, 5),
        "a straddling batch dedupes"
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s21_s22_s23_batch_rules() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    // 21: a producer id with base sequence -1.
    assert_eq!(b(&mut raw, p, 0, -1, 1).await.0, 87);
    // 22: base offset 5; two batches; no batch; magic 1.
    let mut offset5 = batch::idempotent(p, 0, 0, 1);
    idem_wire::batch::set_base_offset(&mut offset5, 5);
    assert_eq!(raw.produce(T, 0, offset5).await.error_code, 87);
    let mut two = batch::idempotent(p, 0, 0, 1);
    two.extend_from_slice(&batch::idempotent(p, 0, 1, 1));
    assert_eq!(raw.produce(T, 0, two).await.error_code, 87);
    assert_eq!(raw.produce_with(T, 0, None, -1, 9).await.error_code, 87);
    let mut magic1 = batch::idempotent(p, 0, 0, 1);
    magic1[16] = 1;
    assert_eq!(raw.produce(T, 0, magic1).await.error_code, 87);
    assert_eq!(raw.end_offset(T, 0).await, 0, "nothing stored");
    // 23: no producer id is never deduplicated.
    let plain = batch::plain(1, "x");
    assert_eq!(raw.produce(T, 0, plain.clone()).await.base_offset, 0);
    assert_eq!(raw.produce(T, 0, plain).await.base_offset, 1);
    assert_eq!(raw.end_offset(T, 0).await, 2);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s27_duplicate_log_append_time_quirk() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    let ts = idem_test_support::now_ms() - 5_000;
    let first = raw.produce(T, 0, batch::build(p, 0, 0, 2, "v", ts)).await;
    assert_eq!(
        (first.error_code, first.base_offset, first.log_append_time),
        (0, 0, -1)
    );
    let dup = raw.produce(T, 0, batch::build(p, 0, 0, 2, "v", ts)).await;
    assert_eq!((dup.error_code, dup.base_offset), (0, 0));
    assert_eq!(
        dup.log_append_time, ts,
        "Kafka answers a duplicate with its max timestamp"
    );
    // On a LogAppendTime topic the duplicate carries the original append time.
    assert_eq!(
        raw.create_topic("lat", 1, &[("message.timestamp.type", "LogAppendTime")])
            .await,
        0
    );
    let first = raw
        .produce("lat", 0, batch::build(p, 0, 0, 2, "v", ts))
        .await;
    assert!(first.log_append_time >= ts + 5_000 - 1_000, "broker time");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let dup = raw
        .produce("lat", 0, batch::build(p, 0, 0, 2, "v", ts))
        .await;
    assert_eq!(
        (dup.base_offset, dup.log_append_time),
        (0, first.log_append_time)
    );
    let stored = raw.stored_headers("lat", 0).await;
    assert_eq!(stored[0].max_timestamp, first.log_append_time);
    assert!(stored[0].is_log_append_time());
    broker.shutdown().await.expect("shutdown");
}

/// 28 (clean restart) and 29 (no clean shutdown): every one of the 5 batches still answers
/// with its original offset. Kafka answers 45 for all but the newest.
#[tokio::test]
async fn s28_s29_the_whole_window_survives_restarts() {
    for clean in [true, false] {
        let tmp = tempfile::tempdir().expect("tmp");
        let (broker, mut raw, p) = setup(tmp.path()).await;
        for i in 0..5 {
            assert_eq!(b(&mut raw, p, 0, i, 1).await, (0, i64::from(i)));
        }
        drop(raw);
        if clean {
            broker.shutdown().await.expect("shutdown");
        } else {
            broker.abort().await;
        }
        let broker = start(tmp.path()).await;
        let mut raw = Raw::connect(broker.addr).await;
        assert_eq!(b(&mut raw, p, 0, 4, 1).await, (0, 4), "clean={clean}");
        assert_eq!(
            b(&mut raw, p, 0, 3, 1).await,
            (0, 3),
            "clean={clean}: idem keeps 5"
        );
        for i in 0..5 {
            assert_eq!(
                b(&mut raw, p, 0, i, 1).await,
                (0, i64::from(i)),
                "clean={clean}"
            );
        }
        assert_eq!(
            b(&mut raw, p, 0, 5, 1).await,
            (0, 5),
            "and continues in order"
        );
        assert_eq!(raw.end_offset(T, 0).await, 6);
        broker.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn s30_idle_producers_expire_by_the_broker_clock() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.producer_id_expiration_ms = 1_000;
    c.producer_id_expiration_check_interval_ms = 100;
    let (broker, mut raw, p) = setup_with(c, &[]).await;
    assert_eq!(b(&mut raw, p, 0, 0, 1).await, (0, 0));
    assert_eq!(raw.describe_producers(T, 0).await.1.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    assert!(raw.describe_producers(T, 0).await.1.is_empty(), "expired");
    assert_eq!(
        b(&mut raw, p, 0, 100, 1).await,
        (0, 1),
        "any sequence after expiry"
    );
    broker.shutdown().await.expect("shutdown");
}

/// 31: Kafka expires by client timestamps, so a back-filled batch (CreateTime two days ago)
/// loses its producer state at the next check. idem uses the broker's clock of the last
/// append: the producer stays.
#[tokio::test]
async fn s31_backfilled_timestamps_do_not_expire_state() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.producer_id_expiration_check_interval_ms = 100;
    let (broker, mut raw, p) = setup_with(c, &[("retention.ms", "-1")]).await;
    let two_days_ago = idem_test_support::now_ms() - 2 * 86_400_000;
    let r = raw
        .produce(T, 0, batch::build(p, 0, 0, 1, "old", two_days_ago))
        .await;
    assert_eq!(r.error_code, 0);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, producers) = raw.describe_producers(T, 0).await;
    assert_eq!(
        producers.len(),
        1,
        "idem keeps the producer (Kafka would expire it)"
    );
    assert_eq!(producers[0].last_timestamp, two_days_ago);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s32_producer_state_survives_deleted_records() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    for i in 0..3 {
        b(&mut raw, p, 0, i, 1).await;
    }
    let req = kafka_protocol::messages::DeleteRecordsRequest::default().with_topics(vec![
        kafka_protocol::messages::delete_records_request::DeleteRecordsTopic::default()
            .with_name(kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_static_str(T),
            ))
            .with_partitions(vec![
                kafka_protocol::messages::delete_records_request::DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(3),
            ]),
    ]);
    let resp: kafka_protocol::messages::DeleteRecordsResponse = raw
        .call(kafka_protocol::messages::ApiKey::DeleteRecords, 2, &req)
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions[0].low_watermark, 3);
    let next = raw.produce(T, 0, batch::idempotent(p, 0, 3, 1)).await;
    assert_eq!(
        (next.error_code, next.base_offset, next.log_start_offset),
        (0, 3, 3)
    );
    assert_eq!(b(&mut raw, p, 0, 9, 1).await.0, 45, "state survived");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s33_a_corrupt_snapshot_is_set_aside_and_state_rebuilt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    // Small segments so that rolls write older snapshots too.
    c.topic_defaults.segment_bytes = 400;
    let (broker, mut raw, p) = setup_with(c.clone(), &[]).await;
    for i in 0..12 {
        assert_eq!(b(&mut raw, p, 0, i, 1).await.0, 0);
    }
    drop(raw);
    broker.shutdown().await.expect("shutdown");
    let dir = tmp.path().join("t-0");
    let mut snapshots: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .collect();
    snapshots.sort();
    assert!(
        snapshots.len() >= 2,
        "rolls and the shutdown wrote snapshots"
    );
    let newest = snapshots.last().expect("newest").clone();
    let mut bytes = std::fs::read(&newest).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&newest, bytes).expect("corrupt it");
    let broker = start_with(c).await;
    let mut raw = Raw::connect(broker.addr).await;
    for i in 7..12 {
        assert_eq!(
            b(&mut raw, p, 0, i, 1).await,
            (0, i64::from(i)),
            "rebuilt window"
        );
    }
    assert_eq!(b(&mut raw, p, 0, 12, 1).await, (0, 12));
    let set_aside = std::fs::read_dir(&dir)
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".snapshot.corrupt")
        })
        .count();
    assert_eq!(set_aside, 1);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn s34_s35_describe_producers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    let ts = idem_test_support::now_ms() - 1_000;
    raw.produce(T, 0, batch::build(p, 0, 0, 3, "a", ts)).await;
    raw.produce(T, 0, batch::build(p, 0, 3, 2, "b", ts + 7))
        .await;
    let (code, producers) = raw.describe_producers(T, 0).await;
    assert_eq!(code, 0);
    assert_eq!(producers.len(), 1);
    let s = &producers[0];
    assert_eq!(
        (
            s.producer_id.0,
            s.producer_epoch,
            s.last_sequence,
            s.last_timestamp
        ),
        (p, 0, 4, ts + 7)
    );
    assert_eq!((s.coordinator_epoch, s.current_txn_start_offset), (-1, -1));
    assert_eq!(raw.describe_producers("missing", 0).await.0, 3);
    assert_eq!(raw.describe_producers(T, 7).await.0, 3);
    broker.shutdown().await.expect("shutdown");
}

/// Two connections retrying the same batch at the same moment append it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_append_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (broker, mut raw, p) = setup(tmp.path()).await;
    let addr = broker.addr;
    let rounds = 200;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(async move {
            let mut c = Raw::connect(addr).await;
            let mut offsets = Vec::with_capacity(rounds);
            for i in 0..rounds as i32 {
                let r = c.produce(T, 0, batch::idempotent(p, 0, i * 2, 2)).await;
                offsets.push((r.error_code, r.base_offset));
            }
            offsets
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    // The log holds each batch once; every connection told "appended" heard the offset it is
    // stored at. (A connection far behind the others may hear OUT_OF_ORDER_SEQUENCE_NUMBER
    // for a batch that left the 5-batch window: it was never stored twice.)
    let stored = raw.stored_headers(T, 0).await;
    let seqs: Vec<i32> = stored.iter().map(|h| h.base_sequence).collect();
    let unique: std::collections::BTreeSet<i32> = seqs.iter().copied().collect();
    assert_eq!(seqs.len(), unique.len(), "no batch stored twice");
    assert_eq!(seqs, (0..rounds as i32).map(|i| i * 2).collect::<Vec<_>>());
    for i in 0..rounds {
        let successes: Vec<i64> = answers
            .iter()
            .filter(|a| a[i].0 == 0)
            .map(|a| a[i].1)
            .collect();
        assert!(!successes.is_empty(), "round {i}: someone appended it");
        assert!(
            successes.iter().all(|o| *o == i as i64 * 2),
            "round {i}: every success carries the stored offset"
        );
        assert!(
            answers.iter().all(|a| a[i].0 == 0 || a[i].0 == 45),
            "round {i}: appended, duplicate or too old"
        );
    }
    assert_eq!(raw.end_offset(T, 0).await, stored.len() as i64 * 2);
    broker.shutdown().await.expect("shutdown");
}
