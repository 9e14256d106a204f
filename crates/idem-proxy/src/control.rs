//! The HTTP control port: `GET /stats`, `GET /rules`, `PUT /rules` (one rule per line;
//! replaces the rules), `POST /rules` (appends one rule). JSON answers. One request per
//! connection; request heads above 8 KiB and bodies above 64 KiB are refused. Only Host
//! values that name the port (its address, localhost) are answered, and writes only from
//! its own origin or from non-browser clients: a web page the user visits must not change
//! the fault rules, nor a DNS-rebound one read them (see idem-http-guard).

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::rules::Rule;
use crate::Shared;

const MAX_HEAD: usize = 8 * 1024;
const MAX_BODY: usize = 64 * 1024;

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("control listener has no local address, not serving: {e}");
            return;
        }
    };
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = handle(stream, &shared, bound).await;
        });
    }
}

#[derive(Serialize)]
struct RuleView {
    rule: String,
    matched: u64,
    applied: u64,
}

async fn handle(mut stream: TcpStream, shared: &Shared, bound: SocketAddr) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return respond(
                &mut stream,
                431,
                JSON,
                "{\"error\":\"request head too large\"}",
            )
            .await;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return respond(&mut stream, 413, JSON, "{\"error\":\"body too large\"}").await;
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    // Checked with the whole request read: closing on unread bytes would reset the
    // connection and the client might never see the refusal.
    if let Err(refusal) = idem_http_guard::check_request(&head, bound) {
        return respond(&mut stream, refusal.status(), "text/plain", &refusal.body()).await;
    }
    let body = String::from_utf8_lossy(&body).to_string();
    match (method.as_str(), path.as_str()) {
        ("GET", "/stats") => {
            let json = serde_json::to_string(&shared.stats.snapshot()).unwrap_or_default();
            respond(&mut stream, 200, JSON, &json).await
        }
        ("GET", "/rules") => {
            let rules = shared
                .rules
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let view: Vec<RuleView> = rules
                .iter()
                .map(|r| RuleView {
                    rule: r.text.clone(),
                    matched: r.matched,
                    applied: r.applied,
                })
                .collect();
            respond(
                &mut stream,
                200,
                JSON,
                &serde_json::to_string(&view).unwrap_or_default(),
            )
            .await
        }
        ("PUT", "/rules") | ("POST", "/rules") => {
            let parsed: Result<Vec<Rule>, _> = body
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(Rule::parse)
                .collect();
            match parsed {
                Err(e) => {
                    let json = serde_json::json!({ "error": e.to_string() }).to_string();
                    respond(&mut stream, 400, JSON, &json).await
                }
                Ok(new) => {
                    let count = new.len();
                    {
                        let mut rules = shared.rules.lock().unwrap_or_else(|p| p.into_inner());
                        if method == "PUT" {
                            *rules = new;
                        } else {
                            rules.extend(new);
                        }
                    }
                    tracing::info!(
                        count,
                        "proxy rules {}",
                        if method == "PUT" { "replaced" } else { "added" }
                    );
                    respond(&mut stream, 200, JSON, &format!("{{\"rules\":{count}}}")).await
                }
            }
        }
        _ => {
            respond(
                &mut stream,
                404,
                JSON,
                "{\"error\":\"GET /stats, GET /rules, PUT /rules, POST /rules\"}",
            )
            .await
        }
    }
}

const JSON: &str = "application/json";

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
