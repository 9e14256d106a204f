//! Schemas of Produce, Fetch, ListOffsets and DeleteRecords: requests and responses.
//!
//! Transcribed from the decode functions of `kafka-protocol` 0.18.0: one module per
//! message, one static per struct, fields in wire order, each with the versions in which
//! it is on the wire and the dotted path that errors name. Tables keep one entry per line,
//! so the modules are not run through rustfmt.

/// `ProduceRequest` v3-13, flexible from v9 (`messages/produce_request.rs`).
#[rustfmt::skip]
pub(super) mod produce_request {
    use super::super::walker::*;

    pub(crate) static PRODUCE_REQUEST: Struct = Struct {
        path: "ProduceRequest",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("transactional_id", ALL, NSTR),
            f("acks", ALL, I16),
            f("timeout_ms", ALL, I32),
            f("topic_data", ALL, array(&TOPIC_PRODUCE_DATA)),
        ],
        tags: &[],
    };
    /// `TopicProduceData`.
    static TOPIC_PRODUCE_DATA: Struct = Struct {
        path: "topic_data",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("topic_data.name", until(12), STR),
            f("topic_data.topic_id", since(13), UUID),
            f("topic_data.partition_data", ALL, array(&PARTITION_PRODUCE_DATA)),
        ],
        tags: &[],
    };
    /// `PartitionProduceData`.
    static PARTITION_PRODUCE_DATA: Struct = Struct {
        path: "topic_data.partition_data",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("topic_data.partition_data.index", ALL, I32),
            f("topic_data.partition_data.records", ALL, RECORDS),
        ],
        tags: &[],
    };
}

/// `ProduceResponse` v3-13, flexible from v9 (`messages/produce_response.rs`).
#[rustfmt::skip]
pub(super) mod produce_response {
    use super::super::walker::*;

    pub(crate) static PRODUCE_RESPONSE: Struct = Struct {
        path: "ProduceResponse",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("responses", ALL, array(&TOPIC_PRODUCE_RESPONSE)),
            f("throttle_time_ms", ALL, I32),
        ],
        tags: &[
            tag(0, "node_endpoints", since(10), array(&NODE_ENDPOINT)),
        ],
    };
    /// `TopicProduceResponse`.
    static TOPIC_PRODUCE_RESPONSE: Struct = Struct {
        path: "responses",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("responses.name", until(12), STR),
            f("responses.topic_id", since(13), UUID),
            f("responses.partition_responses", ALL, array(&PARTITION_PRODUCE_RESPONSE)),
        ],
        tags: &[],
    };
    /// `PartitionProduceResponse`.
    static PARTITION_PRODUCE_RESPONSE: Struct = Struct {
        path: "responses.partition_responses",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("responses.partition_responses.index", ALL, I32),
            f("responses.partition_responses.error_code", ALL, I16),
            f("responses.partition_responses.base_offset", ALL, I64),
            f("responses.partition_responses.log_append_time_ms", ALL, I64),
            f("responses.partition_responses.log_start_offset", since(5), I64),
            f("responses.partition_responses.record_errors", since(8), array(&BATCH_INDEX_AND_ERROR_MESSAGE)),
            f("responses.partition_responses.error_message", since(8), NSTR),
        ],
        tags: &[
            tag(0, "responses.partition_responses.current_leader", since(10), nested(&LEADER_ID_AND_EPOCH)),
        ],
    };
    /// `BatchIndexAndErrorMessage`.
    static BATCH_INDEX_AND_ERROR_MESSAGE: Struct = Struct {
        path: "responses.partition_responses.record_errors",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("responses.partition_responses.record_errors.batch_index", since(8), I32),
            f("responses.partition_responses.record_errors.batch_index_error_message", since(8), NSTR),
        ],
        tags: &[],
    };
    /// `LeaderIdAndEpoch`.
    static LEADER_ID_AND_EPOCH: Struct = Struct {
        path: "responses.partition_responses.current_leader",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("responses.partition_responses.current_leader.leader_id", since(10), I32),
            f("responses.partition_responses.current_leader.leader_epoch", since(10), I32),
        ],
        tags: &[],
    };
    /// `NodeEndpoint`.
    static NODE_ENDPOINT: Struct = Struct {
        path: "node_endpoints",
        versions: between(3, 13),
        flexible: Some(9),
        fields: &[
            f("node_endpoints.node_id", since(10), I32),
            f("node_endpoints.host", since(10), STR),
            f("node_endpoints.port", since(10), I32),
            f("node_endpoints.rack", since(10), NSTR),
        ],
        tags: &[],
    };
}

/// `FetchRequest` v4-18, flexible from v12 (`messages/fetch_request.rs`).
#[rustfmt::skip]
pub(super) mod fetch_request {
    use super::super::walker::*;

