//! The network side: a listener, one reader and one writer task per connection, graceful
//! shutdown.
//!
//! Each connection's reader reads a frame (size checked before allocating, the body read in
//! chunks so memory follows the bytes actually received), dispatches it in order and hands
//! the pending response to the writer, which awaits responses in request order and writes
//! them. At most `queued.max.requests.per.connection` responses are pending; beyond that the
//! reader waits. A protocol error closes that connection only, with one log line.
//!
//! Response memory: Fetch responses take their record bytes from the broker-wide budget
//! (`memory.rs`, `idem.response.memory.bytes`) and give them back once written. The reader
//! reads no new request while the connection's responses built and not yet written reach
//! `idem.response.memory.per.connection.bytes` (Kafka mutes a channel while a response is
//! being sent; idem pipelines, up to that cap). A response that makes no write progress for
//! `idem.response.write.timeout.ms` (at most `connections.max.idle.ms`) closes the
//! connection: a client that never reads cannot hold memory forever. Kafka has no such
//! timeout; its selector closes a channel with no read or write activity for
//! `connections.max.idle.ms`, a stalled send included, and holds no record bytes in memory
//! meanwhile (sendfile from the segment).
//!
//! Shutdown: stop accepting, stop reading, let the writers finish what is pending, then close
//! the storage (snapshots, sync, clean-shutdown marker).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;

use crate::broker::{now_ms, Broker};
use crate::config::BrokerConfig;
use crate::handlers::{self, Dispatch, Reply, Response};
use crate::memory::ResponseMemory;

/// A broker serving on a socket.
#[derive(Debug)]
pub struct RunningBroker {
    /// The bound address.
    pub addr: SocketAddr,
    /// The bound HTTP address (`idem.http.listener`), if one was configured.
    pub http_addr: Option<SocketAddr>,
    /// The broker state (for tests and introspection).
    pub broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningBroker {
    /// Asks the broker to stop and waits until its storage is closed cleanly.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("broker task panicked")?
    }

    /// Waits until the broker stops (after a signal handled elsewhere).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("broker task panicked")?
    }

    /// A handle that stops the broker when sent `true`.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Stops serving without closing the storage, as a crash would leave it (tests of
    /// recovery): no snapshots, no sync, no clean-shutdown marker.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
        // The side tasks (maintenance, HTTP) watch the shutdown signal; the storage is
        // left as it is.
        let _ = self.shutdown.send(true);
        for topic in self.broker.topics() {
            for p in &topic.partitions {
                p.close_flusher();
            }
        }
        // A dead process holds no lock; tasks of this broker may still be winding down.
        self.broker.release_dir_lock();
    }
}

/// Opens the data directory, binds the listener and serves until shut down.
pub async fn start(config: BrokerConfig) -> anyhow::Result<RunningBroker> {
    let listener_addr = config.listener.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .context("open task panicked")??;
    let broker = Arc::new(broker);
    let listener = TcpListener::bind(&listener_addr)
        .await
        .with_context(|| format!("bind {listener_addr}"))?;
    let addr = listener.local_addr().context("local address")?;
    broker.set_bound_address(addr);
    broker.start_flushers();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let http_addr = match broker.config().http_listener.clone() {
        Some(http) => {
            let l = TcpListener::bind(&http)
                .await
                .with_context(|| format!("bind {http} (idem.http.listener)"))?;
            let bound = l.local_addr().context("local address")?;
            tokio::spawn(crate::http::serve(
                l,
                Arc::clone(&broker),
                shutdown_rx.clone(),
            ));
            tracing::info!(%bound, "serving /metrics over HTTP");
            Some(bound)
        }
        None => None,
    };
    let task = tokio::spawn(serve(Arc::clone(&broker), listener, shutdown_rx));
    tracing::info!(%addr, "idem is serving the Kafka protocol");
    Ok(RunningBroker {
        addr,
        http_addr,
        broker,
        shutdown,
        task,
    })
}

