//! The admin client: topics, partitions, offsets, producer state, configs.
//!
//! Every method is cancel-safe in the sense of [`crate::connection`]: dropping its future
//! abandons the wait, but a request already sent may still take effect on the broker.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::cluster::{Cluster, TopicInfo};
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use idem_wire::extensions as ext;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions; -1 for the broker's default.
    pub partitions: i32,
    /// Replication factor; -1 for the broker's default.
    pub replication_factor: i16,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and the broker's defaults otherwise.
    pub fn new(name: &str, partitions: i32) -> NewTopic {
        NewTopic {
            name: name.to_string(),
            partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    /// Adds a config override.
    pub fn config(mut self, key: &str, value: &str) -> NewTopic {
        self.configs.insert(key.to_string(), value.to_string());
        self
    }
}

/// Where to look up an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (the next offset to be written and visible).
    Latest,
    /// The record with the largest timestamp.
    MaxTimestamp,
    /// The first record with a timestamp at or after this one (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// An offset found by [`Admin::list_offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset, -1 when no record matches.
    pub offset: i64,
    /// The record's timestamp, -1 when not applicable.
    pub timestamp: i64,
}

/// One producer's dedupe state on a partition (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateInfo {
    /// Producer id.
    pub producer_id: i64,
    /// Epoch.
    pub epoch: i32,
    /// Last sequence.
    pub last_sequence: i32,
    /// Max timestamp of its last batch.
    pub last_timestamp: i64,
    /// Offset of the last record of its newest batch (idem only: a tagged field other
    /// brokers do not send).
    pub last_offset: Option<i64>,
    /// Broker time of its last append, ms (idem only, like `last_offset`).
    pub last_append_ms: Option<i64>,
}

/// An idem extension field of a DescribeProducers entry, if the broker sent it.
fn tag(
    p: &kafka_protocol::messages::describe_producers_response::ProducerState,
    key: i32,
) -> Option<i64> {
    p.unknown_tagged_fields.get(&key).and_then(ext::decode_i64)
}

/// One config of a topic or broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Name.
    pub name: String,
    /// Value.
    pub value: Option<String>,
    /// True when it is the default (not set on this resource).
    pub is_default: bool,
}

