//! `idem demo`: the seed's "Duplicate Fighter", live.
//!
//! One process runs an embedded broker on a temporary directory, the fault proxy in front of
//! it, a producer driven by the page's buttons, and a small web server. Every event on the
//! page is a real request through the real proxy to the real broker; every decision shown is
//! read back from the broker's own producer state and log.

pub mod app;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use app::{Demo, DemoSettings};

/// A running demo.
#[derive(Debug)]
pub struct RunningDemo {
    /// Where the page is served.
    pub addr: SocketAddr,
    /// The demo.
    pub demo: Arc<Demo>,
    web: tokio::task::JoinHandle<()>,
}

impl RunningDemo {
    /// Stops the web server and the broker cleanly, and removes the temporary directory.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.web.abort();
        self.demo.shutdown().await?;
        // Open event streams may still hold the demo (and its TempDir) for a moment: remove
        // the data now rather than whenever the last of them goes.
        let dir = self.demo.data_dir().to_path_buf();
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))
    }
}

/// Starts everything; the page is at `http://{addr}/`.
pub async fn start(http: &str, wire_delay: Duration) -> anyhow::Result<RunningDemo> {
    let demo = Demo::start(DemoSettings { wire_delay }).await?;
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("bind {http}"))?;
    let addr = listener.local_addr().context("local address")?;
    let web = tokio::spawn(web::serve(listener, Arc::clone(&demo)));
    Ok(RunningDemo { addr, demo, web })
}
