//! Schemas of ApiVersions, Metadata, DescribeCluster, FindCoordinator, InitProducerId and
//! DescribeProducers: requests and responses.
//!
//! Transcribed from the decode functions of `kafka-protocol` 0.18.0: one module per
//! message, one static per struct, fields in wire order, each with the versions in which
//! it is on the wire and the dotted path that errors name. Tables keep one entry per line,
//! so the modules are not run through rustfmt.

/// `ApiVersionsRequest` v0-4, flexible from v3 (`messages/api_versions_request.rs`).
#[rustfmt::skip]
pub(super) mod api_versions_request {
    use super::super::walker::*;

    pub(crate) static API_VERSIONS_REQUEST: Struct = Struct {
        path: "ApiVersionsRequest",
        versions: between(0, 4),
        flexible: Some(3),
        fields: &[
            f("client_software_name", since(3), STR),
            f("client_software_version", since(3), STR),
        ],
        tags: &[],
    };
}

/// `ApiVersionsResponse` v0-4, flexible from v3 (`messages/api_versions_response.rs`).
#[rustfmt::skip]
pub(super) mod api_versions_response {
    use super::super::walker::*;

    pub(crate) static API_VERSIONS_RESPONSE: Struct = Struct {
        path: "ApiVersionsResponse",
        versions: between(0, 4),
        flexible: Some(3),
        fields: &[
            f("error_code", ALL, I16),
            f("api_keys", ALL, array(&API_VERSION)),
            f("throttle_time_ms", since(1), I32),
        ],
        tags: &[
            tag(0, "supported_features", since(3), array(&SUPPORTED_FEATURE_KEY)),
            tag(1, "finalized_features_epoch", since(3), I64),
            tag(2, "finalized_features", since(3), array(&FINALIZED_FEATURE_KEY)),
            tag(3, "zk_migration_ready", since(3), BOOL),
        ],
    };
    /// `ApiVersion`.
    static API_VERSION: Struct = Struct {
        path: "api_keys",
        versions: between(0, 4),
        flexible: Some(3),
        fields: &[
            f("api_keys.api_key", ALL, I16),
            f("api_keys.min_version", ALL, I16),
            f("api_keys.max_version", ALL, I16),
        ],
        tags: &[],
    };
    /// `SupportedFeatureKey`.
    static SUPPORTED_FEATURE_KEY: Struct = Struct {
        path: "supported_features",
        versions: between(0, 4),
        flexible: Some(3),
        fields: &[
            f("supported_features.name", since(3), STR),
            f("supported_features.min_version", since(3), I16),
            f("supported_features.max_version", since(3), I16),
        ],
        tags: &[],
    };
    /// `FinalizedFeatureKey`.
    static FINALIZED_FEATURE_KEY: Struct = Struct {
        path: "finalized_features",
        versions: between(0, 4),
        flexible: Some(3),
        fields: &[
            f("finalized_features.name", since(3), STR),
            f("finalized_features.max_version_level", since(3), I16),
            f("finalized_features.min_version_level", since(3), I16),
        ],
        tags: &[],
    };
}

/// `MetadataRequest` v0-13, flexible from v9 (`messages/metadata_request.rs`).
#[rustfmt::skip]
pub(super) mod metadata_request {
    use super::super::walker::*;

    pub(crate) static METADATA_REQUEST: Struct = Struct {
        path: "MetadataRequest",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("topics", ALL, narray(&METADATA_REQUEST_TOPIC)),
            f("allow_auto_topic_creation", since(4), BOOL),
            f("include_cluster_authorized_operations", between(8, 10), BOOL),
            f("include_topic_authorized_operations", since(8), BOOL),
        ],
        tags: &[],
    };
    /// `MetadataRequestTopic`.
    static METADATA_REQUEST_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("topics.topic_id", since(10), UUID),
            f("topics.name", ALL, NSTR),
        ],
        tags: &[],
    };
}

/// `MetadataResponse` v0-13, flexible from v9 (`messages/metadata_response.rs`).
#[rustfmt::skip]
pub(super) mod metadata_response {
    use super::super::walker::*;

