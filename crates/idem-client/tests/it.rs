//! idem's Rust client against an in-process idem broker, directly and through the fault
//! proxy.

use std::collections::HashMap;
use std::time::Duration;

use idem_client::admin::OffsetSpec;
use idem_client::{Admin, ClientConfig, Consumer, Error, NewTopic, Producer, ProducerRecord, Seek};
use idem_test_support::start;

fn config(addr: impl ToString) -> ClientConfig {
    ClientConfig::new().set("bootstrap.servers", addr.to_string())
}

async fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<idem_client::ConsumerRecord> {
    let mut consumer =
        Consumer::new(&config(bootstrap).set("auto.offset.reset", "earliest")).expect("consumer");
    let assignment: Vec<(&str, i32)> = (0..partitions).map(|p| (topic, p)).collect();
    consumer.assign(&assignment);
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while out.len() < expected && std::time::Instant::now() < deadline {
        out.extend(
            consumer
                .poll(Duration::from_millis(200), 10_000)
                .await
                .expect("poll"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_topics_offsets_and_producers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let admin = Admin::new(&config(broker.addr)).expect("admin");
    let created = admin
        .create_topics(&[
            NewTopic::new("a", 2),
            NewTopic::new("b", 1).config("retention.ms", "60000"),
        ])
        .await
        .expect("create");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let again = admin
        .create_topics(&[NewTopic::new("a", 2)])
        .await
        .expect("create");
    assert!(matches!(&again[0], Err(e) if e.code().map(|c| c.0) == Some(36)));
    let names: Vec<String> = admin
        .list_topics()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        admin
            .describe_topic("a")
            .await
            .expect("describe")
            .partitions
            .len(),
        2
    );
    admin.create_partitions("a", 4).await.expect("grow");
    assert_eq!(
        admin
            .describe_topic("a")
            .await
            .expect("describe")
            .partitions
            .len(),
        4
    );
    let configs = admin.describe_topic_configs("b").await.expect("configs");
    let retention = configs
        .iter()
        .find(|c| c.name == "retention.ms")
        .expect("retention.ms");
    assert_eq!(
        (retention.value.as_deref(), retention.is_default),
        (Some("60000"), false)
    );

    let producer = Producer::new(&config(broker.addr)).expect("producer");
    for i in 0..5 {
        producer
            .send(
                ProducerRecord::new("b", format!("v{i}"))
                    .partition(0)
                    .timestamp(1_000 + i),
            )
            .await
            .expect("queued")
            .await
            .expect("delivered");
    }
    assert_eq!(
        admin
            .list_offset("b", 0, OffsetSpec::Earliest)
            .await
            .expect("earliest")
            .offset,
        0
    );
    assert_eq!(
        admin
            .list_offset("b", 0, OffsetSpec::Latest)
            .await
            .expect("latest")
            .offset,
        5
    );
    assert_eq!(
        admin
            .list_offset("b", 0, OffsetSpec::Timestamp(1_002))
            .await
            .expect("ts")
            .offset,
        2
    );
    let producers = admin.describe_producers("b", 0).await.expect("producers");
    assert_eq!(producers.len(), 1);
    assert_eq!(producers[0].last_sequence, 4);
    assert_eq!(producers[0].last_timestamp, 1_004);
    // idem's extension fields: the last record's offset, and a broker-clock append time.
    assert_eq!(producers[0].last_offset, Some(4));
    let append = producers[0].last_append_ms.expect("last append time");
    assert!(
        (append - idem_test_support::now_ms()).abs() < 60_000,
        "{append}"
    );

    let deleted = admin.delete_topics(&["a"]).await.expect("delete");
    assert!(deleted[0].is_ok());
    assert!(admin.describe_topic("a").await.is_err());
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_consume_every_codec_in_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let bootstrap = broker.addr.to_string();
    let admin = Admin::new(&config(&bootstrap)).expect("admin");
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("t-{codec}");
        admin
            .create_topics(&[NewTopic::new(&topic, 3)])
            .await
            .expect("create");
        let producer = Producer::new(
            &config(&bootstrap)
                .set("compression.type", codec)
                .set("linger.ms", "2"),
        )
        .expect("producer");
        let mut futures = Vec::new();
        for i in 0..3_000 {
            let record = ProducerRecord::new(&topic, format!("v{i}"))
                .key(format!("k{}", i % 17))
                .header("i", i.to_string());
            futures.push(producer.send(record).await.expect("queued"));
        }
        let mut acked = HashMap::new();
        for (i, f) in futures.into_iter().enumerate() {
            let m = f.await.expect("delivered");
            acked.insert(format!("v{i}"), (m.partition, m.offset));
        }
        producer.close(Duration::from_secs(5)).await.expect("close");
        let records = consume_all(&bootstrap, &topic, 3, 3_000).await;
        assert_eq!(records.len(), 3_000, "{codec}");
        let mut last: HashMap<(i32, String), usize> = HashMap::new();
        for r in &records {
            let value = String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8");
            assert_eq!(
                acked[&value],
                (r.partition, r.offset),
                "{codec}: acked offset"
            );
            let i: usize = value[1..].parse().expect("index");
            let key = String::from_utf8(r.key.clone().expect("key").to_vec()).expect("key");
            // Same key, same partition (murmur2), and send order within it.
            assert_eq!(
                r.partition,
                idem_client::producer::keyed_partition(key.as_bytes(), 3)
            );
            if let Some(prev) = last.insert((r.partition, key), i) {
                assert!(prev < i, "{codec}: order within a key");
            }
            assert_eq!(r.headers[0].1.as_deref(), Some(i.to_string().as_bytes()));
        }
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_seeks_by_offset_timestamp_and_end() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let bootstrap = broker.addr.to_string();
    let producer = Producer::new(&config(&bootstrap)).expect("producer");
    let base = idem_test_support::now_ms() - 60_000;
    let records: Vec<ProducerRecord> = (0..20)
        .map(|i| {
            ProducerRecord::new("s", format!("v{i}"))
                .partition(0)
                .timestamp(base + i * 10)
        })
        .collect();
    let results = producer
        .send_batch(records)
        .await
        .expect("queued")
        .await
        .expect("delivered");
    assert!(results.iter().all(Result::is_ok));
    let mut consumer = Consumer::new(&config(&bootstrap)).expect("consumer");
    consumer.assign(&[("s", 0)]);
    assert_eq!(
        consumer
            .seek("s", 0, Seek::Timestamp(base + 55))
            .await
            .expect("seek"),
        6
    );
    let got = consumer
        .poll(Duration::from_secs(5), 3)
        .await
        .expect("poll");
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [6, 7, 8]);
    // The position is the next record poll returns, not how far the fetch went.
    assert_eq!(consumer.position("s", 0), Some(9));
    assert_eq!(
        consumer.seek("s", 0, Seek::Offset(18)).await.expect("seek"),
        18
    );
    let got = consumer
        .poll(Duration::from_secs(5), 100)
        .await
        .expect("poll");
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [18, 19]);
    assert_eq!(consumer.seek("s", 0, Seek::Latest).await.expect("seek"), 20);
    let got = consumer
        .poll(Duration::from_millis(300), 100)
        .await
        .expect("poll");
    assert!(got.is_empty());
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn configuration_follows_kafkas_rules() {
    let err = Producer::new(
        &config("127.0.0.1:1")
            .set("enable.idempotence", "true")
            .set("acks", "1"),
    )
    .expect_err("conflict");
    assert!(matches!(err, Error::Config(_)));
    let p = Producer::new(&config("127.0.0.1:1").set("acks", "1")).expect("default disables");
    assert!(!p.settings().idempotence);
    assert!(
        Producer::new(&ClientConfig::new()).is_err(),
        "bootstrap.servers required"
    );
}
