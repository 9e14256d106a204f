//! Schemas of OffsetCommit, OffsetFetch and OffsetDelete: requests and responses.
//!
//! Transcribed from the decode functions of `kafka-protocol` 0.18.0: one module per
//! message, one static per struct, fields in wire order, each with the versions in which
//! it is on the wire and the dotted path that errors name. Tables keep one entry per line,
//! so the modules are not run through rustfmt.

/// `OffsetCommitRequest` v2-9, flexible from v8 (`messages/offset_commit_request.rs`).
#[rustfmt::skip]
pub(super) mod offset_commit_request {
    use super::super::walker::*;

    pub(crate) static OFFSET_COMMIT_REQUEST: Struct = Struct {
        path: "OffsetCommitRequest",
        versions: between(2, 9),
        flexible: Some(8),
        fields: &[
            f("group_id", ALL, STR),
            f("generation_id_or_member_epoch", ALL, I32),
            f("member_id", ALL, STR),
            f("group_instance_id", since(7), NSTR),
            f("retention_time_ms", until(4), I64),
            f("topics", ALL, array(&OFFSET_COMMIT_REQUEST_TOPIC)),
        ],
        tags: &[],
    };
    /// `OffsetCommitRequestTopic`.
    static OFFSET_COMMIT_REQUEST_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(2, 9),
        flexible: Some(8),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&OFFSET_COMMIT_REQUEST_PARTITION)),
        ],
        tags: &[],
    };
    /// `OffsetCommitRequestPartition`.
    static OFFSET_COMMIT_REQUEST_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(2, 9),
        flexible: Some(8),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.committed_offset", ALL, I64),
            f("topics.partitions.committed_leader_epoch", since(6), I32),
            f("topics.partitions.committed_metadata", ALL, NSTR),
        ],
        tags: &[],
    };
}

/// `OffsetCommitResponse` v2-10, flexible from v8 (`messages/offset_commit_response.rs`).
#[rustfmt::skip]
pub(super) mod offset_commit_response {
    use super::super::walker::*;

    pub(crate) static OFFSET_COMMIT_RESPONSE: Struct = Struct {
        path: "OffsetCommitResponse",
        versions: between(2, 10),
        flexible: Some(8),
        fields: &[
            f("throttle_time_ms", since(3), I32),
            f("topics", ALL, array(&OFFSET_COMMIT_RESPONSE_TOPIC)),
        ],
        tags: &[],
    };
    /// `OffsetCommitResponseTopic`.
    static OFFSET_COMMIT_RESPONSE_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(2, 10),
        flexible: Some(8),
        fields: &[
            f("topics.name", until(9), STR),
            f("topics.topic_id", since(10), UUID),
            f("topics.partitions", ALL, array(&OFFSET_COMMIT_RESPONSE_PARTITION)),
        ],
        tags: &[],
    };
    /// `OffsetCommitResponsePartition`.
    static OFFSET_COMMIT_RESPONSE_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(2, 10),
        flexible: Some(8),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.error_code", ALL, I16),
        ],
        tags: &[],
    };
}

/// `OffsetFetchRequest` v1-9, flexible from v6 (`messages/offset_fetch_request.rs`).
#[rustfmt::skip]
pub(super) mod offset_fetch_request {
    use super::super::walker::*;

    pub(crate) static OFFSET_FETCH_REQUEST: Struct = Struct {
        path: "OffsetFetchRequest",
        versions: between(1, 9),
        flexible: Some(6),
        fields: &[
            f("group_id", until(7), STR),
            f("topics", until(7), narray(&OFFSET_FETCH_REQUEST_TOPIC)),
            f("groups", since(8), array(&OFFSET_FETCH_REQUEST_GROUP)),
            f("require_stable", since(7), BOOL),
        ],
        tags: &[],
    };
    /// `OffsetFetchRequestTopic`.
    static OFFSET_FETCH_REQUEST_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(1, 9),
        flexible: Some(6),
        fields: &[
            f("topics.name", until(7), STR),
            f("topics.partition_indexes", until(7), I32_ARRAY),
        ],
        tags: &[],
    };
    /// `OffsetFetchRequestGroup`.
    static OFFSET_FETCH_REQUEST_GROUP: Struct = Struct {
        path: "groups",
        versions: between(1, 9),
        flexible: Some(6),
        fields: &[
            f("groups.group_id", since(8), STR),
            f("groups.member_id", since(9), NSTR),
            f("groups.member_epoch", since(9), I32),
            f("groups.topics", since(8), narray(&OFFSET_FETCH_REQUEST_TOPICS)),
        ],
        tags: &[],
    };
    /// `OffsetFetchRequestTopics`.
    static OFFSET_FETCH_REQUEST_TOPICS: Struct = Struct {
        path: "groups.topics",
        versions: between(1, 9),
        flexible: Some(6),
        fields: &[
            f("groups.topics.name", since(8), STR),
            f("groups.topics.partition_indexes", since(8), I32_ARRAY),
        ],
        tags: &[],
    };
}

