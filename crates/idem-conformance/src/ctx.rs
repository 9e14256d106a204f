//! The state of one scenario on one broker: its connection, its own topics and producer ids,
//! the steps it recorded, and the normalisers that make two brokers' answers comparable.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use idem_wire::batch::{verify_crc, BatchHeader};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::batches;
use crate::client::{is_closed, no_answer, Conn};
use crate::observation::{Observation, Step, StoredBatch, StoredPartition};

/// Produce version for the idempotence scenarios (§9 says v9–11).
pub(crate) const PRODUCE_VERSION: i16 = 9;

/// How long a just-created topic may take to get a leader (Kafka's broker learns about it from
/// the controller's metadata log a moment after CreateTopics answers).
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A topic the scenario created.
#[derive(Debug, Clone)]
pub(crate) struct Topic {
    /// The scenario's name for it (`t`, `lat`, ...); the same on every broker.
    pub(crate) alias: String,
    /// The real name (unique per broker run).
    pub(crate) name: String,
    /// The topic id the broker assigned.
    pub(crate) id: Uuid,
    /// Partition count.
    pub(crate) partitions: i32,
}

/// One scenario running against one broker.
#[derive(Debug)]
pub(crate) struct Ctx {
    conn: Conn,
    addr: SocketAddr,
    /// `conf-<run>-<scenario>`: every topic of the scenario starts with it.
    prefix: String,
    /// The scenario's base timestamp for the batches it sends: one second in the past, so a
    /// broker-assigned append time can never coincide with it.
    pub(crate) t0: i64,
    producers: Vec<i64>,
    topics: Vec<Topic>,
    /// Timestamps the scenario put in batches.
    sent_timestamps: Vec<i64>,
    /// LogAppendTime values brokers answered, by step label.
    append_times: Vec<(String, i64)>,
    obs: Observation,
}