async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let maintenance = tokio::spawn(maintain(Arc::clone(&broker), shutdown.clone()));
    let permits = Arc::new(Semaphore::new(broker.config().max_connections));
    let memory = Arc::new(ResponseMemory::new(
        broker.config().response_memory.total_bytes,
        Arc::clone(broker.metrics()),
    ));
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = Arc::clone(&permits).acquire_owned() => p.context("connection semaphore closed")?,
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((socket, peer)) => {
                backoff = Duration::from_millis(5);
                broker.metrics().connections_accepted.inc();
                let broker = Arc::clone(&broker);
                let memory = Arc::clone(&memory);
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    serve_connection(broker, memory, socket, peer, shutdown).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    let drained = tokio::time::timeout(Duration::from_secs(15), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still busy after 15 s; closing them");
        connections.abort_all();
    }
    maintenance.abort();
    let closing = Arc::clone(&broker);
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .context("close task panicked")??;
    tracing::info!("storage closed cleanly");
    Ok(())
}

/// How often group timers are checked (ms).
const GROUP_TICK_MS: u64 = 100;

/// Retention, producer expiry and group timers on their intervals.
async fn maintain(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let config = broker.config().clone();
    // Like Kafka's log.initial.task.delay.ms: no cleanup in the first moments after start.
    let start = tokio::time::Instant::now();
    let retention_period = Duration::from_millis(config.retention_check_interval_ms);
    let expiry_period = Duration::from_millis(config.producer_id_expiration_check_interval_ms);
    let mut retention = tokio::time::interval_at(
        start + retention_period.min(Duration::from_secs(30)),
        retention_period,
    );
    let mut expiry = tokio::time::interval_at(start + expiry_period, expiry_period);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Group timers (session and rebalance timeouts) are checked often; offset retention and
    // the rewrite of the coordinator log on their own period.
    let mut group_timers = tokio::time::interval(Duration::from_millis(GROUP_TICK_MS));
    group_timers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let offsets_period = Duration::from_millis(config.offsets_retention_check_interval_ms);
    let mut offsets = tokio::time::interval_at(start + offsets_period, offsets_period);
    offsets.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut compact = tokio::time::interval(Duration::from_secs(10));
    compact.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = group_timers.tick() => {
                let groups = broker.groups();
                let delivery = groups.tick();
                drop(groups.deliver(delivery));
            }
            _ = offsets.tick() => {
                let groups = broker.groups();
                let delivery = groups.expire_offsets();
                drop(groups.deliver(delivery));
            }
            _ = compact.tick() => {
                let broker = Arc::clone(&broker);
                let _ = tokio::task::spawn_blocking(move || broker.groups().maybe_compact()).await;
            }
            _ = retention.tick() => {
                let broker = Arc::clone(&broker);
                let _ = tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    for topic in broker.topics() {
                        for p in &topic.partitions {
                            match p.apply_retention(now) {
                                Ok(0) => {}
                                Ok(n) => tracing::info!(topic = %topic.name, partition = p.index(), segments = n, "retention deleted segments"),
                                Err(e) => tracing::warn!(topic = %topic.name, partition = p.index(), "retention failed: {}", e.message),
                            }
                        }
                    }
                }).await;
            }
            _ = expiry.tick() => {
                let now = now_ms();
                for topic in broker.topics() {
                    for p in &topic.partitions {
                        p.expire_producers(now, config.producer_id_expiration_ms);
                    }
                }
            }
        }
    }
}

/// Why a connection ended, for its one log line.
enum End {
    PeerClosed,
    Shutdown,
    Idle,
    Protocol(String),
    Io(std::io::Error),
    WriterGone,
}

/// A response on its way to the writer, with the bytes the reader already counted as
/// unwritten for it (ready responses; the writer counts the others when they complete).
struct Pending {
    reply: Reply,
    counted: usize,
}

/// What the reader and the writer of one connection share.
struct Conn {
    /// Bytes of responses built and not yet written on this connection.
    unwritten: watch::Sender<usize>,
}

impl Conn {
    fn add(&self, n: usize) {
        self.unwritten.send_modify(|u| *u += n);
    }
    fn sub(&self, n: usize) {
        self.unwritten.send_modify(|u| *u = u.saturating_sub(n));
    }
}

