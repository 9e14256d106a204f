//! The groups and their state machine. See the crate documentation for what it models.
//!
//! Method names follow Kafka's `GroupMetadataManager` where the logic is the same
//! (`prepare_rebalance`, `complete_join`, `maybe_complete_join_phase`, ...), so a reader can
//! check one against the other. Kafka's timers become deadlines stored in the groups and
//! members, fired by [`Coordinator::tick`].

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::codes::*;
pub use crate::records::Committed;
use crate::records::{subscribed_topics, GroupValue, MemberValue, Record};

/// Identifies a parked request; the caller chooses it and gets it back in [`Outcome::replies`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Settings, under Kafka's names.
#[derive(Debug, Clone)]
pub struct Config {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// How long a new member's JoinGroup may stay parked (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: i32,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: i32::MAX as usize,
            new_member_join_timeout_ms: 5 * 60 * 1000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offset_metadata_max_bytes: 4096,
        }
    }
}

/// A group's state, as DescribeGroups and ListGroups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Everyone has an assignment.
    Stable,
    /// Being removed.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id, empty for a new member.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// From the request header.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Session timeout (ms).
    pub session_timeout_ms: i32,
    /// Rebalance timeout (ms); v0 uses the session timeout.
    pub rebalance_timeout_ms: i32,
    /// Protocol type ("consumer").
    pub protocol_type: String,
    /// Protocols (assignor name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and a member id.
    pub require_known_member_id: bool,
    /// v9+: the leader may be told to skip the assignment (static leader rejoining).
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinResponse {
    /// Error code.
    pub error_code: i16,
    /// Generation.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Leader member id.
    pub leader: String,
    /// The member's id.
    pub member_id: String,
    /// All members, for the leader only.
    pub members: Vec<JoinedMember>,
    /// v9: the leader need not compute an assignment.
    pub skip_assignment: bool,
}

impl JoinResponse {
    fn error(code: i16, member_id: &str) -> JoinResponse {
        JoinResponse {
            error_code: code,
            generation_id: -1,
            member_id: member_id.to_string(),
            ..JoinResponse::default()
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// v5+: protocol type.
    pub protocol_type: Option<String>,
    /// v5+: protocol name.
    pub protocol_name: Option<String>,
    /// The leader's assignments (member id, assignment).
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// Error code.
    pub error_code: i16,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Protocol name.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    fn error(code: i16) -> SyncResponse {
        SyncResponse {
            error_code: code,
            ..SyncResponse::default()
        }
    }
}

/// A parked request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// JoinGroup.
    Join(JoinResponse),
    /// SyncGroup.
    Sync(SyncResponse),
}

/// What an operation produced besides its direct answer.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Answers to parked requests (possibly the request just made).
    pub replies: Vec<(Ticket, Reply)>,
    /// Records to append to the coordinator's log, in order.
    pub records: Vec<Record>,
}

impl Outcome {
    fn reply(&mut self, ticket: Ticket, reply: Reply) {
        self.replies.push((ticket, reply));
    }
}

/// One member of a LeaveGroup request.
#[derive(Debug, Clone)]
pub struct LeaveMember {
    /// Member id ("" to remove a static member by instance id).
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
}

/// An OffsetCommit request, after the broker filtered unknown topics.
#[derive(Debug, Clone, Default)]
pub struct OffsetCommitRequest {
    /// Group id.
    pub group_id: String,
    /// Generation, -1 for commits from outside the group.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// v2-4 retention (ms), -1 for the broker's.
    pub retention_time_ms: i64,
    /// (topic, partition, offset, leader epoch, metadata).
    pub offsets: Vec<(String, i32, i64, i32, Option<String>)>,
}

/// A group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("" for offset-only groups).
    pub protocol_type: String,
    /// State.
    pub state: GroupState,
}

/// A member in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol (Stable groups only).
    pub metadata: Bytes,
    /// Assignment.
    pub assignment: Bytes,
}

/// A group in DescribeGroups; `None` from [`Coordinator::describe`] means unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// State.
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: String,
    /// Chosen protocol (Stable groups only).
    pub protocol: String,
    /// Members.
    pub members: Vec<DescribedMember>,
}