    pub(crate) static METADATA_RESPONSE: Struct = Struct {
        path: "MetadataResponse",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("throttle_time_ms", since(3), I32),
            f("brokers", ALL, array(&METADATA_RESPONSE_BROKER)),
            f("cluster_id", since(2), NSTR),
            f("controller_id", since(1), I32),
            f("topics", ALL, array(&METADATA_RESPONSE_TOPIC)),
            f("cluster_authorized_operations", between(8, 10), I32),
            f("error_code", since(13), I16),
        ],
        tags: &[],
    };
    /// `MetadataResponseBroker`.
    static METADATA_RESPONSE_BROKER: Struct = Struct {
        path: "brokers",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("brokers.node_id", ALL, I32),
            f("brokers.host", ALL, STR),
            f("brokers.port", ALL, I32),
            f("brokers.rack", since(1), NSTR),
        ],
        tags: &[],
    };
    /// `MetadataResponseTopic`.
    static METADATA_RESPONSE_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("topics.error_code", ALL, I16),
            f("topics.name", ALL, NSTR),
            f("topics.topic_id", since(10), UUID),
            f("topics.is_internal", since(1), BOOL),
            f("topics.partitions", ALL, array(&METADATA_RESPONSE_PARTITION)),
            f("topics.topic_authorized_operations", since(8), I32),
        ],
        tags: &[],
    };
    /// `MetadataResponsePartition`.
    static METADATA_RESPONSE_PARTITION: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 13),
        flexible: Some(9),
        fields: &[
            f("topics.partitions.error_code", ALL, I16),
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.leader_id", ALL, I32),
            f("topics.partitions.leader_epoch", since(7), I32),
            f("topics.partitions.replica_nodes", ALL, I32_ARRAY),
            f("topics.partitions.isr_nodes", ALL, I32_ARRAY),
            f("topics.partitions.offline_replicas", since(5), I32_ARRAY),
        ],
        tags: &[],
    };
}

/// `DescribeClusterRequest` v0-2, always flexible (`messages/describe_cluster_request.rs`).
#[rustfmt::skip]
pub(super) mod describe_cluster_request {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_CLUSTER_REQUEST: Struct = Struct {
        path: "DescribeClusterRequest",
        versions: between(0, 2),
        flexible: Some(0),
        fields: &[
            f("include_cluster_authorized_operations", ALL, BOOL),
            f("endpoint_type", since(1), I8),
            f("include_fenced_brokers", since(2), BOOL),
        ],
        tags: &[],
    };
}

/// `DescribeClusterResponse` v0-2, always flexible (`messages/describe_cluster_response.rs`).
#[rustfmt::skip]
pub(super) mod describe_cluster_response {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_CLUSTER_RESPONSE: Struct = Struct {
        path: "DescribeClusterResponse",
        versions: between(0, 2),
        flexible: Some(0),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("error_code", ALL, I16),
            f("error_message", ALL, NSTR),
            f("endpoint_type", since(1), I8),
            f("cluster_id", ALL, STR),
            f("controller_id", ALL, I32),
            f("brokers", ALL, array(&DESCRIBE_CLUSTER_BROKER)),
            f("cluster_authorized_operations", ALL, I32),
        ],
        tags: &[],
    };
    /// `DescribeClusterBroker`.
    static DESCRIBE_CLUSTER_BROKER: Struct = Struct {
        path: "brokers",
        versions: between(0, 2),
        flexible: Some(0),
        fields: &[
            f("brokers.broker_id", ALL, I32),
            f("brokers.host", ALL, STR),
            f("brokers.port", ALL, I32),
            f("brokers.rack", ALL, NSTR),
            f("brokers.is_fenced", since(2), BOOL),
        ],
        tags: &[],
    };
}

/// `FindCoordinatorRequest` v0-6, flexible from v3 (`messages/find_coordinator_request.rs`).
#[rustfmt::skip]
pub(super) mod find_coordinator_request {
    use super::super::walker::*;

    pub(crate) static FIND_COORDINATOR_REQUEST: Struct = Struct {
        path: "FindCoordinatorRequest",
        versions: between(0, 6),
        flexible: Some(3),
        fields: &[
            f("key", until(3), STR),
            f("key_type", since(1), I8),
            f("coordinator_keys", since(4), STR_ARRAY),
        ],
        tags: &[],
    };
}

/// `FindCoordinatorResponse` v0-6, flexible from v3 (`messages/find_coordinator_response.rs`).
#[rustfmt::skip]
pub(super) mod find_coordinator_response {
    use super::super::walker::*;