    pub(crate) static FETCH_REQUEST: Struct = Struct {
        path: "FetchRequest",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("replica_id", until(14), I32),
            f("max_wait_ms", ALL, I32),
            f("min_bytes", ALL, I32),
            f("max_bytes", ALL, I32),
            f("isolation_level", ALL, I8),
            f("session_id", since(7), I32),
            f("session_epoch", since(7), I32),
            f("topics", ALL, array(&FETCH_TOPIC)),
            f("forgotten_topics_data", since(7), array(&FORGOTTEN_TOPIC)),
            f("rack_id", since(11), STR),
        ],
        tags: &[
            tag(0, "cluster_id", since(12), NSTR),
            tag(1, "replica_state", since(15), nested(&REPLICA_STATE)),
        ],
    };
    /// `FetchTopic`.
    static FETCH_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("topics.topic", until(12), STR),
            f("topics.topic_id", since(13), UUID),
            f("topics.partitions", ALL, array(&FETCH_PARTITION)),
        ],
        tags: &[],
    };
    /// `FetchPartition`.
    static FETCH_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("topics.partitions.partition", ALL, I32),
            f("topics.partitions.current_leader_epoch", since(9), I32),
            f("topics.partitions.fetch_offset", ALL, I64),
            f("topics.partitions.last_fetched_epoch", since(12), I32),
            f("topics.partitions.log_start_offset", since(5), I64),
            f("topics.partitions.partition_max_bytes", ALL, I32),
        ],
        tags: &[
            tag(0, "topics.partitions.replica_directory_id", since(17), UUID),
            tag(1, "topics.partitions.high_watermark", since(18), I64),
        ],
    };
    /// `ForgottenTopic`.
    static FORGOTTEN_TOPIC: Struct = Struct {
        path: "forgotten_topics_data",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("forgotten_topics_data.topic", between(7, 12), STR),
            f("forgotten_topics_data.topic_id", since(13), UUID),
            f("forgotten_topics_data.partitions", since(7), I32_ARRAY),
        ],
        tags: &[],
    };
    /// `ReplicaState`.
    static REPLICA_STATE: Struct = Struct {
        path: "replica_state",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("replica_state.replica_id", since(15), I32),
            f("replica_state.replica_epoch", since(15), I64),
        ],
        tags: &[],
    };
}

/// `FetchResponse` v4-18, flexible from v12 (`messages/fetch_response.rs`).
#[rustfmt::skip]
pub(super) mod fetch_response {
    use super::super::walker::*;

    pub(crate) static FETCH_RESPONSE: Struct = Struct {
        path: "FetchResponse",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("error_code", since(7), I16),
            f("session_id", since(7), I32),
            f("responses", ALL, array(&FETCHABLE_TOPIC_RESPONSE)),
        ],
        tags: &[
            tag(0, "node_endpoints", since(16), array(&NODE_ENDPOINT)),
        ],
    };
    /// `FetchableTopicResponse`.
    static FETCHABLE_TOPIC_RESPONSE: Struct = Struct {
        path: "responses",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.topic", until(12), STR),
            f("responses.topic_id", since(13), UUID),
            f("responses.partitions", ALL, array(&PARTITION_DATA)),
        ],
        tags: &[],
    };
    /// `PartitionData`.
    static PARTITION_DATA: Struct = Struct {
        path: "responses.partitions",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.partitions.partition_index", ALL, I32),
            f("responses.partitions.error_code", ALL, I16),
            f("responses.partitions.high_watermark", ALL, I64),
            f("responses.partitions.last_stable_offset", ALL, I64),
            f("responses.partitions.log_start_offset", since(5), I64),
            f("responses.partitions.aborted_transactions", ALL, narray(&ABORTED_TRANSACTION)),
            f("responses.partitions.preferred_read_replica", since(11), I32),
            f("responses.partitions.records", ALL, RECORDS),
        ],
        tags: &[
            tag(0, "responses.partitions.diverging_epoch", since(12), nested(&EPOCH_END_OFFSET)),
            tag(1, "responses.partitions.current_leader", since(12), nested(&LEADER_ID_AND_EPOCH)),
            tag(2, "responses.partitions.snapshot_id", since(12), nested(&SNAPSHOT_ID)),
        ],
    };
    /// `AbortedTransaction`.
    static ABORTED_TRANSACTION: Struct = Struct {
        path: "responses.partitions.aborted_transactions",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.partitions.aborted_transactions.producer_id", ALL, I64),
            f("responses.partitions.aborted_transactions.first_offset", ALL, I64),
        ],
        tags: &[],
    };
    /// `EpochEndOffset`.
    static EPOCH_END_OFFSET: Struct = Struct {
        path: "responses.partitions.diverging_epoch",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.partitions.diverging_epoch.epoch", since(12), I32),
            f("responses.partitions.diverging_epoch.end_offset", since(12), I64),
        ],
        tags: &[],
    };
    /// `LeaderIdAndEpoch`.
    static LEADER_ID_AND_EPOCH: Struct = Struct {
        path: "responses.partitions.current_leader",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.partitions.current_leader.leader_id", since(12), I32),
            f("responses.partitions.current_leader.leader_epoch", since(12), I32),
        ],
        tags: &[],
    };
    /// `SnapshotId`.
    static SNAPSHOT_ID: Struct = Struct {
        path: "responses.partitions.snapshot_id",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("responses.partitions.snapshot_id.end_offset", ALL, I64),
            f("responses.partitions.snapshot_id.epoch", ALL, I32),
        ],
        tags: &[],
    };
    /// `NodeEndpoint`.
    static NODE_ENDPOINT: Struct = Struct {
        path: "node_endpoints",
        versions: between(4, 18),
        flexible: Some(12),
        fields: &[
            f("node_endpoints.node_id", since(16), I32),
            f("node_endpoints.host", since(16), STR),
            f("node_endpoints.port", since(16), I32),
            f("node_endpoints.rack", since(16), NSTR),
        ],
        tags: &[],
    };
}

