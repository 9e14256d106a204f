//! The broker's HTTP side port (`idem.http.listener`): `GET /metrics` in Prometheus text
//! format. One request per connection, a bounded request head, a deadline per connection:
//! it is for scrapers and tools on a trusted network, and must never cost the broker more
//! than it costs them. It answers only Host values that name it (its address, localhost):
//! a DNS-rebound page must not read the metrics or the producer state (see idem-http-guard).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::broker::Broker;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// A connection gets this long to send its request and take the answer.
const DEADLINE: Duration = Duration::from_secs(10);

/// Serves until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("http listener has no local address, not serving: {e}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let broker = Arc::clone(&broker);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(DEADLINE, handle(stream, &broker, bound)).await;
        });
    }
}

async fn handle(mut stream: TcpStream, broker: &Broker, bound: SocketAddr) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > MAX_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "request head too large\n",
            )
            .await;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    if let Err(refusal) = idem_http_guard::check_request(&head, bound) {
        return respond(
            &mut stream,
            refusal.status_line(),
            "text/plain",
            &refusal.body(),
        )
        .await;
    }
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match (method, path.split('?').next().unwrap_or_default()) {
        ("GET", "/metrics") => {
            let body = render(broker);
            respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
            .await
        }
        ("GET", "/") => {
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                INSPECTOR_HTML,
            )
            .await
        }
        ("GET", "/api/topics") => {
            let body = serde_json::to_string(&crate::inspect::topics(broker)).unwrap_or_default();
            respond(&mut stream, "200 OK", "application/json", &body).await
        }
        ("GET", "/api/state") => {
            let topic = query_param(path, "topic").unwrap_or_default();
            match crate::inspect::topic(broker, &topic, 20) {
                Some(view) => {
                    let body = serde_json::to_string(&view).unwrap_or_default();
                    respond(&mut stream, "200 OK", "application/json", &body).await
                }
                None => {
                    respond(
                        &mut stream,
                        "404 Not Found",
                        "application/json",
                        "{\"error\":\"no such topic\"}",
                    )
                    .await
                }
            }
        }
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET only\n",
            )
            .await
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The read-only producer-state inspector: one page, no external assets.
const INSPECTOR_HTML: &str = include_str!("../assets/inspector.html");

/// A query parameter, percent-decoded (`+` is a space).
pub fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Kafka error code by Kafka's name (`OUT_OF_ORDER_SEQUENCE_NUMBER`), `UNKNOWN` if none.
pub fn error_name(code: i16) -> String {
    kafka_protocol::error::ResponseError::try_from_code(code)
        .map_or_else(|| "UNKNOWN".to_string(), |e| screaming(&format!("{e:?}")))
}