/// The result of deleting one group.
pub type DeleteGroupResult = i16;

#[derive(Debug, Clone)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    awaiting_join: Option<Ticket>,
    awaiting_sync: Option<Ticket>,
    is_new: bool,
    heartbeat_deadline: i64,
}

impl Member {
    fn metadata(&self, protocol: Option<&str>) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| Some(name.as_str()) == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Kafka's `hasSatisfiedHeartbeat`: a member parked in a join or sync is alive, unless it
    /// is new (it has no member id to heartbeat with yet).
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    /// The initial rebalance of an empty group: wait `delay`, more while members keep
    /// arriving, up to `remaining` more.
    Initial {
        deadline: i64,
        delay: i32,
        remaining: i32,
    },
    /// The rebalance timeout.
    Rebalance { deadline: i64 },
}

impl JoinTimer {
    fn deadline(self) -> i64 {
        match self {
            JoinTimer::Initial { deadline, .. } | JoinTimer::Rebalance { deadline } => deadline,
        }
    }
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp: Option<i64>,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In order of joining (the next leader is the first remaining one).
    members: BTreeMap<u64, Member>,
    next_seq: u64,
    static_members: BTreeMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, with the deadline to come back.
    pending_members: BTreeMap<String, i64>,
    pending_sync: BTreeSet<String>,
    join_timer: Option<JoinTimer>,
    new_member_added: bool,
    sync_timer: Option<(i64, i32)>,
    offsets: BTreeMap<(String, i32), Committed>,
}

