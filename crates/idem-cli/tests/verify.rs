//! `idem verify`, end to end and short: a run with kill -9 restarts and lost responses must
//! find no anomaly, and the self-test (dedupe switched off in the broker) must find
//! duplicates. The long runs are in `.ci/run` and RELIABILITY.md.

use std::process::Command;

fn verify(out: &std::path::Path, extra: &[&str]) -> (i32, String, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_idem"))
        .arg("verify")
        .arg("--out")
        .arg(out)
        .args(["--log", "warn", "--rate", "800", "--partitions", "3"])
        .args(["--producers", "2", "--drop", "0.1"])
        .args(extra)
        .output()
        .expect("run idem verify");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = std::fs::read_to_string(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("summary.json: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    (
        output.status.code().expect("exited by a signal"),
        stdout,
        serde_json::from_str(&summary).expect("summary is JSON"),
    )
}

#[test]
fn kill_9_and_lost_responses_lose_and_duplicate_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("run");
    let (code, stdout, s) = verify(
        &out,
        &[
            "--kills",
            "2",
            "--kill-min-ms",
            "1500",
            "--kill-max-ms",
            "2500",
            "--require-acked",
            "1000",
            "--require-forced-retries",
            "10",
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(s["kills"], 2, "{s}");
    assert_eq!(s["anomalies"]["lost"], 0, "{s}");
    assert_eq!(s["anomalies"]["duplicated"], 0, "{s}");
    let acked = s["totals"]["acked"].as_u64().expect("acked");
    assert_eq!(s["totals"]["stored"].as_u64(), Some(acked), "{s}");
    assert!(
        s["dedupe_hits"].as_u64().expect("dedupe hits") > 0,
        "lost responses force retries the broker answers from its window: {s}"
    );
    // Every value has a line in the history, and so do the kills.
    let history = std::fs::read_to_string(out.join("history.jsonl")).expect("history");
    let writes = history.lines().filter(|l| l.contains("\"write\"")).count();
    let kills = history.lines().filter(|l| l.contains("\"kill\"")).count();
    assert_eq!(
        (writes as u64, kills),
        (s["totals"]["attempted"].as_u64().expect("n"), 2)
    );
    assert!(stdout.contains("exactly once"), "{stdout}");
}

#[test]
fn the_self_test_finds_duplicates_when_dedupe_is_off() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("self");
    let (code, stdout, s) = verify(&out, &["--self-test", "--kills", "0", "--duration", "4s"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        s["anomalies"]["duplicated"].as_u64().expect("duplicated") > 0,
        "{s}"
    );
    assert!(stdout.contains("self-test passed"), "{stdout}");

    // The same run without the self-test flag judges the same anomalies a failure.
    let out = tmp.path().join("unsafe");
    let (code, _, s) = verify(
        &out,
        &[
            "--set",
            "idem.unsafe.disable.dedupe=true",
            "--kills",
            "0",
            "--duration",
            "4s",
        ],
    );
    assert_eq!(code, 1, "{s}");
}

#[test]
fn a_run_refuses_a_data_directory_that_holds_data() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("run");
    std::fs::create_dir_all(out.join("data/x")).expect("mkdir");
    let output = Command::new(env!("CARGO_BIN_EXE_idem"))
        .args(["verify", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not empty"), "{stderr}");
}