async fn serve_connection(
    broker: Arc<Broker>,
    memory: Arc<ResponseMemory>,
    socket: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let (reader, writer) = socket.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(broker.config().max_inflight_per_connection);
    let (writer_done_tx, mut writer_done) = oneshot::channel::<Option<String>>();
    let conn = Arc::new(Conn {
        unwritten: watch::channel(0).0,
    });
    let stall = Duration::from_millis(
        broker
            .config()
            .response_memory
            .write_timeout_ms
            .min(broker.config().connections_max_idle_ms),
    );
    let writer = {
        let conn = Arc::clone(&conn);
        let metrics = Arc::clone(broker.metrics());
        tokio::spawn(async move {
            let outcome = write_responses(writer, rx, &conn, stall).await;
            if outcome.as_ref().is_some_and(|o| o.starts_with(STALLED)) {
                metrics.connections_write_stalled.inc();
            }
            let _ = writer_done_tx.send(outcome.clone());
            outcome
        })
    };
    let end = read_requests(
        &broker,
        &memory,
        &conn,
        reader,
        tx,
        &mut shutdown,
        &mut writer_done,
        peer,
    )
    .await;
    let writer_outcome = writer.await.ok().flatten();
    let reason = match (&end, writer_outcome) {
        (_, Some(reason)) => Some(reason),
        (End::Protocol(reason), None) => Some(reason.clone()),
        (End::Io(e), None) => Some(format!("read failed: {e}")),
        (End::Idle, None) => {
            tracing::debug!(%peer, "closed idle connection");
            None
        }
        _ => None,
    };
    if let Some(reason) = reason {
        broker.metrics().connections_refused.inc();
        tracing::info!(%peer, "closed connection: {reason}");
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_requests(
    broker: &Arc<Broker>,
    memory: &Arc<ResponseMemory>,
    conn: &Conn,
    mut reader: OwnedReadHalf,
    tx: mpsc::Sender<Pending>,
    shutdown: &mut watch::Receiver<bool>,
    writer_done: &mut oneshot::Receiver<Option<String>>,
    peer: SocketAddr,
) -> End {
    let idle = Duration::from_millis(broker.config().connections_max_idle_ms);
    let max = broker.config().max_request_bytes;
    let cap = broker.config().response_memory.per_connection_bytes.max(1);
    let mut unwritten = conn.unwritten.subscribe();
    loop {
        // Responses not drained: read nothing more until they are (the writer closes the
        // connection if they make no progress).
        if let Some(end) = drained(broker, &mut unwritten, cap, shutdown, writer_done).await {
            return end;
        }
        let frame = tokio::select! {
            biased;
            _ = shutdown.changed() => return End::Shutdown,
            _ = &mut *writer_done => return End::WriterGone,
            read = tokio::time::timeout(idle, read_frame(&mut reader, max)) => match read {
                Err(_) => return End::Idle,
                Ok(Err(e)) => return e,
                Ok(Ok(None)) => return End::PeerClosed,
                Ok(Ok(Some(frame))) => frame,
            },
        };
        // The read may have begun before the previous response was built: a frame read
        // meanwhile waits here, not dispatched, until the connection drains.
        if let Some(end) = drained(broker, &mut unwritten, cap, shutdown, writer_done).await {
            return end;
        }
        let ready = |response: Response| {
            let counted = frame_len(&response);
            conn.add(counted);
            Pending {
                reply: Box::pin(std::future::ready(response)),
                counted,
            }
        };
        let pending = match handlers::dispatch(broker, memory, frame, Some(peer)) {
            Dispatch::Now(Response::Close(reason)) => {
                let _ = tx.send(ready(Response::Close(reason.clone()))).await;
                return End::Protocol(reason);
            }
            Dispatch::Now(response) => ready(response),
            Dispatch::Later(reply) => Pending { reply, counted: 0 },
            Dispatch::Barrier(reply) => ready(reply.await),
        };
        if tx.send(pending).await.is_err() {
            return End::WriterGone;
        }
    }
}

/// Waits until the connection's unwritten responses are below `cap`; `Some` when the
/// connection must end instead.
async fn drained(
    broker: &Broker,
    unwritten: &mut watch::Receiver<usize>,
    cap: usize,
    shutdown: &mut watch::Receiver<bool>,
    writer_done: &mut oneshot::Receiver<Option<String>>,
) -> Option<End> {
    if *unwritten.borrow_and_update() < cap {
        return None;
    }
    /// Counts the pause while it lasts, also when the connection's task is dropped in it.
    struct Paused<'a>(&'a crate::metrics::Gauge);
    impl Drop for Paused<'_> {
        fn drop(&mut self) {
            self.0.sub(1);
        }
    }
    broker.metrics().connections_read_paused.add(1);
    let _paused = Paused(&broker.metrics().connections_read_paused);
    tokio::select! {
        biased;
        _ = shutdown.changed() => Some(End::Shutdown),
        _ = &mut *writer_done => Some(End::WriterGone),
        drained = unwritten.wait_for(|u| *u < cap) => drained.is_err().then_some(End::WriterGone),
    }
}

