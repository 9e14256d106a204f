//! The Duplicate Fighter's moving parts: an embedded broker on a temporary directory, the
//! fault proxy in front of it, and a producer driven by hand — every button is one real
//! request. After each answer the broker's own state (its dedupe window, its log) is read
//! back and the decision is explained in plain words next to what the broker did.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use idem_broker::inspect::{self, PartitionView, TopicView};
use idem_broker::{BrokerConfig, RunningBroker};
use idem_client::connection::{Connection, ConnectionConfig};
use idem_proxy::{Proxy, ProxyConfig, Rule};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;
use tokio::sync::{broadcast, Mutex};

/// The demo topic's partitions.
pub const PARTITIONS: usize = 2;
/// Timeline and network entries kept (the page shows the newest).
const KEPT: usize = 200;
/// Records shown per partition.
const SHOWN_RECORDS: usize = 30;

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Increasing id.
    pub id: u64,
    /// accepted, duplicate, out-of-order, fenced, lost, appended, appended-again, crash,
    /// restart, producer-restart, epoch-bump, reset, setting, error.
    pub kind: &'static str,
    /// The decision in plain words.
    pub text: String,
}

/// One request on the wire and what became of its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Packet {
    /// Increasing id.
    pub id: u64,
    /// What was sent.
    pub label: String,
    /// in-flight, delivered, lost.
    pub status: &'static str,
    /// The answer, when delivered.
    pub answer: Option<String>,
}

/// The producer panel.
#[derive(Debug, Clone, Serialize)]
pub struct ProducerView {
    /// Producer id from InitProducerId.
    pub producer_id: i64,
    /// Epoch.
    pub epoch: i16,
    /// Idempotence on: batches carry the producer id, epoch and sequence.
    pub idempotence: bool,
    /// Next sequence per partition.
    pub next_seq: BTreeMap<String, i32>,
    /// The last batch sent (what Retry sends again).
    pub last_batch: Option<String>,
    /// Whether the proxy will drop the next Produce response.
    pub lose_next_ack: bool,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// The demo topic.
    pub topic: String,
    /// up, down.
    pub broker_status: &'static str,
    /// The producer panel.
    pub producer: ProducerView,
    /// The broker panel: the topic as the broker holds it.
    pub broker: Option<TopicView>,
    /// Requests and answers, oldest first.
    pub packets: Vec<Packet>,
    /// Decisions, oldest first.
    pub timeline: Vec<Entry>,
}

/// A batch kept for Retry: the exact bytes, never rebuilt.
#[derive(Debug, Clone)]
struct Sent {
    partition: i32,
    bytes: Bytes,
    value: String,
    producer_id: i64,
    epoch: i16,
    seq: i32,
}

/// The demo's settings.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    /// How long a request is shown in flight before its answer (for the eye; 0 in tests).
    pub wire_delay: Duration,
}

struct Inner {
    config: BrokerConfig,
    broker: Option<RunningBroker>,
    proxy: Proxy,
    conn: Option<Connection>,
    topic: String,
    topics_created: u32,
    producer_id: i64,
    epoch: i16,
    idempotence: bool,
    next_seq: [i32; PARTITIONS],
    last: Option<Sent>,
    lose_next: bool,
    packets: Vec<Packet>,
    timeline: Vec<Entry>,
    next_id: u64,
    settings: DemoSettings,
}

/// The demo: actions come in one at a time; every change is broadcast as a JSON state.
pub struct Demo {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<str>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("dir", &self._dir.path())
            .finish_non_exhaustive()
    }
}

/// What a produce is, for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Send,
    Retry,
    Skip,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Kafka's name for an error code, with the number when Kafka has none.
fn error_name(code: i16) -> String {
    match idem_broker::http::error_name(code) {
        n if n == "UNKNOWN" => format!("error {code}"),
        n => n,
    }
}