/// `OutOfOrderSequenceNumber` → `OUT_OF_ORDER_SEQUENCE_NUMBER`, Kafka's spelling.
fn screaming(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Label values escaped as the text format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics in Prometheus text exposition format 0.0.4.
pub fn render(broker: &Broker) -> String {
    let m = broker.metrics();
    let mut out = String::with_capacity(4096);
    let counters: [(&str, &str, u64); 15] = [
        (
            "idem_batches_appended_total",
            "Record batches appended to partition logs.",
            m.batches_appended.get(),
        ),
        (
            "idem_records_appended_total",
            "Records appended to partition logs.",
            m.records_appended.get(),
        ),
        (
            "idem_bytes_appended_total",
            "Bytes of record batches appended.",
            m.bytes_appended.get(),
        ),
        (
            "idem_duplicates_total",
            "Retried batches answered with their original offsets, nothing written (dedupe hits).",
            m.duplicates.get(),
        ),
        (
            "idem_duplicate_payload_mismatches_total",
            "Batches refused with INVALID_RECORD: the sequence range of a stored batch with other records.",
            m.duplicate_payload_mismatches.get(),
        ),
        (
            "idem_duplicate_restamped_total",
            "Duplicates that differed from the stored batch only in timestamps (answered as duplicates).",
            m.duplicate_restamped.get(),
        ),
        (
            "idem_out_of_order_total",
            "Batches refused with OUT_OF_ORDER_SEQUENCE_NUMBER.",
            m.out_of_order.get(),
        ),
        (
            "idem_fenced_epochs_total",
            "Batches refused with INVALID_PRODUCER_EPOCH.",
            m.fenced_epochs.get(),
        ),
        (
            "idem_invalid_batches_total",
            "Batches refused by validation.",
            m.invalid_batches.get(),
        ),
        (
            "idem_producer_ids_allocated_total",
            "Producer ids handed out.",
            m.producer_ids_allocated.get(),
        ),
        (
            "idem_producers_expired_total",
            "Producers forgotten by expiry.",
            m.producers_expired.get(),
        ),
        (
            "idem_fsyncs_total",
            "fdatasync calls on the produce path.",
            m.fsyncs.get(),
        ),
        (
            "idem_connections_accepted_total",
            "Kafka connections accepted.",
            m.connections_accepted.get(),
        ),
        (
            "idem_connections_refused_total",
            "Kafka connections closed for a protocol error.",
            m.connections_refused.get(),
        ),
        (
            "idem_requests_total",
            "Kafka requests handled.",
            m.requests.get(),
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP idem_requests_by_api_total Kafka requests handled, by API.\n# TYPE idem_requests_by_api_total counter"
    );
    for (key, c) in m.requests_by_api.0.iter().enumerate() {
        let n = c.get();
        if n > 0 {
            let name = i16::try_from(key)
                .ok()
                .and_then(|k| kafka_protocol::messages::ApiKey::try_from(k).ok())
                .map_or_else(|| key.to_string(), |k| format!("{k:?}"));
            let _ = writeln!(out, "idem_requests_by_api_total{{api=\"{name}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP idem_errors_total Error codes answered, by API and code (per partition for Produce, Fetch, ListOffsets, DeleteRecords; per topic for Metadata and topic administration).\n# TYPE idem_errors_total counter"
    );
    let errors = m.errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for ((api, code), n) in errors {
        let api_name = kafka_protocol::messages::ApiKey::try_from(api)
            .map_or_else(|_| api.to_string(), |k| format!("{k:?}"));
        let error = error_name(code);
        let _ = writeln!(
            out,
            "idem_errors_total{{api=\"{api_name}\",code=\"{code}\",error=\"{}\"}} {n}",
            label(&error)
        );
    }
    let (buckets, sum_us) = m.fsync_latency.snapshot();
    let _ = writeln!(
        out,
        "# HELP idem_fsync_duration_seconds fdatasync latency on the produce path.\n# TYPE idem_fsync_duration_seconds histogram"
    );
    for (i, count) in buckets.iter().enumerate() {
        let le = crate::metrics::FSYNC_BUCKETS_US
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |us| format!("{}", *us as f64 / 1e6));
        let _ = writeln!(
            out,
            "idem_fsync_duration_seconds_bucket{{le=\"{le}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "idem_fsync_duration_seconds_sum {}\nidem_fsync_duration_seconds_count {}",
        sum_us as f64 / 1e6,
        buckets.last().copied().unwrap_or(0)
    );
    let topics = broker.topics();
    let gauges: [(&str, &str); 3] = [
        (
            "idem_log_end_offset",
            "Next offset to be written, per partition.",
        ),
        (
            "idem_high_watermark",
            "Offset up to which records are durable and readable, per partition.",
        ),
        (
            "idem_active_producers",
            "Producer ids whose dedupe state a partition keeps.",
        ),
    ];
    for (i, (name, help)) in gauges.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for t in &topics {
            for p in &t.partitions {
                let value = match i {
                    0 => p.offsets().1,
                    1 => p.watermark().high,
                    _ => p.producers().len() as i64,
                };
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",partition=\"{}\"}} {value}",
                    label(&t.name),
                    p.index()
                );
            }
        }
    }
    m.render_response_memory(&mut out);
    out
}
