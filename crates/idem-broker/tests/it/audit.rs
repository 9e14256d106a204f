//! Regressions for the defects the hostile-input audit found (issue 14): a forged producer
//! id poisoning the allocator, half-created topics, two brokers on one directory, and a
//! reused sequence range with other records answered as a duplicate.

use idem_broker::Broker;
use idem_test_support::{batch, config, start, start_with, Raw};

const T: &str = "t";

/// A batch carrying a producer id near `i64::MAX` that InitProducerId never handed out is
/// refused with UNKNOWN_PRODUCER_ID, and after a restart InitProducerId still works. Before
/// the fix the batch was accepted and every InitProducerId after the restart failed with
/// COORDINATOR_LOAD_IN_PROGRESS (or the `+ 1` overflowed for `i64::MAX`).
#[tokio::test]
async fn a_forged_producer_id_changes_nothing_after_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(T, 1, &[]).await, 0);
    let (code, issued, _) = raw.init_producer_id(4).await;
    assert_eq!(code, 0);
    for forged in [0x7fff_ffff_ffff_fffe, i64::MAX, issued + 5_000] {
        let r = raw.produce(T, 0, batch::idempotent(forged, 0, 0, 1)).await;
        assert_eq!(
            r.error_code, 59,
            "producer id {forged:#x}: UNKNOWN_PRODUCER_ID"
        );
    }
    // A batch without a producer id and the issued producer still write.
    assert_eq!(raw.produce(T, 0, batch::plain(1, "p")).await.error_code, 0);
    assert_eq!(
        raw.produce(T, 0, batch::idempotent(issued, 0, 0, 1))
            .await
            .error_code,
        0
    );
    assert_eq!(raw.end_offset(T, 0).await, 2, "nothing forged was stored");
    drop(raw);
    broker.abort().await;

    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    let (code, next, epoch) = raw.init_producer_id(4).await;
    assert_eq!(
        (code, epoch),
        (0, 0),
        "InitProducerId works after the restart"
    );
    assert!(
        next > issued && next < issued + 10_000,
        "allocation went on from the durable block: {issued} then {next}"
    );
    broker.shutdown().await.expect("shutdown");
}

/// A CreateTopics that fails half-way (one partition's directory cannot be made) leaves
/// nothing behind: no catalog entry, no directories, the broker restarts, and the same
/// topic can be created once the obstacle is gone. Before the fix the catalog kept the topic
/// and the restart failed.
#[tokio::test]
async fn a_failed_create_topics_leaves_no_trace() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    // A plain file where partition 5's directory must go.
    std::fs::write(tmp.path().join("half-5"), b"in the way").expect("obstacle");
    assert_eq!(
        raw.create_topic("half", 8, &[]).await,
        56,
        "KAFKA_STORAGE_ERROR"
    );
    let catalog = std::fs::read_to_string(tmp.path().join("idem-meta.json")).expect("catalog");
    assert!(
        !catalog.contains("\"half\""),
        "catalog keeps no trace: {catalog}"
    );
    for i in [0, 1, 4, 6, 7] {
        assert!(
            !tmp.path().join(format!("half-{i}")).exists(),
            "half-{i} was removed"
        );
    }
    assert!(
        tmp.path().join("half-5").is_file(),
        "a file idem did not write is left alone"
    );
    assert!(broker.broker.topic("half").is_none());
    drop(raw);
    broker.shutdown().await.expect("shutdown");

    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert!(broker.broker.topic("half").is_none(), "not resurrected");
    std::fs::remove_file(tmp.path().join("half-5")).expect("remove obstacle");
    assert_eq!(raw.create_topic("half", 8, &[]).await, 0);
    assert_eq!(
        raw.produce("half", 7, batch::plain(1, "x"))
            .await
            .error_code,
        0
    );
    broker.shutdown().await.expect("shutdown");
}

/// Directories a crash left behind (made, never committed to the catalog) do not stop a
/// later creation of the same topic, and their old segments do not reappear in it.
#[tokio::test]
async fn leftovers_of_an_interrupted_creation_are_cleared() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("ghost", 1, &[]).await, 0);
    assert_eq!(
        raw.produce("ghost", 0, batch::plain(3, "old"))
            .await
            .error_code,
        0
    );
    drop(raw);
    broker.shutdown().await.expect("shutdown");
    // As if the catalog entry had never been written: keep the directory, drop the entry,
    // and take away the checkpoint (a crash before it was written), so start-up keeps it.
    let meta = tmp.path().join("idem-meta.json");
    let mut catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).expect("read")).expect("json");
    catalog["topics"] = serde_json::json!([]);
    std::fs::write(&meta, serde_json::to_vec(&catalog).expect("json")).expect("write");
    std::fs::remove_file(tmp.path().join("ghost-0/partition.checkpoint")).expect("rm");

    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("ghost", 1, &[]).await, 0);
    assert_eq!(
        raw.end_offset("ghost", 0).await,
        0,
        "the new topic starts empty"
    );
    broker.shutdown().await.expect("shutdown");
}