/// Reads one request frame; `Ok(None)` on a clean end of stream between frames.
async fn read_frame(reader: &mut OwnedReadHalf, max: usize) -> Result<Option<Bytes>, End> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match reader.read(&mut prefix[got..]).await {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(End::Protocol(
                    "connection closed inside a size prefix".into(),
                ))
            }
            Ok(n) => got += n,
            Err(e) => return Err(End::Io(e)),
        }
    }
    let size =
        idem_wire::frame::request_size(prefix, max).map_err(|e| End::Protocol(e.to_string()))?;
    // Grow the buffer as bytes arrive: a peer announcing 100 MiB and sending nothing costs
    // nothing.
    let mut buf = BytesMut::with_capacity(size.min(64 * 1024));
    while buf.len() < size {
        let want = (size - buf.len()).min(1 << 20);
        buf.reserve(want);
        let n = (&mut *reader)
            .take(want as u64)
            .read_buf(&mut buf)
            .await
            .map_err(End::Io)?;
        if n == 0 {
            return Err(End::Protocol(format!(
                "connection closed inside a {size}-byte frame"
            )));
        }
    }
    Ok(Some(buf.freeze()))
}

/// The bytes a response puts on the socket.
fn frame_len(response: &Response) -> usize {
    match response {
        Response::Frame(f) | Response::Budgeted(f, _) => f.len(),
        Response::Nothing | Response::Close(_) => 0,
    }
}

/// How a write-stall closing reason starts (counted in `connections_write_stalled`).
const STALLED: &str = "no write progress";

/// Writes responses in request order; returns why the connection must close, if it must.
/// A response's bytes (and its response memory grant) are released once written.
async fn write_responses(
    writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Pending>,
    conn: &Conn,
    stall: Duration,
) -> Option<String> {
    let mut out = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(Pending { reply, counted }) = rx.recv().await {
        let response = reply.await;
        let len = frame_len(&response);
        // The reader counted ready responses when it queued them; the others count from now.
        conn.add(len.saturating_sub(counted));
        let written = match &response {
            Response::Frame(frame) | Response::Budgeted(frame, _) => {
                write_with_progress(&mut out, frame, stall).await
            }
            Response::Nothing => Ok(()),
            Response::Close(reason) => {
                let _ = tokio::time::timeout(stall, out.flush()).await;
                return Some(reason.clone());
            }
        };
        // Written (into the socket or the 64 KiB buffer) or failed: either way its memory
        // is no longer pinned by this connection.
        drop(response);
        conn.sub(len.max(counted));
        if let Err(reason) = written {
            return Some(reason);
        }
        if rx.is_empty() {
            if let Err(reason) = flush_with_progress(&mut out, stall).await {
                return Some(reason);
            }
        }
    }
    let _ = tokio::time::timeout(stall, out.flush()).await;
    let _ = tokio::time::timeout(stall, out.shutdown()).await;
    None
}

/// Writes all of `frame`, failing when one write call makes no progress for `stall`.
async fn write_with_progress(
    out: &mut BufWriter<OwnedWriteHalf>,
    frame: &[u8],
    stall: Duration,
) -> Result<(), String> {
    let mut at = 0;
    while at < frame.len() {
        match tokio::time::timeout(stall, out.write(&frame[at..])).await {
            Err(_) => return Err(stalled(stall, frame.len() - at)),
            Ok(Err(e)) => return Err(format!("write failed: {e}")),
            Ok(Ok(0)) => return Err("write failed: socket closed".into()),
            Ok(Ok(n)) => at += n,
        }
    }
    Ok(())
}

/// Flushes the buffer, failing when it makes no progress for `stall` (a flush is at most
/// the 64 KiB buffer, so a whole flush without progress is one stall).
async fn flush_with_progress(
    out: &mut BufWriter<OwnedWriteHalf>,
    stall: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(stall, out.flush()).await {
        Err(_) => Err(stalled(stall, out.buffer().len())),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Ok(Ok(())) => Ok(()),
    }
}

fn stalled(stall: Duration, left: usize) -> String {
    format!(
        "{STALLED} for {} ms (idem.response.write.timeout.ms) with {left} bytes of response left",
        stall.as_millis()
    )
}
