//! The group consumer: subscribe to topics, let the group coordinator share their
//! partitions among the members, commit positions.
//!
//! It speaks Kafka's classic group protocol (FindCoordinator, JoinGroup with the v4+
//! MEMBER_ID_REQUIRED round trip, SyncGroup, Heartbeat, OffsetFetch, OffsetCommit,
//! LeaveGroup) with protocol type `consumer` and the `range` or `roundrobin` assignor, so it
//! can share a group with Java, librdkafka or franz-go consumers using the same assignor.
//!
//! There is no background thread: [`GroupConsumer::poll`] heartbeats, rejoins after a
//! rebalance, auto-commits and fetches. An application must call `poll` more often than
//! `session.timeout.ms` (and faster than `heartbeat.interval.ms` to learn of rebalances
//! promptly). Before giving up its partitions in a rebalance, a member with
//! `enable.auto.commit` commits its positions, so the next owner starts where it stopped
//! (at-least-once).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    join_group_request::JoinGroupRequestProtocol, leave_group_request::MemberIdentity,
    sync_group_request::SyncGroupRequestAssignment, ApiKey, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;
use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::consumer::{Consumer, ConsumerRecord, Seek};
use crate::error::{Error, Result};

const FIND_COORDINATOR: (i16, i16) = (0, 3);
const JOIN_GROUP: (i16, i16) = (1, 9);
const SYNC_GROUP: (i16, i16) = (0, 5);
const HEARTBEAT: (i16, i16) = (0, 4);
const LEAVE_GROUP: (i16, i16) = (0, 5);
const OFFSET_COMMIT: (i16, i16) = (2, 8);
const OFFSET_FETCH: (i16, i16) = (1, 7);

const MEMBER_ID_REQUIRED: i16 = 79;
const UNKNOWN_MEMBER_ID: i16 = 25;
const ILLEGAL_GENERATION: i16 = 22;
const REBALANCE_IN_PROGRESS: i16 = 27;
const FENCED_INSTANCE_ID: i16 = 82;

fn coordinator_moved(code: i16) -> bool {
    matches!(code, 14..=16)
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// How partitions are shared among the members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignor {
    /// Kafka's `range`: per topic, consecutive partitions to members in member-id order.
    Range,
    /// Kafka's `roundrobin`: all partitions dealt out in turn.
    RoundRobin,
}

impl Assignor {
    fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
        }
    }
}

/// Group settings, under Kafka's names.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// `group.id`
    pub group_id: String,
    /// `group.instance.id` (static membership)
    pub instance_id: Option<String>,
    /// `session.timeout.ms`
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`: the rebalance timeout.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`
    pub heartbeat_interval: Duration,
    /// `enable.auto.commit`
    pub auto_commit: bool,
    /// `auto.commit.interval.ms`
    pub auto_commit_interval: Duration,
    /// `partition.assignment.strategy`: `range` or `roundrobin`.
    pub assignor: Assignor,
}

impl GroupSettings {
    /// From `config`; `group.id` is required.
    pub fn from_config(config: &ClientConfig) -> Result<GroupSettings> {
        let group_id = config
            .get("group.id")
            .filter(|g| !g.is_empty())
            .ok_or_else(|| Error::Config("group.id is required for a group consumer".into()))?
            .to_string();
        let millis = |name: &str, default: u64| -> Result<Duration> {
            match config.get(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Duration::from_millis)
                    .map_err(|_| Error::Config(format!("{name}={v:?} is not valid"))),
            }
        };
        let assignor = match config
            .get("partition.assignment.strategy")
            .unwrap_or("range")
        {
            "range" => Assignor::Range,
            "roundrobin" => Assignor::RoundRobin,
            other => {
                return Err(Error::Config(format!(
                "partition.assignment.strategy={other:?}: idem's client has range and roundrobin"
            )))
            }
        };
        let auto_commit = match config.get("enable.auto.commit").unwrap_or("true") {
            "true" => true,
            "false" => false,
            other => return Err(Error::Config(format!("enable.auto.commit={other:?}"))),
        };
        Ok(GroupSettings {
            group_id,
            instance_id: config.get("group.instance.id").map(str::to_string),
            session_timeout: millis("session.timeout.ms", 45_000)?,
            rebalance_timeout: millis("max.poll.interval.ms", 300_000)?,
            heartbeat_interval: millis("heartbeat.interval.ms", 3_000)?,
            auto_commit,
            auto_commit_interval: millis("auto.commit.interval.ms", 5_000)?,
            assignor,
        })
    }
}