    pub(crate) static FIND_COORDINATOR_RESPONSE: Struct = Struct {
        path: "FindCoordinatorResponse",
        versions: between(0, 6),
        flexible: Some(3),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("error_code", until(3), I16),
            f("error_message", between(1, 3), NSTR),
            f("node_id", until(3), I32),
            f("host", until(3), STR),
            f("port", until(3), I32),
            f("coordinators", since(4), array(&COORDINATOR)),
        ],
        tags: &[],
    };
    /// `Coordinator`.
    static COORDINATOR: Struct = Struct {
        path: "coordinators",
        versions: between(0, 6),
        flexible: Some(3),
        fields: &[
            f("coordinators.key", since(4), STR),
            f("coordinators.node_id", since(4), I32),
            f("coordinators.host", since(4), STR),
            f("coordinators.port", since(4), I32),
            f("coordinators.error_code", since(4), I16),
            f("coordinators.error_message", since(4), NSTR),
        ],
        tags: &[],
    };
}

/// `InitProducerIdRequest` v0-5, flexible from v2 (`messages/init_producer_id_request.rs`).
#[rustfmt::skip]
pub(super) mod init_producer_id_request {
    use super::super::walker::*;

    pub(crate) static INIT_PRODUCER_ID_REQUEST: Struct = Struct {
        path: "InitProducerIdRequest",
        versions: between(0, 5),
        flexible: Some(2),
        fields: &[
            f("transactional_id", ALL, NSTR),
            f("transaction_timeout_ms", ALL, I32),
            f("producer_id", since(3), I64),
            f("producer_epoch", since(3), I16),
        ],
        tags: &[],
    };
}

/// `InitProducerIdResponse` v0-6, flexible from v2 (`messages/init_producer_id_response.rs`).
#[rustfmt::skip]
pub(super) mod init_producer_id_response {
    use super::super::walker::*;

    pub(crate) static INIT_PRODUCER_ID_RESPONSE: Struct = Struct {
        path: "InitProducerIdResponse",
        versions: between(0, 6),
        flexible: Some(2),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("error_code", ALL, I16),
            f("producer_id", ALL, I64),
            f("producer_epoch", ALL, I16),
            f("ongoing_txn_producer_id", since(6), I64),
            f("ongoing_txn_producer_epoch", since(6), I16),
        ],
        tags: &[],
    };
}

/// `DescribeProducersRequest` v0, always flexible (`messages/describe_producers_request.rs`).
#[rustfmt::skip]
pub(super) mod describe_producers_request {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_PRODUCERS_REQUEST: Struct = Struct {
        path: "DescribeProducersRequest",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("topics", ALL, array(&TOPIC_REQUEST)),
        ],
        tags: &[],
    };
    /// `TopicRequest`.
    static TOPIC_REQUEST: Struct = Struct {
        path: "topics",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partition_indexes", ALL, I32_ARRAY),
        ],
        tags: &[],
    };
}

/// `DescribeProducersResponse` v0, always flexible (`messages/describe_producers_response.rs`).
#[rustfmt::skip]
pub(super) mod describe_producers_response {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_PRODUCERS_RESPONSE: Struct = Struct {
        path: "DescribeProducersResponse",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("topics", ALL, array(&TOPIC_RESPONSE)),
        ],
        tags: &[],
    };
    /// `TopicResponse`.
    static TOPIC_RESPONSE: Struct = Struct {
        path: "topics",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.partitions", ALL, array(&PARTITION_RESPONSE)),
        ],
        tags: &[],
    };
    /// `PartitionResponse`.
    static PARTITION_RESPONSE: Struct = Struct {
        path: "topics.partitions",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("topics.partitions.partition_index", ALL, I32),
            f("topics.partitions.error_code", ALL, I16),
            f("topics.partitions.error_message", ALL, NSTR),
            f("topics.partitions.active_producers", ALL, array(&PRODUCER_STATE)),
        ],
        tags: &[],
    };
    /// `ProducerState`.
    static PRODUCER_STATE: Struct = Struct {
        path: "topics.partitions.active_producers",
        versions: between(0, 0),
        flexible: Some(0),
        fields: &[
            f("topics.partitions.active_producers.producer_id", ALL, I64),
            f("topics.partitions.active_producers.producer_epoch", ALL, I32),
            f("topics.partitions.active_producers.last_sequence", ALL, I32),
            f("topics.partitions.active_producers.last_timestamp", ALL, I64),
            f("topics.partitions.active_producers.coordinator_epoch", ALL, I32),
            f("topics.partitions.active_producers.current_txn_start_offset", ALL, I64),
        ],
        tags: &[],
    };
}
