//! Structural pre-check of request and response bodies, before `kafka-protocol` decodes them.
//!
//! `kafka-protocol` 0.18.0 reserves `Vec::with_capacity(n)` with an array count `n` read
//! straight off the wire (`src/protocol/types.rs`, the `Array` and `CompactArray` decoders).
//! A frame of a few bytes claiming `i32::MAX` elements makes it try to allocate gigabytes, and
//! a failed allocation aborts the process: no `Result`, no unwinding (Kafka's CVE-2022-34917).
//! So every body goes through [`check_request`] or [`check_response`] first.
//!
//! What it does: walks the body against a table of the message's schema (one per API and
//! version, transcribed from `kafka-protocol`'s generated decoders; see `walker.rs`) and returns
//! `Ok(())` only if every array count, string length, bytes length and tagged field fits in the
//! bytes that remain, every element of every array really parses, strings are UTF-8, and the
//! structure ends within the body. A body it accepts decodes in `kafka-protocol` with
//! allocations bounded by a small multiple of the body length. Bytes after the message are
//! allowed, as `kafka-protocol` ignores them.
//!
//! What it does not do: build any value, check field values (error codes, offsets, acks), look
//! inside record sets (see `crate::batch`), or check the request header. The walker itself
//! allocates nothing, recurses a bounded number of levels and never panics.
//!
//! Covered: ApiVersions, Metadata, Produce, Fetch, ListOffsets, CreateTopics, DeleteTopics,
//! CreatePartitions, DescribeConfigs, DescribeCluster, FindCoordinator, InitProducerId,
//! DescribeProducers, DeleteRecords, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and OffsetDelete, every version
//! `kafka-protocol` 0.18.0 knows, requests and responses. Anything else is
//! [`BodyError::Unsupported`].

use kafka_protocol::messages::ApiKey;

mod cluster;
mod groups;
mod offsets;
mod produce_fetch;
mod topics;
mod walker;

use walker::Struct;

/// Why a body was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// A length or count claims more bytes than remain in the body.
    #[error("{field}: length or count {claimed} exceeds the {remaining} bytes left")]
    TooLong {
        /// Dotted path of the field in the message schema.
        field: &'static str,
        /// The value read from the wire.
        claimed: i64,
        /// Bytes left in the body at that point.
        remaining: usize,
    },
    /// The body ends in the middle of a field.
    #[error("{field}: body ends early")]
    Truncated {
        /// Dotted path of the field in the message schema.
        field: &'static str,
    },
    /// A length below -1, or a varint longer than allowed.
    #[error("{field}: malformed length or varint")]
    Malformed {
        /// Dotted path of the field in the message schema.
        field: &'static str,
    },
    /// No schema is known for this API key and version.
    #[error("no schema for api key {api_key} version {version}")]
    Unsupported {
        /// The API key.
        api_key: i16,
        /// The version.
        version: i16,
    },
    /// A value `kafka-protocol` would refuse to decode: a string that is not UTF-8, a known
    /// tagged field at a version that does not have it, a struct at a version it lacks.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field in the message schema.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Checks a request body (the bytes after the request header).
pub fn check_request(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), BodyError> {
    walk_request(api_key, version, body).map(drop)
}

/// Checks a response body (the bytes after the response header).
pub fn check_response(api_key: ApiKey, version: i16, body: &[u8]) -> Result<(), BodyError> {
    walk_response(api_key, version, body).map(drop)
}