/// The admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    /// An admin client from settings (`bootstrap.servers`, `client.id`, `request.timeout.ms`).
    pub fn new(config: &ClientConfig) -> Result<Admin> {
        Ok(Admin {
            cluster: Arc::new(Cluster::new(
                &config.bootstrap_servers()?,
                config.connection()?,
            )?),
        })
    }

    /// An admin client sharing a cluster view.
    pub fn with_cluster(cluster: Arc<Cluster>) -> Admin {
        Admin { cluster }
    }

    /// Creates topics; one result per topic, in order.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn create_topics(&self, topics: &[NewTopic]) -> Result<Vec<Result<()>>> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::CreateTopics, (2, 7))?;
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(s(&t.name)))
                            .with_num_partitions(t.partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_configs(
                                t.configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(s(k))
                                            .with_value(Some(s(v)))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp: CreateTopicsResponse = conn.request(ApiKey::CreateTopics, version, &req).await?;
        Ok(topics
            .iter()
            .map(|t| {
                let r = resp.topics.iter().find(|r| *r.name.0 == *t.name);
                match r {
                    Some(r) if r.error_code == 0 => Ok(()),
                    Some(r) => Err(Error::broker(
                        r.error_code,
                        r.error_message.as_ref().map(ToString::to_string),
                    )),
                    None => Err(Error::Protocol {
                        addr: conn.addr().to_string(),
                        reason: format!("no result for topic {}", t.name),
                    }),
                }
            })
            .collect())
    }

    /// Deletes topics by name; one result per topic, in order.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn delete_topics(&self, names: &[&str]) -> Result<Vec<Result<()>>> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::DeleteTopics, (1, 5))?;
        let req = DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(names.iter().map(|n| TopicName(s(n))).collect());
        let resp: DeleteTopicsResponse = conn.request(ApiKey::DeleteTopics, version, &req).await?;
        for n in names {
            self.cluster.forget(n);
        }
        Ok(names
            .iter()
            .map(|n| {
                match resp
                    .responses
                    .iter()
                    .find(|r| r.name.as_ref().is_some_and(|x| *x.0 == **n))
                {
                    Some(r) if r.error_code == 0 => Ok(()),
                    Some(r) => Err(Error::broker(
                        r.error_code,
                        r.error_message.as_ref().map(ToString::to_string),
                    )),
                    None => Err(Error::Protocol {
                        addr: conn.addr().to_string(),
                        reason: format!("no result for topic {n}"),
                    }),
                }
            })
            .collect())
    }

    /// Every topic, with partitions and leaders.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        self.cluster.refresh(None, false).await?;
        Ok(self.cluster.topics())
    }

    /// One topic; an error if it does not exist.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn describe_topic(&self, name: &str) -> Result<TopicInfo> {
        self.cluster.refresh(Some(&[name]), false).await?;
        match self.cluster.topic(name) {
            Some(t) if t.error_code == 0 => Ok(t),
            Some(t) => Err(Error::broker(t.error_code, Some(format!("topic {name}")))),
            None => Err(Error::broker(3, Some(format!("topic {name}")))),
        }
    }

    /// Grows a topic to `count` partitions.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn create_partitions(&self, topic: &str, count: i32) -> Result<()> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::CreatePartitions, (0, 3))?;
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_count(count)
                .with_assignments(None)]);
        let resp: CreatePartitionsResponse = conn
            .request(ApiKey::CreatePartitions, version, &req)
            .await?;
        match resp.results.first() {
            Some(r) if r.error_code == 0 => Ok(()),
            Some(r) => Err(Error::broker(
                r.error_code,
                r.error_message.as_ref().map(ToString::to_string),
            )),
            None => Err(Error::Protocol {
                addr: conn.addr().to_string(),
                reason: "empty CreatePartitions response".into(),
            }),
        }
    }

    /// ListOffsets for one partition, asked of its leader.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset> {
        let conn = self.leader_connection(topic, partition).await?;
        let version = conn.version(ApiKey::ListOffsets, (1, 9))?;
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(spec.wire())])]);
        let resp: ListOffsetsResponse = conn.request(ApiKey::ListOffsets, version, &req).await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| Error::Protocol {
                addr: conn.addr().to_string(),
                reason: "empty ListOffsets response".into(),
            })?;
        if p.error_code != 0 {
            return Err(Error::broker(p.error_code, None));
        }
        Ok(ListedOffset {
            offset: p.offset,
            timestamp: p.timestamp,
        })
    }

    /// The producers a partition remembers (DescribeProducers, KIP-664).
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn describe_producers(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<ProducerStateInfo>> {
        let conn = self.leader_connection(topic, partition).await?;
        let version = conn.version(ApiKey::DescribeProducers, (0, 0))?;
        let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![partition])]);
        let resp: DescribeProducersResponse = conn
            .request(ApiKey::DescribeProducers, version, &req)
            .await?;
        let p = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| Error::Protocol {
                addr: conn.addr().to_string(),
                reason: "empty DescribeProducers response".into(),
            })?;
        if p.error_code != 0 {
            return Err(Error::broker(
                p.error_code,
                p.error_message.as_ref().map(ToString::to_string),
            ));
        }
        Ok(p.active_producers
            .iter()
            .map(|a| ProducerStateInfo {
                producer_id: a.producer_id.0,
                epoch: a.producer_epoch,
                last_sequence: a.last_sequence,
                last_timestamp: a.last_timestamp,
                last_offset: tag(a, ext::DESCRIBE_PRODUCERS_LAST_OFFSET),
                last_append_ms: tag(a, ext::DESCRIBE_PRODUCERS_LAST_APPEND_MS),
            })
            .collect())
    }

    /// A topic's configs.
    ///
    /// Cancel-safe: dropping the future leaves the client usable; a request already sent
    /// may still take effect on the broker (as with any lost response).
    pub async fn describe_topic_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let conn = self.cluster.any_connection().await?;
        let version = conn.version(ApiKey::DescribeConfigs, (1, 4))?;
        let req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(topic))
                .with_configuration_keys(None),
        ]);
        let resp: DescribeConfigsResponse =
            conn.request(ApiKey::DescribeConfigs, version, &req).await?;
        let r = resp.results.first().ok_or_else(|| Error::Protocol {
            addr: conn.addr().to_string(),
            reason: "empty DescribeConfigs response".into(),
        })?;
        if r.error_code != 0 {
            return Err(Error::broker(
                r.error_code,
                r.error_message.as_ref().map(ToString::to_string),
            ));
        }
        Ok(r.configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(ToString::to_string),
                // DEFAULT_CONFIG (5) and STATIC_BROKER_CONFIG (4) are not set on the topic.
                is_default: c.config_source == 5 || c.config_source == 4,
            })
            .collect())
    }

    async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<crate::connection::Connection>> {
        if self.cluster.leader(topic, partition).is_none() {
            self.cluster.refresh(Some(&[topic]), false).await?;
        }
        match self.cluster.leader(topic, partition) {
            Some(node) => self.cluster.connection(node).await,
            None => Err(Error::broker(
                3,
                Some(format!("{topic}-{partition} has no leader")),
            )),
        }
    }
}