/// A second broker on a directory in use refuses to start and names the holder. Before the
/// fix both started and overwrote each other's acknowledged writes.
#[tokio::test]
async fn a_second_broker_on_the_same_directory_refuses_to_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let first = start(tmp.path()).await;
    let err = Broker::open(config(tmp.path())).expect_err("second broker");
    let message = format!("{err:#}");
    assert!(
        message.contains("in use by another idem broker"),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    first.shutdown().await.expect("shutdown");
    // Released with the first broker.
    let again = start(tmp.path()).await;
    again.shutdown().await.expect("shutdown");
}

/// Another writer using a live producer's id, epoch and next sequence: the real producer's
/// batch (same range, other records) is refused with INVALID_RECORD instead of being
/// answered success with the other writer's offset and never stored.
#[tokio::test]
async fn a_reused_sequence_range_with_other_records_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(T, 1, &[]).await, 0);
    let (_, pid, _) = raw.init_producer_id(4).await;
    let now = idem_test_support::now_ms();
    let forger = batch::build(pid, 0, 0, 3, "forged", now);
    let real = batch::build(pid, 0, 0, 3, "real", now);
    assert_eq!(raw.produce(T, 0, forger.clone()).await.base_offset, 0);
    let r = raw.produce(T, 0, real).await;
    assert_eq!(r.error_code, 87, "INVALID_RECORD, not a silent duplicate");
    // A true retry of the stored batch is still a duplicate with its offset.
    let retry = raw.produce(T, 0, forger.clone()).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));
    let stored = raw.fetch_batches(T, 0, 0).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0][61..], &forger[61..]);
    let m = broker.broker.metrics();
    assert_eq!(m.duplicate_payload_mismatches.get(), 1);
    assert_eq!(m.duplicates.get(), 1);
    broker.shutdown().await.expect("shutdown");
}

/// A retry re-encoded with new timestamps (kafkajs does this) holds the same records: it is
/// a duplicate, answered with the original offset, on CreateTime and LogAppendTime topics,
/// before and after a crash (after which the producer state is replayed from the log, so the
/// remembered CRC of the LogAppendTime batch is the broker's rewritten one).
#[tokio::test]
async fn a_retry_with_new_timestamps_is_still_a_duplicate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start_with(config(tmp.path())).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("ct", 1, &[]).await, 0);
    assert_eq!(
        raw.create_topic("lat", 1, &[("message.timestamp.type", "LogAppendTime")])
            .await,
        0
    );
    let (_, pid, _) = raw.init_producer_id(4).await;
    let now = idem_test_support::now_ms();
    for topic in ["ct", "lat"] {
        let first = raw
            .produce(topic, 0, batch::build(pid, 0, 0, 2, "v", now))
            .await;
        assert_eq!((first.error_code, first.base_offset), (0, 0));
        let restamped = raw
            .produce(topic, 0, batch::build(pid, 0, 0, 2, "v", now + 1234))
            .await;
        assert_eq!(
            (restamped.error_code, restamped.base_offset),
            (0, 0),
            "{topic}"
        );
        assert_eq!(raw.end_offset(topic, 0).await, 2, "{topic}: written once");
    }
    drop(raw);
    broker.abort().await;
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    let again = raw
        .produce("lat", 0, batch::build(pid, 0, 0, 2, "v", now))
        .await;
    assert_eq!(
        (again.error_code, again.base_offset),
        (0, 0),
        "after restart"
    );
    assert_eq!(broker.broker.metrics().duplicate_restamped.get(), 1);
    assert_eq!(
        broker.broker.metrics().duplicate_payload_mismatches.get(),
        0
    );
    broker.shutdown().await.expect("shutdown");
}

/// One partition whose files cannot be opened at start-up goes offline with a clear error;
/// the broker starts and the other partitions serve. Before the fix the broker exited.
#[tokio::test]
async fn a_partition_that_cannot_open_goes_offline_and_the_rest_serve() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(T, 2, &[]).await, 0);
    for p in 0..2 {
        assert_eq!(raw.produce(T, p, batch::plain(2, "x")).await.error_code, 0);
    }
    drop(raw);
    broker.shutdown().await.expect("shutdown");
    // Partition 1's segment becomes something no file open can read.
    let segment = tmp.path().join("t-1/00000000000000000000.log");
    std::fs::remove_file(&segment).expect("rm");
    std::fs::create_dir(&segment).expect("a directory in its place");

    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    let damaged = broker.broker.partition(T, 1).expect("partition 1");
    assert!(damaged.watermark().offline, "partition 1 is offline");
    assert_eq!(raw.produce(T, 1, batch::plain(1, "y")).await.error_code, 56);
    let ok = raw.produce(T, 0, batch::plain(1, "y")).await;
    assert_eq!(
        (ok.error_code, ok.base_offset),
        (0, 2),
        "partition 0 serves"
    );
    broker.shutdown().await.expect("shutdown");
    assert!(segment.is_dir(), "the damaged directory is left as it was");
}
