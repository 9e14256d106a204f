//! The client commands of the `idem` binary against an in-process broker: what they print
//! and the exit codes scripts rely on (0 done, 1 failed with one `idem: ...` line, 2 usage).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `idem` with the whitespace-separated words of `cmd`, then `extra` verbatim (formats
/// with spaces), with `input` on standard input, off the async runtime's threads.
async fn idem(cmd: &str, extra: &[&str], input: &str) -> Run {
    let args: Vec<String> = cmd
        .split_whitespace()
        .chain(extra.iter().copied())
        .map(String::from)
        .collect();
    let input = input.to_string();
    let out: Output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idem"))
            .args(&args)
            .env_remove("IDEM_BOOTSTRAP")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn idem");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    Run {
        code: out.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(out.stdout).expect("utf8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf8 stderr"),
    }
}

fn lines_of(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_topics_producers_round_trip() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let b = format!("-b {}", broker.addr);

    let r = idem(
        &format!("topics create {b} events -p 3 -c retention.ms=86400000"),
        &[],
        "",
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "created topic events\n"),
        "{}",
        r.stderr
    );

    // A second create fails with Kafka's code name, one line, exit 1.
    let r = idem(&format!("topics create {b} events -p 3"), &[], "").await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("idem: ") && r.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    let r = idem(&format!("topics list {b}"), &[], "").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "events\n"), "{}", r.stderr);

    // Keyed lines; the report says where each one went.
    let input: String = (0..30).map(|i| format!("k{}:v{i}\n", i % 4)).collect();
    let report = tmp.path().join("acks.jsonl");
    let cmd = format!(
        "produce {b} -t events -K : -H src=cli --report {}",
        report.display()
    );
    let r = idem(&cmd, &[], &input).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("produced 30 of 30 records to events"),
        "{}",
        r.stderr
    );
    let acks = lines_of(&report);
    assert_eq!(acks.len(), 30);
    let mut acked = HashMap::new();
    for (i, a) in acks.iter().enumerate() {
        assert_eq!(a["value"], format!("v{i}"));
        let at = (
            a["partition"].as_i64().expect("partition"),
            a["offset"].as_i64().expect("offset"),
        );
        acked.insert(at, format!("v{i}"));
    }
    assert_eq!(acked.len(), 30, "30 distinct positions");

    // Every record is where the report says; a key stays on one partition, in order.
    let r = idem(
        &format!("consume {b} -t events -f"),
        &["%p %k %s %h %o\\n"],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 30, "{}", r.stdout);
    let mut partition_of = HashMap::new();
    let mut last_value = HashMap::new();
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[3], "src=cli");
        let at: (i64, i64) = (f[0].parse().expect("p"), f[4].parse().expect("o"));
        assert_eq!(
            acked.get(&at).map(String::as_str),
            Some(f[2]),
            "reported offset of {line}"
        );
        assert_eq!(
            *partition_of.entry(f[1]).or_insert(f[0]),
            f[0],
            "key {} moved",
            f[1]
        );
        let n: u32 = f[2][1..].parse().expect("value number");
        if let Some(prev) = last_value.insert(f[1], n) {
            assert!(n > prev, "key {} out of order: {prev} then {n}", f[1]);
        }
    }
    assert_eq!(partition_of.len(), 4);

    // --count stops early; --from an offset on one partition.
    let r = idem(&format!("consume {b} -t events -c 5 -f %o\\n"), &[], "").await;
    assert_eq!((r.code, r.stdout.lines().count()), (0, 5), "{}", r.stderr);
    let p = partition_of["k0"];
    let r = idem(
        &format!("consume {b} -t events -p {p} -o 2 -f %o,"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("2,3,"), "{}", r.stdout);

    // The dedupe state: one idempotent producer on each partition it wrote, and (idem's
    // extension column) the last offset it wrote there.
    let r = idem(&format!("producers {b} events"), &[], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert!(!rows.is_empty() && rows.len() <= 3, "{}", r.stdout);
    let pids: HashSet<&str> = rows
        .iter()
        .map(|l| l.split_whitespace().nth(1).expect("pid"))
        .collect();
    assert_eq!(pids.len(), 1, "one producer id: {}", r.stdout);
    for row in &rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        let p: i64 = f[0].parse().expect("partition");
        let last = acked.keys().filter(|(q, _)| *q == p).map(|(_, o)| *o).max();
        assert_eq!(
            Some(f[5].parse::<i64>().expect("last offset")),
            last,
            "{row}"
        );
    }

    let r = idem(&format!("topics describe {b} events"), &[], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("partitions 3") && r.stdout.contains("retention.ms=86400000"),
        "{}",
        r.stdout
    );
    let total: i64 = r
        .stdout
        .lines()
        .filter_map(|l| l.split("offsets ").nth(1))
        .map(|o| {
            let (s, e) = o.split_once("..").expect("range");
            e.parse::<i64>().expect("end") - s.parse::<i64>().expect("start")
        })
        .sum();
    assert_eq!(total, 30, "{}", r.stdout);

    let r = idem(&format!("topics delete {b} events"), &[], "").await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "deleted topic events\n"),
        "{}",
        r.stderr
    );
    let r = idem(&format!("topics describe {b} events"), &[], "").await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        r.stderr
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_records_are_reported_and_exit_1() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let b = format!("-b {}", broker.addr);
    let r = idem(
        &format!("topics create {b} small -p 1 -c max.message.bytes=200"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The second line alone is over the topic's limit: MESSAGE_TOO_LARGE for it, not the others.
    let input = format!("ok-1\n{}\nok-2\n", "x".repeat(400));
    let report = tmp.path().join("acks.jsonl");
    let cmd = format!("produce {b} -t small -X linger.ms=0 -X max.in.flight.requests.per.connection=1 --report {}", report.display());
    let r = idem(&cmd, &[], &input).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("produced 2 of 3 records"), "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .last()
            .expect("line")
            .starts_with("idem: 1 records were not delivered"),
        "{}",
        r.stderr
    );
    let acks = lines_of(&report);
    assert_eq!(acks.len(), 3);
    assert_eq!(
        (acks[0]["value"].as_str(), acks[0]["offset"].as_i64()),
        (Some("ok-1"), Some(0))
    );
    assert!(
        acks[1]["error"]
            .as_str()
            .expect("error")
            .contains("MESSAGE_TOO_LARGE"),
        "{}",
        acks[1]
    );
    assert_eq!(
        (acks[2]["value"].as_str(), acks[2]["offset"].as_i64()),
        (Some("ok-2"), Some(1))
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_json() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let b = format!("-b {}", broker.addr);
    let r = idem(
        &format!("bench produce {b} -n 3000 -s 50 --partitions 2 --json"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(
        (summary["records"].as_u64(), summary["errors"].as_u64()),
        (Some(3000), Some(0))
    );
    for key in [
        "records_per_sec",
        "mb_per_sec",
        "p50_ms",
        "p99_ms",
        "p999_ms",
    ] {
        assert!(
            summary[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {summary}"
        );
    }
    let r = idem(&format!("topics describe {b} idem-bench"), &[], "").await;
    assert!(r.stdout.contains("partitions 2"), "{}", r.stdout);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_fails_fast_with_one_line() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    for cmd in [
        "topics list -b 127.0.0.1:1",
        "produce -b 127.0.0.1:1 -t x",
        "consume -b 127.0.0.1:1 -t x",
        "producers -b 127.0.0.1:1 x",
        "bench produce -b 127.0.0.1:1 -n 10",
    ] {
        let r = idem(cmd, &[], "a line\n").await;
        assert_eq!(r.code, 1, "{cmd}: {}", r.stderr);
        assert!(r.stderr.starts_with("idem: "), "{cmd}: {}", r.stderr);
        assert!(
            r.stderr.contains("cannot connect to 127.0.0.1:1"),
            "{cmd}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{cmd}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    for cmd in [
        "consume",
        "topics frobnicate",
        "bench produce -n many",
        "bench",
    ] {
        let r = idem(cmd, &[], "").await;
        assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
        assert!(
            r.stderr.contains("Usage: idem") || r.stderr.starts_with("error: "),
            "{cmd}: {}",
            r.stderr
        );
    }
    let r = idem("produce -t x -X nonsense", &[], "").await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("expected NAME=VALUE"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_with_a_group_resumes_from_committed_offsets() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let b = format!("-b {}", broker.addr);
    let r = idem(&format!("topics create {b} orders -p 2"), &[], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = idem(
        &format!("produce {b} -t orders -K :"),
        &[],
        "a:1\nb:2\nc:3\nd:4\n",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The first member of group billing reads everything and commits.
    let r = idem(
        &format!("consume {b} -t orders -G billing"),
        &["-f", "%s\n"],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort();
    assert_eq!(got, vec!["1", "2", "3", "4"]);

    // The next run starts at the committed offsets: only what was produced since.
    let r = idem(&format!("produce {b} -t orders -K :"), &[], "e:5\n").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = idem(
        &format!("consume {b} -t orders -G billing"),
        &["-f", "%s\n"],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "5\n"), "{}", r.stderr);

    // A group and explicit partitions do not mix; a group only starts at beginning or end.
    let r = idem(&format!("consume {b} -t orders -G billing -p 0"), &[], "").await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = idem(&format!("consume {b} -t orders -G billing -o 3"), &[], "").await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    broker.shutdown().await.expect("shutdown");
}
