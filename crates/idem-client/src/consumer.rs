//! The consumer: assigned partitions, explicit positions, long-poll fetches.
//!
//! No group membership (see [`crate::GroupConsumer`] for that): the application assigns
//! partitions and seeks. [`Consumer::poll`] is cancel-safe: positions move only when a response has been
//! received and decoded, so a dropped `poll` future loses nothing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::admin::{Admin, OffsetSpec};
use crate::cluster::Cluster;
use crate::config::{ClientConfig, ConsumerSettings, Reset};
use crate::error::{Error, KafkaCode, Result};

/// Where to move a partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// The log start.
    Earliest,
    /// The end (only new records).
    Latest,
    /// This offset.
    Offset(i64),
    /// The first record at or after this timestamp (ms); the end if none.
    Timestamp(i64),
}

/// A record as consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Needs `auto.offset.reset`.
    Unknown,
    At(i64),
}

/// The consumer.
#[derive(Debug)]
pub struct Consumer {
    cluster: Arc<Cluster>,
    admin: Admin,
    settings: ConsumerSettings,
    positions: BTreeMap<(Arc<str>, i32), Position>,
    /// Records decoded but not handed out yet (a poll returns at most what was asked).
    buffered: VecDeque<ConsumerRecord>,
}

/// Versions of Fetch this client speaks: names (not topic ids), v4+ for the v2 format.
const FETCH: (i16, i16) = (4, 12);
/// Decompressed bytes accepted per batch.
const MAX_DECOMPRESSED: u64 = 256 << 20;

impl Consumer {
    /// A consumer from settings (`bootstrap.servers`, `fetch.max.wait.ms`, ...).
    pub fn new(config: &ClientConfig) -> Result<Consumer> {
        let cluster = Arc::new(Cluster::new(
            &config.bootstrap_servers()?,
            config.connection()?,
        )?);
        Ok(Consumer {
            admin: Admin::with_cluster(Arc::clone(&cluster)),
            cluster,
            settings: config.consumer()?,
            positions: BTreeMap::new(),
            buffered: VecDeque::new(),
        })
    }

    /// The cluster this consumer talks to.
    pub(crate) fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Assigns partitions; positions start unknown (`auto.offset.reset` applies) unless
    /// they were already assigned.
    pub fn assign(&mut self, partitions: &[(&str, i32)]) {
        let wanted: BTreeMap<(Arc<str>, i32), Position> = partitions
            .iter()
            .map(|(t, p)| {
                let key = (Arc::<str>::from(*t), *p);
                let position = self
                    .positions
                    .get(&key)
                    .copied()
                    .unwrap_or(Position::Unknown);
                (key, position)
            })
            .collect();
        self.positions = wanted;
        self.buffered.retain(|r| {
            partitions
                .iter()
                .any(|(t, p)| *r.topic == **t && r.partition == *p)
        });
    }

    /// Assigns every partition of `topic`.
    ///
    /// Cancel-safe: positions move only when the call completes; records fetched by a
    /// cancelled call are fetched again.
    pub async fn assign_topic(&mut self, topic: &str) -> Result<usize> {
        let info = self.admin.describe_topic(topic).await?;
        let mut all: Vec<(String, i32)> = self
            .positions
            .keys()
            .filter(|(t, _)| **t != *topic)
            .map(|(t, p)| (t.to_string(), *p))
            .collect();
        all.extend(info.partitions.iter().map(|p| (topic.to_string(), p.index)));
        let refs: Vec<(&str, i32)> = all.iter().map(|(t, p)| (t.as_str(), *p)).collect();
        self.assign(&refs);
        Ok(info.partitions.len())
    }

    /// Moves a partition's position; returns the offset it resolved to.
    ///
    /// Cancel-safe: positions move only when the call completes; records fetched by a
    /// cancelled call are fetched again.
    pub async fn seek(&mut self, topic: &str, partition: i32, to: Seek) -> Result<i64> {
        let offset = match to {
            Seek::Offset(o) => o,
            Seek::Earliest => {
                self.admin
                    .list_offset(topic, partition, OffsetSpec::Earliest)
                    .await?
                    .offset
            }
            Seek::Latest => {
                self.admin
                    .list_offset(topic, partition, OffsetSpec::Latest)
                    .await?
                    .offset
            }
            Seek::Timestamp(ts) => {
                let found = self
                    .admin
                    .list_offset(topic, partition, OffsetSpec::Timestamp(ts))
                    .await?
                    .offset;
                if found >= 0 {
                    found
                } else {
                    self.admin
                        .list_offset(topic, partition, OffsetSpec::Latest)
                        .await?
                        .offset
                }
            }
        };
        let key = (Arc::<str>::from(topic), partition);
        self.buffered
            .retain(|r| !(r.topic == key.0 && r.partition == partition));
        self.positions.insert(key, Position::At(offset));
        Ok(offset)
    }

