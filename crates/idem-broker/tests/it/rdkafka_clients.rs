//! librdkafka (through the `rdkafka` crate) against idem: create, produce, consume, restart.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::support;

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    c
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        client_config(bootstrap).create().expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

fn consume_all(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> Vec<Seen> {
    let consumer: BaseConsumer = client_config(bootstrap)
        .set("group.id", "idem-test-unused")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen = Vec::with_capacity(expected);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < expected && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => seen.push(Seen {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default(),
                timestamp: m.timestamp().to_millis(),
            }),
            Some(Err(e)) => panic!("consume error: {e}"),
            None => {}
        }
    }
    seen.sort_by_key(|s| (s.partition, s.offset));
    seen
}

/// 10,000 records over 3 partitions with each codec, consumed back, the broker restarted,
/// consumed again: identical keys, values, headers, timestamps and offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_through_a_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = support::start(tmp.path()).await;
    let bootstrap = broker.addr.to_string();
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let per_codec: usize = std::env::var("IDEM_TEST_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for codec in codecs {
        create_topic(&bootstrap, &format!("codec-{codec}"), 3).await;
    }
    let mut produced: HashMap<&str, Vec<(i32, i64, String)>> = HashMap::new();
    // Recent timestamps: older ones would be deleted by the default retention (7 days).
    let base_ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 600_000;
    for codec in codecs {
        let producer: FutureProducer = client_config(&bootstrap)
            .set("compression.codec", codec)
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        let topic = format!("codec-{codec}");
        let mut pending = Vec::with_capacity(per_codec);
        for i in 0..per_codec {
            let key = format!("key-{i}");
            let value = format!("value-{codec}-{i}-{}", "x".repeat(i % 50));
            let headers = OwnedHeaders::new().insert(Header {
                key: "n",
                value: Some(i.to_string().as_bytes()),
            });
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .headers(headers)
                .timestamp(base_ts + i as i64);
            pending.push((value.clone(), producer.send_result(record).expect("queue")));
        }
        let mut acks = Vec::with_capacity(per_codec);
        for (value, f) in pending {
            let delivery = f.await.expect("not cancelled").expect("delivered");
            acks.push((delivery.partition, delivery.offset, value));
        }
        produced.insert(codec, acks);
    }
    let mut first_pass = HashMap::new();
    for codec in codecs {
        let topic = format!("codec-{codec}");
        let bootstrap = bootstrap.clone();
        let seen =
            tokio::task::spawn_blocking(move || consume_all(&bootstrap, &topic, 3, per_codec))
                .await
                .expect("consume");
        assert_eq!(seen.len(), per_codec, "{codec}: every record consumed");
        // Every acknowledged (partition, offset) holds the value that was sent.
        let by_position: HashMap<(i32, i64), &Seen> =
            seen.iter().map(|s| ((s.partition, s.offset), s)).collect();
        for (p, o, value) in &produced[codec] {
            let s = by_position
                .get(&(*p, *o))
                .expect("acknowledged offset present");
            assert_eq!(s.value.as_deref(), Some(value.as_bytes()), "{codec}");
            assert_eq!(s.headers.len(), 1);
            assert!(s.timestamp.is_some_and(|t| t >= base_ts));
        }
        first_pass.insert(codec, seen);
    }
    broker.shutdown().await.expect("clean shutdown");
    let broker = support::start(tmp.path()).await;
    let bootstrap = broker.addr.to_string();
    for codec in codecs {
        let topic = format!("codec-{codec}");
        let b = bootstrap.clone();
        let seen = tokio::task::spawn_blocking(move || consume_all(&b, &topic, 3, per_codec))
            .await
            .expect("consume");
        assert_eq!(
            seen.len(),
            first_pass[codec].len(),
            "{codec}: same count after restart"
        );
        assert!(
            seen == first_pass[codec],
            "{codec}: identical records after restart"
        );
    }
    broker.shutdown().await.expect("clean shutdown");
}
