//! The idempotent producer through a fault-injecting connection, driven by property tests:
//! lost acknowledgements, delays, resets before and after the broker saw a request,
//! duplicated requests. Whatever the faults, every acknowledged record is in the log exactly
//! once, in send order per partition, at the offset it was acknowledged with, and nothing is
//! acknowledged that is not there.

use std::collections::HashMap;
use std::time::Duration;

use idem_client::{ClientConfig, Consumer, Producer, ProducerRecord};
use idem_test_support::{proxy, start};
use proptest::prelude::*;

const PARTITIONS: i32 = 3;

fn rule() -> impl Strategy<Value = String> {
    prop_oneof![
        (2u32..10).prop_map(|n| format!("produce:drop-response:every={n}")),
        (1u32..30).prop_map(|p| format!("produce:drop-response:prob=0.{p:02}")),
        (1u32..20).prop_map(|p| format!("produce:reset-before:prob=0.{p:02}")),
        (1u32..20).prop_map(|p| format!("produce:reset-after:prob=0.{p:02}")),
        (1u32..30).prop_map(|p| format!("produce:duplicate:prob=0.{p:02}")),
        (1u32..30, 1u32..80).prop_map(|(p, ms)| format!("produce:delay:prob=0.{p:02}:ms={ms}")),
        // Every n-th request of any kind: n >= 5, since a shorter period can line up with the
        // client's fixed reconnect sequence (ApiVersions, Metadata, Produce) and starve it,
        // which no network does.
        (5u32..30).prop_map(|n| format!("any:reset-after:every={n}")),
        (1u32..10).prop_map(|p| format!("any:reset-after:prob=0.0{p}")),
        Just("init-producer-id:reset-before:first=1".to_string()),
        Just("metadata:drop-response:first=1".to_string()),
    ]
}

#[derive(Debug, Default)]
struct Anomalies {
    errors: Vec<String>,
    lost: usize,
    duplicated: usize,
    reordered: usize,
    wrong_offset: usize,
}

async fn run(rules: Vec<String>, records: usize, linger_ms: u64) -> (Anomalies, u64) {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let rule_refs: Vec<&str> = rules.iter().map(String::as_str).collect();
    let proxy = proxy(broker.addr, &rule_refs).await;
    let admin = idem_client::Admin::new(&ClientConfig::new().set("bootstrap.servers", broker.addr))
        .expect("admin");
    admin
        .create_topics(&[idem_client::NewTopic::new("f", PARTITIONS)])
        .await
        .expect("create")[0]
        .clone()
        .expect("created");
    let producer = Producer::new(
        &ClientConfig::new()
            .set("bootstrap.servers", proxy.addr)
            .set("linger.ms", linger_ms)
            .set("batch.size", 256)
            .set("retry.backoff.ms", 5)
            .set("request.timeout.ms", 2_000)
            .set("delivery.timeout.ms", 60_000),
    )
    .expect("producer");
    let mut futures = Vec::with_capacity(records);
    for i in 0..records {
        let record =
            ProducerRecord::new("f", format!("v{i}")).partition((i % PARTITIONS as usize) as i32);
        futures.push(producer.send(record).await.expect("queued"));
    }
    let mut anomalies = Anomalies::default();
    let mut acked = HashMap::new();
    for (i, f) in futures.into_iter().enumerate() {
        match f.await {
            Ok(m) => {
                acked.insert(i, (m.partition, m.offset));
            }
            Err(e) => anomalies.errors.push(format!("v{i}: {e}")),
        }
    }
    let faults = proxy.stats.snapshot().faults.values().sum();
    let mut consumer = Consumer::new(
        &ClientConfig::new()
            .set("bootstrap.servers", broker.addr)
            .set("auto.offset.reset", "earliest"),
    )
    .expect("consumer");
    let assignment: Vec<(&str, i32)> = (0..PARTITIONS).map(|p| ("f", p)).collect();
    consumer.assign(&assignment);
    let mut seen: HashMap<usize, Vec<(i32, i64)>> = HashMap::new();
    let mut last_in_partition: HashMap<i32, usize> = HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut total = 0;
    while total < records && std::time::Instant::now() < deadline {
        for r in consumer
            .poll(Duration::from_millis(200), 100_000)
            .await
            .expect("poll")
        {
            total += 1;
            let value = String::from_utf8(r.value.expect("value").to_vec()).expect("utf8");
            let i: usize = value[1..].parse().expect("index");
            if last_in_partition
                .insert(r.partition, i)
                .is_some_and(|prev| prev >= i)
            {
                anomalies.reordered += 1;
            }
            seen.entry(i).or_default().push((r.partition, r.offset));
        }
    }
    for i in 0..records {
        match seen.get(&i).map(Vec::as_slice) {
            None => {
                if acked.contains_key(&i) {
                    anomalies.lost += 1;
                }
            }
            Some([one]) => {
                if acked.get(&i).is_some_and(|a| a != one) {
                    anomalies.wrong_offset += 1;
                }
            }
            Some(_) => anomalies.duplicated += 1,
        }
    }
    broker.shutdown().await.expect("shutdown");
    (anomalies, faults)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]
    #[test]
    fn exactly_once_in_order_whatever_the_faults(
        rules in proptest::collection::vec(rule(), 1..3),
        linger in 0u64..5,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (a, faults) = runtime.block_on(run(rules.clone(), 3_000, linger));
        eprintln!("{rules:?} linger={linger}: {faults} faults");
        prop_assert!(a.errors.is_empty(), "{rules:?}: errors {:?}", &a.errors[..a.errors.len().min(3)]);
        prop_assert_eq!((a.lost, a.duplicated, a.reordered, a.wrong_offset), (0, 0, 0, 0), "{:?} ({} faults)", rules, faults);
    }
}

/// Replays one rule set: IDEM_FAULT_RULES="rule;rule" (for a failure the property found).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rules_from_the_environment() {
    let Ok(rules) = std::env::var("IDEM_FAULT_RULES") else {
        return;
    };
    let rules: Vec<String> = rules.split(';').map(str::to_string).collect();
    let (a, faults) = run(rules.clone(), 3_000, 3).await;
    eprintln!("{rules:?}: {faults} faults, {a:?}");
    assert!(a.errors.is_empty());
    assert_eq!(
        (a.lost, a.duplicated, a.reordered, a.wrong_offset),
        (0, 0, 0, 0)
    );
}

/// The proxy really injects faults under these rules (so the property above is not vacuous).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledgements_are_injected_and_absorbed() {
    let (a, faults) = run(vec!["produce:drop-response:every=3".into()], 3_000, 1).await;
    assert!(faults >= 3, "{faults} faults");
    assert!(
        a.errors.is_empty(),
        "{:?}",
        &a.errors[..a.errors.len().min(3)]
    );
    assert_eq!(
        (a.lost, a.duplicated, a.reordered, a.wrong_offset),
        (0, 0, 0, 0)
    );
}
