//! Schemas of CreateTopics, DeleteTopics, CreatePartitions and DescribeConfigs: requests and
//! responses.
//!
//! Transcribed from the decode functions of `kafka-protocol` 0.18.0: one module per
//! message, one static per struct, fields in wire order, each with the versions in which
//! it is on the wire and the dotted path that errors name. Tables keep one entry per line,
//! so the modules are not run through rustfmt.

/// `CreateTopicsRequest` v2-7, flexible from v5 (`messages/create_topics_request.rs`).
#[rustfmt::skip]
pub(super) mod create_topics_request {
    use super::super::walker::*;

    pub(crate) static CREATE_TOPICS_REQUEST: Struct = Struct {
        path: "CreateTopicsRequest",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics", ALL, array(&CREATABLE_TOPIC)),
            f("timeout_ms", ALL, I32),
            f("validate_only", ALL, BOOL),
        ],
        tags: &[],
    };
    /// `CreatableTopic`.
    static CREATABLE_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.num_partitions", ALL, I32),
            f("topics.replication_factor", ALL, I16),
            f("topics.assignments", ALL, array(&CREATABLE_REPLICA_ASSIGNMENT)),
            f("topics.configs", ALL, array(&CREATABLE_TOPIC_CONFIG)),
        ],
        tags: &[],
    };
    /// `CreatableReplicaAssignment`.
    static CREATABLE_REPLICA_ASSIGNMENT: Struct = Struct {
        path: "topics.assignments",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics.assignments.partition_index", ALL, I32),
            f("topics.assignments.broker_ids", ALL, I32_ARRAY),
        ],
        tags: &[],
    };
    /// `CreatableTopicConfig`.
    static CREATABLE_TOPIC_CONFIG: Struct = Struct {
        path: "topics.configs",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics.configs.name", ALL, STR),
            f("topics.configs.value", ALL, NSTR),
        ],
        tags: &[],
    };
}

/// `CreateTopicsResponse` v2-7, flexible from v5 (`messages/create_topics_response.rs`).
#[rustfmt::skip]
pub(super) mod create_topics_response {
    use super::super::walker::*;

    pub(crate) static CREATE_TOPICS_RESPONSE: Struct = Struct {
        path: "CreateTopicsResponse",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("topics", ALL, array(&CREATABLE_TOPIC_RESULT)),
        ],
        tags: &[],
    };
    /// `CreatableTopicResult`.
    static CREATABLE_TOPIC_RESULT: Struct = Struct {
        path: "topics",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.topic_id", since(7), UUID),
            f("topics.error_code", ALL, I16),
            f("topics.error_message", ALL, NSTR),
            f("topics.num_partitions", since(5), I32),
            f("topics.replication_factor", since(5), I16),
            f("topics.configs", since(5), narray(&CREATABLE_TOPIC_CONFIGS)),
        ],
        tags: &[
            tag(0, "topics.topic_config_error_code", since(5), I16),
        ],
    };
    /// `CreatableTopicConfigs`.
    static CREATABLE_TOPIC_CONFIGS: Struct = Struct {
        path: "topics.configs",
        versions: between(2, 7),
        flexible: Some(5),
        fields: &[
            f("topics.configs.name", since(5), STR),
            f("topics.configs.value", since(5), NSTR),
            f("topics.configs.read_only", since(5), BOOL),
            f("topics.configs.config_source", since(5), I8),
            f("topics.configs.is_sensitive", since(5), BOOL),
        ],
        tags: &[],
    };
}

/// `DeleteTopicsRequest` v1-6, flexible from v4 (`messages/delete_topics_request.rs`).
#[rustfmt::skip]
pub(super) mod delete_topics_request {
    use super::super::walker::*;

    pub(crate) static DELETE_TOPICS_REQUEST: Struct = Struct {
        path: "DeleteTopicsRequest",
        versions: between(1, 6),
        flexible: Some(4),
        fields: &[
            f("topics", since(6), array(&DELETE_TOPIC_STATE)),
            f("topic_names", until(5), STR_ARRAY),
            f("timeout_ms", ALL, I32),
        ],
        tags: &[],
    };
    /// `DeleteTopicState`.
    static DELETE_TOPIC_STATE: Struct = Struct {
        path: "topics",
        versions: between(1, 6),
        flexible: Some(4),
        fields: &[
            f("topics.name", since(6), NSTR),
            f("topics.topic_id", since(6), UUID),
        ],
        tags: &[],
    };
}

/// `DeleteTopicsResponse` v1-6, flexible from v4 (`messages/delete_topics_response.rs`).
#[rustfmt::skip]
pub(super) mod delete_topics_response {
    use super::super::walker::*;

    pub(crate) static DELETE_TOPICS_RESPONSE: Struct = Struct {
        path: "DeleteTopicsResponse",
        versions: between(1, 6),
        flexible: Some(4),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("responses", ALL, array(&DELETABLE_TOPIC_RESULT)),
        ],
        tags: &[],
    };
    /// `DeletableTopicResult`.
    static DELETABLE_TOPIC_RESULT: Struct = Struct {
        path: "responses",
        versions: between(1, 6),
        flexible: Some(4),
        fields: &[
            f("responses.name", ALL, NSTR),
            f("responses.topic_id", since(6), UUID),
            f("responses.error_code", ALL, I16),
            f("responses.error_message", since(5), NSTR),
        ],
        tags: &[],
    };
}