/// Like [`check_request`], and returns how many bytes the message takes: tests compare it with
/// the length `kafka-protocol` encodes, which catches a schema that drifted from the decoder.
pub fn walk_request(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, BodyError> {
    walk_message(api_key, version, body, request_schema(api_key))
}

/// Like [`check_response`], and returns how many bytes the message takes.
pub fn walk_response(api_key: ApiKey, version: i16, body: &[u8]) -> Result<usize, BodyError> {
    walk_message(api_key, version, body, response_schema(api_key))
}

fn walk_message(
    api_key: ApiKey,
    version: i16,
    body: &[u8],
    schema: Option<&'static Struct>,
) -> Result<usize, BodyError> {
    let unsupported = BodyError::Unsupported {
        api_key: api_key as i16,
        version,
    };
    match schema {
        Some(root) if root.versions.contains(version) => walker::walk(root, version, body),
        _ => Err(unsupported),
    }
}

fn request_schema(api_key: ApiKey) -> Option<&'static Struct> {
    use cluster::*;
    use groups::*;
    use offsets::*;
    use produce_fetch::*;
    use topics::*;
    Some(match api_key {
        ApiKey::ApiVersions => &api_versions_request::API_VERSIONS_REQUEST,
        ApiKey::Metadata => &metadata_request::METADATA_REQUEST,
        ApiKey::Produce => &produce_request::PRODUCE_REQUEST,
        ApiKey::Fetch => &fetch_request::FETCH_REQUEST,
        ApiKey::ListOffsets => &list_offsets_request::LIST_OFFSETS_REQUEST,
        ApiKey::CreateTopics => &create_topics_request::CREATE_TOPICS_REQUEST,
        ApiKey::DeleteTopics => &delete_topics_request::DELETE_TOPICS_REQUEST,
        ApiKey::CreatePartitions => &create_partitions_request::CREATE_PARTITIONS_REQUEST,
        ApiKey::DescribeConfigs => &describe_configs_request::DESCRIBE_CONFIGS_REQUEST,
        ApiKey::DescribeCluster => &describe_cluster_request::DESCRIBE_CLUSTER_REQUEST,
        ApiKey::FindCoordinator => &find_coordinator_request::FIND_COORDINATOR_REQUEST,
        ApiKey::InitProducerId => &init_producer_id_request::INIT_PRODUCER_ID_REQUEST,
        ApiKey::DescribeProducers => &describe_producers_request::DESCRIBE_PRODUCERS_REQUEST,
        ApiKey::DeleteRecords => &delete_records_request::DELETE_RECORDS_REQUEST,
        ApiKey::JoinGroup => &join_group_request::JOIN_GROUP_REQUEST,
        ApiKey::SyncGroup => &sync_group_request::SYNC_GROUP_REQUEST,
        ApiKey::Heartbeat => &heartbeat_request::HEARTBEAT_REQUEST,
        ApiKey::LeaveGroup => &leave_group_request::LEAVE_GROUP_REQUEST,
        ApiKey::OffsetCommit => &offset_commit_request::OFFSET_COMMIT_REQUEST,
        ApiKey::OffsetFetch => &offset_fetch_request::OFFSET_FETCH_REQUEST,
        ApiKey::ListGroups => &list_groups_request::LIST_GROUPS_REQUEST,
        ApiKey::DescribeGroups => &describe_groups_request::DESCRIBE_GROUPS_REQUEST,
        ApiKey::DeleteGroups => &delete_groups_request::DELETE_GROUPS_REQUEST,
        ApiKey::OffsetDelete => &offset_delete_request::OFFSET_DELETE_REQUEST,
        _ => return None,
    })
}

fn response_schema(api_key: ApiKey) -> Option<&'static Struct> {
    use cluster::*;
    use groups::*;
    use offsets::*;
    use produce_fetch::*;
    use topics::*;
    Some(match api_key {
        ApiKey::ApiVersions => &api_versions_response::API_VERSIONS_RESPONSE,
        ApiKey::Metadata => &metadata_response::METADATA_RESPONSE,
        ApiKey::Produce => &produce_response::PRODUCE_RESPONSE,
        ApiKey::Fetch => &fetch_response::FETCH_RESPONSE,
        ApiKey::ListOffsets => &list_offsets_response::LIST_OFFSETS_RESPONSE,
        ApiKey::CreateTopics => &create_topics_response::CREATE_TOPICS_RESPONSE,
        ApiKey::DeleteTopics => &delete_topics_response::DELETE_TOPICS_RESPONSE,
        ApiKey::CreatePartitions => &create_partitions_response::CREATE_PARTITIONS_RESPONSE,
        ApiKey::DescribeConfigs => &describe_configs_response::DESCRIBE_CONFIGS_RESPONSE,
        ApiKey::DescribeCluster => &describe_cluster_response::DESCRIBE_CLUSTER_RESPONSE,
        ApiKey::FindCoordinator => &find_coordinator_response::FIND_COORDINATOR_RESPONSE,
        ApiKey::InitProducerId => &init_producer_id_response::INIT_PRODUCER_ID_RESPONSE,
        ApiKey::DescribeProducers => &describe_producers_response::DESCRIBE_PRODUCERS_RESPONSE,
        ApiKey::DeleteRecords => &delete_records_response::DELETE_RECORDS_RESPONSE,
        ApiKey::JoinGroup => &join_group_response::JOIN_GROUP_RESPONSE,
        ApiKey::SyncGroup => &sync_group_response::SYNC_GROUP_RESPONSE,
        ApiKey::Heartbeat => &heartbeat_response::HEARTBEAT_RESPONSE,
        ApiKey::LeaveGroup => &leave_group_response::LEAVE_GROUP_RESPONSE,
        ApiKey::OffsetCommit => &offset_commit_response::OFFSET_COMMIT_RESPONSE,
        ApiKey::OffsetFetch => &offset_fetch_response::OFFSET_FETCH_RESPONSE,
        ApiKey::ListGroups => &list_groups_response::LIST_GROUPS_RESPONSE,
        ApiKey::DescribeGroups => &describe_groups_response::DESCRIBE_GROUPS_RESPONSE,
        ApiKey::DeleteGroups => &delete_groups_response::DELETE_GROUPS_RESPONSE,
        ApiKey::OffsetDelete => &offset_delete_response::OFFSET_DELETE_RESPONSE,
        _ => return None,
    })
}
