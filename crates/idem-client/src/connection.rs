//! One connection to one broker: pipelined requests, responses matched by correlation id.
//!
//! A writer task owns the socket's write half and writes frames in the order they were
//! queued; a reader task reads response frames and hands each to the request waiting for its
//! correlation id. A read or write error poisons the connection: every request in flight fails
//! with [`Error::Disconnected`] and the owner opens a new connection.
//!
//! [`Connection::request`] is cancel-safe: dropping its future before the frame is queued
//! sends nothing; dropping it afterwards forgets the response when it comes (the request may
//! still have been applied by the broker, as with any lost response).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

type Waiters = Arc<Mutex<HashMap<i32, oneshot::Sender<Result<Bytes>>>>>;

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `client.id`
    pub client_id: String,
    /// `request.timeout.ms`
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`
    pub connect_timeout: Duration,
    /// Largest response frame accepted.
    pub max_response_bytes: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "idem-rust".into(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 256 << 20,
        }
    }
}

/// A live connection.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    config: ConnectionConfig,
    frames: mpsc::UnboundedSender<Bytes>,
    waiters: Waiters,
    next_correlation: AtomicI32,
    poisoned: Arc<AtomicBool>,
    versions: HashMap<i16, (i16, i16)>,
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn poison(waiters: &Waiters, poisoned: &AtomicBool, addr: &str, reason: &str) {
    poisoned.store(true, Ordering::Release);
    let pending: Vec<_> = waiters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for (_, tx) in pending {
        let _ = tx.send(Err(Error::Disconnected {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}

impl Connection {
    /// Connects and negotiates API versions.
    ///
    /// Cancel-safe: nothing is left behind but a closed socket.
    pub async fn connect(addr: &str, config: ConnectionConfig) -> Result<Connection> {
        let connect_err = |reason: String| Error::Connect {
            addr: addr.to_string(),
            reason,
        };
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| connect_err("timed out".into()))?
            .map_err(|e| connect_err(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let waiters: Waiters = Arc::default();
        let poisoned = Arc::new(AtomicBool::new(false));
        let (frames, mut queue) = mpsc::unbounded_channel::<Bytes>();
        let writer = {
            let waiters = Arc::clone(&waiters);
            let poisoned = Arc::clone(&poisoned);
            let addr = addr.to_string();
            tokio::spawn(async move {
                while let Some(frame) = queue.recv().await {
                    if let Err(e) = wr.write_all(&frame).await {
                        poison(&waiters, &poisoned, &addr, &format!("write failed: {e}"));
                        return;
                    }
                }
            })
        };
        let reader = {
            let waiters = Arc::clone(&waiters);
            let poisoned = Arc::clone(&poisoned);
            let addr = addr.to_string();
            let max = config.max_response_bytes;
            tokio::spawn(async move {
                let reason = loop {
                    let mut prefix = [0u8; 4];
                    if let Err(e) = rd.read_exact(&mut prefix).await {
                        break format!("read failed: {e}");
                    }
                    let size = match idem_wire::frame::response_size(prefix, max) {
                        Ok(size) => size,
                        Err(e) => break e.to_string(),
                    };
                    let mut frame = BytesMut::zeroed(size);
                    if let Err(e) = rd.read_exact(&mut frame).await {
                        break format!("read failed: {e}");
                    }
                    let frame = frame.freeze();
                    let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                    let waiter = waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    // A response nobody waits for belongs to a cancelled request.
                    if let Some(tx) = waiter {
                        let _ = tx.send(Ok(frame));
                    }
                };
                poison(&waiters, &poisoned, &addr, &reason);
            })
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            config,
            frames,
            waiters,
            next_correlation: AtomicI32::new(1),
            poisoned,
            versions: HashMap::new(),
            tasks: [writer, reader],
        };
        conn.versions = conn.negotiate().await?;
        Ok(conn)
    }

    /// ApiVersions: v3, or the version the broker's v0-shaped refusal offers.
    async fn negotiate(&self) -> Result<HashMap<i16, (i16, i16)>> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("idem-rust"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut resp: ApiVersionsResponse = self.request_raw(ApiKey::ApiVersions, 3, &req).await?;
        if resp.error_code == 35 {
            let max = resp
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map_or(0, |k| k.max_version)
                .min(3);
            resp = self.request_raw(ApiKey::ApiVersions, max, &req).await?;
        }
        if resp.error_code != 0 {
            return Err(Error::broker(resp.error_code, None));
        }
        Ok(resp
            .api_keys
            .iter()
            .map(|k: &ApiVersion| (k.api_key, (k.min_version, k.max_version)))
            .collect())
    }

    /// The broker address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// True once the connection broke; open a new one.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The highest version of `key` both sides speak, within `ours`.
    pub fn version(&self, key: ApiKey, ours: (i16, i16)) -> Result<i16> {
        let (min, max) = self
            .versions
            .get(&(key as i16))
            .copied()
            .ok_or(Error::UnsupportedApi(api_name(key)))?;
        let v = max.min(ours.1);
        if v < min.max(ours.0) {
            return Err(Error::UnsupportedApi(api_name(key)));
        }
        Ok(v)
    }

    /// Whether the broker offers `key` at all.
    pub fn supports(&self, key: ApiKey) -> bool {
        self.versions.contains_key(&(key as i16))
    }

    /// Sends a request at `version` and decodes its response.
    ///
    /// Cancel-safe: dropped before its first poll, nothing is sent; after it, the request is
    /// queued and still written, and its response is forgotten when it comes (the broker
    /// may have applied it, as with any lost response).
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp> {
        self.request_raw(key, version, body).await
    }

    /// Queues a request now and returns a future of its response: requests submitted one
    /// after the other reach the broker in that order, whenever their futures are awaited.
    pub fn submit<Req: Encodable, Resp: Decodable>(
        self: &Arc<Self>,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<impl std::future::Future<Output = Result<Resp>> + Send + 'static> {
        let (id, rx) = self.enqueue(key, version, body, true)?;
        let rx = rx.ok_or_else(|| self.protocol("no response expected"))?;
        let conn = Arc::clone(self);
        Ok(async move { conn.wait(id, rx, key, version).await })
    }

    async fn request_raw<Req: Encodable, Resp: Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp> {
        let (id, rx) = self.enqueue(key, version, body, true)?;
        let rx = rx.ok_or_else(|| self.protocol("no response expected"))?;
        self.wait(id, rx, key, version).await
    }

    async fn wait<Resp: Decodable>(
        &self,
        id: i32,
        rx: oneshot::Receiver<Result<Bytes>>,
        key: ApiKey,
        version: i16,
    ) -> Result<Resp> {
        let guard = Forget {
            waiters: &self.waiters,
            id,
        };
        let frame = match tokio::time::timeout(self.config.request_timeout, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => {
                return Err(Error::Disconnected {
                    addr: self.addr.clone(),
                    reason: "connection closed".into(),
                })
            }
            Err(_) => {
                // Kafka's clients close the connection on a request timeout: the responses
                // still to come on it can no longer be trusted to line up with waiters.
                poison(
                    &self.waiters,
                    &self.poisoned,
                    &self.addr,
                    "request timed out",
                );
                return Err(Error::Timeout {
                    addr: self.addr.clone(),
                });
            }
        };
        drop(guard);
        self.decode(frame, key, version)
    }

    /// Sends a request that gets no response (Produce with acks=0).
    pub fn send_one_way<Req: Encodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<()> {
        self.enqueue(key, version, body, false).map(|_| ())
    }

    fn enqueue<Req: Encodable>(
        &self,
        key: ApiKey,
        version: i16,
        body: &Req,
        expect_response: bool,
    ) -> Result<(i32, Option<oneshot::Receiver<Result<Bytes>>>)> {
        if self.is_poisoned() {
            return Err(Error::Disconnected {
                addr: self.addr.clone(),
                reason: "connection already broken".into(),
            });
        }
        let id = self.next_correlation.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_string(self.config.client_id.clone())));
        let frame = idem_wire::request::encode_request(&header, key, body)
            .map_err(|e| self.protocol(&format!("cannot encode {key:?} v{version}: {e}")))?;
        let rx = if expect_response {
            let (tx, rx) = oneshot::channel();
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, tx);
            Some(rx)
        } else {
            None
        };
        if self.frames.send(frame).is_err() {
            self.waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(Error::Disconnected {
                addr: self.addr.clone(),
                reason: "connection closed".into(),
            });
        }
        Ok((id, rx))
    }

    fn decode<Resp: Decodable>(&self, mut frame: Bytes, key: ApiKey, version: i16) -> Result<Resp> {
        ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .map_err(|e| self.protocol(&format!("bad response header: {e}")))?;
        idem_wire::request::decode_response_body(&mut frame, key, version)
            .map_err(|e| self.protocol(&e.to_string()))
    }

    fn protocol(&self, reason: &str) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }
}

/// Removes a waiter whose request future was dropped, so its late response is discarded.
struct Forget<'a> {
    waiters: &'a Waiters,
    id: i32,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// A readable name for an API key.
pub(crate) fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::DescribeProducers => "DescribeProducers",
        _ => "an API",
    }
}
