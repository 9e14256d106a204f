//! What the client knows of the cluster: brokers, topics, partition leaders; and one
//! connection per broker, reopened when it breaks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Mutex as AsyncMutex;

use crate::connection::{Connection, ConnectionConfig};
use crate::error::{Error, Result};

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub index: i32,
    /// Node id of the leader, -1 when there is none.
    pub leader: i32,
    /// Error code for this partition (0 when healthy).
    pub error_code: i16,
}

/// One topic as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Topic id.
    pub id: uuid::Uuid,
    /// Partitions by index.
    pub partitions: Vec<PartitionInfo>,
    /// Error code for the topic (0 when it exists).
    pub error_code: i16,
}

#[derive(Debug, Default)]
struct Metadata {
    brokers: HashMap<i32, String>,
    topics: HashMap<String, TopicInfo>,
}

/// The cluster as this client sees it.
#[derive(Debug)]
pub struct Cluster {
    bootstrap: Vec<String>,
    config: ConnectionConfig,
    metadata: Mutex<Metadata>,
    /// Open connections by address; the async mutex makes concurrent callers share one
    /// connect instead of racing to open several.
    connections: AsyncMutex<HashMap<String, Arc<Connection>>>,
}

/// Versions of Metadata this client speaks (v12: names or ids, nullable topic list).
const METADATA: (i16, i16) = (1, 12);

impl Cluster {
    /// A cluster reached through `bootstrap` (host:port, comma separated).
    pub fn new(bootstrap: &str, config: ConnectionConfig) -> Result<Cluster> {
        let bootstrap: Vec<String> = bootstrap
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(Error::Config("bootstrap.servers is empty".into()));
        }
        Ok(Cluster {
            bootstrap,
            config,
            metadata: Mutex::default(),
            connections: AsyncMutex::default(),
        })
    }

    /// The connection settings.
    pub fn connection_config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// A live connection to `addr`, opening one if needed.
    ///
    /// Cancel-safe: a connection or metadata update is stored only once complete.
    pub async fn connection_to(&self, addr: &str) -> Result<Arc<Connection>> {
        let mut conns = self.connections.lock().await;
        if let Some(c) = conns.get(addr) {
            if !c.is_poisoned() {
                return Ok(Arc::clone(c));
            }
        }
        let c = Arc::new(Connection::connect(addr, self.config.clone()).await?);
        conns.insert(addr.to_string(), Arc::clone(&c));
        Ok(c)
    }

    /// A live connection to broker `node`.
    ///
    /// Cancel-safe: a connection or metadata update is stored only once complete.
    pub async fn connection(&self, node: i32) -> Result<Arc<Connection>> {
        let addr = self
            .metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .brokers
            .get(&node)
            .cloned();
        match addr {
            Some(addr) => self.connection_to(&addr).await,
            None => Err(Error::broker(6, Some(format!("broker {node} is unknown")))),
        }
    }

    /// A connection to any broker: a known one, else a bootstrap address.
    ///
    /// Cancel-safe: a connection or metadata update is stored only once complete.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        let known: Vec<String> = {
            let md = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            md.brokers.values().cloned().collect()
        };
        let mut last = None;
        for addr in known.iter().chain(self.bootstrap.iter()) {
            match self.connection_to(addr).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no broker address".into())))
    }

    /// Refreshes metadata for `topics` (all topics when `None`); topics named here that do
    /// not exist are created by the broker when `auto_create` and the broker allows it.
    ///
    /// Cancel-safe: a connection or metadata update is stored only once complete.
    pub async fn refresh(&self, topics: Option<&[&str]>, auto_create: bool) -> Result<()> {
        let conn = self.any_connection().await?;
        let version = conn.version(ApiKey::Metadata, METADATA)?;
        let req = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let resp: MetadataResponse = conn.request(ApiKey::Metadata, version, &req).await?;
        let mut md = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        md.brokers = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect();
        if topics.is_none() {
            md.topics.clear();
        }
        for t in &resp.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    index: p.partition_index,
                    leader: p.leader_id.0,
                    error_code: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.index);
            md.topics.insert(
                name.clone(),
                TopicInfo {
                    name,
                    id: t.topic_id,
                    partitions,
                    error_code: t.error_code,
                },
            );
        }
        Ok(())
    }

    /// What is known of a topic.
    pub fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topics
            .get(name)
            .cloned()
    }

    /// A known topic's error code and partition count, without copying its metadata (the
    /// producer asks this for every record).
    pub fn topic_summary(&self, name: &str) -> Option<(i16, usize)> {
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topics
            .get(name)
            .map(|t| (t.error_code, t.partitions.len()))
    }

    /// All known topics.
    pub fn topics(&self) -> Vec<TopicInfo> {
        let md = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<TopicInfo> = md.topics.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The leader of a partition, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let md = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
        let t = md.topics.get(topic)?;
        let p = t.partitions.iter().find(|p| p.index == partition)?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// Forgets a topic (after it was deleted or its metadata went stale).
    pub fn forget(&self, topic: &str) {
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .topics
            .remove(topic);
    }
}
