//! librdkafka's idempotent producer through a connection that loses Produce responses after
//! the broker appended: every record must be in the log exactly once, in send order per
//! partition, at the offset librdkafka was told. The same run with the broker's dedupe
//! switched off must show duplicates: proof that this test can fail.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use idem_test_support::{config, start_with, Raw};
use kafka_protocol::records::RecordBatchDecoder;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "lossy";

/// librdkafka's own log lines on stderr, with timestamps (set IDEM_RDKAFKA_DEBUG=eos,msg,...).
struct StderrLog;

impl rdkafka::ClientContext for StderrLog {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        if std::env::var_os("IDEM_RDKAFKA_DEBUG").is_some() || (level as i32) <= 3 {
            eprintln!(
                "{:?} librdkafka {level:?} {fac}: {message}",
                std::time::SystemTime::now()
            );
        }
    }
}
const PARTITIONS: i32 = 3;

#[derive(Debug, Default)]
struct Report {
    records: usize,
    acked: usize,
    errors: usize,
    duplicates: usize,
    missing: usize,
    out_of_order: usize,
    wrong_offsets: usize,
    dropped_responses: u64,
    dedupe_hits: u64,
}

async fn run(records: usize, drop_every: u64, dedupe: bool) -> Report {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.unsafe_disable_dedupe = !dedupe;
    let broker = start_with(c).await;
    // The proxy rewrites the broker address in Metadata, so clients stay behind it.
    let rule = format!("produce:drop-response:every={drop_every}");
    let rules: &[&str] = if drop_every == 0 { &[] } else { &[&rule] };
    let proxy = idem_test_support::proxy(broker.addr, rules).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic(TOPIC, PARTITIONS, &[]).await, 0);

    let mut cfg = ClientConfig::new();
    if let Ok(debug) = std::env::var("IDEM_RDKAFKA_DEBUG") {
        cfg.set("debug", &debug).set("log_level", "7");
    }
    let producer: FutureProducer<StderrLog> = cfg
        .set("bootstrap.servers", proxy.addr.to_string())
        .set("broker.address.family", "v4")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("batch.num.messages", "500")
        .set("message.timeout.ms", "300000")
        // Every lost acknowledgement costs a reconnect; librdkafka doubles its reconnect
        // backoff up to 10 s by default, which would make this test about waiting.
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "100")
        .create_with_context(StderrLog)
        .expect("producer");
    let mut pending = Vec::with_capacity(records);
    for i in 0..records {
        let value = format!("v{i}");
        let record = FutureRecord::<(), _>::to(TOPIC)
            .partition((i % PARTITIONS as usize) as i32)
            .payload(&value);
        pending.push(producer.send_result(record).expect("queued"));
    }
    let mut report = Report {
        records,
        ..Report::default()
    };
    let mut acked: HashMap<String, (i32, i64)> = HashMap::with_capacity(records);
    for (i, f) in pending.into_iter().enumerate() {
        match f.await.expect("not cancelled") {
            Ok(d) => {
                report.acked += 1;
                acked.insert(format!("v{i}"), (d.partition, d.offset));
            }
            Err((e, _)) => {
                if report.errors < 3 {
                    eprintln!("delivery error: {e}");
                }
                report.errors += 1;
            }
        }
    }
    drop(producer);
    report.dropped_responses = proxy.stats.faults("drop-response");
    report.dedupe_hits = broker.broker.metrics().duplicates.get();

    // Read every partition back from the broker directly.
    let mut seen: HashMap<String, Vec<(i32, i64)>> = HashMap::with_capacity(records);
    for p in 0..PARTITIONS {
        let mut last_index: Option<usize> = None;
        for b in raw.fetch_batches(TOPIC, p, 0).await {
            let mut buf: Bytes = b;
            for set in RecordBatchDecoder::decode_all(&mut buf).expect("decode") {
                for r in set.records {
                    let value = String::from_utf8(r.value.expect("value").to_vec()).expect("utf8");
                    let index: usize = value[1..].parse().expect("index");
                    if last_index.is_some_and(|l| index <= l) {
                        report.out_of_order += 1;
                    }
                    last_index = Some(index);
                    seen.entry(value).or_default().push((p, r.offset));
                }
            }
        }
    }
    for i in 0..records {
        let value = format!("v{i}");
        match seen.get(&value).map(Vec::as_slice) {
            None | Some([]) => report.missing += 1,
            Some([one]) => {
                if acked.get(&value).is_some_and(|a| a != one) {
                    report.wrong_offsets += 1;
                }
            }
            Some(_) => report.duplicates += 1,
        }
    }
    broker.shutdown().await.expect("shutdown");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_idempotent_producer_lands_exactly_once_through_lost_acks() {
    let records = std::env::var("IDEM_LOST_ACK_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let drop_every = std::env::var("IDEM_LOST_ACK_DROP_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let report = tokio::time::timeout(Duration::from_secs(300), run(records, drop_every, true))
        .await
        .expect("finishes within 5 minutes");
    eprintln!("{report:?}");
    assert!(
        report.dropped_responses >= 3,
        "the proxy lost acknowledgements: {report:?}"
    );
    assert_eq!(report.errors, 0, "librdkafka reported no error: {report:?}");
    assert_eq!(report.acked, report.records);
    assert_eq!(report.missing, 0, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert_eq!(report.out_of_order, 0, "{report:?}");
    assert_eq!(report.wrong_offsets, 0, "{report:?}");
    assert!(
        report.dedupe_hits >= 1,
        "retries were answered from the dedupe window: {report:?}"
    );
}

/// The same run against a broker with dedupe switched off stores duplicates: the checks
/// above detect them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dedupe_the_same_run_stores_duplicates() {
    let report = tokio::time::timeout(Duration::from_secs(300), run(20_000, 7, false))
        .await
        .expect("finishes within 5 minutes");
    eprintln!("{report:?}");
    assert!(report.dropped_responses >= 3, "{report:?}");
    assert!(
        report.duplicates > 0,
        "the checker catches duplicates: {report:?}"
    );
    assert_eq!(report.dedupe_hits, 0);
}
