//! Partitions are not bounded by the file-descriptor limit: `idem serve` under
//! `ulimit -n 1024` creates a 3,000-partition topic, takes a record on every partition,
//! serves them all back, and restarts with them, cleanly and after kill -9. The open
//! descriptors are sampled from /proc throughout and must stay under the limit.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use idem_test_support::{batch, Raw};
use idem_wire::batch::BatchHeader;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "many";
const PARTITIONS: i32 = 3000;
const NOFILE: usize = 1024;

struct Idem {
    child: Child,
    addr: SocketAddr,
    started: Duration,
}

/// Starts `idem serve` under `ulimit -n 1024` (the shell execs it, so the child's pid is the
/// broker's) and waits for its address.
fn spawn(dir: &Path) -> Idem {
    let begin = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {NOFILE} && exec \"$0\" serve --listen 127.0.0.1:0 --log info --data-dir \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_idem"))
        .arg(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn idem");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("idem exited before serving")
            .expect("read log");
        assert!(
            !line.contains("Too many open files"),
            "idem ran out of descriptors: {line}"
        );
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.trim().parse().expect("address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Idem {
        child,
        addr,
        started: begin.elapsed(),
    }
}

fn stop(mut idem: Idem, signal: &str) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(idem.child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    idem.child.wait().expect("wait")
}

/// Samples the child's open descriptors every 20 ms; returns the peak when dropped... or on
/// `finish`.
struct FdSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FdSampler {
    fn start(pid: u32) -> FdSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let (s, p) = (Arc::clone(&stop), Arc::clone(&peak));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    p.fetch_max(dir.count(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        FdSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

fn value(p: i32) -> String {
    format!("record-of-{p}")
}

/// One Produce request with a one-record batch for every partition; asserts each answer.
async fn produce_all(raw: &mut Raw) {
    let data = (0..PARTITIONS)
        .map(|p| {
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(Bytes::from(batch::build(
                    -1,
                    -1,
                    -1,
                    1,
                    &value(p),
                    idem_test_support::now_ms(),
                ))))
        })
        .collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(120_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name())
            .with_partition_data(data)]);
    let resp: ProduceResponse = raw.call(ApiKey::Produce, 9, &req).await;
    let answers = &resp.responses[0].partition_responses;
    assert_eq!(answers.len(), PARTITIONS as usize);
    for a in answers {
        assert_eq!(
            (a.error_code, a.base_offset),
            (0, 0),
            "partition {}",
            a.index
        );
    }
}

/// Fetches every partition from offset 0 in requests of 500 partitions; asserts each holds
/// exactly its one record.
async fn fetch_all(raw: &mut Raw) {
    let mut seen = 0;
    for chunk in (0..PARTITIONS).collect::<Vec<_>>().chunks(500) {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(64 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name())
                .with_partitions(
                    chunk
                        .iter()
                        .map(|&p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(0)
                                .with_partition_max_bytes(1 << 16)
                        })
                        .collect(),
                )]);
        let resp: FetchResponse = raw.call(ApiKey::Fetch, 12, &req).await;
        for p in &resp.responses[0].partitions {
            assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
            assert_eq!(p.high_watermark, 1, "partition {}", p.partition_index);
            let records = p.records.clone().unwrap_or_default();
            let h = BatchHeader::parse(&records).expect("a batch");
            assert_eq!((h.base_offset, h.records_count), (0, 1));
            assert_eq!(h.total_len(), records.len(), "one batch");
            let want = value(p.partition_index);
            assert!(
                records
                    .windows(want.len() + 2)
                    .any(|w| w[..want.len()] == *want.as_bytes() && w[want.len()] == b'-'),
                "partition {} holds its own record",
                p.partition_index
            );
            seen += 1;
        }
    }
    assert_eq!(seen, PARTITIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_partitions_under_ulimit_1024() {
    let tmp = tempfile::tempdir().expect("tmp");
    let idem = spawn(tmp.path());
    let sampler = FdSampler::start(idem.child.id());
    let mut raw = Raw::connect(idem.addr).await;
    let begin = Instant::now();
    assert_eq!(raw.create_topic(TOPIC, PARTITIONS, &[]).await, 0, "create");
    let created = begin.elapsed();
    let begin = Instant::now();
    produce_all(&mut raw).await;
    let produced = begin.elapsed();
    let begin = Instant::now();
    fetch_all(&mut raw).await;
    let fetched = begin.elapsed();
    drop(raw);
    let peak_first = sampler.finish();
    assert_eq!(stop(idem, "TERM").code(), Some(0), "clean stop");

    // Clean restart.
    let idem = spawn(tmp.path());
    let clean_start = idem.started;
    let sampler = FdSampler::start(idem.child.id());
    let mut raw = Raw::connect(idem.addr).await;
    fetch_all(&mut raw).await;
    drop(raw);
    let peak_clean = sampler.finish();
    stop(idem, "KILL");

    // Restart after kill -9: every partition's tail is verified.
    let idem = spawn(tmp.path());
    let crash_start = idem.started;
    let sampler = FdSampler::start(idem.child.id());
    let mut raw = Raw::connect(idem.addr).await;
    fetch_all(&mut raw).await;
    produce_all_again(&mut raw).await;
    drop(raw);
    let peak_crash = sampler.finish();
    stop(idem, "KILL");

    eprintln!(
        "3000 partitions under ulimit -n {NOFILE}: create {created:?}, produce {produced:?}, \
         fetch {fetched:?}, clean restart {clean_start:?}, restart after kill -9 \
         {crash_start:?}; peak open fds {peak_first} / {peak_clean} / {peak_crash}"
    );
    for peak in [peak_first, peak_clean, peak_crash] {
        assert!(peak > 0 && peak < NOFILE, "peak open fds {peak}");
    }
}

/// After the crash the log takes appends again on every partition (at offset 1).
async fn produce_all_again(raw: &mut Raw) {
    let data = (0..PARTITIONS)
        .map(|p| {
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(Bytes::from(batch::plain(1, "again"))))
        })
        .collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(120_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name())
            .with_partition_data(data)]);
    let resp: ProduceResponse = raw.call(ApiKey::Produce, 9, &req).await;
    for a in &resp.responses[0].partition_responses {
        assert_eq!(
            (a.error_code, a.base_offset),
            (0, 1),
            "partition {}",
            a.index
        );
    }
}