    /// The next offset a partition will return, if known.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        // Fetched but not yet returned records come first: the position is the offset of
        // the next record `poll` returns, as in Java's consumer, not how far fetching got.
        if let Some(r) = self
            .buffered
            .iter()
            .find(|r| r.partition == partition && &*r.topic == topic)
        {
            return Some(r.offset);
        }
        match self.positions.get(&(Arc::<str>::from(topic), partition)) {
            Some(Position::At(o)) => Some(*o),
            _ => None,
        }
    }

    /// Waits up to `timeout` for records; returns at most `max_records`, possibly none.
    ///
    /// Cancel-safe: positions move only when the call completes; records fetched by a
    /// cancelled call are fetched again.
    pub async fn poll(
        &mut self,
        timeout: Duration,
        max_records: usize,
    ) -> Result<Vec<ConsumerRecord>> {
        if self.buffered.is_empty() {
            self.resolve_unknown_positions().await?;
            self.fetch(timeout).await?;
        }
        let n = self.buffered.len().min(max_records.max(1));
        Ok(self.buffered.drain(..n).collect())
    }

    async fn resolve_unknown_positions(&mut self) -> Result<()> {
        let unknown: Vec<(Arc<str>, i32)> = self
            .positions
            .iter()
            .filter(|(_, p)| **p == Position::Unknown)
            .map(|(k, _)| k.clone())
            .collect();
        for (topic, partition) in unknown {
            let seek = match self.settings.reset {
                Reset::Earliest => Seek::Earliest,
                Reset::Latest => Seek::Latest,
                Reset::None => {
                    return Err(Error::Config(format!(
                        "{topic}-{partition} has no position and auto.offset.reset=none"
                    )))
                }
            };
            self.seek(&topic, partition, seek).await?;
        }
        Ok(())
    }

    async fn fetch(&mut self, timeout: Duration) -> Result<()> {
        // Group the partitions by leader; refresh metadata for any without one.
        let missing: Vec<String> = self
            .positions
            .keys()
            .filter(|(t, p)| self.cluster.leader(t, *p).is_none())
            .map(|(t, _)| t.to_string())
            .collect();
        if !missing.is_empty() {
            let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
            self.cluster.refresh(Some(&refs), false).await?;
        }
        let mut by_leader: BTreeMap<i32, Vec<(Arc<str>, i32, i64)>> = BTreeMap::new();
        for ((t, p), pos) in &self.positions {
            if let (Position::At(o), Some(leader)) = (pos, self.cluster.leader(t, *p)) {
                by_leader
                    .entry(leader)
                    .or_default()
                    .push((t.clone(), *p, *o));
            }
        }
        if by_leader.is_empty() {
            tokio::time::sleep(timeout.min(Duration::from_millis(100))).await;
            return Ok(());
        }
        let wait = timeout.min(self.settings.fetch_max_wait);
        let cluster = &self.cluster;
        let settings = &self.settings;
        let fetches = by_leader.into_iter().map(|(leader, parts)| async move {
            let conn = cluster.connection(leader).await?;
            let version = conn.version(ApiKey::Fetch, FETCH)?;
            let mut topics: BTreeMap<Arc<str>, Vec<FetchPartition>> = BTreeMap::new();
            for (t, p, o) in &parts {
                topics.entry(t.clone()).or_default().push(
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_fetch_offset(*o)
                        .with_partition_max_bytes(settings.max_partition_fetch_bytes),
                );
            }
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX))
                .with_min_bytes(settings.fetch_min_bytes)
                .with_max_bytes(settings.fetch_max_bytes)
                .with_isolation_level(i8::from(settings.read_committed))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, partitions)| {
                            FetchTopic::default()
                                .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                                .with_partitions(partitions)
                        })
                        .collect(),
                );
            let resp: FetchResponse = conn.request(ApiKey::Fetch, version, &req).await?;
            Ok::<_, Error>(resp)
        });
        let responses = futures::future::join_all(fetches).await;
        let mut stale = false;
        for resp in responses {
            let resp = match resp {
                Ok(r) => r,
                Err(Error::Disconnected { .. } | Error::Timeout { .. }) => {
                    stale = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if resp.error_code != 0 {
                return Err(Error::broker(resp.error_code, None));
            }
            for t in resp.responses {
                let topic: Arc<str> = Arc::from(&*t.topic.0);
                for p in t.partitions {
                    self.absorb(&topic, p)?;
                }
            }
        }
        if stale {
            self.cluster.refresh(None, false).await?;
        }
        Ok(())
    }

    /// Takes one partition's fetched data: decodes whole batches, keeps records at or past
    /// the position, advances it.
    fn absorb(
        &mut self,
        topic: &Arc<str>,
        p: kafka_protocol::messages::fetch_response::PartitionData,
    ) -> Result<()> {
        let key = (topic.clone(), p.partition_index);
        let Some(Position::At(mut position)) = self.positions.get(&key).copied() else {
            return Ok(());
        };
        match p.error_code {
            0 => {}
            1 => {
                // OFFSET_OUT_OF_RANGE: apply auto.offset.reset at the next poll.
                if self.settings.reset == Reset::None {
                    return Err(Error::broker(
                        1,
                        Some(format!("{topic}-{}", p.partition_index)),
                    ));
                }
                self.positions.insert(key, Position::Unknown);
                return Ok(());
            }
            code if KafkaCode(code).is_retriable() => {
                self.cluster.forget(topic);
                return Ok(());
            }
            code => {
                return Err(Error::broker(
                    code,
                    Some(format!("{topic}-{}", p.partition_index)),
                ))
            }
        }
        let data = p.records.unwrap_or_default();
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.slice(pos..);
            // A batch cut by the response size limit ends the data (Kafka may send one).
            let Some(Ok(size)) = idem_wire::batch::batch_size(&rest) else {
                break;
            };
            if size > rest.len() {
                break;
            }
            let batch = rest.slice(..size);
            pos += size;
            let (header, records) = idem_wire::records::decode_batch(&batch, MAX_DECOMPRESSED)
                .map_err(|e| Error::Protocol {
                    addr: format!("{topic}-{}", p.partition_index),
                    reason: format!("undecodable batch: {e}"),
                })?;
            if header.is_control() {
                position = position.max(header.last_offset() + 1);
                continue;
            }
            for r in records {
                if r.offset < position {
                    continue;
                }
                position = r.offset + 1;
                self.buffered.push_back(ConsumerRecord {
                    topic: topic.clone(),
                    partition: p.partition_index,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                });
            }
            position = position.max(header.last_offset() + 1);
        }
        self.positions.insert(key, Position::At(position));
        Ok(())
    }
}
