//! The demo's web server: the page (embedded assets), `GET /api/state`, `GET /events`
//! (server-sent events: the whole state after every change) and `POST /api/<action>`.
//! HTTP/1.1, one request per connection, bounded heads and bodies: a local demo, but bad
//! input still gets a 4xx and never a panic.
//!
//! Only Host values that name this port (its address, localhost) are answered, so a
//! DNS-rebound page cannot read the state; a POST must come from the page's own origin (or a
//! non-browser client) and carry `Content-Type: application/json`, so no other web page can
//! drive the demo with a preflight-free "simple" request (see idem-http-guard).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::app::Demo;

const MAX_HEAD: usize = 8 * 1024;
const MAX_BODY: usize = 4 * 1024;
/// A request must arrive within this time (an event stream then stays open).
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// A comment line this often keeps idle event streams (and proxies) alive.
const KEEPALIVE: Duration = Duration::from_secs(15);

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

/// Serves until the listener's task is dropped.
pub async fn serve(listener: TcpListener, demo: Arc<Demo>) {
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("demo listener has no local address, not serving: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let demo = Arc::clone(&demo);
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &demo, bound).await {
                tracing::debug!("demo http connection: {e}");
            }
        });
    }
}

struct Request {
    /// The request line and the headers.
    head: String,
    method: String,
    path: String,
    body: Vec<u8>,
}

enum ReadError {
    Io(std::io::Error),
    Status(&'static str, &'static str),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ReadError::Status("400 Bad Request", "incomplete request\n"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Status(
                "431 Request Header Fields Too Large",
                "request head too large\n",
            ));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v
                    .trim()
                    .parse()
                    .map_err(|_| ReadError::Status("400 Bad Request", "bad content-length\n"))?;
            }
        }
    }
    if length > MAX_BODY {
        return Err(ReadError::Status(
            "413 Payload Too Large",
            "body too large\n",
        ));
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ReadError::Status("400 Bad Request", "incomplete body\n"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request {
        head,
        method,
        path,
        body,
    })
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[derive(Deserialize)]
struct SendBody {
    message: Option<String>,
    partition: Option<i32>,
}

#[derive(Deserialize)]
struct ToggleBody {
    on: bool,
}

fn json_error(e: &str) -> String {
    serde_json::json!({ "error": e }).to_string()
}

async fn handle(mut stream: TcpStream, demo: &Arc<Demo>, bound: SocketAddr) -> std::io::Result<()> {
    let req = match tokio::time::timeout(READ_DEADLINE, read_request(&mut stream)).await {
        Err(_) => return Ok(()),
        Ok(Err(ReadError::Io(e))) => return Err(e),
        Ok(Err(ReadError::Status(status, body))) => {
            return respond(&mut stream, status, "text/plain", body).await
        }
        Ok(Ok(r)) => r,
    };
    // Checked with the whole request read: closing on unread bytes would reset the
    // connection and the client might never see the refusal.
    if let Err(refusal) = idem_http_guard::check_request(&req.head, bound) {
        return respond(
            &mut stream,
            refusal.status_line(),
            "text/plain",
            &refusal.body(),
        )
        .await;
    }
    let path = req.path.split('?').next().unwrap_or_default().to_string();
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/") => {
            respond(
                &mut stream,
                "200 OK",
                "text/html; charset=utf-8",
                INDEX_HTML,
            )
            .await
        }
        ("GET", "/app.js") => {
            respond(
                &mut stream,
                "200 OK",
                "text/javascript; charset=utf-8",
                APP_JS,
            )
            .await
        }
        ("GET", "/style.css") => {
            respond(&mut stream, "200 OK", "text/css; charset=utf-8", STYLE_CSS).await
        }
        ("GET", "/api/state") => {
            let state = serde_json::to_string(&demo.state().await).unwrap_or_default();
            respond(&mut stream, "200 OK", "application/json", &state).await
        }
        ("GET", "/events") => events(stream, demo).await,
        ("POST", action) if action.starts_with("/api/") => {
            // Every action, even the bodiless ones: the page always sends JSON, and a
            // text/plain or form POST (which no browser preflights) must reach no handler.
            if !idem_http_guard::is_json(idem_http_guard::header(&req.head, "content-type")) {
                return respond(
                    &mut stream,
                    "415 Unsupported Media Type",
                    "application/json",
                    &json_error("Content-Type must be application/json"),
                )
                .await;
            }
            let action = &action["/api/".len()..];
            let result = run_action(demo, action, &req.body).await;
            match result {
                Ok(()) => respond(&mut stream, "200 OK", "application/json", "{\"ok\":true}").await,
                Err(ActionError::Unknown) => {
                    respond(
                        &mut stream,
                        "404 Not Found",
                        "application/json",
                        &json_error("no such action"),
                    )
                    .await
                }
                Err(ActionError::Bad(e)) => {
                    respond(
                        &mut stream,
                        "400 Bad Request",
                        "application/json",
                        &json_error(&e),
                    )
                    .await
                }
            }
        }
        ("GET", _) | ("POST", _) => {
            respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await
        }
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "GET or POST\n",
            )
            .await
        }
    }
}

enum ActionError {
    Unknown,
    Bad(String),
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ActionError> {
    serde_json::from_slice(body).map_err(|e| ActionError::Bad(format!("bad JSON body: {e}")))
}

async fn run_action(demo: &Demo, action: &str, body: &[u8]) -> Result<(), ActionError> {
    let message = |b: &SendBody| -> Result<(String, i32), ActionError> {
        let m = b.message.clone().unwrap_or_default();
        // Characters, as the page's maxlength counts them.
        if m.is_empty() || m.chars().count() > 200 {
            return Err(ActionError::Bad(
                "message must be 1 to 200 characters".into(),
            ));
        }
        Ok((m, b.partition.unwrap_or(0)))
    };
    let r = match action {
        "send" => {
            let (m, p) = message(&parse::<SendBody>(body)?)?;
            demo.send(&m, p).await
        }
        "skip" => {
            let (m, p) = message(&parse::<SendBody>(body)?)?;
            demo.skip(&m, p).await
        }
        "retry" => demo.retry().await,
        "lose-ack" => demo.lose_next_ack().await,
        "restart-producer" => demo.restart_producer().await,
        "bump-epoch" => demo.bump_epoch().await,
        "crash-broker" => demo.crash_broker().await,
        "reset" => demo.reset().await,
        "idempotence" => demo.set_idempotence(parse::<ToggleBody>(body)?.on).await,
        _ => return Err(ActionError::Unknown),
    };
    r.map_err(|e| ActionError::Bad(format!("{e:#}")))
}

/// A server-sent event stream: the current state at once, then every new one.
async fn events(mut stream: TcpStream, demo: &Arc<Demo>) -> std::io::Result<()> {
    let mut rx = demo.subscribe();
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n",
        )
        .await?;
    let first = serde_json::to_string(&demo.state().await).unwrap_or_default();
    stream
        .write_all(format!("data: {first}\n\n").as_bytes())
        .await?;
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(json) => stream.write_all(format!("data: {json}\n\n").as_bytes()).await?,
                // A slow page missed states: the next one is whole, so just go on.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = keepalive.tick() => stream.write_all(b": keep-alive\n\n").await?,
        }
    }
}