/// A consumer in a group.
#[derive(Debug)]
pub struct GroupConsumer {
    consumer: Consumer,
    cluster: Arc<Cluster>,
    settings: GroupSettings,
    topics: Vec<String>,
    coordinator: Option<Arc<Connection>>,
    member_id: String,
    generation: i32,
    joined: bool,
    assigned: Vec<(String, i32)>,
    last_heartbeat: Instant,
    last_commit: Instant,
    rebalances: Vec<Duration>,
}

impl GroupConsumer {
    /// A group consumer from settings (`group.id` plus the consumer's).
    pub fn new(config: &ClientConfig) -> Result<GroupConsumer> {
        let settings = GroupSettings::from_config(config)?;
        let consumer = Consumer::new(config)?;
        Ok(GroupConsumer {
            cluster: Arc::clone(consumer.cluster()),
            consumer,
            settings,
            topics: Vec::new(),
            coordinator: None,
            member_id: String::new(),
            generation: -1,
            joined: false,
            assigned: Vec::new(),
            last_heartbeat: Instant::now(),
            last_commit: Instant::now(),
            rebalances: Vec::new(),
        })
    }

    /// Subscribes to `topics`; takes effect at the next `poll` (a rebalance).
    pub fn subscribe(&mut self, topics: &[&str]) {
        let mut t: Vec<String> = topics.iter().map(|s| s.to_string()).collect();
        t.sort();
        t.dedup();
        if t != self.topics {
            self.topics = t;
            self.joined = false;
        }
    }

    /// The partitions this member owns in the current generation.
    pub fn assignment(&self) -> &[(String, i32)] {
        &self.assigned
    }

    /// The current generation (-1 before the first join).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// This member's id.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// How long each completed rebalance took, from the JoinGroup to the assignment.
    pub fn rebalance_durations(&self) -> &[Duration] {
        &self.rebalances
    }

