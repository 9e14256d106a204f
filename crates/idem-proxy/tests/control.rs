//! The control port over a real socket: a page on another origin cannot change the fault
//! rules (a text/plain POST needs no CORS preflight, so the port itself refuses it), a
//! rebound DNS name cannot read `/stats`, and same-origin and non-browser clients go on.

use std::net::SocketAddr;
use std::time::Duration;

use idem_proxy::{Proxy, ProxyConfig, Rule};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn proxy() -> Proxy {
    Proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".into(),
        // Never dialled: no client connects to the proxy in these tests.
        upstream: "127.0.0.1:9".into(),
        advertise: None,
        rules: vec![Rule::parse("fetch:delay:ms=1").expect("rule")],
        seed: 1,
        control: Some("127.0.0.1:0".into()),
    })
    .await
    .expect("proxy starts")
}

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

async fn rules(ctl: SocketAddr) -> Vec<String> {
    let host = format!("Host: {ctl}");
    let (status, body) = raw(ctl, "GET", "/rules", &[&host], "").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule").to_string())
        .collect()
}

#[tokio::test]
async fn cross_site_writes_are_refused_and_the_rules_stay() {
    let p = proxy().await;
    let ctl = p.control_addr.expect("control bound");
    let host = format!("Host: {ctl}");
    let evil = "Origin: http://evil.example";
    let text = "Content-Type: text/plain";
    for method in ["POST", "PUT"] {
        let (status, body) = raw(
            ctl,
            method,
            "/rules",
            &[&host, evil, text],
            "produce:drop-response",
        )
        .await;
        assert_eq!(status, 403, "{method}: {body}");
    }
    // No Origin, but the browser says another site sent it.
    let (status, _) = raw(
        ctl,
        "PUT",
        "/rules",
        &[&host, "Sec-Fetch-Site: cross-site"],
        "",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(rules(ctl).await, ["fetch:delay:ms=1"]);
    assert_eq!(p.rules().len(), 1);
}

#[tokio::test]
async fn rebinding_host_names_are_refused() {
    let p = proxy().await;
    let ctl = p.control_addr.expect("control bound");
    let rebind = format!("Host: rebind.evil.example:{}", ctl.port());
    for path in ["/stats", "/rules"] {
        for h in ["Host: rebind.evil.example", rebind.as_str()] {
            let (status, body) = raw(ctl, "GET", path, &[h], "").await;
            assert_eq!(status, 403, "{path} {h}: {body}");
            assert!(!body.contains("connections"), "{body}");
        }
    }
    // The rebound page's own same-origin POST.
    let origin = format!("Origin: http://rebind.evil.example:{}", ctl.port());
    let (status, _) = raw(ctl, "PUT", "/rules", &[&rebind, &origin], "").await;
    assert_eq!(status, 403);
    assert_eq!(raw(ctl, "GET", "/stats", &[], "").await.0, 400, "no Host");
    assert_eq!(rules(ctl).await, ["fetch:delay:ms=1"]);
}

#[tokio::test]
async fn same_origin_and_curl_still_work() {
    let p = proxy().await;
    let ctl = p.control_addr.expect("control bound");
    let host = format!("Host: {ctl}");
    let own = format!("Origin: http://{ctl}");
    // A page served by this port (its own origin).
    let (status, body) = raw(
        ctl,
        "POST",
        "/rules",
        &[&host, &own],
        "produce:drop-response:every=3",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // curl: no Origin, a form content type.
    let (status, body) = raw(
        ctl,
        "POST",
        "/rules",
        &[&host, "Content-Type: application/x-www-form-urlencoded"],
        "fetch:delay:ms=2",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let lh = format!("Host: localhost:{}", ctl.port());
    let (status, body) = raw(ctl, "GET", "/stats", &[&lh], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("connections"), "{body}");
    assert_eq!(
        rules(ctl).await,
        [
            "fetch:delay:ms=1",
            "produce:drop-response:every=3",
            "fetch:delay:ms=2"
        ]
    );
}
