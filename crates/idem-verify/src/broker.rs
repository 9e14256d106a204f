//! The broker under test: an `idem serve` child process that the nemesis kills with SIGKILL
//! and starts again on the same port and data directory, and a scraper of its `/metrics`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long a (re)started broker may take to accept connections before the run fails.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest `/metrics` page read (a few partitions: a few KiB).
const METRICS_MAX_BYTES: usize = 4 << 20;

/// One `idem serve` child and how to start it again.
#[derive(Debug)]
pub struct BrokerProcess {
    bin: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    /// The Kafka listener.
    pub addr: String,
    /// The `/metrics` listener.
    pub http: String,
    sets: Vec<String>,
    child: Option<Child>,
}

impl BrokerProcess {
    /// Describes a broker; [`BrokerProcess::start`] runs it.
    pub fn new(
        bin: &Path,
        data_dir: &Path,
        log: &Path,
        addr: String,
        http: String,
        sets: Vec<String>,
    ) -> BrokerProcess {
        BrokerProcess {
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            addr,
            http,
            sets,
            child: None,
        }
    }

    /// Starts the broker and waits until it accepts connections; returns how long that took.
    pub async fn start(&mut self) -> anyhow::Result<Duration> {
        if self.child.is_some() {
            bail!("broker already running");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(&self.addr)
            .arg("--http")
            .arg(&self.http)
            .arg("--log")
            .arg("warn");
        for s in &self.sets {
            cmd.arg("--set").arg(s);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().context("log file")?)
            .stderr(log)
            // If verify itself dies, the broker must not outlive it.
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawn {} serve", self.bin.display()))?;
        loop {
            if TcpStream::connect(&self.addr).await.is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().context("broker status")? {
                bail!(
                    "the broker exited with {status} before accepting connections (see {})",
                    self.log.display()
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill().await;
                bail!(
                    "the broker did not accept connections on {} within {READY_TIMEOUT:?} (see {})",
                    self.addr,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.child = Some(child);
        Ok(started.elapsed())
    }

    /// SIGKILL: no flush, no shutdown marker, whatever was in flight is cut.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().context("kill -9 the broker")?;
            child.wait().await.context("reap the broker")?;
        }
        Ok(())
    }

    /// SIGTERM and wait: the clean shutdown at the end of a run.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                // No libc dependency for one signal: `kill` is on every machine this runs on.
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status();
            }
            match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                Ok(status) => {
                    status.context("wait for the broker")?;
                }
                Err(_) => {
                    let _ = child.kill().await;
                    bail!("the broker did not stop within 30 s of SIGTERM");
                }
            }
        }
        Ok(())
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sum of one counter over all its label sets, from `/metrics`.
    pub async fn counter(&self, name: &str) -> anyhow::Result<u64> {
        let page = get_metrics(&self.http).await?;
        parse_counter(&page, name).with_context(|| format!("{name} not in /metrics"))
    }
}

async fn get_metrics(addr: &str) -> anyhow::Result<String> {
    let fetch = async {
        let mut s = TcpStream::connect(addr).await?;
        // The port answers only a Host that names it (DNS-rebinding guard).
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut body = Vec::new();
        (&mut s)
            .take(METRICS_MAX_BYTES as u64)
            .read_to_end(&mut body)
            .await?;
        anyhow::Ok(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .context("GET /metrics timed out")??;
    let text = String::from_utf8(body).context("/metrics is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("/metrics: no end of headers")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "/metrics answered {:?}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(body.to_string())
}

/// Sums the samples of `name` (any labels) in a Prometheus text page.
pub fn parse_counter(page: &str, name: &str) -> Option<u64> {
    let mut found = None;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name value` or `name{labels} value`, not `name_more ...`.
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value = rest.rsplit(' ').next()?.parse::<f64>().ok()?;
        *found.get_or_insert(0) += value as u64;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::parse_counter;

    #[test]
    fn counters_are_summed_over_labels_and_prefixes_do_not_match() {
        let page = "# HELP idem_duplicates_total x\n# TYPE idem_duplicates_total counter\n\
                    idem_duplicates_total 7\nidem_duplicates_total_other 100\n\
                    idem_x{topic=\"a b\",partition=\"0\"} 2\nidem_x{topic=\"a\",partition=\"1\"} 3\n";
        assert_eq!(parse_counter(page, "idem_duplicates_total"), Some(7));
        assert_eq!(parse_counter(page, "idem_x"), Some(5));
        assert_eq!(parse_counter(page, "idem_y"), None);
    }
}
