//! Response memory (issue 14, defect 4): Fetch responses that clients never read hold at
//! most `idem.response.memory.bytes`, a connection whose responses do not drain is not read,
//! a response that makes no write progress closes its connection, and a well-behaved
//! consumer is served meanwhile.
//!
//! The clients that never read set a small receive buffer, so the kernel takes little of a
//! response (on loopback it still takes ~3 MiB: the broker's send buffer): the rest stays in
//! the broker's memory, which is what is measured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use idem_broker::config::apply_setting;
use idem_broker::RunningBroker;
use idem_test_support::Raw;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{self, config, start_with};

const MIB: usize = 1 << 20;
const TOPIC: &str = "big";
const CHILD_ENV: &str = "IDEM_MEMORY_RSS_CHILD";

/// A Fetch v12 of partition 0 of `topic` from `offset`, asking for `max_bytes` (also per
/// partition), waiting up to `max_wait_ms`.
fn fetch_request(topic: &str, offset: i64, max_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])])
}

fn fetch_frame(correlation: i32, request: &FetchRequest) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(12)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("never-reads")));
    idem_wire::request::encode_request(&header, ApiKey::Fetch, request).expect("encode")
}

/// A connection that sends `fetches` Fetch requests for 50 MiB and never reads its socket.
async fn never_reading(addr: SocketAddr, fetches: i32) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    // Before connect, so the advertised window stays small.
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket.connect(addr).await.expect("connect");
    for i in 0..fetches {
        let frame = fetch_frame(i + 1, &fetch_request(TOPIC, 0, 50 * MIB as i32, 500));
        stream.write_all(&frame).await.expect("write a fetch");
    }
    stream
}

/// Writes about `bytes` of records to partition 0 of [`TOPIC`], in batches of `batch` bytes.
async fn fill(addr: SocketAddr, bytes: usize, batch: usize) {
    let mut raw = Raw::connect(addr).await;
    assert_eq!(raw.create_topic(TOPIC, 1, &[]).await, 0);
    let value = vec![b'v'; 64 * 1024];
    let per_batch = (batch / value.len()).max(1);
    let refs: Vec<&[u8]> = (0..per_batch).map(|_| value.as_slice()).collect();
    for _ in 0..bytes.div_ceil(per_batch * value.len()) {
        let records =
            idem_wire::batch::client_batch(-1, -1, -1, idem_test_support::now_ms(), 0, &refs);
        let r = raw.produce(TOPIC, 0, records).await;
        assert_eq!(r.error_code, 0, "produce");
    }
}

/// Reads the whole partition as a consumer does (1 MiB fetches), within `limit`; returns the
/// record bytes read.
async fn consume_all(addr: SocketAddr, limit: Duration) -> usize {
    let mut raw = Raw::connect(addr).await;
    let end = raw.end_offset(TOPIC, 0).await;
    let started = Instant::now();
    let (mut offset, mut bytes) = (0i64, 0usize);
    while offset < end {
        assert!(
            started.elapsed() < limit,
            "a well-behaved consumer read {offset} of {end} offsets in {limit:?}"
        );
        let resp: FetchResponse = raw
            .call(
                ApiKey::Fetch,
                12,
                &fetch_request(TOPIC, offset, MIB as i32, 500),
            )
            .await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        let records = p.records.clone().unwrap_or_default();
        bytes += records.len();
        let mut at = 0;
        while at + 61 <= records.len() {
            let h =
                idem_wire::batch::BatchHeader::parse_prefix(&records[at..]).expect("batch header");
            offset = h.last_offset() + 1;
            at += h.total_len();
        }
    }
    bytes
}

/// Waits (bounded) until `f` holds.
async fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn memory_config(dir: &std::path::Path, settings: &[(&str, &str)]) -> idem_broker::BrokerConfig {
    let mut c = config(dir);
    for (k, v) in settings {
        apply_setting(&mut c, k, v).expect("setting");
    }
    c
}

fn held(running: &RunningBroker) -> u64 {
    running.broker.metrics().response_bytes_held.get()
}

// ------------------------------------------------------------------------------------------
// Twelve connections that never read, one consumer that does: in a process of its own so
// that other tests' memory does not count in its RSS.