impl Demo {
    /// Starts the broker (on a temporary directory, removed when the demo is dropped), the
    /// proxy in front of it, and a producer.
    pub async fn start(settings: DemoSettings) -> anyhow::Result<Arc<Demo>> {
        let dir = tempfile::Builder::new()
            .prefix("idem-demo-")
            .tempdir()
            .context("create a temporary data directory")?;
        let config = BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            listener: "127.0.0.1:0".into(),
            ..BrokerConfig::default()
        };
        let broker = idem_broker::start(config.clone()).await?;
        let mut config = config;
        // Restarts come back on the same port, behind the same proxy.
        config.listener = broker.addr.to_string();
        let proxy = Proxy::start(ProxyConfig {
            listen: "127.0.0.1:0".into(),
            upstream: broker.addr.to_string(),
            advertise: None,
            rules: Vec::new(),
            seed: 1,
            control: None,
        })
        .await?;
        let (events, _) = broadcast::channel(256);
        let demo = Arc::new(Demo {
            inner: Mutex::new(Inner {
                config,
                broker: Some(broker),
                proxy,
                conn: None,
                topic: String::new(),
                topics_created: 0,
                producer_id: -1,
                epoch: -1,
                idempotence: true,
                next_seq: [0; PARTITIONS],
                last: None,
                lose_next: false,
                packets: Vec::new(),
                timeline: Vec::new(),
                next_id: 0,
                settings,
            }),
            events,
            _dir: dir,
        });
        demo.reset().await?;
        Ok(demo)
    }

    /// The temporary data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// New states as JSON, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.events.subscribe()
    }

    /// The current state.
    pub async fn state(&self) -> StateView {
        self.inner.lock().await.view()
    }

    /// Stops the broker cleanly.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.conn = None;
        if let Some(b) = inner.broker.take() {
            b.shutdown().await?;
        }
        Ok(())
    }

    fn publish(&self, inner: &Inner) {
        if let Ok(json) = serde_json::to_string(&inner.view()) {
            let _ = self.events.send(Arc::from(json));
        }
    }

    /// Sends `message` to `partition` with the next sequence.
    pub async fn send(&self, message: &str, partition: i32) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        let p = inner.check_partition(partition)?;
        let seq = inner.next_seq[p];
        let sent = inner.batch(message, partition, seq);
        if inner.idempotence {
            inner.next_seq[p] = idem_producer_state::increment_sequence(seq, 1);
        }
        inner.last = Some(sent.clone());
        self.produce(&mut inner, sent, Intent::Send).await;
        Ok(())
    }

    /// Sends the last batch again: same bytes, same producer id, epoch and sequence.
    pub async fn retry(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        let Some(sent) = inner.last.clone() else {
            inner.entry(
                "error",
                "nothing to retry yet: send a message first".to_string(),
            );
            self.publish(&inner);
            return Ok(());
        };
        self.produce(&mut inner, sent, Intent::Retry).await;
        Ok(())
    }

    /// Sends `message` with the sequence after the next one: a gap.
    pub async fn skip(&self, message: &str, partition: i32) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        let p = inner.check_partition(partition)?;
        if !inner.idempotence {
            inner.entry(
                "error",
                "idempotence is off: batches carry no sequence, there is nothing to skip"
                    .to_string(),
            );
            self.publish(&inner);
            return Ok(());
        }
        let seq = idem_producer_state::increment_sequence(inner.next_seq[p], 1);
        let sent = inner.batch(message, partition, seq);
        self.produce(&mut inner, sent, Intent::Skip).await;
        Ok(())
    }

    /// The proxy will drop the next Produce response (after the broker handled it).
    pub async fn lose_next_ack(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.lose_next = true;
        inner.entry(
            "setting",
            "the proxy will let the next Produce request through and drop the broker's answer"
                .to_string(),
        );
        self.publish(&inner);
        Ok(())
    }

    /// Turns idempotence on or off.
    pub async fn set_idempotence(&self, on: bool) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.idempotence = on;
        let text = if on {
            "idempotence on: batches carry producer id, epoch and sequence; the broker deduplicates retries"
        } else {
            "idempotence off: batches carry no producer id, so the broker cannot recognise a retry"
        };
        inner.entry("setting", text.to_string());
        self.publish(&inner);
        Ok(())
    }

    /// A new producer: InitProducerId hands out a new id, epoch 0; sequences start at 0.
    pub async fn restart_producer(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        self.init_producer(&mut inner).await;
        Ok(())
    }

    /// The producer bumps its own epoch (KIP-360, as the Java client does): sequences
    /// start again at 0 and older batches of this producer id are fenced.
    pub async fn bump_epoch(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        if inner.epoch == i16::MAX {
            inner.entry(
                "error",
                "the epoch is exhausted: restart the producer for a new id".to_string(),
            );
        } else {
            let old = inner.epoch;
            inner.epoch += 1;
            inner.next_seq = [0; PARTITIONS];
            let text = format!(
                "the producer bumps its epoch from {old} to {} (as Java's client does after an unresolved sequence, KIP-360): its next batch starts at seq 0; once the broker has seen epoch {}, a batch of epoch {old} arriving late is fenced with INVALID_PRODUCER_EPOCH",
                inner.epoch,
                inner.epoch
            );
            inner.entry("epoch-bump", text);
        }
        self.publish(&inner);
        Ok(())
    }

    /// Kills the broker without a clean shutdown and starts it again on the same data.
    pub async fn crash_broker(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        inner.conn = None;
        if let Some(b) = inner.broker.take() {
            b.abort().await;
        }
        inner.entry(
            "crash",
            "the broker crashed: no clean shutdown, no producer snapshot written; only what is in its log files survives".to_string(),
        );
        self.publish(&inner);
        tokio::time::sleep(inner.settings.wire_delay).await;
        let started = Instant::now();
        let config = inner.config.clone();
        match idem_broker::start(config).await {
            Ok(b) => {
                inner.broker = Some(b);
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let summary = inner.producer_summary();
                inner.entry(
                    "restart",
                    format!("the broker restarted in {ms:.1} ms: it recovered its log and rebuilt the producer state from the batches in it{summary}"),
                );
            }
            Err(e) => inner.entry("error", format!("the broker did not restart: {e:#}")),
        }
        self.publish(&inner);
        Ok(())
    }

    /// Starts over: an empty topic, a new producer, idempotence on.
    pub async fn reset(&self) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        let broker = Arc::clone(
            &inner
                .broker
                .as_ref()
                .context("the broker is not running")?
                .broker,
        );
        if !inner.topic.is_empty() {
            let _ = broker.delete_topic(&inner.topic);
        }
        // A new name each time: a deleted topic's files go away in the background.
        inner.topics_created += 1;
        let name = format!("duplicate-fighter-{}", inner.topics_created);
        let create = {
            let name = name.clone();
            tokio::task::spawn_blocking(move || {
                broker.create_topic(&name, PARTITIONS as i32, 1, BTreeMap::new())
            })
            .await
            .context("create topic task")?
        };
        create.map_err(|e| anyhow::anyhow!("create {name}: {}", e.message))?;
        inner.topic = name;
        inner.timeline.clear();
        inner.packets.clear();
        inner.idempotence = true;
        inner.lose_next = false;
        inner.last = None;
        inner.proxy.set_rules(Vec::new());
        let text = format!(
            "an empty topic {} with {PARTITIONS} partitions, and a new producer",
            inner.topic
        );
        inner.entry("reset", text);
        self.init_producer(&mut inner).await;
        Ok(())
    }

    async fn init_producer(&self, inner: &mut Inner) {
        let packet = inner.packet("InitProducerId".to_string());
        self.publish(inner);
        let result = async {
            let conn = inner.connection().await?;
            let version = conn.version(ApiKey::InitProducerId, (0, 5))?;
            let req = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let resp: InitProducerIdResponse =
                conn.request(ApiKey::InitProducerId, version, &req).await?;
            anyhow::Ok(resp)
        }
        .await;
        tokio::time::sleep(inner.settings.wire_delay).await;
        match result {
            Ok(r) if r.error_code == 0 => {
                inner.producer_id = r.producer_id.0;
                inner.epoch = r.producer_epoch;
                inner.next_seq = [0; PARTITIONS];
                inner.last = None;
                inner.finish(
                    packet,
                    "delivered",
                    format!(
                        "producer id {}, epoch {}",
                        r.producer_id.0, r.producer_epoch
                    ),
                );
                let text = format!(
                    "InitProducerId: the broker handed out producer id {}, epoch {}; sequences start at 0 on every partition",
                    r.producer_id.0, r.producer_epoch
                );
                inner.entry("producer-restart", text);
            }
            Ok(r) => {
                inner.finish(packet, "delivered", error_name(r.error_code));
                inner.entry(
                    "error",
                    format!("InitProducerId failed: {}", error_name(r.error_code)),
                );
            }
            Err(e) => {
                inner.conn = None;
                inner.finish(packet, "lost", "no answer".to_string());
                inner.entry("error", format!("InitProducerId got no answer: {e:#}"));
            }
        }
        self.publish(inner);
    }

    async fn produce(&self, inner: &mut Inner, sent: Sent, intent: Intent) {
        let before = inner.partition_view(sent.partition);
        let label = format!(
            "Produce \"{}\" → partition {} ({})",
            sent.value,
            sent.partition,
            sent.describe()
        );
        let packet = inner.packet(label);
        let lose = std::mem::take(&mut inner.lose_next);
        if lose {
            inner.proxy.set_rules(vec![
                Rule::parse("produce:drop-response:first=1").expect("a valid rule")
            ]);
        }
        self.publish(inner);
        let topic = inner.topic.clone();
        let result = async {
            let conn = inner.connection().await?;
            let version = conn.version(ApiKey::Produce, (3, 11))?;
            let req = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(s(&topic)))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(sent.partition)
                        .with_records(Some(sent.bytes.clone()))])]);
            let resp: ProduceResponse = conn.request(ApiKey::Produce, version, &req).await?;
            let p = resp
                .responses
                .first()
                .and_then(|t| t.partition_responses.first())
                .context("empty Produce response")?;
            anyhow::Ok((p.error_code, p.base_offset))
        }
        .await;
        tokio::time::sleep(inner.settings.wire_delay).await;
        if lose {
            inner.proxy.set_rules(Vec::new());
        }
        let after = inner.partition_view(sent.partition);
        let (kind, text, status, answer) = explain(&sent, intent, &before, &after, &result);
        if status == "lost" {
            inner.conn = None;
        }
        inner.finish(packet, status, answer);
        inner.entry(kind, text);
        self.publish(inner);
    }
}