/// `ListOffsetsRequest` v1-10, flexible from v6 (`messages/list_offsets_request.rs`).
#[rustfmt::skip]
pub(super) mod list_offsets_request {
    use super::super::walker::*;

    pub(crate) static LIST_OFFSETS_REQUEST: Struct = Struct {
        path: "ListOffsetsRequest",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("replica_id", ALL, I32),
            f("isolation_level", since(2), I8),
            f("topics", ALL, array(&LIST_OFFSETS_TOPIC)),
            f("timeout_ms", since(10), I32),
        ],
        tags: &[],
    };
    /// `ListOffsetsTopic`.
    static LIST_OFFSETS_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&LIST_OFFSETS_PARTITION)),
        ],
        tags: &[],
    };
    /// `ListOffsetsPartition`.
    static LIST_OFFSETS_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.current_leader_epoch", since(4), I32),
            f("topics.partitions.timestamp", ALL, I64),
        ],
        tags: &[],
    };
}

/// `ListOffsetsResponse` v1-10, flexible from v6 (`messages/list_offsets_response.rs`).
#[rustfmt::skip]
pub(super) mod list_offsets_response {
    use super::super::walker::*;

    pub(crate) static LIST_OFFSETS_RESPONSE: Struct = Struct {
        path: "ListOffsetsResponse",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("throttle_time_ms", since(2), I32),
            f("topics", ALL, array(&LIST_OFFSETS_TOPIC_RESPONSE)),
        ],
        tags: &[],
    };
    /// `ListOffsetsTopicResponse`.
    static LIST_OFFSETS_TOPIC_RESPONSE: Struct = Struct {
        path: "topics",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&LIST_OFFSETS_PARTITION_RESPONSE)),
        ],
        tags: &[],
    };
    /// `ListOffsetsPartitionResponse`.
    static LIST_OFFSETS_PARTITION_RESPONSE: Struct = Struct {
        path: "topics.partitions",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.error_code", ALL, I16),
            f("topics.partitions.timestamp", ALL, I64),
            f("topics.partitions.offset", ALL, I64),
            f("topics.partitions.leader_epoch", since(4), I32),
        ],
        tags: &[],
    };
}

/// `DeleteRecordsRequest` v0-2, flexible from v2 (`messages/delete_records_request.rs`).
#[rustfmt::skip]
pub(super) mod delete_records_request {
    use super::super::walker::*;

    pub(crate) static DELETE_RECORDS_REQUEST: Struct = Struct {
        path: "DeleteRecordsRequest",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("topics", ALL, array(&DELETE_RECORDS_TOPIC)),
            f("timeout_ms", ALL, I32),
        ],
        tags: &[],
    };
    /// `DeleteRecordsTopic`.
    static DELETE_RECORDS_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&DELETE_RECORDS_PARTITION)),
        ],
        tags: &[],
    };
    /// `DeleteRecordsPartition`.
    static DELETE_RECORDS_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.offset", ALL, I64),
        ],
        tags: &[],
    };
}

/// `DeleteRecordsResponse` v0-2, flexible from v2 (`messages/delete_records_response.rs`).
#[rustfmt::skip]
pub(super) mod delete_records_response {
    use super::super::walker::*;

    pub(crate) static DELETE_RECORDS_RESPONSE: Struct = Struct {
        path: "DeleteRecordsResponse",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("topics", ALL, array(&DELETE_RECORDS_TOPIC_RESULT)),
        ],
        tags: &[],
    };
    /// `DeleteRecordsTopicResult`.
    static DELETE_RECORDS_TOPIC_RESULT: Struct = Struct {
        path: "topics",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&DELETE_RECORDS_PARTITION_RESULT)),
        ],
        tags: &[],
    };
    /// `DeleteRecordsPartitionResult`.
    static DELETE_RECORDS_PARTITION_RESULT: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.low_watermark", ALL, I64),
            f("topics.partitions.error_code", ALL, I16),
        ],
        tags: &[],
    };
}