/// `CreatePartitionsRequest` v0-3, flexible from v2 (`messages/create_partitions_request.rs`).
#[rustfmt::skip]
pub(super) mod create_partitions_request {
    use super::super::walker::*;

    pub(crate) static CREATE_PARTITIONS_REQUEST: Struct = Struct {
        path: "CreatePartitionsRequest",
        versions: between(0, 3),
        flexible: Some(2),
        fields: &[
            f("topics", ALL, array(&CREATE_PARTITIONS_TOPIC)),
            f("timeout_ms", ALL, I32),
            f("validate_only", ALL, BOOL),
        ],
        tags: &[],
    };
    /// `CreatePartitionsTopic`.
    static CREATE_PARTITIONS_TOPIC: Struct = Struct {
        path: "topics",
        versions: between(0, 3),
        flexible: Some(2),
        fields: &[
            f("topics.name", ALL, STR),
            f("topics.count", ALL, I32),
            f("topics.assignments", ALL, narray(&CREATE_PARTITIONS_ASSIGNMENT)),
        ],
        tags: &[],
    };
    /// `CreatePartitionsAssignment`.
    static CREATE_PARTITIONS_ASSIGNMENT: Struct = Struct {
        path: "topics.assignments",
        versions: between(0, 3),
        flexible: Some(2),
        fields: &[
            f("topics.assignments.broker_ids", ALL, I32_ARRAY),
        ],
        tags: &[],
    };
}

/// `CreatePartitionsResponse` v0-3, flexible from v2 (`messages/create_partitions_response.rs`).
#[rustfmt::skip]
pub(super) mod create_partitions_response {
    use super::super::walker::*;

    pub(crate) static CREATE_PARTITIONS_RESPONSE: Struct = Struct {
        path: "CreatePartitionsResponse",
        versions: between(0, 3),
        flexible: Some(2),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("results", ALL, array(&CREATE_PARTITIONS_TOPIC_RESULT)),
        ],
        tags: &[],
    };
    /// `CreatePartitionsTopicResult`.
    static CREATE_PARTITIONS_TOPIC_RESULT: Struct = Struct {
        path: "results",
        versions: between(0, 3),
        flexible: Some(2),
        fields: &[
            f("results.name", ALL, STR),
            f("results.error_code", ALL, I16),
            f("results.error_message", ALL, NSTR),
        ],
        tags: &[],
    };
}

/// `DescribeConfigsRequest` v1-4, flexible from v4 (`messages/describe_configs_request.rs`).
#[rustfmt::skip]
pub(super) mod describe_configs_request {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_CONFIGS_REQUEST: Struct = Struct {
        path: "DescribeConfigsRequest",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("resources", ALL, array(&DESCRIBE_CONFIGS_RESOURCE)),
            f("include_synonyms", ALL, BOOL),
            f("include_documentation", since(3), BOOL),
        ],
        tags: &[],
    };
    /// `DescribeConfigsResource`.
    static DESCRIBE_CONFIGS_RESOURCE: Struct = Struct {
        path: "resources",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("resources.resource_type", ALL, I8),
            f("resources.resource_name", ALL, STR),
            f("resources.configuration_keys", ALL, NSTR_ARRAY),
        ],
        tags: &[],
    };
}

/// `DescribeConfigsResponse` v1-4, flexible from v4 (`messages/describe_configs_response.rs`).
#[rustfmt::skip]
pub(super) mod describe_configs_response {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_CONFIGS_RESPONSE: Struct = Struct {
        path: "DescribeConfigsResponse",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("results", ALL, array(&DESCRIBE_CONFIGS_RESULT)),
        ],
        tags: &[],
    };
    /// `DescribeConfigsResult`.
    static DESCRIBE_CONFIGS_RESULT: Struct = Struct {
        path: "results",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("results.error_code", ALL, I16),
            f("results.error_message", ALL, NSTR),
            f("results.resource_type", ALL, I8),
            f("results.resource_name", ALL, STR),
            f("results.configs", ALL, array(&DESCRIBE_CONFIGS_RESOURCE_RESULT)),
        ],
        tags: &[],
    };
    /// `DescribeConfigsResourceResult`.
    static DESCRIBE_CONFIGS_RESOURCE_RESULT: Struct = Struct {
        path: "results.configs",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("results.configs.name", ALL, STR),
            f("results.configs.value", ALL, NSTR),
            f("results.configs.read_only", ALL, BOOL),
            f("results.configs.config_source", ALL, I8),
            f("results.configs.is_sensitive", ALL, BOOL),
            f("results.configs.synonyms", ALL, array(&DESCRIBE_CONFIGS_SYNONYM)),
            f("results.configs.config_type", since(3), I8),
            f("results.configs.documentation", since(3), NSTR),
        ],
        tags: &[],
    };
    /// `DescribeConfigsSynonym`.
    static DESCRIBE_CONFIGS_SYNONYM: Struct = Struct {
        path: "results.configs.synonyms",
        versions: between(1, 4),
        flexible: Some(4),
        fields: &[
            f("results.configs.synonyms.name", ALL, STR),
            f("results.configs.synonyms.value", ALL, NSTR),
            f("results.configs.synonyms.source", ALL, I8),
        ],
        tags: &[],
    };
}