    /// The next offset `poll` returns for a partition, if known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.consumer.position(topic, partition)
    }

    /// Joins (or rejoins) the group if needed, heartbeats, auto-commits, then waits up to
    /// `timeout` for records of the assigned partitions.
    ///
    /// Not cancel-safe while a rebalance is in progress (a dropped call leaves the member to
    /// rejoin at the next call); the fetch itself is.
    pub async fn poll(
        &mut self,
        timeout: Duration,
        max_records: usize,
    ) -> Result<Vec<ConsumerRecord>> {
        self.ensure_active().await?;
        if self.last_heartbeat.elapsed() >= self.settings.heartbeat_interval {
            self.heartbeat().await?;
            if !self.joined {
                return Ok(Vec::new());
            }
        }
        if self.settings.auto_commit
            && self.last_commit.elapsed() >= self.settings.auto_commit_interval
        {
            // A failed auto-commit is retried at the next interval, as Java's consumer does.
            if let Err(e) = self.commit_sync().await {
                tracing::debug!("auto-commit failed: {e}");
            }
        }
        let wait = timeout.min(self.settings.heartbeat_interval);
        self.consumer.poll(wait, max_records).await
    }

    /// Commits the positions of every owned partition and waits for the answer.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets: Vec<(String, i32, i64)> = self
            .assigned
            .iter()
            .filter_map(|(t, p)| self.consumer.position(t, *p).map(|o| (t.clone(), *p, o)))
            .collect();
        self.commit_offsets(&offsets).await
    }

    /// Commits the given offsets (the next offset to read) with this member's generation.
    pub async fn commit_offsets(&mut self, offsets: &[(String, i32, i64)]) -> Result<()> {
        self.last_commit = Instant::now();
        if offsets.is_empty() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let v = conn.version(ApiKey::OffsetCommit, OFFSET_COMMIT)?;
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (t, p, o) in offsets {
            topics.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(if v >= 6 { -1 } else { 0 })
                    .with_committed_metadata(Some(sb(""))),
            );
        }
        let mut req = OffsetCommitRequest::default()
            .with_group_id(GroupId(sb(&self.settings.group_id)))
            .with_generation_id_or_member_epoch(self.generation)
            .with_member_id(sb(&self.member_id))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, parts)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partitions(parts)
                    })
                    .collect(),
            );
        if v <= 4 {
            req = req.with_retention_time_ms(-1);
        }
        if v >= 7 {
            req = req.with_group_instance_id(self.settings.instance_id.as_deref().map(sb));
        }
        let resp: OffsetCommitResponse = self.call(&conn, ApiKey::OffsetCommit, v, &req).await?;
        let code = resp
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0);
        if code != 0 {
            self.on_group_error(code);
            return Err(Error::broker(code, Some("OffsetCommit".into())));
        }
        Ok(())
    }

    /// The committed offsets of partitions of this group (`None`: nothing committed).
    pub async fn committed(&mut self, partitions: &[(String, i32)]) -> Result<Vec<Option<i64>>> {
        let conn = self.coordinator().await?;
        let v = conn.version(ApiKey::OffsetFetch, OFFSET_FETCH)?;
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            topics.entry(t.as_str()).or_default().push(*p);
        }
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(&self.settings.group_id)))
            .with_topics(Some(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb(t)))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ));
        let resp: OffsetFetchResponse = self.call(&conn, ApiKey::OffsetFetch, v, &req).await?;
        if resp.error_code != 0 {
            self.on_group_error(resp.error_code);
            return Err(Error::broker(resp.error_code, Some("OffsetFetch".into())));
        }
        let mut found: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(Error::broker(p.error_code, Some("OffsetFetch".into())));
                }
                found.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
        Ok(partitions
            .iter()
            .map(|k| found.get(k).copied().filter(|o| *o >= 0))
            .collect())
    }

    /// Commits (with `enable.auto.commit`) and leaves the group, so the others rebalance
    /// at once instead of after the session timeout.
    pub async fn close(mut self) -> Result<()> {
        if self.joined && self.settings.auto_commit {
            let _ = self.commit_sync().await;
        }
        if self.member_id.is_empty() || self.settings.instance_id.is_some() {
            // A static member keeps its place until its session times out, as in Kafka.
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let v = conn.version(ApiKey::LeaveGroup, LEAVE_GROUP)?;
        let mut req =
            LeaveGroupRequest::default().with_group_id(GroupId(sb(&self.settings.group_id)));
        if v >= 3 {
            req = req.with_members(vec![
                MemberIdentity::default().with_member_id(sb(&self.member_id))
            ]);
        } else {
            req = req.with_member_id(sb(&self.member_id));
        }
        let resp: LeaveGroupResponse = self.call(&conn, ApiKey::LeaveGroup, v, &req).await?;
        if resp.error_code != 0 {
            return Err(Error::broker(resp.error_code, Some("LeaveGroup".into())));
        }
        Ok(())
    }

    // ---- membership ----------------------------------------------------------------------

    fn on_group_error(&mut self, code: i16) {
        match code {
            UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                self.generation = -1;
                self.joined = false;
            }
            ILLEGAL_GENERATION | REBALANCE_IN_PROGRESS => self.joined = false,
            c if coordinator_moved(c) => self.coordinator = None,
            _ => {}
        }
    }

    async fn call<
        Req: kafka_protocol::protocol::Encodable,
        Resp: kafka_protocol::protocol::Decodable,
    >(
        &mut self,
        conn: &Arc<Connection>,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp> {
        match conn.request(key, version, req).await {
            Ok(r) => Ok(r),
            Err(e) => {
                // The coordinator is gone (restart, network): find it again next time.
                self.coordinator = None;
                Err(e)
            }
        }
    }

    async fn coordinator(&mut self) -> Result<Arc<Connection>> {
        if let Some(c) = &self.coordinator {
            if !c.is_poisoned() {
                return Ok(Arc::clone(c));
            }
        }
        let conn = self.cluster.any_connection().await?;
        let v = conn.version(ApiKey::FindCoordinator, FIND_COORDINATOR)?;
        let req = FindCoordinatorRequest::default()
            .with_key(sb(&self.settings.group_id))
            .with_key_type(0);
        let resp: FindCoordinatorResponse =
            match conn.request(ApiKey::FindCoordinator, v, &req).await {
                Ok(r) => r,
                Err(e) => {
                    let _ = self.cluster.refresh(None, false).await;
                    return Err(e);
                }
            };
        if resp.error_code != 0 {
            return Err(Error::broker(
                resp.error_code,
                Some("FindCoordinator".into()),
            ));
        }
        // A connection of its own: JoinGroup may wait as long as the rebalance timeout.
        let mut config = self.cluster.connection_config().clone();
        config.request_timeout = config
            .request_timeout
            .max(self.settings.rebalance_timeout + Duration::from_secs(5));
        let addr = format!("{}:{}", resp.host.as_str(), resp.port);
        let c = Arc::new(Connection::connect(&addr, config).await?);
        self.coordinator = Some(Arc::clone(&c));
        Ok(c)
    }

    async fn heartbeat(&mut self) -> Result<()> {
        self.last_heartbeat = Instant::now();
        let conn = match self.coordinator().await {
            Ok(c) => c,
            Err(e) if e.is_retriable_here() => return Ok(()),
            Err(e) => return Err(e),
        };
        let v = conn.version(ApiKey::Heartbeat, HEARTBEAT)?;
        let mut req = HeartbeatRequest::default()
            .with_group_id(GroupId(sb(&self.settings.group_id)))
            .with_generation_id(self.generation)
            .with_member_id(sb(&self.member_id));
        if v >= 3 {
            req = req.with_group_instance_id(self.settings.instance_id.as_deref().map(sb));
        }
        let resp: HeartbeatResponse = match self.call(&conn, ApiKey::Heartbeat, v, &req).await {
            Ok(r) => r,
            Err(e) if e.is_retriable_here() => return Ok(()),
            Err(e) => return Err(e),
        };
        match resp.error_code {
            0 => Ok(()),
            REBALANCE_IN_PROGRESS => {
                // Commit what was consumed before the partitions may move.
                if self.settings.auto_commit {
                    if let Err(e) = self.commit_sync().await {
                        tracing::debug!("commit before rebalance failed: {e}");
                    }
                }
                self.joined = false;
                Ok(())
            }
            FENCED_INSTANCE_ID => Err(Error::broker(FENCED_INSTANCE_ID, Some("Heartbeat".into()))),
            code => {
                self.on_group_error(code);
                Ok(())
            }
        }
    }

    async fn ensure_active(&mut self) -> Result<()> {
        if self.topics.is_empty() {
            return Err(Error::Config(
                "subscribe to at least one topic before poll".into(),
            ));
        }
        let started = Instant::now();
        let mut failures = 0u32;
        while !self.joined {
            match self.join_and_sync().await {
                Ok(()) => {
                    self.rebalances.push(started.elapsed());
                    return Ok(());
                }
                Err(e) if e.is_retriable_here() => {
                    failures += 1;
                    tracing::debug!(failures, "group join: {e}");
                    if started.elapsed() > self.settings.rebalance_timeout * 2 {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(10))))
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn join_and_sync(&mut self) -> Result<()> {
        let conn = self.coordinator().await?;
        let v = conn.version(ApiKey::JoinGroup, JOIN_GROUP)?;
        let mut req = JoinGroupRequest::default()
            .with_group_id(GroupId(sb(&self.settings.group_id)))
            .with_session_timeout_ms(millis_i32(self.settings.session_timeout))
            .with_rebalance_timeout_ms(millis_i32(self.settings.rebalance_timeout))
            .with_member_id(sb(&self.member_id))
            .with_protocol_type(sb("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(sb(self.settings.assignor.name()))
                .with_metadata(encode_subscription(&self.topics))]);
        if v >= 5 {
            req = req.with_group_instance_id(self.settings.instance_id.as_deref().map(sb));
        }
        let resp: JoinGroupResponse = self.call(&conn, ApiKey::JoinGroup, v, &req).await?;
        match resp.error_code {
            0 => {}
            MEMBER_ID_REQUIRED => {
                self.member_id = resp.member_id.to_string();
                return Err(Error::broker(MEMBER_ID_REQUIRED, None));
            }
            code => {
                self.on_group_error(code);
                return Err(Error::broker(code, Some("JoinGroup".into())));
            }
        }
        self.member_id = resp.member_id.to_string();
        self.generation = resp.generation_id;
        let protocol = resp.protocol_name.as_ref().map(|p| p.to_string());
        let assignments = if resp.leader == resp.member_id {
            let members: Vec<(String, Vec<String>)> = resp
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        decode_subscription(&m.metadata).unwrap_or_default(),
                    )
                })
                .collect();
            self.assign_as_leader(&members, protocol.as_deref()).await?
        } else {
            Vec::new()
        };
        let v = conn.version(ApiKey::SyncGroup, SYNC_GROUP)?;
        let mut sync = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(&self.settings.group_id)))
            .with_generation_id(self.generation)
            .with_member_id(sb(&self.member_id))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(sb(&m))
                            .with_assignment(a)
                    })
                    .collect(),
            );
        if v >= 3 {
            sync = sync.with_group_instance_id(self.settings.instance_id.as_deref().map(sb));
        }
        if v >= 5 {
            sync = sync
                .with_protocol_type(Some(sb("consumer")))
                .with_protocol_name(protocol.as_deref().map(sb));
        }
        let resp: SyncGroupResponse = self.call(&conn, ApiKey::SyncGroup, v, &sync).await?;
        if resp.error_code != 0 {
            self.on_group_error(resp.error_code);
            return Err(Error::broker(resp.error_code, Some("SyncGroup".into())));
        }
        let owned = decode_assignment(&resp.assignment).unwrap_or_default();
        self.take_assignment(owned).await?;
        self.joined = true;
        self.last_heartbeat = Instant::now();
        Ok(())
    }

    /// The leader's job: share the subscribed topics' partitions among the members.
    async fn assign_as_leader(
        &mut self,
        members: &[(String, Vec<String>)],
        protocol: Option<&str>,
    ) -> Result<Vec<(String, Bytes)>> {
        let topics: BTreeSet<&str> = members
            .iter()
            .flat_map(|(_, t)| t.iter().map(String::as_str))
            .collect();
        let list: Vec<&str> = topics.iter().copied().collect();
        self.cluster.refresh(Some(&list), false).await?;
        let partitions: BTreeMap<String, i32> = list
            .iter()
            .filter_map(|t| {
                self.cluster
                    .topic(t)
                    .map(|info| (t.to_string(), info.partitions.len() as i32))
            })
            .collect();
        let assignor = match protocol {
            Some("roundrobin") => Assignor::RoundRobin,
            _ => Assignor::Range,
        };
        let plan = assign(assignor, members, &partitions);
        Ok(members
            .iter()
            .map(|(m, _)| {
                let owned = plan.get(m).cloned().unwrap_or_default();
                (m.clone(), encode_assignment(&owned))
            })
            .collect())
    }

    /// Starts consuming a new assignment: kept partitions keep their positions, new ones
    /// start at the group's committed offset (or `auto.offset.reset`).
    async fn take_assignment(&mut self, owned: Vec<(String, i32)>) -> Result<()> {
        let previous: BTreeSet<(String, i32)> = self.assigned.iter().cloned().collect();
        let fresh: Vec<(String, i32)> = owned
            .iter()
            .filter(|k| !previous.contains(*k))
            .cloned()
            .collect();
        let refs: Vec<(&str, i32)> = owned.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        self.consumer.assign(&refs);
        if !fresh.is_empty() {
            let committed = self.committed(&fresh).await?;
            for ((t, p), c) in fresh.iter().zip(committed) {
                if let Some(o) = c {
                    self.consumer.seek(t, *p, Seek::Offset(o)).await?;
                }
            }
        }
        self.assigned = owned;
        Ok(())
    }
}