impl Sent {
    fn describe(&self) -> String {
        if self.producer_id < 0 {
            "no producer id".to_string()
        } else {
            format!(
                "producer {}, epoch {}, seq {}",
                self.producer_id, self.epoch, self.seq
            )
        }
    }
}

/// The broker's decision in words, from what it answered and what its state was before and
/// is after: (timeline kind, text, packet status, packet answer).
fn explain(
    sent: &Sent,
    intent: Intent,
    before: &Option<PartitionView>,
    after: &Option<PartitionView>,
    result: &anyhow::Result<(i16, i64)>,
) -> (&'static str, String, &'static str, String) {
    let leo_before = before.as_ref().map_or(0, |p| p.log_end_offset);
    let leo_after = after.as_ref().map_or(0, |p| p.log_end_offset);
    let entry = before.as_ref().and_then(|p| {
        p.producers
            .iter()
            .find(|e| e.producer_id == sent.producer_id)
    });
    let v = &sent.value;
    match result {
        Err(_) => {
            let text = if leo_after > leo_before {
                format!(
                    "the broker appended \"{v}\" at offset {leo_before} and answered, but the acknowledgement was lost on the way back: the producer cannot tell whether it landed. Retry sends the same batch ({})",
                    sent.describe()
                )
            } else {
                format!("the request or its answer was lost before the broker wrote anything (\"{v}\", {})", sent.describe())
            };
            ("lost", text, "lost", "acknowledgement lost".to_string())
        }
        Ok((0, offset)) => {
            let answer = format!("ok, offset {offset}");
            if sent.producer_id < 0 {
                return if intent == Intent::Retry {
                    ("appended-again", format!("no producer id (idempotence off): the broker cannot tell this retry from a new message and appends \"{v}\" again at offset {offset}: a duplicate in the log"), "delivered", answer)
                } else {
                    ("appended", format!("no producer id (idempotence off): no sequence check, \"{v}\" appended at offset {offset}"), "delivered", answer)
                };
            }
            if *offset < leo_before && leo_after == leo_before {
                let last = entry.map_or(-1, |e| e.last_seq);
                return ("duplicate", format!("seq {} ≤ last {last}, the same batch as one in the window of the last 5: duplicate, acknowledged with its original offset {offset}, nothing written", sent.seq), "delivered", answer);
            }
            let text = match entry {
                None => format!("producer {} is new to partition {}: its first batch, seq {}, is accepted at offset {offset}", sent.producer_id, sent.partition, sent.seq),
                Some(e) if sent.epoch > e.epoch => format!("epoch {} > {}: a new epoch starts at seq 0: accepted at offset {offset}", sent.epoch, e.epoch),
                Some(e) => format!("seq {} = last {} + 1: accepted at offset {offset}", sent.seq, e.last_seq),
            };
            ("accepted", text, "delivered", answer)
        }
        Ok((code, _)) => {
            let name = error_name(*code);
            let last = entry.map_or(-1, |e| e.last_seq);
            let current_epoch = entry.map_or(-1, |e| e.epoch);
            let text = match *code {
                45 => format!("seq {} > last {last} + 1: out of order, rejected with {name}; nothing written", sent.seq),
                47 => format!("epoch {} < current {current_epoch}: fenced, rejected with {name}; nothing written", sent.epoch),
                _ => format!("rejected with {name} ({code}); nothing written"),
            };
            let kind = match *code {
                45 => "out-of-order",
                47 => "fenced",
                _ => "error",
            };
            (kind, text, "delivered", name)
        }
    }
}