pub(crate) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Ctx {
    /// A fresh connection for scenario `scenario` of run `run`.
    pub(crate) async fn new(addr: SocketAddr, run: &str, scenario: &str) -> anyhow::Result<Ctx> {
        let t0 = now_ms() - 1_000;
        Ok(Ctx {
            conn: Conn::connect(addr).await?,
            addr,
            prefix: format!("conf-{run}-{scenario}"),
            t0,
            producers: Vec::new(),
            topics: Vec::new(),
            sent_timestamps: vec![t0],
            append_times: Vec::new(),
            obs: Observation::default(),
        })
    }

    /// The broker address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection, for requests a scenario builds itself.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Replaces the connection (after the broker closed it).
    pub(crate) async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.conn = Conn::connect(self.addr).await?;
        Ok(())
    }

    /// The real name of topic `alias` (created or not).
    pub(crate) fn name(&self, alias: &str) -> String {
        format!("{}-{alias}", self.prefix)
    }

    /// A topic the scenario created.
    pub(crate) fn topic(&self, alias: &str) -> anyhow::Result<&Topic> {
        self.topics
            .iter()
            .find(|t| t.alias == alias)
            .ok_or_else(|| anyhow!("scenario bug: topic {alias} was not created"))
    }

    // ---- recording -------------------------------------------------------------------------

    /// Records a step. A repeated label gets `#2`, `#3`, ... so paths stay unique.
    pub(crate) fn step(&mut self, label: &str, fields: Vec<(&str, Value)>) {
        let mut unique = label.to_string();
        let mut n = 1;
        while self.obs.steps.iter().any(|s| s.label == unique) {
            n += 1;
            unique = format!("{label}#{n}");
        }
        self.obs.steps.push(Step {
            label: unique,
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
    }

    /// Records something the report shows but the comparison ignores.
    pub(crate) fn info(&mut self, key: &str, value: Value) {
        self.obs.info.insert(key.to_string(), value);
    }

    /// The observation so far, plus every created topic read back.
    pub(crate) async fn finish(mut self) -> anyhow::Result<Observation> {
        let topics = self.topics.clone();
        for t in &topics {
            for p in 0..t.partitions {
                let stored = self.read_partition(t, p).await?;
                self.obs.stored.push(stored);
            }
        }
        Ok(self.obs)
    }

    // ---- normalisation ---------------------------------------------------------------------

    /// `P<n>` for the scenario's n-th producer id, `none` for -1.
    pub(crate) fn pid(&self, id: i64) -> String {
        if id == -1 {
            return "none".into();
        }
        match self.producers.iter().position(|p| *p == id) {
            Some(i) => format!("P{i}"),
            None => format!("unissued:{id}"),
        }
    }

    /// Like [`Ctx::pid`], registering an id a broker just handed out.
    pub(crate) fn issued_pid(&mut self, id: i64) -> String {
        if id >= 0 && !self.producers.contains(&id) {
            self.producers.push(id);
        }
        self.pid(id)
    }

    /// A timestamp from a response or a stored batch: `-1`, `t0[+-Nms]` (one the scenario
    /// sent), `same-as:<step>` (a broker-assigned append time answered earlier),
    /// `broker-clock` (now, by the broker's clock) or `unexpected:...`.
    pub(crate) fn ts(&self, v: i64) -> String {
        if v == -1 {
            return "-1".into();
        }
        // Other negative timestamps are literal values a scenario sent, never relative to t0
        // (which differs between the brokers' runs).
        // So are timestamps before 2000 (a backfill stamped in 1970): fixed values, the same
        // in both runs.
        if v < -1 || (0..946_684_800_000).contains(&v) {
            return format!("{v}");
        }
        // Sent timestamps first: they are a second or more away from any broker clock reading.
        if self.sent_timestamps.contains(&v) {
            return self.relative(v);
        }
        if let Some((label, _)) = self.append_times.iter().find(|(_, t)| *t == v) {
            return format!("same-as:{label}");
        }
        if (v - now_ms()).abs() < 120_000 {
            return "broker-clock".into();
        }
        format!("unexpected:{}", self.relative(v))
    }

    fn relative(&self, v: i64) -> String {
        if v == self.t0 {
            "t0".into()
        } else {
            format!("t0{:+}ms", v - self.t0)
        }
    }

    /// A topic id: `zero`, `id:<alias>` for one of the scenario's topics (once the scenario
    /// knows it), or `nonzero`.
    pub(crate) fn topic_id(&self, id: Uuid) -> String {
        if id.is_nil() {
            return "zero".into();
        }
        match self.topics.iter().find(|t| t.id == id) {
            Some(t) => format!("id:{}", t.alias),
            None => "nonzero".into(),
        }
    }

    /// A topic name: the alias for one of the scenario's names, `""` for empty, else `other`.
    pub(crate) fn topic_name(&self, name: &str) -> String {
        if name.is_empty() {
            return String::new();
        }
        match name.strip_prefix(&format!("{}-", self.prefix)) {
            Some(alias) => alias.to_string(),
            None => "other".into(),
        }
    }

    // ---- batches ---------------------------------------------------------------------------

    /// `B(epoch, seq, n)` of producer `pid`: values `"{tag}-{i}"`, every record stamped t0.
    pub(crate) fn batch(&mut self, pid: i64, epoch: i16, seq: i32, n: i32, tag: &str) -> Vec<u8> {
        self.batch_at(pid, epoch, seq, n, tag, self.t0)
    }

    /// Like [`Ctx::batch`] with every record stamped `timestamp`.
    pub(crate) fn batch_at(
        &mut self,
        pid: i64,
        epoch: i16,
        seq: i32,
        n: i32,
        tag: &str,
        timestamp: i64,
    ) -> Vec<u8> {
        self.sent(timestamp);
        batches::client(pid, epoch, seq, timestamp, &batches::values(tag, n))
    }

    /// Notes a timestamp the scenario put in a batch.
    pub(crate) fn sent(&mut self, timestamp: i64) {
        if !self.sent_timestamps.contains(&timestamp) {
            self.sent_timestamps.push(timestamp);
        }
    }

    // ---- setup -----------------------------------------------------------------------------

    /// Creates topic `alias` (CreateTopics v7, one replica) and waits until it has a leader.
    /// Setup, not recorded: a failure is a scenario error.
    pub(crate) async fn create_topic(
        &mut self,
        alias: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let name = self.name(alias);
        let topic = CreatableTopic::default()
            .with_name(TopicName(s(&name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            );
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000);
        let resp: CreateTopicsResponse = self.conn.call(ApiKey::CreateTopics, 7, &req).await?;
        let t = resp
            .topics
            .first()
            .context("CreateTopics: no topic in the response")?;
        if t.error_code != 0 {
            bail!(
                "CreateTopics {name}: error {} ({:?})",
                t.error_code,
                t.error_message.as_deref()
            );
        }
        self.adopt_topic(alias).await
    }

    /// Waits until topic `alias` (created by the scenario, by whatever means) has a leader for
    /// every partition, then reads it back at the end like the scenario's other topics.
    pub(crate) async fn adopt_topic(&mut self, alias: &str) -> anyhow::Result<()> {
        let name = self.name(alias);
        let (id, partitions) = self.wait_for_topic(&name).await?;
        // Kafka's broker lists the leader a moment before it serves the partition (answering
        // NOT_LEADER_OR_FOLLOWER meanwhile): wait until every partition answers ListOffsets.
        let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
        for p in 0..partitions {
            loop {
                let (code, _) = self.list_offset(&name, p, -1).await?;
                if code == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{name}-{p}: ListOffsets error {code} after {TOPIC_READY_TIMEOUT:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.topics.push(Topic {
            alias: alias.to_string(),
            name,
            id,
            partitions,
        });
        Ok(())
    }

    /// Polls Metadata v12 until `name` is known with a leader for every partition; its id and
    /// partition count.
    async fn wait_for_topic(&mut self, name: &str) -> anyhow::Result<(Uuid, i32)> {
        let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
        loop {
            let req = MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(TopicName(s(name))))
                ]))
                .with_allow_auto_topic_creation(false);
            let resp: MetadataResponse = self.conn.call(ApiKey::Metadata, 12, &req).await?;
            if let Some(t) = resp.topics.first() {
                let ready = t.error_code == 0
                    && !t.partitions.is_empty()
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0);
                if ready {
                    return Ok((t.topic_id, i32::try_from(t.partitions.len())?));
                }
            }
            if Instant::now() > deadline {
                bail!("topic {name} has no leader after {TOPIC_READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new producer id (InitProducerId v4, null transactional id), retrying the retriable
    /// coordinator errors Kafka answers while its first id block is being allocated. Setup,
    /// not recorded.
    pub(crate) async fn producer(&mut self) -> anyhow::Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(i32::MAX);
            let resp: InitProducerIdResponse =
                self.conn.call(ApiKey::InitProducerId, 4, &req).await?;
            match resp.error_code {
                0 => {
                    self.issued_pid(resp.producer_id.0);
                    return Ok(resp.producer_id.0);
                }
                // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
                14..=16 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                code => bail!("InitProducerId: error {code}"),
            }
        }
    }

    // ---- produce ---------------------------------------------------------------------------

    /// Produce v9, acks=all, `batch` to partition 0 of topic `alias`; records the answer.
    pub(crate) async fn produce(
        &mut self,
        label: &str,
        alias: &str,
        batch: Vec<u8>,
    ) -> anyhow::Result<Option<PartitionProduceResponse>> {
        let req = produce_request(&self.name(alias), 0, Some(batch), -1);
        self.produce_request(label, PRODUCE_VERSION, &req).await
    }

    /// Sends `req`, records the first partition's answer (or the closed connection, after
    /// which the scenario continues on a new connection) and returns it.
    pub(crate) async fn produce_request(
        &mut self,
        label: &str,
        version: i16,
        req: &ProduceRequest,
    ) -> anyhow::Result<Option<PartitionProduceResponse>> {
        let resp: ProduceResponse = match self.conn.call(ApiKey::Produce, version, req).await {
            Ok(r) => r,
            Err(e) if is_closed(&e) => {
                self.step(label, vec![("outcome", json!("connection closed"))]);
                self.reconnect().await?;
                return Ok(None);
            }
            Err(e) => match no_answer(&e) {
                Some(waited) => {
                    let outcome = format!("no answer within {} s", waited.as_secs());
                    self.step(label, vec![("outcome", json!(outcome))]);
                    self.reconnect().await?;
                    return Ok(None);
                }
                None => return Err(e.context(format!("step {label}"))),
            },
        };
        let topic = resp
            .responses
            .first()
            .with_context(|| format!("step {label}: no topic in the Produce response"))?;
        let p = topic
            .partition_responses
            .first()
            .with_context(|| format!("step {label}: no partition in the Produce response"))?
            .clone();
        let mut fields = vec![
            ("error_code", json!(p.error_code)),
            ("base_offset", json!(p.base_offset)),
            ("log_start_offset", json!(p.log_start_offset)),
            ("log_append_time", json!(self.ts(p.log_append_time_ms))),
            (
                "record_errors",
                json!(p
                    .record_errors
                    .iter()
                    .map(|r| r.batch_index)
                    .collect::<Vec<_>>()),
            ),
        ];
        if version >= 13 {
            fields.push(("topic_id", json!(self.topic_id(topic.topic_id))));
        } else {
            fields.push(("topic", json!(self.topic_name(&topic.name))));
        }
        self.step(label, fields);
        if let Some(msg) = &p.error_message {
            self.info(&format!("{label}.error_message"), json!(msg.as_str()));
        }
        // A broker-assigned append time, for later answers that should repeat it.
        if p.log_append_time_ms != -1 && !self.sent_timestamps.contains(&p.log_append_time_ms) {
            self.append_times
                .push((label.to_string(), p.log_append_time_ms));
        }
        Ok(Some(p))
    }

    // ---- other requests --------------------------------------------------------------------

    /// DescribeProducers v0 for one partition; records the error and the active producers.
    pub(crate) async fn describe_producers(
        &mut self,
        label: &str,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<()> {
        let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![partition])]);
        let resp: DescribeProducersResponse =
            self.conn.call(ApiKey::DescribeProducers, 0, &req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .with_context(|| format!("step {label}: no partition in DescribeProducers"))?;
        let producers: Vec<Value> = p
            .active_producers
            .iter()
            .map(|a| {
                json!({
                    "producer": self.pid(a.producer_id.0),
                    "epoch": a.producer_epoch,
                    "last_sequence": a.last_sequence,
                    "last_timestamp": self.ts(a.last_timestamp),
                    "coordinator_epoch": a.coordinator_epoch,
                    "current_txn_start_offset": a.current_txn_start_offset,
                })
            })
            .collect();
        self.step(
            label,
            vec![
                ("error_code", json!(p.error_code)),
                ("active_producers", json!(producers)),
            ],
        );
        Ok(())
    }

    /// DeleteRecords v2 up to `offset` on partition 0 of `alias`; records error and low mark.
    pub(crate) async fn delete_records(
        &mut self,
        label: &str,
        alias: &str,
        offset: i64,
    ) -> anyhow::Result<()> {
        let req = DeleteRecordsRequest::default()
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(s(&self.name(alias))))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])])
            .with_timeout_ms(30_000);
        let resp: DeleteRecordsResponse = self.conn.call(ApiKey::DeleteRecords, 2, &req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .with_context(|| format!("step {label}: no partition in DeleteRecords"))?;
        self.step(
            label,
            vec![
                ("error_code", json!(p.error_code)),
                ("low_watermark", json!(p.low_watermark)),
            ],
        );
        Ok(())
    }

    /// ListOffsets v7 for one partition: `(error, offset)`.
    async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> anyhow::Result<(i16, i64)> {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let resp: ListOffsetsResponse = self.conn.call(ApiKey::ListOffsets, 7, &req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .context("no partition in the ListOffsets response")?;
        Ok((p.error_code, p.offset))
    }

    /// One Fetch (v12) of partition 0 of `alias` from `offset` with generous limits, recorded
    /// as a step: the error code and how many whole batches and records the one response
    /// carried (a broker that serves one segment per fetch shows here).
    pub(crate) async fn fetch_once(
        &mut self,
        label: &str,
        alias: &str,
        offset: i64,
    ) -> anyhow::Result<()> {
        let name = self.name(alias);
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(8 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(s(&name)))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(4 << 20)])]);
        let resp: FetchResponse = self.conn.call(ApiKey::Fetch, 12, &req).await?;
        let p = resp
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .context("no partition in the Fetch response")?;
        let records = p.records.clone().unwrap_or_default();
        let (mut batches, mut count, mut pos) = (0, 0, 0);
        while let Ok(h) = BatchHeader::parse(&records[pos..]) {
            if pos + h.total_len() > records.len() {
                break;
            }
            batches += 1;
            count += h.records_count;
            pos += h.total_len();
        }
        self.step(
            label,
            vec![
                ("error_code", json!(p.error_code)),
                ("batches", json!(batches)),
                ("records", json!(count)),
            ],
        );
        Ok(())
    }

    /// Every batch of a partition from its log start offset to its high watermark (Fetch v12).
    async fn read_partition(
        &mut self,
        topic: &Topic,
        partition: i32,
    ) -> anyhow::Result<StoredPartition> {
        let (code, start) = self.list_offset(&topic.name, partition, -2).await?;
        if code != 0 {
            bail!(
                "ListOffsets earliest {}-{partition}: error {code}",
                topic.alias
            );
        }
        let mut out = StoredPartition {
            topic: topic.alias.clone(),
            partition,
            log_start_offset: -1,
            high_watermark: -1,
            batches: Vec::new(),
        };
        let mut offset = start;
        // Bounded: a scenario stores a few batches; 1000 round trips means a broker looping.
        for _ in 0..1000 {
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_min_bytes(0)
                .with_max_bytes(8 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(s(&topic.name)))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(4 << 20)])]);
            let resp: FetchResponse = self.conn.call(ApiKey::Fetch, 12, &req).await?;
            let p = resp
                .responses
                .first()
                .and_then(|t| t.partitions.first())
                .context("no partition in the Fetch response")?;
            if p.error_code != 0 {
                bail!(
                    "Fetch {}-{partition} at {offset}: error {}",
                    topic.alias,
                    p.error_code
                );
            }
            out.log_start_offset = p.log_start_offset;
            out.high_watermark = p.high_watermark;
            let records = p.records.clone().unwrap_or_default();
            let mut pos = 0;
            while pos < records.len() {
                // A batch cut by the size limit ends this response; fetch again from it.
                let Ok(h) = BatchHeader::parse(&records[pos..]) else {
                    break;
                };
                let end = pos + h.total_len();
                let batch = records.slice(pos..end);
                if h.last_offset() >= offset {
                    out.batches.push(self.stored_batch(&h, batch));
                }
                offset = offset.max(h.last_offset() + 1);
                pos = end;
            }
            if offset >= p.high_watermark || pos == 0 {
                return Ok(out);
            }
        }
        bail!(
            "Fetch {}-{partition}: no end after 1000 requests",
            topic.alias
        )
    }

    fn stored_batch(&self, h: &BatchHeader, batch: Bytes) -> StoredBatch {
        let mut flags = Vec::new();
        if h.is_transactional() {
            flags.push("transactional".to_string());
        }
        if h.is_control() {
            flags.push("control".to_string());
        }
        let values = match RecordBatchDecoder::decode(&mut batch.clone()) {
            Ok(set) => set
                .records
                .iter()
                .map(|r| match &r.value {
                    Some(v) => String::from_utf8_lossy(v).into_owned(),
                    None => "null".into(),
                })
                .collect(),
            Err(e) => vec![format!("<undecodable: {e}>")],
        };
        StoredBatch {
            base_offset: h.base_offset,
            producer: self.pid(h.producer_id),
            epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            count: h.records_count,
            codec: match h.codec() {
                Ok(c) => c.name().to_string(),
                Err(id) => format!("unknown:{id}"),
            },
            timestamp_type: if h.is_log_append_time() {
                "LogAppendTime".into()
            } else {
                "CreateTime".into()
            },
            flags,
            leader_epoch: h.partition_leader_epoch,
            max_timestamp: self.ts(h.max_timestamp),
            crc_ok: verify_crc(&batch, h).is_ok(),
            values,
        }
    }
}

/// A Produce request with one partition of one topic (by name).
pub(crate) fn produce_request(
    topic: &str,
    partition: i32,
    records: Option<Vec<u8>>,
    acks: i16,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(records.map(Bytes::from))])])
}