/// `OffsetFetchResponse` v1-10, flexible from v6 (`messages/offset_fetch_response.rs`).
#[rustfmt::skip]
pub(super) mod offset_fetch_response {
    use super::super::walker::*;

    pub(crate) static OFFSET_FETCH_RESPONSE: Struct = Struct {
        path: "OffsetFetchResponse",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("throttle_time_ms", since(3), I32),
            f("topics", until(7), array(&OFFSET_FETCH_RESPONSE_TOPIC)),
            f("error_code", between(2, 7), I16),
            f("groups", since(8), array(&OFFSET_FETCH_RESPONSE_GROUP)),
        ],
        tags: &[],
    };
    /// `OffsetFetchResponseTopic`.
    static OFFSET_FETCH_RESPONSE_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.name", until(7), STR),
            f("topics.partitions", until(7), array(&OFFSET_FETCH_RESPONSE_PARTITION)),
        ],
        tags: &[],
    };
    /// `OffsetFetchResponsePartition`.
    static OFFSET_FETCH_RESPONSE_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("topics.partitions.partition_index", until(7), I32),
            f("topics.partitions.committed_offset", until(7), I64),
            f("topics.partitions.committed_leader_epoch", between(5, 7), I32),
            f("topics.partitions.metadata", until(7), NSTR),
            f("topics.partitions.error_code", until(7), I16),
        ],
        tags: &[],
    };
    /// `OffsetFetchResponseGroup`.
    static OFFSET_FETCH_RESPONSE_GROUP: Struct = Struct {
        path: "groups",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("groups.group_id", since(8), STR),
            f("groups.topics", since(8), array(&OFFSET_FETCH_RESPONSE_TOPICS)),
            f("groups.error_code", since(8), I16),
        ],
        tags: &[],
    };
    /// `OffsetFetchResponseTopics`.
    static OFFSET_FETCH_RESPONSE_TOPICS: Struct = Struct {
        path: "groups.topics",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("groups.topics.name", between(8, 9), STR),
            f("groups.topics.topic_id", since(10), UUID),
            f("groups.topics.partitions", since(8), array(&OFFSET_FETCH_RESPONSE_PARTITIONS)),
        ],
        tags: &[],
    };
    /// `OffsetFetchResponsePartitions`.
    static OFFSET_FETCH_RESPONSE_PARTITIONS: Struct = Struct {
        path: "groups.topics.partitions",
        versions: between(1, 10),
        flexible: Some(6),
        fields: &[
            f("groups.topics.partitions.partition_index", since(8), I32),
            f("groups.topics.partitions.committed_offset", since(8), I64),
            f("groups.topics.partitions.committed_leader_epoch", since(8), I32),
            f("groups.topics.partitions.metadata", since(8), NSTR),
            f("groups.topics.partitions.error_code", since(8), I16),
        ],
        tags: &[],
    };
}

/// `OffsetDeleteRequest` v0, never flexible (`messages/offset_delete_request.rs`).
#[rustfmt::skip]
pub(super) mod offset_delete_request {
    use super::super::walker::*;

    pub(crate) static OFFSET_DELETE_REQUEST: Struct = Struct {
        path: "OffsetDeleteRequest",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("group_id", ALL, STR),
            f("topics", ALL, array(&OFFSET_DELETE_REQUEST_TOPIC)),
        ],
        tags: &[],
    };
    /// `OffsetDeleteRequestTopic`.
    static OFFSET_DELETE_REQUEST_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&OFFSET_DELETE_REQUEST_PARTITION)),
        ],
        tags: &[],
    };
    /// `OffsetDeleteRequestPartition`.
    static OFFSET_DELETE_REQUEST_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
        ],
        tags: &[],
    };
}

/// `OffsetDeleteResponse` v0, never flexible (`messages/offset_delete_response.rs`).
#[rustfmt::skip]
pub(super) mod offset_delete_response {
    use super::super::walker::*;

    pub(crate) static OFFSET_DELETE_RESPONSE: Struct = Struct {
        path: "OffsetDeleteResponse",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("error_code", ALL, I16),
            f("throttle_time_ms", ALL, I32),
            f("topics", ALL, array(&OFFSET_DELETE_RESPONSE_TOPIC)),
        ],
        tags: &[],
    };
    /// `OffsetDeleteResponseTopic`.
    static OFFSET_DELETE_RESPONSE_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&OFFSET_DELETE_RESPONSE_PARTITION)),
        ],
        tags: &[],
    };
    /// `OffsetDeleteResponsePartition`.
    static OFFSET_DELETE_RESPONSE_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 0),
        flexible: None,
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.error_code", ALL, I16),
        ],
        tags: &[],
    };
}
