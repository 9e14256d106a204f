//! `idem proxy`: a seeded, Kafka-frame-aware TCP proxy that injects faults.
//!
//! It sits between clients and one broker (idem or Kafka). It reads whole frames in both
//! directions, knows which request each response answers (a connection's responses come back
//! in request order), applies the first [`rules::Rule`] that selects a request, and rewrites
//! the broker address in Metadata, FindCoordinator and DescribeCluster responses so clients
//! keep talking through the proxy. Every injected fault is logged and counted; the rules can
//! be replaced while it runs, through a small HTTP control port (see [`control`]).
//!
//! It does not look inside record batches and keeps no state across connections besides
//! the rule counters and the random generator (seeded, so a run can be replayed).

mod conn;
pub mod control;
mod rewrite;
pub mod rules;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::net::TcpListener;

pub use rules::{Action, Rule, RuleError};

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Address to listen on.
    pub listen: String,
    /// The broker, host:port.
    pub upstream: String,
    /// Address given to clients in rewritten responses; the bound address if unset.
    pub advertise: Option<String>,
    /// Fault rules, first match wins.
    pub rules: Vec<Rule>,
    /// Seed of the random generator behind `prob=` rules.
    pub seed: u64,
    /// Address of the HTTP control port, if any.
    pub control: Option<String>,
}

/// Counters, served as JSON by the control port.
#[derive(Debug, Default)]
pub struct Stats {
    /// Client connections accepted.
    pub connections: AtomicU64,
    /// Requests forwarded, by API key.
    pub requests: Mutex<BTreeMap<i16, u64>>,
    /// Faults injected, by action name.
    pub faults: Mutex<BTreeMap<&'static str, u64>>,
    /// Responses whose broker address was rewritten.
    pub rewritten: AtomicU64,
}

impl Stats {
    fn count_request(&self, api_key: i16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(api_key)
            .or_default() += 1;
    }

    fn count_fault(&self, action: &'static str) {
        *self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(action)
            .or_default() += 1;
    }

    /// Faults injected with this action so far.
    pub fn faults(&self, action: &str) -> u64 {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(action)
            .copied()
            .unwrap_or(0)
    }

    /// A JSON snapshot.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            faults: self
                .faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            rewritten: self.rewritten.load(Ordering::Relaxed),
        }
    }
}

/// What `/stats` returns.
#[derive(Debug, Serialize)]
pub struct StatsSnapshot {
    /// Client connections accepted.
    pub connections: u64,
    /// Requests by API key.
    pub requests: BTreeMap<String, u64>,
    /// Faults by action.
    pub faults: BTreeMap<String, u64>,
    /// Rewritten responses.
    pub rewritten: u64,
}

/// State shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) rules: Mutex<Vec<Rule>>,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) advertise: (String, i32),
    pub(crate) upstream: String,
}

impl Shared {
    /// The fate of a request: the action of the first rule that selects it.
    pub(crate) fn decide(&self, api_key: i16) -> Option<(Action, String)> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rules.iter_mut().find_map(|r| {
            r.select(api_key, &mut rng)
                .then(|| (r.action, r.text.clone()))
        })
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The control port, if enabled.
    pub control_addr: Option<SocketAddr>,
    /// Counters.
    pub stats: Arc<Stats>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Binds and starts serving.
    pub async fn start(config: ProxyConfig) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("bind {}", config.listen))?;
        let addr = listener.local_addr().context("local address")?;
        let advertise = match &config.advertise {
            Some(a) => split_host_port(a).with_context(|| format!("--advertise {a}"))?,
            None => (addr.ip().to_string(), i32::from(addr.port())),
        };
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            rules: Mutex::new(config.rules),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            stats: Arc::clone(&stats),
            advertise,
            upstream: config.upstream,
        });
        let mut tasks = Vec::new();
        let mut control_addr = None;
        if let Some(control) = &config.control {
            let listener = TcpListener::bind(control)
                .await
                .with_context(|| format!("bind control {control}"))?;
            control_addr = Some(listener.local_addr().context("control address")?);
            tasks.push(tokio::spawn(control::serve(listener, Arc::clone(&shared))));
        }
        let accept_shared = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((client, peer)) => {
                        accept_shared
                            .stats
                            .connections
                            .fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(conn::serve(client, peer, Arc::clone(&accept_shared)));
                    }
                    Err(e) => {
                        tracing::warn!("proxy accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        }));
        tracing::info!(%addr, upstream = %shared.upstream, "proxy listening");
        Ok(Proxy {
            addr,
            control_addr,
            stats,
            shared,
            tasks,
        })
    }

    /// Replaces the rules (counters start again).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    /// The rules with their counters.
    pub fn rules(&self) -> Vec<Rule> {
        self.shared
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn split_host_port(addr: &str) -> anyhow::Result<(String, i32)> {
    let (host, port) = addr.rsplit_once(':').context("expected host:port")?;
    Ok((host.to_string(), port.parse().context("port")?))
}