impl Error {
    /// Worth retrying inside the group protocol: connection trouble, a moved or loading
    /// coordinator, a rebalance.
    fn is_retriable_here(&self) -> bool {
        match self {
            Error::Disconnected { .. } | Error::Timeout { .. } | Error::Connect { .. } => true,
            Error::Broker { code, .. } => {
                coordinator_moved(code.0)
                    || matches!(
                        code.0,
                        MEMBER_ID_REQUIRED
                            | UNKNOWN_MEMBER_ID
                            | ILLEGAL_GENERATION
                            | REBALANCE_IN_PROGRESS
                    )
                    || code.is_retriable()
            }
            _ => false,
        }
    }
}

fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Kafka's assignors, over (member id, subscribed topics) and partition counts.
pub fn assign(
    assignor: Assignor,
    members: &[(String, Vec<String>)],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<(String, i32)>> {
    let mut plan: BTreeMap<String, Vec<(String, i32)>> = members
        .iter()
        .map(|(m, _)| (m.clone(), Vec::new()))
        .collect();
    let subscribers = |topic: &str| -> Vec<&String> {
        let mut s: Vec<&String> = members
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| t == topic))
            .map(|(m, _)| m)
            .collect();
        s.sort();
        s
    };
    match assignor {
        Assignor::Range => {
            for (topic, count) in partitions {
                let subs = subscribers(topic);
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as i32;
                let (per, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, m) in subs.iter().enumerate() {
                    let take = per + i32::from((i as i32) < extra);
                    if let Some(list) = plan.get_mut(*m) {
                        list.extend((next..next + take).map(|p| (topic.clone(), p)));
                    }
                    next += take;
                }
            }
        }
        Assignor::RoundRobin => {
            let mut all_members: Vec<&String> = members.iter().map(|(m, _)| m).collect();
            all_members.sort();
            let mut turn = 0usize;
            for (topic, count) in partitions {
                for p in 0..*count {
                    // The next member, in turn, that subscribes to this topic.
                    for _ in 0..all_members.len() {
                        let m = all_members[turn % all_members.len()];
                        turn += 1;
                        if members
                            .iter()
                            .any(|(id, ts)| id == m && ts.iter().any(|t| t == topic))
                        {
                            if let Some(list) = plan.get_mut(m) {
                                list.push((topic.clone(), p));
                            }
                            break;
                        }
                    }
                }
            }
        }
    }
    plan
}

fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// `ConsumerProtocolSubscription` v0: topics, no user data.
pub fn encode_subscription(topics: &[String]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for t in topics {
        put_string(&mut out, t);
    }
    out.put_i32(-1);
    out.freeze()
}

fn get_string(buf: &mut &[u8]) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_i16();
    if len < 0 || buf.remaining() < len as usize {
        return None;
    }
    let s = String::from_utf8(buf[..len as usize].to_vec()).ok()?;
    buf.advance(len as usize);
    Some(s)
}

fn get_count(buf: &mut &[u8]) -> Option<usize> {
    if buf.remaining() < 4 {
        return None;
    }
    let n = buf.get_i32();
    // Each element takes at least 2 bytes: a count beyond that is a lie.
    (n >= 0 && n as usize <= buf.remaining()).then_some(n as usize)
}

/// The topics of a `ConsumerProtocolSubscription` (any version: topics come first).
pub fn decode_subscription(metadata: &[u8]) -> Option<Vec<String>> {
    let mut buf = metadata;
    if buf.remaining() < 2 {
        return None;
    }
    let _version = buf.get_i16();
    let n = get_count(&mut buf)?;
    (0..n).map(|_| get_string(&mut buf)).collect()
}

/// `ConsumerProtocolAssignment` v0: (topic, partitions), no user data.
pub fn encode_assignment(owned: &[(String, i32)]) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in owned {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(by_topic.len() as i32);
    for (t, ps) in by_topic {
        put_string(&mut out, t);
        out.put_i32(ps.len() as i32);
        for p in ps {
            out.put_i32(p);
        }
    }
    out.put_i32(-1);
    out.freeze()
}

