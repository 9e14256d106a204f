//! Starting brokers on 127.0.0.1:0 in temporary directories, and a raw Kafka client.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use idem_broker::{BrokerConfig, RunningBroker};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Broker settings for a test: loopback, an ephemeral port, `dir` for data.
pub fn config(dir: &Path) -> BrokerConfig {
    let mut c = BrokerConfig {
        data_dir: dir.to_path_buf(),
        listener: "127.0.0.1:0".into(),
        ..BrokerConfig::default()
    };
    c.retention_check_interval_ms = 60_000;
    c
}

/// Broker logs in test output when RUST_LOG is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub async fn start(dir: &Path) -> RunningBroker {
    init_logs();
    idem_broker::start(config(dir))
        .await
        .expect("broker starts")
}

pub async fn start_with(config: BrokerConfig) -> RunningBroker {
    idem_broker::start(config).await.expect("broker starts")
}

/// A raw protocol client: one connection, requests encoded with kafka-protocol.
pub struct Raw {
    pub stream: TcpStream,
    correlation: i32,
}

impl Raw {
    pub async fn connect(addr: std::net::SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            correlation: 0,
        }
    }

    /// Sends a request and returns the decoded response.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        self.send(api_key, version, body).await;
        self.receive(api_key, version).await
    }

    pub async fn send<Req: Encodable>(&mut self, api_key: ApiKey, version: i16, body: &Req) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("idem-test")));
        let frame = idem_wire::request::encode_request(&header, api_key, body).expect("encode");
        self.stream.write_all(&frame).await.expect("write");
    }

    pub async fn receive<Resp: Decodable>(&mut self, api_key: ApiKey, version: i16) -> Resp {
        let mut body = self.read_frame().await.expect("a response frame");
        let header_version = api_key.response_header_version(version);
        let _header = ResponseHeader::decode(&mut body, header_version).expect("header");
        Resp::decode(&mut body, version).expect("body")
    }

    /// One response frame, or None when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        match tokio::time::timeout(Duration::from_secs(20), self.stream.read_exact(&mut size)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return None,
            Err(_) => panic!("no response within 20 s"),
        }
        let size = i32::from_be_bytes(size) as usize;
        let mut buf = BytesMut::zeroed(size);
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(buf.freeze())
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// True when the broker closes the connection (EOF) within the timeout.
    pub async fn closed_by_peer(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// This process's resident set size (`VmRSS` in /proc/self/status), in bytes; None where
/// /proc is not available.
pub fn vm_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
