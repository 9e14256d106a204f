//! Cross-site requests and DNS rebinding against the demo's web server: a page on another
//! origin must not drive the demo (a "simple" POST needs no CORS preflight, so the server
//! itself must refuse it), and a request whose Host is a DNS name other than localhost is
//! refused, so a rebound name cannot read the state either. Same-origin use goes on.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request with exactly these header lines; the status and the body of the answer.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let status = out.get(9..12).and_then(|s| s.parse().ok()).expect("status");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn state(addr: SocketAddr) -> Value {
    let host = format!("Host: {addr}");
    let (status, body) = raw(addr, "GET", "/api/state", &[&host], "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("state JSON")
}

fn values(s: &Value) -> Vec<String> {
    s["broker"]["partitions"][0]["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["value"].as_str().expect("value").to_string())
        .collect()
}

fn crashes(s: &Value) -> usize {
    s["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "crash")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let running = idem_demo::start("127.0.0.1:0", Duration::ZERO)
        .await
        .expect("demo starts");
    let addr = running.addr;
    let host = format!("Host: {addr}");
    let evil = "Origin: http://evil.example";
    let text = "Content-Type: text/plain";
    let json = "Content-Type: application/json";

    // What any web page can send without a preflight: text/plain, its own Origin.
    let (status, body) = raw(
        addr,
        "POST",
        "/api/idempotence",
        &[&host, evil, text],
        r#"{"on":false}"#,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = raw(
        addr,
        "POST",
        "/api/send",
        &[&host, evil, text],
        r#"{"message":"X","partition":0}"#,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = raw(addr, "POST", "/api/crash-broker", &[&host, evil, text], "").await;
    assert_eq!(status, 403);
    // A preflighted JSON POST from another origin, too (in case a browser lets it through).
    let (status, _) = raw(
        addr,
        "POST",
        "/api/send",
        &[&host, evil, json],
        r#"{"message":"X","partition":0}"#,
    )
    .await;
    assert_eq!(status, 403);
    // Another port on the same machine is another origin; `null` is a sandboxed or file page.
    let other_port = format!("Origin: http://127.0.0.1:{}", addr.port().wrapping_add(1));
    for origin in [
        other_port.as_str(),
        "Origin: null",
        "Origin: https://127.0.0.1",
    ] {
        let (status, _) = raw(
            addr,
            "POST",
            "/api/send",
            &[&host, origin, json],
            r#"{"message":"X","partition":0}"#,
        )
        .await;
        assert_eq!(status, 403, "{origin}");
    }
    // No Origin, but the browser says cross-site.
    let (status, _) = raw(
        addr,
        "POST",
        "/api/send",
        &[&host, "Sec-Fetch-Site: cross-site", json],
        r#"{"message":"X","partition":0}"#,
    )
    .await;
    assert_eq!(status, 403);
    // No Origin and text/plain (an old browser's simple request): not JSON, refused.
    let (status, _) = raw(
        addr,
        "POST",
        "/api/idempotence",
        &[&host, text],
        r#"{"on":false}"#,
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = raw(addr, "POST", "/api/crash-broker", &[&host], "").await;
    assert_eq!(status, 415);

    let s = state(addr).await;
    assert_eq!(
        s["producer"]["idempotence"], true,
        "idempotence is still on: {s}"
    );
    assert_eq!(values(&s), Vec::<String>::new(), "no record was sent: {s}");
    assert_eq!(crashes(&s), 0, "the broker was not crashed: {s}");
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_host_names_are_refused() {
    let running = idem_demo::start("127.0.0.1:0", Duration::ZERO)
        .await
        .expect("demo starts");
    let addr = running.addr;
    let rebind = format!("Host: rebind.evil.example:{}", addr.port());
    for path in ["/", "/app.js", "/api/state", "/events"] {
        let (status, body) = raw(addr, "GET", path, &["Host: rebind.evil.example"], "").await;
        assert_eq!(status, 403, "{path}: {body}");
        let (status, _) = raw(addr, "GET", path, &[&rebind], "").await;
        assert_eq!(status, 403, "{path}");
    }
    // The page's own POST, but through a rebound name: same-origin for the browser.
    let origin = format!("Origin: http://rebind.evil.example:{}", addr.port());
    let (status, _) = raw(
        addr,
        "POST",
        "/api/idempotence",
        &[&rebind, &origin, "Content-Type: application/json"],
        r#"{"on":false}"#,
    )
    .await;
    assert_eq!(status, 403);
    // Another IP than the bound one, and a Host with the wrong port.
    let wrong_port = format!("Host: 127.0.0.1:{}", addr.port().wrapping_add(1));
    for h in [
        "Host: 10.0.0.1",
        wrong_port.as_str(),
        "Host: localhost.evil.example",
    ] {
        assert_eq!(raw(addr, "GET", "/api/state", &[h], "").await.0, 403, "{h}");
    }
    // HTTP/1.1 without Host is malformed.
    assert_eq!(raw(addr, "GET", "/api/state", &[], "").await.0, 400);
    assert_eq!(state(addr).await["producer"]["idempotence"], true);
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_origin_and_non_browser_clients_still_work() {
    let running = idem_demo::start("127.0.0.1:0", Duration::ZERO)
        .await
        .expect("demo starts");
    let addr = running.addr;
    let port = addr.port();
    let host = format!("Host: {addr}");
    let own = format!("Origin: http://{addr}");
    let json = "Content-Type: application/json";
    // The page's own fetch: Origin is the page's origin.
    let (status, body) = raw(
        addr,
        "POST",
        "/api/send",
        &[&host, &own, json, "Sec-Fetch-Site: same-origin"],
        r#"{"message":"A","partition":0}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // curl and the tests: no Origin at all; a charset parameter is fine.
    let (status, body) = raw(
        addr,
        "POST",
        "/api/send",
        &[&host, "Content-Type: application/json; charset=utf-8"],
        r#"{"message":"B","partition":0}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Opened as http://localhost:PORT/.
    let lh = format!("Host: localhost:{port}");
    let lh_origin = format!("Origin: http://localhost:{port}");
    let (status, body) = raw(
        addr,
        "POST",
        "/api/send",
        &[&lh, &lh_origin, json],
        r#"{"message":"C","partition":0}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for h in [
        lh.as_str(),
        "Host: localhost",
        "Host: 127.0.0.1",
        "Host: LOCALHOST",
    ] {
        assert_eq!(raw(addr, "GET", "/", &[h], "").await.0, 200, "{h}");
    }
    assert_eq!(values(&state(addr).await), ["A", "B", "C"]);
    running.stop().await.expect("stops");
}
