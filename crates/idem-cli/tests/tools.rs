//! The client commands of the `idem` binary against an in-process broker: what they print
//! and the exit codes scripts rely on (0 done, 1 failed with one `idem: ...` line, 2 usage).

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `idem ARGS` with `input` on standard input, off the async runtime's threads.
async fn idem(args: &[&str], input: &str) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
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

fn b(addr: SocketAddr) -> String {
    addr.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_topics_producers_round_trip() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let addr = b(broker.addr);

    let r = idem(
        &[
            "topics",
            "create",
            "-b",
            &addr,
            "events",
            "-p",
            "3",
            "-c",
            "retention.ms=86400000",
        ],
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
    let r = idem(&["topics", "create", "-b", &addr, "events", "-p", "3"], "").await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("idem: ") && r.stderr.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    let r = idem(&["topics", "list", "-b", &addr], "").await;
    assert_eq!((r.code, r.stdout.as_str()), (0, "events\n"), "{}", r.stderr);

    // Keyed lines: the same key always lands on the same partition, in order.
    let input: String = (0..30).map(|i| format!("k{}:v{i}\n", i % 4)).collect();
    let r = idem(
        &[
            "produce", "-b", &addr, "-t", "events", "-K", ":", "-H", "src=cli",
        ],
        &input,
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("produced 30 of 30 records to events"),
        "{}",
        r.stderr
    );

    let r = idem(
        &[
            "consume",
            "-b",
            &addr,
            "-t",
            "events",
            "-f",
            "%p %k %s %h\\n",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 30, "{}", r.stdout);
    let mut partition_of = std::collections::HashMap::new();
    let mut last_value = std::collections::HashMap::new();
    for line in &lines {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[3], "src=cli");
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
    let r = idem(
        &[
            "consume", "-b", &addr, "-t", "events", "-c", "5", "-f", "%o\\n",
        ],
        "",
    )
    .await;
    assert_eq!((r.code, r.stdout.lines().count()), (0, 5), "{}", r.stderr);
    let p = partition_of["k0"];
    let r = idem(
        &[
            "consume", "-b", &addr, "-t", "events", "-p", p, "-o", "2", "-f", "%o,",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("2,3,"), "{}", r.stdout);

    // The producer's dedupe state: one idempotent producer on each partition it wrote.
    let r = idem(&["producers", "-b", &addr, "events"], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert!(!rows.is_empty() && rows.len() <= 3, "{}", r.stdout);
    let pids: std::collections::HashSet<&str> = rows
        .iter()
        .map(|l| l.split_whitespace().nth(1).expect("pid"))
        .collect();
    assert_eq!(pids.len(), 1, "one producer id: {}", r.stdout);

    let r = idem(&["topics", "describe", "-b", &addr, "events"], "").await;
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

    let r = idem(&["topics", "delete", "-b", &addr, "events"], "").await;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "deleted topic events\n"),
        "{}",
        r.stderr
    );
    let r = idem(&["topics", "describe", "-b", &addr, "events"], "").await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        r.stderr
    );
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_reports_json() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = idem_test_support::start(tmp.path()).await;
    let addr = b(broker.addr);
    let r = idem(
        &[
            "bench",
            "-b",
            &addr,
            "-n",
            "3000",
            "-s",
            "50",
            "--partitions",
            "2",
            "--json",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.trim();
    assert!(
        line.starts_with("{\"records\":3000,\"errors\":0,"),
        "{line}"
    );
    for key in [
        "records_per_sec",
        "mb_per_sec",
        "p50_ms",
        "p99_ms",
        "p999_ms",
    ] {
        assert!(line.contains(&format!("\"{key}\":")), "{line}");
    }
    let r = idem(&["topics", "describe", "-b", &addr, "idem-bench"], "").await;
    assert!(r.stdout.contains("partitions 2"), "{}", r.stdout);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_fails_fast_with_one_line() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    for args in [
        &["topics", "list", "-b", "127.0.0.1:1"][..],
        &["produce", "-b", "127.0.0.1:1", "-t", "x"][..],
        &["consume", "-b", "127.0.0.1:1", "-t", "x"][..],
        &["producers", "-b", "127.0.0.1:1", "x"][..],
    ] {
        let r = idem(args, "a line\n").await;
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("idem: "), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("cannot connect to 127.0.0.1:1"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    for args in [
        &["consume"][..],
        &["topics", "frobnicate"][..],
        &["bench", "-n", "many"][..],
    ] {
        let r = idem(args, "").await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
    }
    let r = idem(&["produce", "-t", "x", "-X", "nonsense"], "").await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("expected NAME=VALUE"), "{}", r.stderr);
}
