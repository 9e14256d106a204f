//! The broker's state: topics and their partitions, the catalog, producer ids, counters.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use idem_log::{FileCache, StdStorage, Storage};
use uuid::Uuid;

use crate::catalog::{valid_topic_name, Catalog, TopicRecord};
use crate::config::{BrokerConfig, TopicSettings};
use crate::dir_lock::DirLock;
use crate::error_codes as ec;
use crate::groups::{Groups, OFFSETS_TOPIC};
use crate::metrics::Metrics;
use crate::partition::{Partition, Setup};
use crate::pid::ProducerIds;

const CLEAN_SHUTDOWN_MARKER: &str = ".idem-clean-shutdown";

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// Name.
    pub name: Arc<str>,
    /// Kafka topic id.
    pub id: Uuid,
    /// Partitions, by index.
    pub partitions: Vec<Arc<Partition>>,
    /// Overrides and effective settings.
    pub settings: TopicSettings,
}

#[derive(Debug, Default)]
struct Topics {
    by_name: HashMap<Arc<str>, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// Why a topic operation failed: Kafka's code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    /// Kafka error code.
    pub code: i16,
    /// Reason, for the response's error message.
    pub message: String,
}

impl TopicError {
    fn new(code: i16, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// The broker.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: BrokerConfig,
    storage: Arc<dyn Storage>,
    catalog: Mutex<Catalog>,
    topics: RwLock<Topics>,
    pub(crate) pids: ProducerIds,
    pub(crate) metrics: Arc<Metrics>,
    cluster_id: String,
    /// Host and port clients are told to use.
    advertised: Mutex<(String, i32)>,
    /// Serialises topic creation and deletion, which do file-system work.
    admin: Mutex<()>,
    /// Partitions whose flusher must be started by the server.
    new_partitions: Mutex<Vec<Arc<Partition>>>,
    /// The consumer-group coordinator.
    groups: Arc<Groups>,
    /// The exclusive lock on the data directory, held while the broker lives (released
    /// early by [`Broker::release_dir_lock`] when a test simulates a crash).
    dir_lock: Mutex<Option<DirLock>>,
}

pub use crate::clock::now_ms;

fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

impl Broker {
    /// Opens the data directory: catalog, partitions (recovering them if the last stop was
    /// not clean), producer id allocator. Directories of topics that are not in the catalog
    /// (a deletion interrupted by a crash) are removed.
    pub fn open(config: BrokerConfig) -> anyhow::Result<Broker> {
        // One descriptor cache for every log: partitions are not bounded by the fd limit.
        let max_open = config
            .log_max_open_files
            .unwrap_or_else(idem_log::default_max_open_files);
        let storage: Arc<dyn Storage> = Arc::new(FileCache::new(Arc::new(StdStorage), max_open));
        let data_dir = config.data_dir.clone();
        storage
            .create_dir_all(&data_dir)
            .with_context(|| format!("create data directory {}", data_dir.display()))?;
        // Before anything is read or written: a second broker on this directory stops here.
        let dir_lock = DirLock::acquire(&data_dir, &config.listener)?;
        let catalog = Catalog::open(Arc::clone(&storage), &data_dir)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_MARKER);
        let clean = storage.exists(&marker);
        if !catalog.topics().is_empty() {
            tracing::info!(
                clean_shutdown = clean,
                topics = catalog.topics().len(),
                "opening data directory {}",
                data_dir.display()
            );
        }
        let metrics = Arc::new(Metrics::default());
        let now = now_ms();
        let mut topics = Topics::default();
        let mut expected_dirs = std::collections::HashSet::new();
        let mut pid_floor = 0i64;
        // Resolve every topic's settings first, then open the partitions on all cores: after
        // a crash each one verifies its tail and rebuilds its producer state, and they are
        // independent.
        let mut resolved = Vec::new();
        let mut jobs = Vec::new();
        for record in catalog.topics() {
            let settings = TopicSettings::resolve(&config.topic_defaults, record.configs.clone())
                .map_err(|e| anyhow::anyhow!("topic {}: {e}", record.name))?;
            let name: Arc<str> = Arc::from(record.name.as_str());
            for index in 0..record.partitions {
                let dir = partition_dir(&data_dir, &record.name, index);
                expected_dirs.insert(dir.file_name().map(|n| n.to_os_string()));
                jobs.push(Setup {
                    storage: Arc::clone(&storage),
                    dir,
                    topic: Arc::clone(&name),
                    index,
                    config: settings.effective.clone(),
                    metrics: Arc::clone(&metrics),
                });
            }
            resolved.push((record.clone(), name, settings));
        }
        let expiration_ms = config.producer_id_expiration_ms;
        // A partition that cannot be opened goes offline with its reason; the others serve.
        let open_one = |setup: Setup| -> anyhow::Result<Partition> {
            let what = format!("{}-{}", setup.topic, setup.index);
            let retry = setup.clone();
            let opened = if setup.storage.exists(&setup.dir) {
                Partition::open(setup, clean, now, expiration_ms)
            } else {
                // In the catalog without a directory (an operator removed it, or a data
                // directory from before creation was made all-or-nothing): an empty one.
                Partition::create(setup)
            };
            Ok(opened.unwrap_or_else(|e| {
                let reason = format!("could not be opened at start-up: {e}");
                tracing::error!(partition = %what, "partition is offline: {reason}");
                Partition::offline(retry, reason)
            }))
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8)
            .min(jobs.len().max(1));
        let queue = Mutex::new(jobs.into_iter().enumerate());
        let mut opened: Vec<(usize, anyhow::Result<Partition>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                            let Some((i, setup)) = next else {
                                return done;
                            };
                            done.push((i, open_one(setup)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let total: usize = resolved
            .iter()
            .map(|(r, _, _)| usize::try_from(r.partitions.max(0)).unwrap_or(0))
            .sum();
        if opened.len() != total {
            anyhow::bail!(
                "opened {} of {total} partitions: an open task panicked",
                opened.len()
            );
        }
        opened.sort_by_key(|(i, _)| *i);
        let mut opened = opened.into_iter().map(|(_, p)| p);
        for (record, name, settings) in resolved {
            let mut partitions = Vec::with_capacity(record.partitions.max(0) as usize);
            for _ in 0..record.partitions {
                let partition = opened.next().context("a partition open task was lost")??;
                if let Some(max) = partition.max_producer_id() {
                    pid_floor = pid_floor.max(max.saturating_add(1));
                }
                partitions.push(Arc::new(partition));
            }
            let topic = Arc::new(Topic {
                name: Arc::clone(&name),
                id: record.id,
                partitions,
                settings,
            });
            topics.by_id.insert(record.id, Arc::clone(&topic));
            topics.by_name.insert(name, topic);
        }
        for entry in
            std::fs::read_dir(&data_dir).with_context(|| format!("list {}", data_dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            if entry.file_type()?.is_dir()
                && !expected_dirs.contains(&Some(name.clone()))
                && looks_like_partition_dir(&entry.path())
            {
                tracing::warn!(
                    "removing {}: not a partition of any topic (an interrupted deletion)",
                    entry.path().display()
                );
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("remove {}", entry.path().display()))?;
            }
        }
        // The logs' producer ids count only if producer-ids.json is gone (see pid.rs): a batch
        // can carry any id, so they must never raise the floor otherwise.
        let pids = ProducerIds::open(Arc::clone(&storage), &data_dir, Some(pid_floor))?;
        // The marker is removed only once everything is open: a crash from here on is an
        // unclean stop again.
        if clean {
            storage
                .remove_file(&marker)
                .with_context(|| format!("remove {}", marker.display()))?;
            storage
                .sync_dir(&data_dir)
                .with_context(|| format!("sync {}", data_dir.display()))?;
        }
        let offsets_log = topics
            .by_name
            .get(OFFSETS_TOPIC)
            .and_then(|t| t.partitions.first().cloned());
        let groups = Arc::new(Groups::open(&config, offsets_log));
        let cluster_id = catalog.cluster_id().to_string();
        let new_partitions = topics
            .by_name
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect();
        let advertised = split_host_port(
            config
                .advertised_listener
                .as_deref()
                .unwrap_or(&config.listener),
        );
        Ok(Broker {
            config,
            storage,
            catalog: Mutex::new(catalog),
            topics: RwLock::new(topics),
            pids,
            metrics,
            cluster_id,
            advertised: Mutex::new(advertised),
            admin: Mutex::new(()),
            new_partitions: Mutex::new(new_partitions),
            groups,
            dir_lock: Mutex::new(Some(dir_lock)),
        })
    }

    /// Releases the data directory lock before the broker is dropped, as the kernel does
    /// when the process dies: for tests that simulate a crash and reopen the directory while
    /// tasks of the old broker may still hold it.
    pub fn release_dir_lock(&self) {
        self.dir_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// The consumer-group coordinator.
    pub fn groups(&self) -> &Arc<Groups> {
        &self.groups
    }

    /// Creates `__consumer_offsets` (one partition, kept forever) if it does not exist yet,
    /// and hands it to the group coordinator. Blocking.
    pub fn ensure_offsets_topic(&self) -> Result<(), TopicError> {
        if self.groups.has_log() {
            return Ok(());
        }
        let topic = match self.topic(OFFSETS_TOPIC) {
            Some(t) => t,
            None => {
                let mut configs = BTreeMap::new();
                configs.insert("retention.ms".to_string(), "-1".to_string());
                configs.insert("retention.bytes".to_string(), "-1".to_string());
                match self.create_topic_unchecked(OFFSETS_TOPIC, 1, 1, configs) {
                    Ok(t) => t,
                    Err(e) if e.code == ec::TOPIC_ALREADY_EXISTS => {
                        self.topic(OFFSETS_TOPIC).ok_or(e)?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if let Some(p) = topic.partitions.first() {
            self.groups.attach_log(Arc::clone(p));
        }
        Ok(())
    }

    /// Settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Host and port advertised to clients.
    pub fn advertised(&self) -> (String, i32) {
        self.advertised
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sets the advertised address once the listener is bound (port 0 becomes the real port).
    pub(crate) fn set_bound_address(&self, bound: std::net::SocketAddr) {
        if let Some(lock) = &*self.dir_lock.lock().unwrap_or_else(|p| p.into_inner()) {
            lock.note(&bound.to_string());
        }
        if self.config.advertised_listener.is_some() {
            return;
        }
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            bound.ip().to_string()
        };
        *self.advertised.lock().unwrap_or_else(|p| p.into_inner()) =
            (host, i32::from(bound.port()));
    }

    /// Starts the flusher task of every partition created since the last call. Needs a tokio
    /// runtime context.
    pub(crate) fn start_flushers(&self) {
        // Outside a runtime (a unit test calling create_topic directly) they stay queued
        // until the server starts them.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let created = std::mem::take(
            &mut *self
                .new_partitions
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for p in created {
            runtime.spawn(p.run_flusher());
        }
    }

    /// The topic with this name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .get(name)
            .cloned()
    }

    /// The topic with this id.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .get(id)
            .cloned()
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<Arc<Topic>> = self
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A partition by topic name and index.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let t = self.topic(topic)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
    }

    /// Checks a topic creation without doing it: name, partitions, replication factor,
    /// configs. Returns the resolved settings.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<(i32, TopicSettings), TopicError> {
        valid_topic_name(name).map_err(|m| TopicError::new(ec::INVALID_TOPIC_EXCEPTION, m))?;
        if self.topic(name).is_some() {
            return Err(TopicError::new(
                ec::TOPIC_ALREADY_EXISTS,
                format!("Topic '{name}' already exists."),
            ));
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(TopicError::new(
                ec::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            ));
        }
        if partitions > 100_000 {
            return Err(TopicError::new(
                ec::INVALID_PARTITIONS,
                format!("{partitions} partitions is more than idem allows (100000)"),
            ));
        }
        if replication_factor != -1 && replication_factor != 1 {
            let message = if replication_factor <= 0 {
                "Replication factor must be larger than 0.".to_string()
            } else {
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only 1 broker(s) are registered."
                )
            };
            return Err(TopicError::new(ec::INVALID_REPLICATION_FACTOR, message));
        }
        let settings = TopicSettings::resolve(&self.config.topic_defaults, configs.clone())
            .map_err(|m| TopicError::new(ec::INVALID_CONFIG, m))?;
        Ok((partitions, settings))
    }

    /// Creates a topic durably: catalog first, then the partition directories. Blocking
    /// file-system work; call from a blocking context.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        if name == OFFSETS_TOPIC {
            // Kafka creates it itself, on the first use of a consumer group.
            return Err(TopicError::new(
                ec::INVALID_REQUEST,
                format!("{OFFSETS_TOPIC} is an internal topic created by the group coordinator"),
            ));
        }
        self.create_topic_unchecked(name, partitions, replication_factor, configs)
    }

    fn create_topic_unchecked(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let (partitions, settings) =
            self.validate_new_topic(name, partitions, replication_factor, &configs)?;
        let id = Uuid::new_v4();
        let record = TopicRecord {
            name: name.to_string(),
            id,
            partitions,
            configs,
        };
        let storage_error = |e: anyhow::Error| {
            tracing::error!("create topic {name}: {e:#}");
            TopicError::new(ec::KAFKA_STORAGE_ERROR, format!("{e:#}"))
        };
        let topic_name: Arc<str> = Arc::from(name);
        // All or nothing: the directories first, then the catalog entry, which is the commit
        // point. A failure on the way removes what was made; a crash on the way leaves
        // directories the catalog does not name, which the next start removes.
        let list = self
            .create_partition_dirs(&topic_name, 0..partitions, &settings)
            .map_err(storage_error)?;
        if let Err(e) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put_topic(record)
        {
            self.remove_partition_dirs(&list);
            return Err(storage_error(e));
        }
        let topic = Arc::new(Topic {
            name: topic_name,
            id,
            partitions: list,
            settings,
        });
        self.register(Arc::clone(&topic));
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Creates the directories of partitions `indexes` of a topic. On the first failure the
    /// ones already made are removed again and the error is returned.
    fn create_partition_dirs(
        &self,
        topic: &Arc<str>,
        indexes: std::ops::Range<i32>,
        settings: &TopicSettings,
    ) -> anyhow::Result<Vec<Arc<Partition>>> {
        let mut made = Vec::with_capacity(indexes.len());
        for index in indexes {
            let dir = partition_dir(&self.config.data_dir, topic, index);
            let created = clear_orphan_dir(self.storage.as_ref(), &dir).and_then(|()| {
                Partition::create(Setup {
                    storage: Arc::clone(&self.storage),
                    dir: dir.clone(),
                    topic: Arc::clone(topic),
                    index,
                    config: settings.effective.clone(),
                    metrics: Arc::clone(&self.metrics),
                })
                .map_err(|e| {
                    // The directory was free or ours; what the failed creation left in it
                    // goes too.
                    if let Err(e) = idem_log::delete_log_dir(self.storage.as_ref(), &dir) {
                        tracing::debug!("remove {}: {e}", dir.display());
                    }
                    anyhow::Error::new(e).context(format!("create partition {topic}-{index}"))
                })
            });
            match created {
                Ok(p) => made.push(Arc::new(p)),
                Err(e) => {
                    self.remove_partition_dirs(&made);
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// Removes the directories of partitions that were created but never committed to the
    /// catalog. Best effort: what is left is removed at the next start.
    fn remove_partition_dirs(&self, partitions: &[Arc<Partition>]) {
        for p in partitions {
            p.close_flusher();
            let dir = partition_dir(&self.config.data_dir, p.topic(), p.index());
            if let Err(e) = idem_log::delete_log_dir(self.storage.as_ref(), &dir) {
                tracing::warn!("remove {} after a failed creation: {e}", dir.display());
            }
        }
    }

    fn register(&self, topic: Arc<Topic>) {
        self.new_partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(topic.partitions.iter().cloned());
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        topics.by_id.insert(topic.id, Arc::clone(&topic));
        topics.by_name.insert(Arc::clone(&topic.name), topic);
        drop(topics);
        self.start_flushers();
    }

    /// Deletes a topic: out of the catalog first (so a crash cannot resurrect it), then its
    /// directories. Blocking.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        if name == OFFSETS_TOPIC {
            return Err(TopicError::new(
                ec::INVALID_REQUEST,
                format!("{OFFSETS_TOPIC} holds committed offsets and cannot be deleted"),
            ));
        }
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.topic(name).ok_or_else(|| {
            TopicError::new(
                ec::UNKNOWN_TOPIC_OR_PARTITION,
                "This server does not host this topic-partition.",
            )
        })?;
        self.catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove_topic(name)
            .map_err(|e| TopicError::new(ec::KAFKA_STORAGE_ERROR, format!("{e:#}")))?;
        {
            let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
            topics.by_name.remove(name);
            topics.by_id.remove(&topic.id);
        }
        for p in &topic.partitions {
            p.close_flusher();
            let dir = partition_dir(&self.config.data_dir, name, p.index());
            if let Err(e) = idem_log::delete_log_dir(self.storage.as_ref(), &dir) {
                // The catalog no longer names it; the next start removes the leftovers.
                tracing::warn!("delete {}: {e}", dir.display());
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Grows a topic to `count` partitions. Blocking.
    pub fn create_partitions(&self, name: &str, count: i32) -> Result<(), TopicError> {
        if name == OFFSETS_TOPIC {
            return Err(TopicError::new(
                ec::INVALID_REQUEST,
                format!("{OFFSETS_TOPIC} keeps one partition"),
            ));
        }
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.topic(name).ok_or_else(|| {
            TopicError::new(
                ec::UNKNOWN_TOPIC_OR_PARTITION,
                format!("The topic '{name}' does not exist."),
            )
        })?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(TopicError::new(
                ec::INVALID_PARTITIONS,
                format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
            ));
        }
        if count > 100_000 {
            return Err(TopicError::new(
                ec::INVALID_PARTITIONS,
                format!("{count} partitions is more than idem allows (100000)"),
            ));
        }
        let record = TopicRecord {
            name: name.to_string(),
            id: topic.id,
            partitions: count,
            configs: topic.settings.overrides.clone(),
        };
        // As for creation: the new directories first, the catalog last.
        let storage_error = |e: anyhow::Error| {
            tracing::error!("create partitions of {name}: {e:#}");
            TopicError::new(ec::KAFKA_STORAGE_ERROR, format!("{e:#}"))
        };
        let added = self
            .create_partition_dirs(&topic.name, current..count, &topic.settings)
            .map_err(storage_error)?;
        if let Err(e) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put_topic(record)
        {
            self.remove_partition_dirs(&added);
            return Err(storage_error(e));
        }
        let mut partitions = topic.partitions.clone();
        self.new_partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added.iter().cloned());
        partitions.extend(added);
        let grown = Arc::new(Topic {
            name: Arc::clone(&topic.name),
            id: topic.id,
            partitions,
            settings: topic.settings.clone(),
        });
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        topics.by_id.insert(grown.id, Arc::clone(&grown));
        topics.by_name.insert(Arc::clone(&grown.name), grown);
        drop(topics);
        self.start_flushers();
        Ok(())
    }

    /// Clean shutdown of the storage: every partition snapshotted and synced, then the
    /// clean-shutdown marker. A partition that fails leaves the marker unwritten, so the next
    /// start verifies everything.
    pub fn close(&self) -> anyhow::Result<()> {
        let mut ok = true;
        for topic in self.topics() {
            for p in &topic.partitions {
                if let Err(e) = p.close() {
                    tracing::error!(topic = %topic.name, partition = p.index(), "close: {e}");
                    ok = false;
                }
            }
        }
        if ok {
            let marker = self.config.data_dir.join(CLEAN_SHUTDOWN_MARKER);
            idem_log::storage::write_atomically(
                self.storage.as_ref(),
                &self.config.data_dir,
                CLEAN_SHUTDOWN_MARKER,
                b"",
            )
            .with_context(|| format!("write {}", marker.display()))?;
        }
        // Nothing is written after this; a broker reopening the directory in this process
        // (tests) must not wait for the last reference to this one to go.
        self.release_dir_lock();
        Ok(())
    }
}

fn split_host_port(addr: &str) -> (String, i32) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port.parse().unwrap_or(9092),
        ),
        None => (addr.to_string(), 9092),
    }
}

/// Only directories idem made are ever removed: `<topic>-<n>` holding a partition checkpoint,
/// or a `.deleted` leftover. Anything else in the data directory is left alone.
fn looks_like_partition_dir(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let stem = name.strip_suffix(".deleted").unwrap_or(name);
    let numbered = stem.rsplit_once('-').is_some_and(|(topic, n)| {
        !topic.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    });
    numbered && (name.ends_with(".deleted") || path.join("partition.checkpoint").exists())
}

/// Makes way for a new partition directory. A directory under that name that the catalog
/// does not know (a creation or deletion cut short) is removed if it holds only what idem
/// writes there; anything else is refused rather than deleted.
fn clear_orphan_dir(storage: &dyn Storage, dir: &Path) -> anyhow::Result<()> {
    if !storage.exists(dir) {
        return Ok(());
    }
    let names = storage
        .list_dir(dir)
        .with_context(|| format!("list {}", dir.display()))?;
    let ours = |n: &String| {
        n == "partition.checkpoint"
            || n.ends_with(".tmp")
            || [
                ".log",
                ".index",
                ".timeindex",
                ".snapshot",
                ".snapshot.corrupt",
            ]
            .iter()
            .any(|s| n.ends_with(s))
    };
    if let Some(other) = names.iter().find(|n| !ours(n)) {
        anyhow::bail!(
            "{} already exists and holds {other:?}, which idem did not write; move it away",
            dir.display()
        );
    }
    tracing::warn!(
        "removing {}: a partition directory no topic owns (a creation or deletion cut short)",
        dir.display()
    );
    idem_log::delete_log_dir(storage, dir).with_context(|| format!("remove {}", dir.display()))
}
