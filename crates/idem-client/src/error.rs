//! Client errors, and the classification of Kafka error codes.

use std::fmt;

/// A Kafka error code, with Kafka's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KafkaCode(pub i16);

impl KafkaCode {
    /// Kafka's name for the code.
    pub fn name(self) -> &'static str {
        match self.0 {
            -1 => "UNKNOWN_SERVER_ERROR",
            0 => "NONE",
            1 => "OFFSET_OUT_OF_RANGE",
            2 => "CORRUPT_MESSAGE",
            3 => "UNKNOWN_TOPIC_OR_PARTITION",
            5 => "LEADER_NOT_AVAILABLE",
            6 => "NOT_LEADER_OR_FOLLOWER",
            7 => "REQUEST_TIMED_OUT",
            10 => "MESSAGE_TOO_LARGE",
            12 => "OFFSET_METADATA_TOO_LARGE",
            13 => "NETWORK_EXCEPTION",
            14 => "COORDINATOR_LOAD_IN_PROGRESS",
            15 => "COORDINATOR_NOT_AVAILABLE",
            16 => "NOT_COORDINATOR",
            17 => "INVALID_TOPIC_EXCEPTION",
            18 => "RECORD_LIST_TOO_LARGE",
            19 => "NOT_ENOUGH_REPLICAS",
            20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            21 => "INVALID_REQUIRED_ACKS",
            22 => "ILLEGAL_GENERATION",
            23 => "INCONSISTENT_GROUP_PROTOCOL",
            24 => "INVALID_GROUP_ID",
            25 => "UNKNOWN_MEMBER_ID",
            26 => "INVALID_SESSION_TIMEOUT",
            27 => "REBALANCE_IN_PROGRESS",
            28 => "INVALID_COMMIT_OFFSET_SIZE",
            29 => "TOPIC_AUTHORIZATION_FAILED",
            31 => "CLUSTER_AUTHORIZATION_FAILED",
            32 => "INVALID_TIMESTAMP",
            35 => "UNSUPPORTED_VERSION",
            36 => "TOPIC_ALREADY_EXISTS",
            37 => "INVALID_PARTITIONS",
            38 => "INVALID_REPLICATION_FACTOR",
            40 => "INVALID_CONFIG",
            42 => "INVALID_REQUEST",
            45 => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            46 => "DUPLICATE_SEQUENCE_NUMBER",
            47 => "INVALID_PRODUCER_EPOCH",
            53 => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            56 => "KAFKA_STORAGE_ERROR",
            59 => "UNKNOWN_PRODUCER_ID",
            68 => "NON_EMPTY_GROUP",
            69 => "GROUP_ID_NOT_FOUND",
            76 => "UNSUPPORTED_COMPRESSION_TYPE",
            79 => "MEMBER_ID_REQUIRED",
            81 => "GROUP_MAX_SIZE_REACHED",
            82 => "FENCED_INSTANCE_ID",
            87 => "INVALID_RECORD",
            90 => "PRODUCER_FENCED",
            100 => "UNKNOWN_TOPIC_ID",
            _ => "UNKNOWN_CODE",
        }
    }

    /// Whether a request failing with this code may be retried as it is (Kafka's
    /// `RetriableException` subclasses).
    pub fn is_retriable(self) -> bool {
        matches!(
            self.0,
            2 | 3 | 5 | 6 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 56 | 100
        )
    }

    /// Whether this code means the client's view of who leads a partition is stale.
    pub fn invalidates_metadata(self) -> bool {
        matches!(self.0, 3 | 5 | 6 | 56 | 100)
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is wrong; nothing was sent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No broker could be reached.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address tried.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection broke with the request in flight: it may or may not have been applied.
    #[error("connection to {addr} lost: {reason}")]
    Disconnected {
        /// The broker.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// No answer within `request.timeout.ms`.
    #[error("request to {addr} timed out")]
    Timeout {
        /// The broker.
        addr: String,
    },
    /// The broker said something that is not the Kafka protocol.
    #[error("protocol error from {addr}: {reason}")]
    Protocol {
        /// The broker.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// The broker answered with an error code.
    #[error("{code}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// Kafka's code.
        code: KafkaCode,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// No version of an API is supported by both sides.
    #[error("the broker supports no version of {0} this client speaks")]
    UnsupportedApi(&'static str),
    /// A topic's partitions were not known within `max.block.ms`.
    #[error("topic {topic} not in metadata after {waited_ms} ms (max.block.ms){}", last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    MetadataTimeout {
        /// The topic.
        topic: String,
        /// How long the producer waited.
        waited_ms: u64,
        /// Why the last metadata request failed, when it did (an unreachable cluster).
        last_error: Option<String>,
    },
    /// The producer or consumer was closed.
    #[error("closed")]
    Closed,
    /// A record was not delivered within `delivery.timeout.ms`.
    #[error("record not delivered within delivery.timeout.ms ({0} ms)")]
    DeliveryTimeout(u64),
    /// The producer detected a gap in what the broker acknowledged (it lost data, or its
    /// producer state) and `stop.on.data.loss` is set.
    #[error("data loss detected: {0}")]
    DataLoss(String),
    /// The producer is in a fatal state and delivers nothing more.
    #[error("producer failed: {0}")]
    Fatal(String),
}

impl Error {
    /// A broker error from a code.
    pub fn broker(code: i16, message: Option<String>) -> Error {
        Error::Broker {
            code: KafkaCode(code),
            message,
        }
    }

    /// The Kafka code, for broker errors.
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Client result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
