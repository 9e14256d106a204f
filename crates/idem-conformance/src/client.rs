//! One connection speaking the Kafka protocol with `kafka-protocol` types.
//!
//! Unlike the test client in `idem-test-support`, nothing here panics: a scenario must be able
//! to record "the broker closed the connection" as an answer, and a broker that misbehaves must
//! turn into an error for that scenario, not abort the run.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one response may take by default. Kafka answers acks=all on one node in
/// milliseconds; a long wait means a hung broker, which the scenario reports as an error.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);

/// Responses larger than this are refused (a broken length prefix must not allocate GiBs).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The broker closed the connection instead of answering. Scenarios record it as an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the broker closed the connection")
    }
}

impl std::error::Error for Closed {}

/// No response came within the connection's response timeout. Scenarios that provoke a
/// broker bug record it as an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoAnswer(pub(crate) Duration);

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no response within {:?}", self.0)
    }
}

impl std::error::Error for NoAnswer {}

/// One connection to a broker.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    correlation: i32,
    timeout: Duration,
}

impl Conn {
    /// Connects to `addr`.
    pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::time::timeout(RESPONSE_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connect to {addr}: timed out"))?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true).context("set TCP_NODELAY")?;
        Ok(Conn {
            stream,
            addr,
            correlation: 0,
            timeout: RESPONSE_TIMEOUT,
        })
    }

    /// How long to wait for each response from now on.
    pub(crate) fn set_response_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends a request and decodes its response. A closed connection is the error [`Closed`].
    pub(crate) async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> anyhow::Result<Resp> {
        let correlation = self.send(api_key, version, body).await?;
        self.receive(api_key, version, correlation).await
    }

    /// Sends a request without waiting for the answer; returns its correlation id.
    pub(crate) async fn send<Req: Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> anyhow::Result<i32> {
        let correlation = self.next_correlation();
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("idem-conformance")));
        let frame = idem_wire::request::encode_request(&header, api_key, body)
            .map_err(|e| anyhow!("encode {api_key:?} v{version}: {e}"))?;
        self.write(&frame).await?;
        Ok(correlation)
    }

    /// Reads one response and decodes it as `api_key` at `version`, checking the correlation id.
    pub(crate) async fn receive<Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        correlation: i32,
    ) -> anyhow::Result<Resp> {
        let mut body = self.read_frame().await?.ok_or(Closed)?;
        let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
            .with_context(|| format!("{api_key:?} v{version}: response header"))?;
        if header.correlation_id != correlation {
            bail!(
                "{api_key:?} v{version}: correlation id {} in the response, {correlation} expected",
                header.correlation_id
            );
        }
        Resp::decode(&mut body, version)
            .with_context(|| format!("{api_key:?} v{version}: response body"))
    }

    /// A correlation id for a request written by hand.
    pub(crate) fn next_correlation(&mut self) -> i32 {
        self.correlation += 1;
        self.correlation
    }

    /// Writes bytes as they are (a whole frame, size prefix included).
    pub(crate) async fn write(&mut self, frame: &[u8]) -> anyhow::Result<()> {
        match self.stream.write_all(frame).await {
            Ok(()) => Ok(()),
            Err(e) if is_disconnect(&e) => Err(Closed.into()),
            Err(e) => Err(anyhow!(e).context(format!("write to {}", self.addr))),
        }
    }

    /// One response frame without its size prefix, or `None` when the broker closed the
    /// connection.
    pub(crate) async fn read_frame(&mut self) -> anyhow::Result<Option<Bytes>> {
        let read = async {
            let mut size = [0u8; 4];
            match self.stream.read_exact(&mut size).await {
                Ok(_) => {}
                Err(e) if is_disconnect(&e) => return Ok(None),
                Err(e) => return Err(anyhow!(e).context("read a response size")),
            }
            let size = usize::try_from(i32::from_be_bytes(size))
                .ok()
                .filter(|s| *s <= MAX_RESPONSE_BYTES)
                .ok_or_else(|| anyhow!("response size {size:?} out of range"))?;
            let mut buf = BytesMut::zeroed(size);
            match self.stream.read_exact(&mut buf).await {
                Ok(_) => Ok(Some(buf.freeze())),
                Err(e) if is_disconnect(&e) => Ok(None),
                Err(e) => Err(anyhow!(e).context("read a response body")),
            }
        };
        let timeout = self.timeout;
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| NoAnswer(timeout))?
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// True when `e` is [`Closed`].
pub(crate) fn is_closed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Closed>().is_some()
}

/// The timeout when `e` is [`NoAnswer`].
pub(crate) fn no_answer(e: &anyhow::Error) -> Option<Duration> {
    e.downcast_ref::<NoAnswer>().map(|n| n.0)
}