/// The partitions of a `ConsumerProtocolAssignment` (any version); empty bytes: none.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return None;
    }
    let _version = buf.get_i16();
    let n = get_count(&mut buf)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let topic = get_string(&mut buf)?;
        let m = get_count(&mut buf)?;
        for _ in 0..m {
            if buf.remaining() < 4 {
                return None;
            }
            out.push((topic.clone(), buf.get_i32()));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_partitions_extra_to_the_first() {
        let parts: BTreeMap<String, i32> = [("t".to_string(), 7)].into();
        let plan = assign(
            Assignor::Range,
            &members(&[("b", &["t"]), ("a", &["t"]), ("c", &["t"])]),
            &parts,
        );
        assert_eq!(
            plan["a"],
            vec![("t".into(), 0), ("t".into(), 1), ("t".into(), 2)]
        );
        assert_eq!(plan["b"], vec![("t".into(), 3), ("t".into(), 4)]);
        assert_eq!(plan["c"], vec![("t".into(), 5), ("t".into(), 6)]);
    }

    #[test]
    fn roundrobin_deals_in_turn_and_skips_non_subscribers() {
        let parts: BTreeMap<String, i32> = [("t".to_string(), 3), ("u".to_string(), 2)].into();
        let plan = assign(
            Assignor::RoundRobin,
            &members(&[("a", &["t", "u"]), ("b", &["t"])]),
            &parts,
        );
        let total: usize = plan.values().map(Vec::len).sum();
        assert_eq!(total, 5);
        // As Java's circular iterator: t0 a, t1 b, t2 a, then b does not read u: a, a.
        assert_eq!(plan["b"], vec![("t".into(), 1)]);
        assert_eq!(plan["a"].len(), 4);
    }

    #[test]
    fn protocol_bytes_roundtrip_and_refuse_lies() {
        let topics = vec!["a".to_string(), "bb".to_string()];
        assert_eq!(
            decode_subscription(&encode_subscription(&topics)),
            Some(topics)
        );
        let owned = vec![
            ("a".to_string(), 0),
            ("a".to_string(), 3),
            ("b".to_string(), 1),
        ];
        assert_eq!(decode_assignment(&encode_assignment(&owned)), Some(owned));
        assert_eq!(decode_assignment(&[]), Some(vec![]));
        assert_eq!(decode_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(decode_subscription(&[0, 0, 0, 0, 0, 1]), None);
    }
}
