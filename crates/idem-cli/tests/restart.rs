//! The `idem` binary as a child process: batches appended but never acknowledged survive a
//! clean stop (SIGTERM) and a crash (SIGKILL); their retries after the restart get their
//! original offsets and write nothing.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idem_test_support::{batch, Raw};
use kafka_protocol::messages::ApiKey;

struct Idem {
    child: Child,
    addr: SocketAddr,
}

/// Starts `idem serve` on an ephemeral port and reads the bound address from its log.
fn spawn(dir: &Path, policy: &str) -> Idem {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idem"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "info", "--set"])
        .arg(format!("log.flush.policy={policy}"))
        .arg("--data-dir")
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
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.trim().parse().expect("address");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Idem { child, addr }
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

async fn window_survives(signal: &str, policy: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let idem = spawn(tmp.path(), policy);
    let mut raw = Raw::connect(idem.addr).await;
    assert_eq!(raw.create_topic("t", 1, &[]).await, 0);
    let (_, pid, _) = raw.init_producer_id(4).await;
    // Five batches, pipelined; their acknowledgements are never read.
    let mut sender = Raw::connect(idem.addr).await;
    for i in 0..5 {
        let req = Raw::produce_request("t", 0, Some(batch::idempotent(pid, 0, i, 1)), -1);
        sender.send(ApiKey::Produce, 9, &req).await;
    }
    // Appended (and, under `always`, synced) once consumers can see them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while raw.end_offset("t", 0).await < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "batches never appended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = stop(idem, signal);
    if signal == "TERM" {
        assert_eq!(status.code(), Some(0), "SIGTERM exits 0");
    }
    drop((raw, sender));

    let idem = spawn(tmp.path(), policy);
    let mut raw = Raw::connect(idem.addr).await;
    for i in (0..5).rev().chain(0..5) {
        let r = raw.produce("t", 0, batch::idempotent(pid, 0, i, 1)).await;
        assert_eq!(
            (r.error_code, r.base_offset),
            (0, i64::from(i)),
            "{signal}/{policy}: retry of batch {i}"
        );
    }
    assert_eq!(
        raw.end_offset("t", 0).await,
        5,
        "{signal}/{policy}: nothing new written"
    );
    let next = raw.produce("t", 0, batch::idempotent(pid, 0, 5, 1)).await;
    assert_eq!((next.error_code, next.base_offset), (0, 5));
    stop(idem, "KILL");
}

#[tokio::test]
async fn unacknowledged_window_survives_sigkill_with_fsync() {
    window_survives("KILL", "always").await;
}

#[tokio::test]
async fn unacknowledged_window_survives_sigkill_without_fsync() {
    window_survives("KILL", "never").await;
}

#[tokio::test]
async fn unacknowledged_window_survives_sigterm() {
    window_survives("TERM", "always").await;
}
