//! The demo over HTTP, as the page uses it: the seed's story (send, lose the ack, retry →
//! duplicate with the original offset, one record), a gap, a crash that keeps the dedupe
//! window, idempotence off (the retry lands twice); the event stream; bad requests.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out[9..12].parse().expect("status");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn post(addr: std::net::SocketAddr, action: &str, body: &str) {
    let (status, answer) = http(addr, "POST", &format!("/api/{action}"), body).await;
    assert_eq!(status, 200, "{action}: {answer}");
}

async fn state(addr: std::net::SocketAddr) -> Value {
    let (status, body) = http(addr, "GET", "/api/state", "").await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).expect("state JSON")
}

fn kinds(s: &Value) -> Vec<String> {
    s["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_string())
        .collect()
}

fn last_text(s: &Value) -> String {
    s["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .expect("an entry")["text"]
        .as_str()
        .expect("text")
        .to_string()
}

fn values(s: &Value, partition: usize) -> Vec<String> {
    s["broker"]["partitions"][partition]["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["value"].as_str().expect("value").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_story_against_a_real_broker() {
    let running = idem_demo::start("127.0.0.1:0", Duration::ZERO)
        .await
        .expect("demo starts");
    let addr = running.addr;
    let dir = running.demo.data_dir().to_path_buf();
    assert!(dir.exists());

    // The page and its assets.
    let (status, page) = http(addr, "GET", "/", "").await;
    assert_eq!(status, 200);
    for id in [
        "send",
        "lose-ack",
        "retry",
        "skip",
        "restart-producer",
        "bump-epoch",
        "crash-broker",
        "reset",
        "idempotence",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert_eq!(http(addr, "GET", "/app.js", "").await.0, 200);
    assert_eq!(http(addr, "GET", "/style.css", "").await.0, 200);

    // The event stream: the state at once, then a new one after an action.
    let mut events = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    events
        .get_mut()
        .write_all(format!("GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut next_event = async || -> Value {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), events.read_line(&mut line))
                .await
                .expect("an event within 10 s")
                .expect("read");
            assert!(n > 0, "the stream ended");
            if let Some(json) = line.strip_prefix("data: ") {
                return serde_json::from_str(json).expect("event JSON");
            }
        }
    };
    let first = next_event().await;
    assert_eq!(kinds(&first), ["reset", "producer-restart"]);
    let pid = first["producer"]["producer_id"].as_i64().expect("pid");
    assert!(pid >= 0);

    // Send A: accepted at offset 0.
    post(addr, "send", r#"{"message":"A","partition":0}"#).await;
    let mut seen = next_event().await;
    while kinds(&seen).last().map(String::as_str) != Some("accepted") {
        seen = next_event().await;
    }
    assert_eq!(seen["broker"]["partitions"][0]["records"][0]["value"], "A");

    // Lose the ack of B: the broker appended it; the producer does not know.
    post(addr, "lose-ack", "").await;
    post(addr, "send", r#"{"message":"B","partition":0}"#).await;
    let s = state(addr).await;
    assert_eq!(kinds(&s).last().map(String::as_str), Some("lost"), "{s}");
    assert_eq!(values(&s, 0), ["A", "B"]);
    assert_eq!(
        s["packets"]
            .as_array()
            .and_then(|p| p.last())
            .expect("packet")["status"],
        "lost"
    );

    // Retry: the same batch; a duplicate, answered with offset 1; still one B.
    post(addr, "retry", "").await;
    let s = state(addr).await;
    assert_eq!(
        kinds(&s).last().map(String::as_str),
        Some("duplicate"),
        "{s}"
    );
    assert!(
        last_text(&s).contains("original offset 1"),
        "{}",
        last_text(&s)
    );
    assert_eq!(values(&s, 0), ["A", "B"]);

    // A gap: OUT_OF_ORDER_SEQUENCE_NUMBER, nothing written.
    post(addr, "skip", r#"{"message":"C","partition":0}"#).await;
    let s = state(addr).await;
    assert_eq!(kinds(&s).last().map(String::as_str), Some("out-of-order"));
    assert!(last_text(&s).contains("OUT_OF_ORDER_SEQUENCE_NUMBER"));
    assert_eq!(values(&s, 0), ["A", "B"]);

    // Crash and restart: the window is rebuilt; the retry is still a duplicate.
    let window_before = s["broker"]["partitions"][0]["producers"].clone();
    post(addr, "crash-broker", "").await;
    let s = state(addr).await;
    let k = kinds(&s);
    assert_eq!(&k[k.len() - 2..], ["crash", "restart"], "{s}");
    let window_after = &s["broker"]["partitions"][0]["producers"];
    assert_eq!(window_after[0]["last_seq"], window_before[0]["last_seq"]);
    assert_eq!(window_after[0]["batches"], window_before[0]["batches"]);
    post(addr, "retry", "").await;
    let s = state(addr).await;
    assert_eq!(
        kinds(&s).last().map(String::as_str),
        Some("duplicate"),
        "{s}"
    );
    assert_eq!(values(&s, 0), ["A", "B"]);

    // A bumped epoch starts at seq 0; the old epoch is fenced.
    post(addr, "bump-epoch", "").await;
    post(addr, "send", r#"{"message":"D","partition":0}"#).await;
    let s = state(addr).await;
    assert_eq!(kinds(&s).last().map(String::as_str), Some("accepted"));
    assert!(last_text(&s).contains("new epoch"), "{}", last_text(&s));
    post(addr, "retry", "").await; // D again: a duplicate in the new epoch
    assert_eq!(
        kinds(&state(addr).await).last().map(String::as_str),
        Some("duplicate")
    );

    // Start over with idempotence off: the lost-ack retry lands twice.
    post(addr, "reset", "").await;
    post(addr, "idempotence", r#"{"on":false}"#).await;
    post(addr, "lose-ack", "").await;
    post(addr, "send", r#"{"message":"C","partition":1}"#).await;
    post(addr, "retry", "").await;
    let s = state(addr).await;
    assert_eq!(
        kinds(&s).last().map(String::as_str),
        Some("appended-again"),
        "{s}"
    );
    assert_eq!(values(&s, 1), ["C", "C"]);
    assert_eq!(values(&s, 0), Vec::<String>::new(), "a fresh topic");

    // A new producer id.
    post(addr, "restart-producer", "").await;
    let s = state(addr).await;
    assert_ne!(s["producer"]["producer_id"].as_i64(), Some(pid));
    assert_eq!(s["producer"]["epoch"], 0);

    // Bad requests get 4xx, and the demo goes on.
    assert_eq!(http(addr, "POST", "/api/nope", "").await.0, 404);
    assert_eq!(http(addr, "POST", "/api/send", "{").await.0, 400);
    assert_eq!(
        http(addr, "POST", "/api/send", r#"{"message":"","partition":0}"#)
            .await
            .0,
        400
    );
    assert_eq!(
        http(
            addr,
            "POST",
            "/api/send",
            r#"{"message":"x","partition":7}"#
        )
        .await
        .0,
        400
    );
    let big = format!(r#"{{"message":"{}"}}"#, "x".repeat(5000));
    assert_eq!(http(addr, "POST", "/api/send", &big).await.0, 413);
    assert_eq!(http(addr, "GET", "/nope", "").await.0, 404);
    assert_eq!(http(addr, "PUT", "/", "").await.0, 405);
    post(addr, "send", r#"{"message":"still here","partition":0}"#).await;

    running.stop().await.expect("stops");
    assert!(!dir.exists(), "the temporary data is removed");
}
