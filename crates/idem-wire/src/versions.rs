//! The API versions idem advertises in ApiVersions, and the ones it actually answers.
//!
//! Two ranges per API: `advertised` is what ApiVersions says, `served` what the broker decodes.
//! They differ only for Produce: Kafka 4 advertises Produce from v0 although it serves v3+,
//! because old librdkafka turns compression off unless Produce v0 is advertised (KAFKA-18659).
//! Every other range is served in full. The ranges are chosen so that old and new clients find
//! a version: librdkafka needs Fetch ⊇ v4 for the v2 record format and FindCoordinator present
//! for LZ4; old librdkafka needs InitProducerId from v0; kafkajs speaks only non-flexible
//! versions and @platformatic/kafka only flexible ones. The classic group APIs are Kafka
//! 4.1's ranges; ConsumerGroupHeartbeat (KIP-848) is not advertised, so clients use the
//! classic protocol.

use kafka_protocol::messages::ApiKey;

/// One row of the ApiVersions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// The API.
    pub key: ApiKey,
    /// Lowest advertised version.
    pub min: i16,
    /// Highest advertised (and served) version.
    pub max: i16,
    /// Lowest version actually decoded and answered; lower advertised versions get
    /// UNSUPPORTED_VERSION.
    pub served_min: i16,
}

const fn row(key: ApiKey, min: i16, max: i16) -> ApiRange {
    ApiRange {
        key,
        min,
        max,
        served_min: min,
    }
}

/// The APIs idem answers, in api key order.
pub const ADVERTISED: &[ApiRange] = &[
    ApiRange {
        key: ApiKey::Produce,
        min: 0,
        max: 13,
        served_min: 3,
    },
    row(ApiKey::Fetch, 4, 18),
    row(ApiKey::ListOffsets, 1, 10),
    row(ApiKey::Metadata, 0, 13),
    row(ApiKey::OffsetCommit, 2, 9),
    row(ApiKey::OffsetFetch, 1, 9),
    row(ApiKey::FindCoordinator, 0, 6),
    row(ApiKey::JoinGroup, 0, 9),
    row(ApiKey::Heartbeat, 0, 4),
    row(ApiKey::LeaveGroup, 0, 5),
    row(ApiKey::SyncGroup, 0, 5),
    row(ApiKey::DescribeGroups, 0, 6),
    row(ApiKey::ListGroups, 0, 5),
    row(ApiKey::ApiVersions, 0, 4),
    row(ApiKey::CreateTopics, 2, 7),
    row(ApiKey::DeleteTopics, 1, 6),
    row(ApiKey::DeleteRecords, 0, 2),
    row(ApiKey::InitProducerId, 0, 5),
    row(ApiKey::DescribeConfigs, 1, 4),
    row(ApiKey::CreatePartitions, 0, 3),
    row(ApiKey::DeleteGroups, 0, 2),
    row(ApiKey::OffsetDelete, 0, 0),
    row(ApiKey::DescribeCluster, 0, 2),
    row(ApiKey::DescribeProducers, 0, 0),
];

/// The advertised row for `key`, if idem answers it at all.
pub fn advertised(key: ApiKey) -> Option<&'static ApiRange> {
    ADVERTISED.iter().find(|r| r.key == key)
}

/// Whether idem decodes and answers `key` at `version`.
pub fn is_served(key: ApiKey, version: i16) -> bool {
    advertised(key).is_some_and(|r| version >= r.served_min && version <= r.max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Message;

    /// Every served version must be one `kafka-protocol` can decode.
    #[test]
    fn served_versions_are_within_kafka_protocol() {
        fn check<T: Message>(r: &ApiRange) {
            assert!(
                r.served_min >= T::VERSIONS.min && r.max <= T::VERSIONS.max,
                "{:?} served {}..={} but kafka-protocol has {}",
                r.key,
                r.served_min,
                r.max,
                T::VERSIONS
            );
        }
        for r in ADVERTISED {
            match r.key {
                ApiKey::Produce => check::<ProduceRequest>(r),
                ApiKey::Fetch => check::<FetchRequest>(r),
                ApiKey::ListOffsets => check::<ListOffsetsRequest>(r),
                ApiKey::Metadata => check::<MetadataRequest>(r),
                ApiKey::FindCoordinator => check::<FindCoordinatorRequest>(r),
                ApiKey::ApiVersions => check::<ApiVersionsRequest>(r),
                ApiKey::CreateTopics => check::<CreateTopicsRequest>(r),
                ApiKey::DeleteTopics => check::<DeleteTopicsRequest>(r),
                ApiKey::DeleteRecords => check::<DeleteRecordsRequest>(r),
                ApiKey::InitProducerId => check::<InitProducerIdRequest>(r),
                ApiKey::DescribeConfigs => check::<DescribeConfigsRequest>(r),
                ApiKey::CreatePartitions => check::<CreatePartitionsRequest>(r),
                ApiKey::DescribeCluster => check::<DescribeClusterRequest>(r),
                ApiKey::DescribeProducers => check::<DescribeProducersRequest>(r),
                ApiKey::OffsetCommit => check::<OffsetCommitRequest>(r),
                ApiKey::OffsetFetch => check::<OffsetFetchRequest>(r),
                ApiKey::JoinGroup => check::<JoinGroupRequest>(r),
                ApiKey::Heartbeat => check::<HeartbeatRequest>(r),
                ApiKey::LeaveGroup => check::<LeaveGroupRequest>(r),
                ApiKey::SyncGroup => check::<SyncGroupRequest>(r),
                ApiKey::DescribeGroups => check::<DescribeGroupsRequest>(r),
                ApiKey::ListGroups => check::<ListGroupsRequest>(r),
                ApiKey::DeleteGroups => check::<DeleteGroupsRequest>(r),
                ApiKey::OffsetDelete => check::<OffsetDeleteRequest>(r),
                other => panic!("no decoder check for {other:?}"),
            }
        }
    }

    #[test]
    fn client_compatibility_constraints_hold() {
        let produce = advertised(ApiKey::Produce).expect("produce");
        assert_eq!(produce.min, 0, "old librdkafka needs Produce v0 advertised");
        assert!(!is_served(ApiKey::Produce, 2));
        assert!(is_served(ApiKey::Produce, 3));
        let fetch = advertised(ApiKey::Fetch).expect("fetch");
        assert!(
            fetch.min <= 4 && fetch.max >= 4,
            "librdkafka needs Fetch v4"
        );
        assert!(advertised(ApiKey::FindCoordinator).is_some_and(|r| r.min == 0));
        assert!(advertised(ApiKey::InitProducerId).is_some_and(|r| r.min == 0));
        // kafkajs: non-flexible Metadata (<= 8); @platformatic: flexible (>= 9).
        let md = advertised(ApiKey::Metadata).expect("metadata");
        assert!(md.min <= 6 && md.max >= 12);
    }
}