impl Group {
    fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp: Some(now),
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            next_seq: 0,
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_timer: None,
            new_member_added: false,
            sync_timer: None,
            offsets: BTreeMap::new(),
        }
    }

    fn seq_of(&self, member_id: &str) -> Option<u64> {
        self.members
            .iter()
            .find(|(_, m)| m.id == member_id)
            .map(|(s, _)| *s)
    }

    fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.values().find(|m| m.id == member_id)
    }

    fn member_mut(&mut self, member_id: &str) -> Option<&mut Member> {
        self.members.values_mut().find(|m| m.id == member_id)
    }

    fn has_member(&self, member_id: &str) -> bool {
        self.member(member_id).is_some()
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    fn transition(&mut self, to: GroupState, now: i64) {
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp = Some(now);
    }

    fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    fn awaiting_join_count(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count() && self.pending_members.is_empty()
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Protocols every member supports.
    fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            for (name, _) in &m.protocols {
                *counts.entry(name.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n == self.members.len())
            .map(|(name, _)| name.to_string())
            .collect()
    }

    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            let candidates = self.candidate_protocols();
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(n, _)| candidates.contains(n))
        }
    }

    /// Every member votes for its first protocol among those all support; most votes wins.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(name, _)| name.to_string())
    }

    fn add(&mut self, member: Member) {
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending_members.remove(&member.id);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.members.insert(seq, member);
    }

    fn remove(&mut self, member_id: &str) -> Option<Member> {
        let removed = self
            .seq_of(member_id)
            .and_then(|seq| self.members.remove(&seq));
        if let Some(m) = &removed {
            if let Some(instance) = &m.instance_id {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.values().next().map(|m| m.id.clone());
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
        removed
    }

    /// Kafka's `validateMember`.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(UNKNOWN_MEMBER_ID),
                Some(existing) if existing != member_id => return Err(FENCED_INSTANCE_ID),
                Some(_) => {}
            }
        }
        if !self.has_member(member_id) {
            return Err(UNKNOWN_MEMBER_ID);
        }
        Ok(())
    }

    fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    fn join_response(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error_code: NONE,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if with_members {
                self.joined_members()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    fn metadata_record(&self) -> Record {
        let protocol = self.protocol_name.as_deref();
        Record::Group {
            group: self.id.clone(),
            value: Some(GroupValue {
                protocol_type: self.protocol_type.clone().unwrap_or_default(),
                generation: self.generation,
                protocol: self.protocol_name.clone(),
                leader: self.leader.clone(),
                current_state_timestamp: self.state_timestamp.unwrap_or(-1),
                members: self
                    .members
                    .values()
                    .map(|m| MemberValue {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        subscription: m.metadata(protocol),
                        assignment: m.assignment.clone(),
                    })
                    .collect(),
            }),
        }
    }

    fn offset_record(&self, topic: &str, partition: i32) -> Record {
        Record::Offset {
            group: self.id.clone(),
            topic: topic.to_string(),
            partition,
            value: self.offsets.get(&(topic.to_string(), partition)).cloned(),
        }
    }

    /// Topics some member of a `consumer` group subscribes to (for OffsetDelete).
    fn is_subscribed_to(&self, topic: &str) -> bool {
        if self.protocol_type.as_deref() != Some("consumer") || self.state == GroupState::Empty {
            return false;
        }
        let protocol = self.protocol_name.as_deref();
        self.members.values().any(|m| {
            subscribed_topics(&m.metadata(protocol))
                .map(|topics| topics.iter().any(|t| t == topic))
                // Unparsable metadata: assume subscribed, as Kafka does.
                .unwrap_or(true)
        })
    }
}

/// Every group on this broker.
#[derive(Debug)]
pub struct Coordinator {
    config: Config,
    groups: BTreeMap<String, Group>,
    nonce: u64,
    next_member: u64,
}

impl Coordinator {
    /// An empty coordinator; `nonce` (random, from the caller) makes member ids unique across
    /// restarts.
    pub fn new(config: Config, nonce: u64) -> Coordinator {
        Coordinator {
            config,
            groups: BTreeMap::new(),
            nonce,
            next_member: 0,
        }
    }

    /// Settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Number of committed offsets over every group.
    pub fn offset_count(&self) -> usize {
        self.groups.values().map(|g| g.offsets.len()).sum()
    }

    fn new_member_id(&mut self, prefix: &str) -> String {
        self.next_member += 1;
        // UUID-shaped, like Kafka's `clientId-UUID`.
        let a = self.nonce;
        let b = self.next_member;
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16,
            (b >> 48) as u16,
            b & 0xffff_ffff_ffff
        )
    }

    // ---- replay ------------------------------------------------------------------------

    /// Applies a stored record at start-up (Kafka's `replay`): groups come back Stable with
    /// their members (or Empty), their session timers starting at `now`.
    pub fn replay(&mut self, record: Record, now: i64) {
        match record {
            Record::SnapshotStart => self.groups.clear(),
            Record::Offset {
                group,
                topic,
                partition,
                value,
            } => match value {
                Some(c) => {
                    self.groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now))
                        .offsets
                        .insert((topic, partition), c);
                }
                None => {
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.offsets.remove(&(topic, partition));
                    }
                }
            },
            Record::Group { group, value } => match value {
                None => {
                    self.groups.remove(&group);
                }
                Some(v) => {
                    let offsets = self
                        .groups
                        .remove(&group)
                        .map(|g| g.offsets)
                        .unwrap_or_default();
                    let mut g = Group::new(&group, now);
                    g.offsets = offsets;
                    g.generation = v.generation;
                    g.protocol_type = Some(v.protocol_type.clone()).filter(|t| !t.is_empty());
                    g.protocol_name = v.protocol.clone();
                    g.state_timestamp = Some(v.current_state_timestamp).filter(|t| *t >= 0);
                    for m in v.members {
                        let protocol = v.protocol.clone().unwrap_or_default();
                        let member = Member {
                            id: m.member_id,
                            instance_id: m.group_instance_id,
                            client_id: m.client_id,
                            client_host: m.client_host,
                            rebalance_timeout_ms: if m.rebalance_timeout_ms == -1 {
                                m.session_timeout_ms
                            } else {
                                m.rebalance_timeout_ms
                            },
                            session_timeout_ms: m.session_timeout_ms,
                            protocol_type: v.protocol_type.clone(),
                            protocols: vec![(protocol, m.subscription)],
                            assignment: m.assignment,
                            awaiting_join: None,
                            awaiting_sync: None,
                            is_new: false,
                            heartbeat_deadline: now + i64::from(m.session_timeout_ms),
                        };
                        if let Some(i) = &member.instance_id {
                            g.static_members.insert(i.clone(), member.id.clone());
                        }
                        let seq = g.next_seq;
                        g.next_seq += 1;
                        g.members.insert(seq, member);
                    }
                    g.leader = v.leader.filter(|l| g.has_member(l));
                    if g.leader.is_none() {
                        g.leader = g.members.values().next().map(|m| m.id.clone());
                    }
                    g.state = if g.members.is_empty() {
                        GroupState::Empty
                    } else {
                        GroupState::Stable
                    };
                    g.previous_state = g.state;
                    self.groups.insert(group, g);
                }
            },
        }
    }

    /// The whole live state as records, after a [`Record::SnapshotStart`]: replaying them
    /// rebuilds what replaying the full log would.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut out = vec![Record::SnapshotStart];
        for g in self.groups.values() {
            if g.protocol_type.is_some() || !g.members.is_empty() || g.generation > 0 {
                out.push(g.metadata_record());
            }
            for (topic, partition) in g.offsets.keys() {
                out.push(g.offset_record(topic, *partition));
            }
        }
        out
    }

    // ---- JoinGroup ---------------------------------------------------------------------

    /// JoinGroup. The reply to `ticket` is in the outcome, now or from a later call.
    pub fn join(&mut self, now: i64, req: JoinRequest, ticket: Ticket) -> Outcome {
        let mut out = Outcome::default();
        if req.group_id.is_empty() {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(INVALID_GROUP_ID, &req.member_id)),
            );
            return out;
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(INVALID_SESSION_TIMEOUT, &req.member_id)),
            );
            return out;
        }
        let unknown_member = req.member_id.is_empty();
        let is_new_group = !self.groups.contains_key(&req.group_id);
        if is_new_group && !unknown_member {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(UNKNOWN_MEMBER_ID, &req.member_id)),
            );
            return out;
        }
        let group_id = req.group_id.clone();
        self.groups
            .entry(group_id.clone())
            .or_insert_with(|| Group::new(&group_id, now));
        if !self.accept_joining_member(&group_id, &req.member_id) {
            if let Some(g) = self.groups.get_mut(&group_id) {
                g.remove(&req.member_id);
            }
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(GROUP_MAX_SIZE_REACHED, "")),
            );
        } else if unknown_member {
            self.join_new_member(now, req, ticket, &mut out);
        } else {
            self.join_existing_member(now, req, ticket, &mut out);
        }
        if is_new_group && out.records.is_empty() {
            if let Some(g) = self.groups.get(&group_id) {
                out.records.push(g.metadata_record());
            }
        }
        out
    }

    fn accept_joining_member(&self, group_id: &str, member_id: &str) -> bool {
        let Some(g) = self.groups.get(group_id) else {
            return true;
        };
        let max = self.config.max_size;
        match g.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                g.member(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || g.awaiting_join_count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.has_member(member_id) || g.members.len() < max
            }
        }
    }

    fn join_new_member(&mut self, now: i64, req: JoinRequest, ticket: Ticket, out: &mut Outcome) {
        let Some(g) = self.groups.get(&req.group_id) else {
            return;
        };
        if g.state == GroupState::Dead {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(COORDINATOR_NOT_AVAILABLE, "")),
            );
            return;
        }
        if !g.supports_protocols(&req.protocol_type, &req.protocols) {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(INCONSISTENT_GROUP_PROTOCOL, "")),
            );
            return;
        }
        let prefix = req
            .group_instance_id
            .clone()
            .unwrap_or_else(|| req.client_id.clone());
        let new_id = self.new_member_id(&prefix);
        let existing_static = req.group_instance_id.as_ref().and_then(|i| {
            self.groups
                .get(&req.group_id)
                .and_then(|g| g.static_members.get(i).cloned())
        });
        if req.group_instance_id.is_some() {
            match existing_static {
                Some(existing) => {
                    self.update_static_member(now, req, &existing, new_id, ticket, out)
                }
                None => self.add_member_then_rebalance(now, req, new_id, ticket, out),
            }
        } else if req.require_known_member_id {
            if let Some(g) = self.groups.get_mut(&req.group_id) {
                g.pending_members
                    .insert(new_id.clone(), now + i64::from(req.session_timeout_ms));
            }
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(MEMBER_ID_REQUIRED, &new_id)),
            );
        } else {
            self.add_member_then_rebalance(now, req, new_id, ticket, out);
        }
    }

    fn join_existing_member(
        &mut self,
        now: i64,
        req: JoinRequest,
        ticket: Ticket,
        out: &mut Outcome,
    ) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let member_id = req.member_id.clone();
        if g.state == GroupState::Dead {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(COORDINATOR_NOT_AVAILABLE, &member_id)),
            );
            return;
        }
        if !g.supports_protocols(&req.protocol_type, &req.protocols) {
            out.reply(
                ticket,
                Reply::Join(JoinResponse::error(INCONSISTENT_GROUP_PROTOCOL, &member_id)),
            );
            return;
        }
        if g.pending_members.contains_key(&member_id) {
            if req.group_instance_id.is_some() {
                // Kafka throws IllegalStateException here: a pending member is never static.
                out.reply(
                    ticket,
                    Reply::Join(JoinResponse::error(UNKNOWN_SERVER_ERROR, &member_id)),
                );
                return;
            }
            self.add_member_then_rebalance(now, req, member_id, ticket, out);
            return;
        }
        if let Err(code) = g.validate_member(&member_id, req.group_instance_id.as_deref()) {
            out.reply(ticket, Reply::Join(JoinResponse::error(code, &member_id)));
            return;
        }
        let Some(member) = g.member(&member_id) else {
            return;
        };
        let matches = member.matches(&req.protocols);
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_then_rebalance(now, &req, ticket, out);
            }
            GroupState::CompletingRebalance => {
                if matches {
                    let resp = g.join_response(&member_id, g.is_leader(&member_id));
                    out.reply(ticket, Reply::Join(resp));
                } else {
                    self.update_member_then_rebalance(now, &req, ticket, out);
                }
            }
            GroupState::Stable => {
                if g.is_leader(&member_id) || !matches {
                    self.update_member_then_rebalance(now, &req, ticket, out);
                } else {
                    let resp = g.join_response(&member_id, false);
                    out.reply(ticket, Reply::Join(resp));
                }
            }
            GroupState::Empty | GroupState::Dead => {
                out.reply(
                    ticket,
                    Reply::Join(JoinResponse::error(UNKNOWN_MEMBER_ID, &member_id)),
                );
            }
        }
    }

    fn add_member_then_rebalance(
        &mut self,
        now: i64,
        req: JoinRequest,
        member_id: String,
        ticket: Ticket,
        out: &mut Outcome,
    ) {
        let join_timeout = i64::from(self.config.new_member_join_timeout_ms);
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        let member = Member {
            id: member_id,
            instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(ticket),
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline: now + join_timeout,
        };
        if g.state == GroupState::PreparingRebalance && g.previous_state == GroupState::Empty {
            g.new_member_added = true;
        }
        g.add(member);
        self.maybe_prepare_rebalance_or_complete_join(now, &req.group_id, out);
    }

    fn update_member_then_rebalance(
        &mut self,
        now: i64,
        req: &JoinRequest,
        ticket: Ticket,
        out: &mut Outcome,
    ) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        if let Some(m) = g.member_mut(&req.member_id) {
            m.protocols = req.protocols.clone();
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.session_timeout_ms = req.session_timeout_ms;
            m.awaiting_join = Some(ticket);
        }
        self.maybe_prepare_rebalance_or_complete_join(now, &req.group_id, out);
    }

    fn update_static_member(
        &mut self,
        now: i64,
        req: JoinRequest,
        old_id: &str,
        new_id: String,
        ticket: Ticket,
        out: &mut Outcome,
    ) {
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return;
        };
        // Replace the old member id; the old one is fenced from now on.
        let Some(seq) = g.seq_of(old_id) else {
            return;
        };
        let old_sync = {
            let Some(m) = g.members.get_mut(&seq) else {
                return;
            };
            // A parked join of the old id is told it is gone (Kafka answers FENCED_INSTANCE_ID).
            if let Some(t) = m.awaiting_join.take() {
                out.reply(
                    t,
                    Reply::Join(JoinResponse::error(FENCED_INSTANCE_ID, old_id)),
                );
            }
            m.id = new_id.clone();
            m.protocols = req.protocols.clone();
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.session_timeout_ms = req.session_timeout_ms;
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            m.awaiting_join = Some(ticket);
            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
            m.awaiting_sync.take()
        };
        if let Some(t) = old_sync {
            out.reply(t, Reply::Sync(SyncResponse::error(FENCED_INSTANCE_ID)));
        }
        if let Some(instance) = &req.group_instance_id {
            g.static_members.insert(instance.clone(), new_id.clone());
        }
        if g.is_leader(old_id) {
            g.leader = Some(new_id.clone());
        }
        if g.pending_sync.remove(old_id) {
            g.pending_sync.insert(new_id.clone());
        }
        match g.state {
            GroupState::Stable => {
                let selected = g.select_protocol();
                if selected.is_some() && selected == g.protocol_name {
                    // Same protocol: no rebalance; persist the new member id and answer with
                    // the current generation.
                    out.records.push(g.metadata_record());
                    let is_leader = g.is_leader(&new_id);
                    let mut resp =
                        g.join_response(&new_id, is_leader && req.supports_skip_assignment);
                    resp.skip_assignment = is_leader && req.supports_skip_assignment;
                    if let Some(m) = g.member_mut(&new_id) {
                        m.awaiting_join = None;
                    }
                    out.reply(ticket, Reply::Join(resp));
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(now, &req.group_id, out);
                }
            }
            GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, &req.group_id, out);
            }
            _ => self.maybe_complete_join_phase(now, &req.group_id, out),
        }
    }

    fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        now: i64,
        group_id: &str,
        out: &mut Outcome,
    ) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        if g.can_rebalance() {
            self.prepare_rebalance(now, group_id, out);
        } else {
            self.maybe_complete_join_phase(now, group_id, out);
        }
    }

    fn prepare_rebalance(&mut self, now: i64, group_id: &str, out: &mut Outcome) {
        let initial_delay = self.config.initial_rebalance_delay_ms;
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        if g.state == GroupState::CompletingRebalance {
            // Members waiting in SyncGroup must rejoin.
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(t) = m.awaiting_sync.take() {
                    out.reply(t, Reply::Sync(SyncResponse::error(REBALANCE_IN_PROGRESS)));
                    m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                }
            }
        }
        g.pending_sync.clear();
        g.sync_timer = None;
        let initial = g.state == GroupState::Empty;
        if initial {
            let remaining = (g.rebalance_timeout_ms() - initial_delay).max(0);
            g.join_timer = Some(JoinTimer::Initial {
                deadline: now + i64::from(initial_delay),
                delay: initial_delay,
                remaining,
            });
        }
        g.transition(GroupState::PreparingRebalance, now);
        if !initial {
            if g.has_all_members_joined() {
                self.complete_join(now, group_id, out);
            } else {
                g.join_timer = Some(JoinTimer::Rebalance {
                    deadline: now + i64::from(g.rebalance_timeout_ms()),
                });
            }
        }
    }

    fn maybe_complete_join_phase(&mut self, now: i64, group_id: &str, out: &mut Outcome) {
        let Some(g) = self.groups.get(group_id) else {
            return;
        };
        if g.state == GroupState::PreparingRebalance
            && g.previous_state != GroupState::Empty
            && g.has_all_members_joined()
        {
            self.complete_join(now, group_id, out);
        }
    }

    fn complete_join(&mut self, now: i64, group_id: &str, out: &mut Outcome) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        g.join_timer = None;
        // Dynamic members that did not rejoin are out.
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            g.remove(&id);
        }
        if g.state == GroupState::Dead {
            return;
        }
        let leader_joined = match &g.leader {
            None => false,
            Some(l) => {
                if g.member(l).is_some_and(|m| m.awaiting_join.is_some()) {
                    true
                } else if let Some(m) = g.members.values().find(|m| m.awaiting_join.is_some()) {
                    g.leader = Some(m.id.clone());
                    true
                } else {
                    false
                }
            }
        };
        if !leader_joined && !g.members.is_empty() {
            // Nobody rejoined: wait another rebalance timeout for the session timeouts.
            g.join_timer = Some(JoinTimer::Rebalance {
                deadline: now + i64::from(g.rebalance_timeout_ms()),
            });
            return;
        }
        // initNextGeneration
        g.generation += 1;
        g.pending_sync.clear();
        if g.members.is_empty() {
            g.protocol_name = None;
            g.transition(GroupState::Empty, now);
            out.records.push(g.metadata_record());
            return;
        }
        g.protocol_name = g.select_protocol();
        g.transition(GroupState::CompletingRebalance, now);
        let members = g.joined_members();
        let leader = g.leader.clone().unwrap_or_default();
        let (generation, protocol_type, protocol_name) = (
            g.generation,
            g.protocol_type.clone(),
            g.protocol_name.clone(),
        );
        let mut pending = BTreeSet::new();
        for m in g.members.values_mut() {
            let with_members = m.id == leader;
            if let Some(t) = m.awaiting_join.take() {
                out.reply(
                    t,
                    Reply::Join(JoinResponse {
                        error_code: NONE,
                        generation_id: generation,
                        protocol_type: protocol_type.clone(),
                        protocol_name: protocol_name.clone(),
                        leader: leader.clone(),
                        member_id: m.id.clone(),
                        members: if with_members {
                            members.clone()
                        } else {
                            Vec::new()
                        },
                        skip_assignment: false,
                    }),
                );
            }
            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
            m.is_new = false;
            pending.insert(m.id.clone());
        }
        g.pending_sync = pending;
        g.sync_timer = Some((now + i64::from(g.rebalance_timeout_ms()), generation));
    }

    // ---- SyncGroup ---------------------------------------------------------------------

    /// SyncGroup. The reply to `ticket` is in the outcome, now or later.
    pub fn sync(&mut self, now: i64, req: SyncRequest, ticket: Ticket) -> Outcome {
        let mut out = Outcome::default();
        if req.group_id.is_empty() {
            out.reply(ticket, Reply::Sync(SyncResponse::error(INVALID_GROUP_ID)));
            return out;
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            out.reply(ticket, Reply::Sync(SyncResponse::error(UNKNOWN_MEMBER_ID)));
            return out;
        };
        if g.state == GroupState::Empty {
            out.reply(ticket, Reply::Sync(SyncResponse::error(UNKNOWN_MEMBER_ID)));
            return out;
        }
        if g.state == GroupState::Dead {
            out.reply(
                ticket,
                Reply::Sync(SyncResponse::error(COORDINATOR_NOT_AVAILABLE)),
            );
            return out;
        }
        if let Err(code) = g.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            out.reply(ticket, Reply::Sync(SyncResponse::error(code)));
            return out;
        }
        let inconsistent = |ours: &Option<String>, theirs: &Option<String>| matches!((ours, theirs), (Some(a), Some(b)) if a != b);
        if req.generation_id != g.generation {
            out.reply(ticket, Reply::Sync(SyncResponse::error(ILLEGAL_GENERATION)));
            return out;
        }
        if inconsistent(&req.protocol_type, &g.protocol_type)
            || inconsistent(&req.protocol_name, &g.protocol_name)
        {
            out.reply(
                ticket,
                Reply::Sync(SyncResponse::error(INCONSISTENT_GROUP_PROTOCOL)),
            );
            return out;
        }
        match g.state {
            GroupState::PreparingRebalance => {
                out.reply(
                    ticket,
                    Reply::Sync(SyncResponse::error(REBALANCE_IN_PROGRESS)),
                );
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = g.member_mut(&req.member_id) {
                    m.awaiting_sync = Some(ticket);
                }
                g.pending_sync.remove(&req.member_id);
                if g.is_leader(&req.member_id) {
                    let assignments: BTreeMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    for m in g.members.values_mut() {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                    }
                    g.transition(GroupState::Stable, now);
                    out.records.push(g.metadata_record());
                    let (pt, pn) = (g.protocol_type.clone(), g.protocol_name.clone());
                    for m in g.members.values_mut() {
                        if let Some(t) = m.awaiting_sync.take() {
                            out.reply(
                                t,
                                Reply::Sync(SyncResponse {
                                    error_code: NONE,
                                    protocol_type: pt.clone(),
                                    protocol_name: pn.clone(),
                                    assignment: m.assignment.clone(),
                                }),
                            );
                            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
                        }
                    }
                }
            }
            GroupState::Stable => {
                g.pending_sync.remove(&req.member_id);
                let assignment = g
                    .member(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                out.reply(
                    ticket,
                    Reply::Sync(SyncResponse {
                        error_code: NONE,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        assignment,
                    }),
                );
            }
            GroupState::Empty | GroupState::Dead => {
                out.reply(ticket, Reply::Sync(SyncResponse::error(UNKNOWN_MEMBER_ID)));
            }
        }
        out
    }

    // ---- Heartbeat ---------------------------------------------------------------------

    /// Heartbeat: the error code.
    pub fn heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        if group_id.is_empty() {
            return INVALID_GROUP_ID;
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        if g.state == GroupState::Dead {
            return COORDINATOR_NOT_AVAILABLE;
        }
        if let Err(code) = g.validate_member(member_id, instance_id) {
            return code;
        }
        if generation != g.generation {
            return ILLEGAL_GENERATION;
        }
        let state = g.state;
        if let Some(m) = g.member_mut(member_id) {
            m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
        }
        match state {
            GroupState::Empty | GroupState::Dead => UNKNOWN_MEMBER_ID,
            GroupState::PreparingRebalance => REBALANCE_IN_PROGRESS,
            GroupState::CompletingRebalance | GroupState::Stable => NONE,
        }
    }

    // ---- LeaveGroup --------------------------------------------------------------------

    /// LeaveGroup: a top-level error, or one error per member (in request order).
    pub fn leave(
        &mut self,
        now: i64,
        group_id: &str,
        members: &[LeaveMember],
    ) -> (Result<Vec<i16>, i16>, Outcome) {
        let mut out = Outcome::default();
        if group_id.is_empty() {
            return (Err(INVALID_GROUP_ID), out);
        }
        let Some(g) = self.groups.get_mut(group_id) else {
            return (Ok(vec![UNKNOWN_MEMBER_ID; members.len()]), out);
        };
        if g.state == GroupState::Dead {
            return (Err(COORDINATOR_NOT_AVAILABLE), out);
        }
        let mut codes = Vec::with_capacity(members.len());
        let mut any = false;
        for lm in members {
            let code = if lm.member_id.is_empty() {
                match lm
                    .group_instance_id
                    .as_ref()
                    .and_then(|i| g.static_members.get(i).cloned())
                {
                    Some(id) => {
                        remove_current_member(g, &id, &mut out);
                        NONE
                    }
                    None => UNKNOWN_MEMBER_ID,
                }
            } else if g.pending_members.remove(&lm.member_id).is_some() {
                NONE
            } else {
                match g.validate_member(&lm.member_id, lm.group_instance_id.as_deref()) {
                    Ok(()) => {
                        remove_current_member(g, &lm.member_id, &mut out);
                        NONE
                    }
                    Err(code) => code,
                }
            };
            any |= code == NONE;
            codes.push(code);
        }
        if any {
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now, group_id, &mut out);
                }
                GroupState::PreparingRebalance => {
                    self.maybe_complete_join_phase(now, group_id, &mut out);
                }
                _ => {}
            }
        }
        (Ok(codes), out)
    }
}

/// Removes a member that left or timed out; a parked JoinGroup of it gets UNKNOWN_MEMBER_ID.
fn remove_current_member(g: &mut Group, member_id: &str, out: &mut Outcome) {
    if let Some(m) = g.remove(member_id) {
        if let Some(t) = m.awaiting_join {
            out.reply(t, Reply::Join(JoinResponse::error(UNKNOWN_MEMBER_ID, "")));
        }
        if let Some(t) = m.awaiting_sync {
            out.reply(t, Reply::Sync(SyncResponse::error(UNKNOWN_MEMBER_ID)));
        }
    }
}

mod offsets;
mod timers;

#[cfg(test)]
mod tests;