impl Inner {
    fn check_partition(&self, partition: i32) -> anyhow::Result<usize> {
        usize::try_from(partition)
            .ok()
            .filter(|p| *p < PARTITIONS)
            .with_context(|| format!("partition must be 0..{}", PARTITIONS - 1))
    }

    fn batch(&self, message: &str, partition: i32, seq: i32) -> Sent {
        let (producer_id, epoch, seq) = if self.idempotence {
            (self.producer_id, self.epoch, seq)
        } else {
            (-1, -1, -1)
        };
        let bytes = idem_wire::batch::client_batch(
            producer_id,
            epoch,
            seq,
            idem_broker::broker::now_ms(),
            0,
            &[message.as_bytes()],
        );
        Sent {
            partition,
            bytes: Bytes::from(bytes),
            value: message.to_string(),
            producer_id,
            epoch,
            seq,
        }
    }

    async fn connection(&mut self) -> anyhow::Result<&Connection> {
        if self.conn.as_ref().is_none_or(Connection::is_poisoned) {
            let config = ConnectionConfig {
                client_id: "idem-demo".into(),
                request_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
                ..ConnectionConfig::default()
            };
            self.conn = Some(Connection::connect(&self.proxy.addr.to_string(), config).await?);
        }
        self.conn.as_ref().context("no connection")
    }

