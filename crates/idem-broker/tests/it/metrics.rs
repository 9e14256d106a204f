//! `GET /metrics` on `idem.http.listener`: Prometheus text that a parser accepts, with the
//! counters and per-partition gauges the produce path moved.

use std::collections::HashMap;

use idem_test_support::{batch, Raw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{config, start_with};

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("head and body");
    (head.to_string(), body.to_string())
}

/// Parses the text exposition format strictly enough to catch malformed output: every sample
/// belongs to a metric declared by `# HELP` and `# TYPE` lines before it, names and labels are
/// well formed, values are numbers.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split_whitespace().next().expect("help name");
            assert!(valid_name(name), "{line}");
            helped.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (
                parts.next().expect("type name"),
                parts.next().expect("kind"),
            );
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            declared.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        if line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let name = series.split('{').next().expect("name");
        assert!(valid_name(name), "{line}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .expect("braced labels");
                for pair in inner.split("\",") {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    assert!(valid_name(k), "{line}");
                    assert!(!v.trim_end_matches('"').contains('"'), "{line}");
                }
            }
        }
        // A histogram's samples are NAME_bucket, NAME_sum and NAME_count.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| declared.get(*base).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            declared.contains_key(family),
            "sample before its TYPE: {line}"
        );
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "repeated series {series}"
        );
    }
    samples
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_what_happened() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.http_listener = Some("127.0.0.1:0".into());
    let broker = start_with(c).await;
    let http = broker.http_addr.expect("http bound");
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("m.t-1", 2, &[]).await, 0);
    let (_, pid, epoch) = raw.init_producer_id(4).await;
    let b = batch::idempotent(pid, epoch, 0, 3);
    assert_eq!(raw.produce("m.t-1", 1, b.clone()).await.error_code, 0);
    // The retry: a dedupe hit.
    assert_eq!(raw.produce("m.t-1", 1, b).await.error_code, 0);
    // A gap: out of order.
    let gap = batch::idempotent(pid, epoch, 10, 1);
    assert_eq!(raw.produce("m.t-1", 1, gap).await.error_code, 45);

    let _ = raw.create_topic("m.t-1", 2, &[]).await; // TOPIC_ALREADY_EXISTS, under CreateTopics
    let (head, body) = get(http, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let m = parse(&body);
    assert_eq!(m["idem_duplicates_total"], 1.0, "{body}");
    assert_eq!(m["idem_out_of_order_total"], 1.0);
    assert_eq!(m["idem_records_appended_total"], 3.0);
    assert_eq!(m["idem_batches_appended_total"], 1.0);
    assert!(m["idem_fsyncs_total"] >= 1.0);
    assert_eq!(
        m["idem_log_end_offset{topic=\"m.t-1\",partition=\"1\"}"], 3.0,
        "{body}"
    );
    assert_eq!(
        m["idem_high_watermark{topic=\"m.t-1\",partition=\"1\"}"],
        3.0
    );
    assert_eq!(
        m["idem_log_end_offset{topic=\"m.t-1\",partition=\"0\"}"],
        0.0
    );
    assert_eq!(
        m["idem_active_producers{topic=\"m.t-1\",partition=\"1\"}"],
        1.0
    );

    assert_eq!(
        m["idem_requests_by_api_total{api=\"Produce\"}"], 3.0,
        "{body}"
    );
    assert_eq!(m["idem_requests_by_api_total{api=\"InitProducerId\"}"], 1.0);
    assert_eq!(
        m["idem_errors_total{api=\"CreateTopics\",code=\"36\",error=\"TOPIC_ALREADY_EXISTS\"}"],
        1.0,
        "{body}"
    );
    assert_eq!(
        m["idem_errors_total{api=\"Produce\",code=\"45\",error=\"OUT_OF_ORDER_SEQUENCE_NUMBER\"}"],
        1.0,
        "{body}"
    );
    // The fsync histogram: cumulative buckets, +Inf equal to the count.
    let count = m["idem_fsync_duration_seconds_count"];
    assert!(count >= 1.0, "{body}");
    assert_eq!(m["idem_fsync_duration_seconds_bucket{le=\"+Inf\"}"], count);
    let buckets: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with("idem_fsync_duration_seconds_bucket"))
        .map(|l| {
            l.rsplit_once(' ')
                .expect("value")
                .1
                .parse()
                .expect("number")
        })
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(m["idem_fsync_duration_seconds_sum"] > 0.0);

    // The inspector's JSON: the dedupe window and the records, as the broker holds them.
    let (head, body) = get(http, "/api/topics").await;
    assert!(head.contains("application/json"), "{head}");
    assert_eq!(body, "[\"m.t-1\"]");
    let (_, body) = get(http, "/api/state?topic=m.t-1").await;
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let p1 = &v["partitions"][1];
    assert_eq!(p1["log_end_offset"], 3, "{body}");
    assert_eq!(p1["producers"][0]["producer_id"], pid);
    assert_eq!(p1["producers"][0]["last_seq"], 2);
    assert_eq!(p1["producers"][0]["batches"][0]["first_offset"], 0);
    assert_eq!(p1["producers"][0]["batches"][0]["last_offset"], 2);
    let records = p1["records"].as_array().expect("records");
    assert_eq!(records.len(), 3, "{body}");
    assert_eq!(records[2]["offset"], 2);
    assert_eq!(records[2]["sequence"], 2);
    assert_eq!(records[2]["value"], format!("p{pid}e{epoch}s0-2"));
    assert_eq!(
        v["partitions"][0]["records"].as_array().map(Vec::len),
        Some(0)
    );
    let (head, _) = get(http, "/api/state?topic=nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, body) = get(http, "/").await;
    assert!(head.contains("text/html"), "{head}");
    assert!(body.contains("producer-state inspector"));

    let (head, _) = get(http, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    // A request head that never ends is cut off at 8 KiB.
    let mut s = tokio::net::TcpStream::connect(http).await.expect("connect");
    let junk = vec![b'a'; 16 * 1024];
    let _ = s.write_all(&junk).await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    broker.shutdown().await.expect("shutdown");
}

/// One request with exactly these header lines; the head of the answer.
async fn get_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// DNS rebinding: a page whose name resolves to the broker's address can read the metrics and
/// the producer state only if the port answers any Host. It answers its own address and
/// localhost only; scrapers and tools that name the port by its address go on.
#[tokio::test]
async fn the_http_port_refuses_rebound_host_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.http_listener = Some("127.0.0.1:0".into());
    let broker = start_with(c).await;
    let http = broker.http_addr.expect("http bound");
    let rebind = format!("Host: rebind.evil.example:{}", http.port());
    for path in ["/metrics", "/", "/api/topics", "/api/state?topic=x"] {
        for h in ["Host: rebind.evil.example", rebind.as_str()] {
            let out = get_with(http, "GET", path, &[h]).await;
            assert!(out.starts_with("HTTP/1.1 403"), "{path} {h}: {out}");
            assert!(!out.contains("idem_"), "{out}");
        }
    }
    let out = get_with(
        http,
        "POST",
        "/metrics",
        &["Host: 127.0.0.1", "Origin: http://evil.example"],
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(get_with(http, "GET", "/metrics", &[])
        .await
        .starts_with("HTTP/1.1 400"));

    let own = format!("Host: {http}");
    let lh = format!("Host: localhost:{}", http.port());
    let origin = format!("Origin: http://{http}");
    for headers in [
        vec![own.as_str()],
        vec![lh.as_str()],
        vec!["Host: 127.0.0.1"],
        vec![own.as_str(), origin.as_str()],
    ] {
        let out = get_with(http, "GET", "/metrics", &headers).await;
        assert!(out.starts_with("HTTP/1.1 200"), "{headers:?}: {out}");
        assert!(out.contains("idem_requests_total"), "{out}");
    }
    broker.shutdown().await.expect("shutdown");
}
