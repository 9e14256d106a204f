//! The classic consumer-group coordinator, as a pure state machine.
//!
//! [`Coordinator`] holds every group: members, generation, chosen protocol, leader, the
//! assignments the leader handed out, and the committed offsets. Each request is a method
//! that takes the time (`now_ms`) and returns an [`Outcome`]: replies to requests that were
//! parked (JoinGroup and SyncGroup wait for the rest of the group) and the [`Record`]s to make
//! durable. Timers (session timeouts, the rebalance timeout, the initial rebalance delay,
//! pending syncs, offset retention) fire only when the caller calls [`Coordinator::tick`].
//!
//! The rules are Kafka's classic protocol as its group coordinator implements them
//! (`GroupMetadataManager.classicGroup*`, `ClassicGroup`, `OffsetMetadataManager` in
//! apache/kafka `group-coordinator`): the JoinGroup v4+ MEMBER_ID_REQUIRED round trip,
//! static membership (`group.instance.id`) with FENCED_INSTANCE_ID, generation checks with
//! ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and REBALANCE_IN_PROGRESS, leader election, the
//! protocol vote, offset commits accepted from outside the group only while it is empty.
//!
//! What it does not do: sockets, files, clocks, randomness (member ids come from a nonce the
//! caller supplies and a counter), topic existence checks (the broker filters those), or the
//! KIP-848 consumer protocol. [`records`] encodes and decodes the records in the layout of
//! Kafka's `__consumer_offsets` keys and values; the broker appends them to its internal log
//! and replays them at start-up with [`Coordinator::replay`].

mod coordinator;
pub mod records;

pub use coordinator::{
    Committed, Config, Coordinator, DeleteGroupResult, DescribedGroup, DescribedMember, GroupState,
    JoinRequest, JoinResponse, JoinedMember, LeaveMember, ListedGroup, OffsetCommitRequest,
    Outcome, Reply, SyncRequest, SyncResponse, Ticket,
};
pub use records::Record;

/// Kafka error codes the coordinator answers with (`org.apache.kafka.common.protocol.Errors`).
#[allow(missing_docs)]
pub mod codes {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_SERVER_ERROR: i16 = -1;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const INVALID_COMMIT_OFFSET_SIZE: i16 = 28;
    pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    pub const INVALID_REQUEST: i16 = 42;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
}