    fn partition_view(&self, partition: i32) -> Option<PartitionView> {
        let b = self.broker.as_ref()?;
        inspect::topic(&b.broker, &self.topic, 0)?
            .partitions
            .into_iter()
            .find(|p| p.partition == partition)
    }

    fn producer_summary(&self) -> String {
        let Some(b) = &self.broker else {
            return String::new();
        };
        let Some(view) = inspect::topic(&b.broker, &self.topic, 0) else {
            return String::new();
        };
        let mut parts = Vec::new();
        for p in &view.partitions {
            for e in &p.producers {
                parts.push(format!(
                    "producer {} on partition {}: epoch {}, last seq {}, {} batches in the window",
                    e.producer_id,
                    p.partition,
                    e.epoch,
                    e.last_seq,
                    e.batches.len()
                ));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" — {}", parts.join("; "))
        }
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn entry(&mut self, kind: &'static str, text: String) {
        let id = self.next();
        self.timeline.push(Entry { id, kind, text });
        if self.timeline.len() > KEPT {
            self.timeline.remove(0);
        }
    }

    fn packet(&mut self, label: String) -> u64 {
        let id = self.next();
        self.packets.push(Packet {
            id,
            label,
            status: "in-flight",
            answer: None,
        });
        if self.packets.len() > KEPT {
            self.packets.remove(0);
        }
        id
    }

    fn finish(&mut self, id: u64, status: &'static str, answer: String) {
        if let Some(p) = self.packets.iter_mut().find(|p| p.id == id) {
            p.status = status;
            p.answer = Some(answer);
        }
    }

    fn view(&self) -> StateView {
        StateView {
            topic: self.topic.clone(),
            broker_status: if self.broker.is_some() { "up" } else { "down" },
            producer: ProducerView {
                producer_id: self.producer_id,
                epoch: self.epoch,
                idempotence: self.idempotence,
                next_seq: self
                    .next_seq
                    .iter()
                    .enumerate()
                    .map(|(p, s)| (p.to_string(), *s))
                    .collect(),
                last_batch: self.last.as_ref().map(|l| {
                    format!(
                        "\"{}\" → partition {} ({})",
                        l.value,
                        l.partition,
                        l.describe()
                    )
                }),
                lose_next_ack: self.lose_next,
            },
            broker: self
                .broker
                .as_ref()
                .and_then(|b| inspect::topic(&b.broker, &self.topic, SHOWN_RECORDS)),
            packets: self.packets.clone(),
            timeline: self.timeline.clone(),
        }
    }
}
