//! A Kafka-frame-aware proxy that loses Produce acknowledgements.
//!
//! It forwards every request; of the Produce responses coming back it swallows every n-th
//! (the broker has appended the batch), then closes both connections. A producer sees a
//! broken connection with its batch unacknowledged and retries it, with the same producer id,
//! epoch and sequence: exactly the lost acknowledgement idempotence exists for.
//!
//! Clients must be told to connect to the proxy: start the broker with
//! `advertised.listeners` set to [`LossyProxy::addr`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Produce responses seen.
    pub produce_responses: AtomicU64,
    /// Produce responses swallowed.
    pub dropped: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// The proxy; see the module documentation.
#[derive(Debug)]
pub struct LossyProxy {
    listener: Option<TcpListener>,
    addr: SocketAddr,
    /// Counters.
    pub stats: Arc<ProxyStats>,
    task: Option<tokio::task::JoinHandle<()>>,
}

const PRODUCE: i16 = 0;
const MAX_FRAME: usize = 128 << 20;

impl LossyProxy {
    /// Binds the proxy's port (before the broker starts, so the broker can advertise it).
    pub async fn bind() -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        LossyProxy {
            listener: Some(listener),
            addr,
            stats: Arc::new(ProxyStats::default()),
            task: None,
        }
    }

    /// The address clients use.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts forwarding to `target`, swallowing every `drop_every`-th Produce response
    /// (0: none).
    pub fn start(&mut self, target: SocketAddr, drop_every: u64) {
        let listener = self.listener.take().expect("start once");
        let stats = Arc::clone(&self.stats);
        let seen = Arc::new(AtomicU64::new(0));
        self.task = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                stats.connections.fetch_add(1, Ordering::Relaxed);
                let stats = Arc::clone(&stats);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    if let Ok(broker) = TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = broker.set_nodelay(true);
                        pump(client, broker, drop_every, seen, stats).await;
                    }
                });
            }
        }));
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size).await.ok()?;
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > MAX_FRAME {
        return None;
    }
    let mut body = vec![0u8; size as usize];
    r.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn pump(
    client: TcpStream,
    broker: TcpStream,
    drop_every: u64,
    seen: Arc<AtomicU64>,
    stats: Arc<ProxyStats>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut broker_rd, mut broker_wr) = broker.into_split();
    // correlation id -> api key of the requests in flight on this connection
    let inflight: Arc<Mutex<HashMap<i32, i16>>> = Arc::default();
    let requests = {
        let inflight = Arc::clone(&inflight);
        async move {
            while let Some(frame) = read_frame(&mut client_rd).await {
                if frame.len() >= 8 {
                    let key = i16::from_be_bytes([frame[0], frame[1]]);
                    let id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    inflight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id, key);
                }
                if broker_wr
                    .write_all(&(frame.len() as i32).to_be_bytes())
                    .await
                    .is_err()
                    || broker_wr.write_all(&frame).await.is_err()
                {
                    return;
                }
            }
        }
    };
    let responses = async move {
        while let Some(frame) = read_frame(&mut broker_rd).await {
            if frame.len() >= 4 {
                let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let key = inflight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                if key == Some(PRODUCE) {
                    stats.produce_responses.fetch_add(1, Ordering::Relaxed);
                    let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
                    if drop_every > 0 && n.is_multiple_of(drop_every) {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                        // The broker appended; the producer never hears of it.
                        return;
                    }
                }
            }
            if client_wr
                .write_all(&(frame.len() as i32).to_be_bytes())
                .await
                .is_err()
                || client_wr.write_all(&frame).await.is_err()
            {
                return;
            }
        }
    };
    // Either direction ending closes both sockets (the halves are dropped here).
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
    }
}