/// Runs [`unread_fetches_probe`] in a child process (this test binary) and checks it passed.
#[test]
fn unread_fetch_responses_hold_at_most_the_response_memory() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "memory::unread_fetches_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.starts_with("memory-probe:") || l.contains("panicked") || l.contains(": "))
        .take(40)
        .collect();
    assert!(
        out.status.success() && stdout.contains("memory-probe: ok"),
        "memory probe failed ({}):\n{}",
        out.status,
        report.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a process of its own by unread_fetch_responses_hold_at_most_the_response_memory"]
async fn unread_fetches_probe() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    const BUDGET: usize = 32 * MIB;
    const BAD: usize = 12;
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start_with(memory_config(
        dir.path(),
        &[
            ("idem.response.memory.bytes", &BUDGET.to_string()),
            (
                "idem.response.memory.per.connection.bytes",
                &(16 * MIB).to_string(),
            ),
            ("idem.response.write.timeout.ms", "3000"),
        ],
    ))
    .await;
    let addr = running.addr;
    fill(addr, 16 * MIB, 256 * 1024).await;
    let baseline = support::vm_rss_bytes().expect("VmRSS");

    // Sample the held bytes and the RSS while everything below runs.
    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(baseline));
    let peak_held = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak_rss, peak_held) = (stop.clone(), peak_rss.clone(), peak_held.clone());
        let broker = Arc::clone(&running.broker);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak_held.fetch_max(
                    broker.metrics().response_bytes_held.get(),
                    Ordering::Relaxed,
                );
                peak_rss.fetch_max(support::vm_rss_bytes().unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut bad = Vec::new();
    for _ in 0..BAD {
        bad.push(never_reading(addr, 3).await);
    }
    // Let the bad connections take what they can.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held_by_bad = held(&running);

    // A consumer that reads gets the whole partition (once the write timeout has closed the
    // connections that hold the memory, at worst).
    let consumed = consume_all(addr, Duration::from_secs(60)).await;
    assert!(consumed >= 16 * MIB, "consumed {consumed} bytes");

    drop(bad);
    eventually(
        "the held bytes come back to zero",
        Duration::from_secs(30),
        || held(&running) == 0,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    sampler.await.expect("sampler");
    let metrics = running.broker.metrics();
    let growth = peak_rss.load(Ordering::Relaxed).saturating_sub(baseline);
    println!(
        "memory-probe: baseline RSS {} MiB, peak growth {} MiB; held by {BAD} unread \
         connections {} MiB; peak held {} MiB (sampled), {} MiB (gauge); budget {} MiB; \
         {} fetches waited for memory; {} connections closed for no write progress",
        baseline >> 20,
        growth >> 20,
        held_by_bad >> 20,
        peak_held.load(Ordering::Relaxed) >> 20,
        metrics.response_bytes_held.peak() >> 20,
        BUDGET >> 20,
        metrics.response_memory_waits.get(),
        metrics.connections_write_stalled.get(),
    );
    assert!(
        metrics.response_bytes_held.peak() <= BUDGET as u64,
        "held {} bytes, budget {BUDGET}",
        metrics.response_bytes_held.peak()
    );
    // Unbounded, the twelve would pin ~12 x 13 MiB (16 MiB responses); bounded, the budget plus copies made
    // while a response is encoded and allocator slack.
    let limit = (BUDGET + 48 * MIB) as u64;
    assert!(
        growth <= limit,
        "RSS grew by {} MiB (limit {} MiB)",
        growth >> 20,
        limit >> 20
    );
    running.shutdown().await.expect("clean shutdown");
    println!("memory-probe: ok");
}

// ------------------------------------------------------------------------------------------

/// A response larger than the per-connection cap that the client does not read: the
/// connection's next requests are not read until it drains (or the connection closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_whose_responses_do_not_drain_is_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start_with(memory_config(
        dir.path(),
        &[
            ("idem.response.memory.bytes", &(64 * MIB).to_string()),
            (
                "idem.response.memory.per.connection.bytes",
                &(8 * MIB).to_string(),
            ),
            ("message.max.bytes", &(16 * MIB).to_string()),
        ],
    ))
    .await;
    let addr = running.addr;
    // One 12 MiB batch: the first batch is served whole (KIP-74), above the cap.
    fill(addr, 12 * MIB, 12 * MIB).await;
    let mut bad = never_reading(addr, 1).await;
    eventually(
        "the fetch response is built",
        Duration::from_secs(10),
        || held(&running) >= 12 * MIB as u64,
    )
    .await;
    let api_versions =
        || running.broker.metrics().requests_by_api.0[ApiKey::ApiVersions as usize].get();
    let before = api_versions();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(3)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("never-reads")));
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("t"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let frame =
        idem_wire::request::encode_request(&header, ApiKey::ApiVersions, &body).expect("encode");
    // Requests sent before the response was built may be read (the reader was already
    // waiting for them); once the reader sees the response undrained, it stops.
    let paused = || running.broker.metrics().connections_read_paused.get();
    let until = Instant::now() + Duration::from_secs(10);
    while paused() == 0 {
        assert!(
            Instant::now() < until,
            "the connection's reading never paused"
        );
        bad.write_all(&frame).await.expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read = api_versions();
    assert!(read < before + 10, "{} requests read", read - before);
    for _ in 0..5 {
        bad.write_all(&frame).await.expect("write");
    }
    // Another connection is served meanwhile.
    let mut other = Raw::connect(addr).await;
    let _: ApiVersionsResponse = other.call(ApiKey::ApiVersions, 3, &body).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api_versions(),
        read + 1,
        "requests of a connection whose response does not drain were read"
    );
    assert_eq!(paused(), 1);
    drop(bad);
    eventually(
        "the held bytes come back to zero",
        Duration::from_secs(30),
        || held(&running) == 0,
    )
    .await;
    running.shutdown().await.expect("clean shutdown");
}

/// A client that never reads loses its connection after `idem.response.write.timeout.ms`
/// without write progress, and its response memory comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_without_write_progress_closes_its_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = start_with(memory_config(
        dir.path(),
        &[
            (
                "idem.response.memory.per.connection.bytes",
                &(16 * MIB).to_string(),
            ),
            ("idem.response.write.timeout.ms", "1000"),
        ],
    ))
    .await;
    let addr = running.addr;
    fill(addr, 12 * MIB, 256 * 1024).await;
    let _bad = never_reading(addr, 1).await;
    let metrics = Arc::clone(running.broker.metrics());
    eventually(
        "the stalled connection is closed",
        Duration::from_secs(30),
        || metrics.connections_write_stalled.get() == 1,
    )
    .await;
    eventually(
        "the held bytes come back to zero",
        Duration::from_secs(10),
        || held(&running) == 0,
    )
    .await;
    running.shutdown().await.expect("clean shutdown");
}

// ------------------------------------------------------------------------------------------
// The measurement of issue 14: the real `idem serve`, a 60 MiB partition, 20 connections
// that send a Fetch and never read. Not an assertion: prints VmRSS/VmHWM before and after.
//
//   cargo build --release -p idem-cli
//   IDEM_BIN=$CARGO_TARGET_DIR/release/idem cargo test -p idem-broker --test it \
//     memory::measure_rss_of_idem_serve -- --ignored --nocapture

/// VmRSS and VmHWM of a process, in KiB.
fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: needs IDEM_BIN (the idem binary); run by hand, see RELIABILITY.md"]
async fn measure_rss_of_idem_serve() {
    use std::io::BufRead;
    let bin = PathBuf::from(std::env::var_os("IDEM_BIN").expect("IDEM_BIN=path/to/idem"));
    let dir = tempfile::tempdir().expect("tempdir");
    let extra: Vec<String> = std::env::var("IDEM_SETS")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut cmd = std::process::Command::new(&bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--log")
        .arg("info")
        .stderr(std::process::Stdio::piped());
    for s in &extra {
        cmd.arg("--set").arg(s);
    }
    let mut child = cmd.spawn().expect("spawn idem serve");
    let pid = child.id();
    // The broker's log, read on a thread of its own so it never blocks on a full pipe; the
    // bound address comes from its "serving" line.
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("serving the Kafka protocol") {
                if let Some(at) = line.find("127.0.0.1:") {
                    let port: String = line[at + 10..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(addr) = format!("127.0.0.1:{port}").parse() {
                        let _ = tx.send(addr);
                    }
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("idem serve starts within 30 s");
    fill(addr, 60 * MIB, 256 * 1024).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, idle_hwm) = rss_of(pid);
    let mut bad = Vec::new();
    for _ in 0..20 {
        bad.push(never_reading(addr, 1).await);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = rss_of(pid);
    let consumed_within = {
        let started = Instant::now();
        consume_all(addr, Duration::from_secs(300)).await;
        started.elapsed()
    };
    println!(
        "idem serve ({}), 60 MiB partition, 20 connections sending a 50 MiB Fetch and never \
         reading: idle VmRSS {} MiB (VmHWM {} MiB); after 5 s VmRSS {} MiB (VmHWM {} MiB), \
         +{} MiB over idle; a consumer then read the partition in {:.1} s",
        bin.display(),
        idle_rss >> 10,
        idle_hwm >> 10,
        rss >> 10,
        hwm >> 10,
        (rss.saturating_sub(idle_rss)) >> 10,
        consumed_within.as_secs_f64()
    );
    drop(bad);
    let _ = child.kill();
    let _ = child.wait();
}
