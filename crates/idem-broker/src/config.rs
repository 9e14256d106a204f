//! Broker and topic settings, under Kafka's names.
//!
//! Every setting is a row of [`BROKER_SETTINGS`] or [`TOPIC_SETTINGS`]: its Kafka name, what it
//! does, how to parse it. Settings come from an optional TOML file (`"log.segment.bytes" =
//! 1048576`, or the same key nested as `[log] segment.bytes = ...`) and from `--set k=v` on the
//! command line, the latter winning. Settings idem adds, which Kafka does not have, are
//! marked "(idem)" in their documentation.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// When appended data is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fdatasync before acknowledging acks=all, with group commit across concurrent requests;
    /// consumers see only synced data.
    Always,
    /// fdatasync every `flush.ms`; acknowledged after the write to the page cache.
    Interval,
    /// Never sync on the produce path (Kafka's default): the page cache and segment rolls only.
    Never,
}

impl FlushPolicy {
    fn parse(v: &str) -> Result<FlushPolicy, String> {
        match v {
            "always" => Ok(FlushPolicy::Always),
            "interval" => Ok(FlushPolicy::Interval),
            "never" => Ok(FlushPolicy::Never),
            _ => Err(format!(
                "flush policy must be always, interval or never, not {v:?}"
            )),
        }
    }

    /// The setting's value.
    pub fn name(self) -> &'static str {
        match self {
            FlushPolicy::Always => "always",
            FlushPolicy::Interval => "interval",
            FlushPolicy::Never => "never",
        }
    }
}

/// Which timestamp the log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's timestamps.
    CreateTime,
    /// The broker's time of append, written into each batch.
    LogAppendTime,
}

/// Effective settings of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `segment.bytes`
    pub segment_bytes: u64,
    /// `segment.ms`
    pub segment_ms: i64,
    /// `retention.ms` (-1: forever)
    pub retention_ms: i64,
    /// `retention.bytes` (-1: no limit)
    pub retention_bytes: i64,
    /// `index.interval.bytes`
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`
    pub timestamp_after_max_ms: i64,
    /// `flush.policy` (idem)
    pub flush_policy: FlushPolicy,
    /// `flush.ms`: the period of the `interval` policy.
    pub flush_ms: u64,
}

impl TopicConfig {
    /// Settings for the log crate.
    pub fn log_config(&self) -> idem_log::LogConfig {
        idem_log::LogConfig {
            segment_bytes: self.segment_bytes,
            segment_ms: self.segment_ms,
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            index_interval_bytes: self.index_interval_bytes,
        }
    }
}

/// Effective settings of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `log.dirs`: where partitions live.
    pub data_dir: PathBuf,
    /// `listeners`: the address to bind, `host:port` (a `PLAINTEXT://` prefix is accepted).
    pub listener: String,
    /// `advertised.listeners`: the address clients are told to use; the bound one if unset.
    pub advertised_listener: Option<String>,
    /// `idem.http.listener` (idem): where to serve `/metrics` over HTTP; off when unset.
    pub http_listener: Option<String>,
    /// `node.id`
    pub node_id: i32,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`
    pub max_request_bytes: usize,
    /// `max.connections`
    pub max_connections: usize,
    /// `queued.max.requests.per.connection` (idem): pipelined requests read ahead per
    /// connection before the broker stops reading it.
    pub max_inflight_per_connection: usize,
    /// `connections.max.idle.ms`
    pub connections_max_idle_ms: u64,
    /// `idem.response.memory.*` (idem): memory for responses built and not yet written.
    pub response_memory: ResponseMemoryConfig,
    /// `log.retention.check.interval.ms`
    pub retention_check_interval_ms: u64,
    /// `producer.id.expiration.ms`
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms`
    pub producer_id_expiration_check_interval_ms: u64,
    /// `message.max.decompressed.bytes` (idem): cap on the decompressed size of one batch.
    pub max_decompressed_bytes: u64,
    /// `idem.unsafe.disable.dedupe` (idem, debug): accept every batch without producer-state
    /// checks. Exists only to prove that the exactly-once tests can fail.
    pub unsafe_disable_dedupe: bool,
    /// `idem.log.max.open.files` (idem): descriptors the log files may keep open at once
    /// (least recently used closed first); `None`: half the soft RLIMIT_NOFILE, at least 16.
    pub log_max_open_files: Option<usize>,
    /// `group.min.session.timeout.ms`
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`
    pub group_max_size: i32,
    /// `offsets.retention.minutes`
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms`
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`
    pub offset_metadata_max_bytes: i32,
    /// Defaults for topic settings (`log.segment.bytes`, `log.retention.ms`, ...).
    pub topic_defaults: TopicConfig,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            data_dir: PathBuf::from("idem-data"),
            listener: "127.0.0.1:9092".to_string(),
            advertised_listener: None,
            http_listener: None,
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            max_request_bytes: idem_wire::frame::DEFAULT_MAX_REQUEST_BYTES,
            max_connections: 10_000,
            max_inflight_per_connection: 128,
            connections_max_idle_ms: 600_000,
            response_memory: ResponseMemoryConfig::default(),
            retention_check_interval_ms: 300_000,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            max_decompressed_bytes: 128 << 20,
            unsafe_disable_dedupe: false,
            log_max_open_files: None,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offsets_retention_minutes: 7 * 24 * 60,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            topic_defaults: TopicConfig {
                segment_bytes: 1 << 30,
                segment_ms: 7 * 86_400_000,
                retention_ms: 7 * 86_400_000,
                retention_bytes: -1,
                index_interval_bytes: 4096,
                max_message_bytes: 1_048_588,
                timestamp_type: TimestampType::CreateTime,
                timestamp_before_max_ms: i64::MAX,
                timestamp_after_max_ms: 3_600_000,
                flush_policy: FlushPolicy::Always,
                flush_ms: 1000,
            },
        }
    }
}

/// Response memory (idem; Kafka sends record bytes from the file with sendfile and has no
/// such knob): `idem.response.memory.bytes` bounds the record bytes of Fetch responses built
/// and not yet written, broker-wide; `idem.response.memory.per.connection.bytes` caps one
/// response's share and pauses reading a connection whose unwritten responses reach it;
/// `idem.response.write.timeout.ms` closes a connection whose response makes no write
/// progress (a client that never reads must not keep its share forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseMemoryConfig {
    /// `idem.response.memory.bytes`
    pub total_bytes: usize,
    /// `idem.response.memory.per.connection.bytes`
    pub per_connection_bytes: usize,
    /// `idem.response.write.timeout.ms`
    pub write_timeout_ms: u64,
}

impl Default for ResponseMemoryConfig {
    fn default() -> ResponseMemoryConfig {
        ResponseMemoryConfig {
            total_bytes: 128 << 20,
            per_connection_bytes: 16 << 20,
            // librdkafka's socket.timeout.ms: a client that has read nothing of a response
            // for this long has given up on the request already (Java's request.timeout.ms
            // is 30 s).
            write_timeout_ms: 60_000,
        }
    }
}

/// Byte budgets are semaphore permits, acquired at most `u32::MAX` at a time.
fn memory_bytes(v: &str) -> Result<usize, String> {
    let n: usize = positive(v)?;
    if n > u32::MAX as usize {
        return Err(format!("{v:?} must be at most {}", u32::MAX));
    }
    Ok(n)
}

/// One broker setting.
#[derive(Debug)]
pub struct Setting {
    /// Kafka's name.
    pub name: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    apply: fn(&mut BrokerConfig, &str) -> Result<(), String>,
    show: fn(&BrokerConfig) -> String,
}

impl Setting {
    /// The current value as text.
    pub fn value(&self, config: &BrokerConfig) -> String {
        (self.show)(config)
    }
}

fn int<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse::<T>()
        .map_err(|_| format!("{v:?} is not a valid number"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default + Copy>(v: &str) -> Result<T, String> {
    let n: T = int(v)?;
    if n > T::default() {
        Ok(n)
    } else {
        Err(format!("{v:?} must be positive"))
    }
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{v:?} must be true or false")),
    }
}

fn limit_or_unlimited(v: &str) -> Result<i64, String> {
    let n: i64 = int(v)?;
    if n < -1 {
        return Err(format!("{v:?} must be -1 (no limit) or >= 0"));
    }
    Ok(n)
}

fn strip_listener(v: &str) -> Result<String, String> {
    let v = v.trim();
    let first = v.split(',').next().unwrap_or(v).trim();
    let addr = first
        .strip_prefix("PLAINTEXT://")
        .unwrap_or(first)
        .to_string();
    match addr.rsplit_once(':') {
        Some((_, port)) if port.parse::<u16>().is_ok() => Ok(addr),
        _ => Err(format!("{v:?} is not host:port")),
    }
}

/// Every broker setting.
pub const BROKER_SETTINGS: &[Setting] = &[
    Setting {
        name: "log.dirs",
        doc: "Directory holding topics, partitions and broker metadata.",
        apply: |c, v| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
        show: |c| c.data_dir.display().to_string(),
    },
    Setting {
        name: "listeners",
        doc: "Address to listen on, host:port (PLAINTEXT:// prefix accepted).",
        apply: |c, v| {
            c.listener = strip_listener(v)?;
            Ok(())
        },
        show: |c| c.listener.clone(),
    },
    Setting {
        name: "advertised.listeners",
        doc: "Address given to clients in Metadata, host:port; defaults to the bound address.",
        apply: |c, v| {
            c.advertised_listener = Some(strip_listener(v)?);
            Ok(())
        },
        show: |c| c.advertised_listener.clone().unwrap_or_default(),
    },
    Setting {
        name: "idem.http.listener",
        doc: "(idem) HTTP address, host:port, serving /metrics (Prometheus text); off when empty.",
        apply: |c, v| {
            c.http_listener = if v.trim().is_empty() {
                None
            } else {
                Some(strip_listener(v)?)
            };
            Ok(())
        },
        show: |c| c.http_listener.clone().unwrap_or_default(),
    },
    Setting {
        name: "node.id",
        doc: "Broker id reported in Metadata and DescribeCluster.",
        apply: |c, v| {
            c.node_id = int(v)?;
            Ok(())
        },
        show: |c| c.node_id.to_string(),
    },
    Setting {
        name: "num.partitions",
        doc: "Partitions of auto-created topics and of CreateTopics asking for the default.",
        apply: |c, v| {
            c.num_partitions = positive(v)?;
            Ok(())
        },
        show: |c| c.num_partitions.to_string(),
    },
    Setting {
        name: "auto.create.topics.enable",
        doc: "Create a topic when Metadata names an unknown one.",
        apply: |c, v| {
            c.auto_create_topics = boolean(v)?;
            Ok(())
        },
        show: |c| c.auto_create_topics.to_string(),
    },
    Setting {
        name: "socket.request.max.bytes",
        doc: "Largest request frame; checked before anything is allocated.",
        apply: |c, v| {
            c.max_request_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.max_request_bytes.to_string(),
    },
    Setting {
        name: "max.connections",
        doc: "Connections accepted at once; more wait in the listen backlog.",
        apply: |c, v| {
            c.max_connections = positive(v)?;
            Ok(())
        },
        show: |c| c.max_connections.to_string(),
    },
    Setting {
        name: "queued.max.requests.per.connection",
        doc: "(idem) Pipelined requests read ahead on one connection before reading pauses.",
        apply: |c, v| {
            c.max_inflight_per_connection = positive(v)?;
            Ok(())
        },
        show: |c| c.max_inflight_per_connection.to_string(),
    },
    Setting {
        name: "connections.max.idle.ms",
        doc: "Close a connection that sends no complete request for this long.",
        apply: |c, v| {
            c.connections_max_idle_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.connections_max_idle_ms.to_string(),
    },
    Setting {
        name: "idem.response.memory.bytes",
        doc: "(idem) Broker-wide bytes of Fetch responses built and not yet written; a Fetch waits (up to its max wait) for its share, and gets at least its first batch.",
        apply: |c, v| {
            c.response_memory.total_bytes = memory_bytes(v)?;
            Ok(())
        },
        show: |c| c.response_memory.total_bytes.to_string(),
    },
    Setting {
        name: "idem.response.memory.per.connection.bytes",
        doc: "(idem) Largest Fetch response beyond its first batch; a connection whose unwritten responses reach it is not read until they drain.",
        apply: |c, v| {
            c.response_memory.per_connection_bytes = memory_bytes(v)?;
            Ok(())
        },
        show: |c| c.response_memory.per_connection_bytes.to_string(),
    },
    Setting {
        name: "idem.response.write.timeout.ms",
        doc: "(idem) Close a connection whose response makes no write progress for this long (at most connections.max.idle.ms), freeing its response memory.",
        apply: |c, v| {
            c.response_memory.write_timeout_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.response_memory.write_timeout_ms.to_string(),
    },
    Setting {
        name: "log.retention.check.interval.ms",
        doc: "How often retention runs.",
        apply: |c, v| {
            c.retention_check_interval_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.retention_check_interval_ms.to_string(),
    },
    Setting {
        name: "producer.id.expiration.ms",
        doc: "Forget a producer's dedupe state after this long without an append (idem: by the broker's clock, not the batch timestamps).",
        apply: |c, v| {
            c.producer_id_expiration_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.producer_id_expiration_ms.to_string(),
    },
    Setting {
        name: "producer.id.expiration.check.interval.ms",
        doc: "How often idle producers are looked for.",
        apply: |c, v| {
            c.producer_id_expiration_check_interval_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.producer_id_expiration_check_interval_ms.to_string(),
    },
    Setting {
        name: "group.min.session.timeout.ms",
        doc: "Shortest session timeout a group member may ask for (JoinGroup gets INVALID_SESSION_TIMEOUT below it).",
        apply: |c, v| {
            c.group_min_session_timeout_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.group_min_session_timeout_ms.to_string(),
    },
    Setting {
        name: "group.max.session.timeout.ms",
        doc: "Longest session timeout a group member may ask for.",
        apply: |c, v| {
            c.group_max_session_timeout_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.group_max_session_timeout_ms.to_string(),
    },
    Setting {
        name: "group.initial.rebalance.delay.ms",
        doc: "How long the first rebalance of an empty group waits for more members (extended while they keep coming, up to the rebalance timeout).",
        apply: |c, v| {
            c.group_initial_rebalance_delay_ms = int::<i32>(v)?.max(0);
            Ok(())
        },
        show: |c| c.group_initial_rebalance_delay_ms.to_string(),
    },
    Setting {
        name: "group.max.size",
        doc: "Most members a group may have (GROUP_MAX_SIZE_REACHED beyond).",
        apply: |c, v| {
            c.group_max_size = positive(v)?;
            Ok(())
        },
        show: |c| c.group_max_size.to_string(),
    },
    Setting {
        name: "offsets.retention.minutes",
        doc: "Committed offsets of a group that has been empty this long are deleted (offsets of standalone consumers: this long after their commit).",
        apply: |c, v| {
            c.offsets_retention_minutes = positive(v)?;
            Ok(())
        },
        show: |c| c.offsets_retention_minutes.to_string(),
    },
    Setting {
        name: "offsets.retention.check.interval.ms",
        doc: "How often expired offsets are looked for.",
        apply: |c, v| {
            c.offsets_retention_check_interval_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.offsets_retention_check_interval_ms.to_string(),
    },
    Setting {
        name: "offset.metadata.max.bytes",
        doc: "Largest metadata string of a committed offset (OFFSET_METADATA_TOO_LARGE beyond).",
        apply: |c, v| {
            c.offset_metadata_max_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.offset_metadata_max_bytes.to_string(),
    },
    Setting {
        name: "message.max.decompressed.bytes",
        doc: "(idem) Largest decompressed size of one batch; bigger batches are refused as corrupt (decompression bombs).",
        apply: |c, v| {
            c.max_decompressed_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.max_decompressed_bytes.to_string(),
    },
    Setting {
        name: "idem.unsafe.disable.dedupe",
        doc: "(idem, debug) Accept every batch without producer-state checks. Only to show the exactly-once tests can fail.",
        apply: |c, v| {
            c.unsafe_disable_dedupe = boolean(v)?;
            Ok(())
        },
        show: |c| c.unsafe_disable_dedupe.to_string(),
    },
    Setting {
        name: "idem.log.max.open.files",
        doc: "(idem) Log file descriptors kept open at once (least recently used closed, unsynced ones fdatasync'd first); empty: half the soft open-files limit, at least 16.",
        apply: |c, v| {
            c.log_max_open_files = if v.trim().is_empty() {
                None
            } else {
                Some(positive(v)?)
            };
            Ok(())
        },
        show: |c| c.log_max_open_files.map_or_else(String::new, |n| n.to_string()),
    },
    Setting {
        name: "log.segment.bytes",
        doc: "Roll a segment when it would grow past this many bytes.",
        apply: |c, v| {
            c.topic_defaults.segment_bytes = segment_bytes(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.segment_bytes.to_string(),
    },
    Setting {
        name: "log.roll.ms",
        doc: "Roll a segment when its first batch is this old.",
        apply: |c, v| {
            c.topic_defaults.segment_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.segment_ms.to_string(),
    },
    Setting {
        name: "log.retention.ms",
        doc: "Delete segments whose newest record is older than this; -1 keeps forever.",
        apply: |c, v| {
            c.topic_defaults.retention_ms = limit_or_unlimited(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.retention_ms.to_string(),
    },
    Setting {
        name: "log.retention.bytes",
        doc: "Delete the oldest segments while a partition is larger; -1 for no limit.",
        apply: |c, v| {
            c.topic_defaults.retention_bytes = limit_or_unlimited(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.retention_bytes.to_string(),
    },
    Setting {
        name: "log.index.interval.bytes",
        doc: "Bytes of batches between two index entries.",
        apply: |c, v| {
            c.topic_defaults.index_interval_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.index_interval_bytes.to_string(),
    },
    Setting {
        name: "message.max.bytes",
        doc: "Largest record batch accepted.",
        apply: |c, v| {
            c.topic_defaults.max_message_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.max_message_bytes.to_string(),
    },
    Setting {
        name: "log.message.timestamp.type",
        doc: "CreateTime or LogAppendTime.",
        apply: |c, v| {
            c.topic_defaults.timestamp_type = timestamp_type(v)?;
            Ok(())
        },
        show: |c| timestamp_type_name(c.topic_defaults.timestamp_type).to_string(),
    },
    Setting {
        name: "log.message.timestamp.before.max.ms",
        doc: "Refuse batches whose timestamps are further in the past than this.",
        apply: |c, v| {
            c.topic_defaults.timestamp_before_max_ms = non_negative(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.timestamp_before_max_ms.to_string(),
    },
    Setting {
        name: "log.message.timestamp.after.max.ms",
        doc: "Refuse batches whose timestamps are further in the future than this.",
        apply: |c, v| {
            c.topic_defaults.timestamp_after_max_ms = non_negative(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.timestamp_after_max_ms.to_string(),
    },
    Setting {
        name: "log.flush.policy",
        doc: "(idem) always: acks=all waits for fdatasync (group commit); interval: sync every log.flush.interval.ms; never: page cache only (Kafka's default).",
        apply: |c, v| {
            c.topic_defaults.flush_policy = FlushPolicy::parse(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.flush_policy.name().to_string(),
    },
    Setting {
        name: "log.flush.interval.ms",
        doc: "Period of the interval flush policy.",
        apply: |c, v| {
            c.topic_defaults.flush_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.topic_defaults.flush_ms.to_string(),
    },
];

fn non_negative(v: &str) -> Result<i64, String> {
    let n: i64 = int(v)?;
    if n < 0 {
        return Err(format!("{v:?} must be >= 0"));
    }
    Ok(n)
}

fn segment_bytes(v: &str) -> Result<u64, String> {
    let n: u64 = int(v)?;
    // Index entries hold positions as u32 and segments need room for at least one batch.
    if !(14..=i32::MAX as u64).contains(&n) {
        return Err(format!("{v:?} must be between 14 and {}", i32::MAX));
    }
    Ok(n)
}

fn timestamp_type(v: &str) -> Result<TimestampType, String> {
    match v.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(format!("{v:?} must be CreateTime or LogAppendTime")),
    }
}

fn timestamp_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// One topic setting.
#[derive(Debug)]
pub struct TopicSetting {
    /// Kafka's topic config name.
    pub name: &'static str,
    /// The broker setting that gives its default, if any.
    pub broker_name: Option<&'static str>,
    /// Kafka's config type name for DescribeConfigs v3+ (1 BOOLEAN, 2 STRING, 3 INT, 4 SHORT,
    /// 5 LONG, 6 DOUBLE, 7 LIST).
    pub config_type: i8,
    /// One line of documentation.
    pub doc: &'static str,
    apply: fn(&mut TopicConfig, &str) -> Result<(), String>,
    show: fn(&TopicConfig) -> String,
}

impl TopicSetting {
    /// The current value as text.
    pub fn value(&self, config: &TopicConfig) -> String {
        (self.show)(config)
    }
}

/// Every topic setting idem understands. Values Kafka allows but idem does not implement
/// (log compaction, broker-side recompression) are refused with a reason, not ignored.
pub const TOPIC_SETTINGS: &[TopicSetting] = &[
    TopicSetting {
        name: "cleanup.policy",
        broker_name: Some("log.cleanup.policy"),
        config_type: 7,
        doc: "Only delete: idem does not compact.",
        apply: |_, v| match v.trim() {
            "delete" => Ok(()),
            _ => Err("idem supports cleanup.policy=delete only (no log compaction)".into()),
        },
        show: |_| "delete".into(),
    },
    TopicSetting {
        name: "compression.type",
        broker_name: Some("compression.type"),
        config_type: 2,
        doc: "Only producer: batches are stored as the producer compressed them.",
        apply: |_, v| match v.trim() {
            "producer" => Ok(()),
            _ => Err("idem supports compression.type=producer only (no recompression)".into()),
        },
        show: |_| "producer".into(),
    },
    TopicSetting {
        name: "segment.bytes",
        broker_name: Some("log.segment.bytes"),
        config_type: 3,
        doc: "Segment size before a roll.",
        apply: |c, v| {
            c.segment_bytes = segment_bytes(v)?;
            Ok(())
        },
        show: |c| c.segment_bytes.to_string(),
    },
    TopicSetting {
        name: "segment.ms",
        broker_name: Some("log.roll.ms"),
        config_type: 5,
        doc: "Segment age before a roll.",
        apply: |c, v| {
            c.segment_ms = positive(v)?;
            Ok(())
        },
        show: |c| c.segment_ms.to_string(),
    },
    TopicSetting {
        name: "retention.ms",
        broker_name: Some("log.retention.ms"),
        config_type: 5,
        doc: "Age of the newest record before a segment is deleted; -1 keeps forever.",
        apply: |c, v| {
            c.retention_ms = limit_or_unlimited(v)?;
            Ok(())
        },
        show: |c| c.retention_ms.to_string(),
    },
    TopicSetting {
        name: "retention.bytes",
        broker_name: Some("log.retention.bytes"),
        config_type: 5,
        doc: "Partition size above which the oldest segments are deleted; -1 for no limit.",
        apply: |c, v| {
            c.retention_bytes = limit_or_unlimited(v)?;
            Ok(())
        },
        show: |c| c.retention_bytes.to_string(),
    },
    TopicSetting {
        name: "index.interval.bytes",
        broker_name: Some("log.index.interval.bytes"),
        config_type: 3,
        doc: "Bytes between index entries.",
        apply: |c, v| {
            c.index_interval_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.index_interval_bytes.to_string(),
    },
    TopicSetting {
        name: "max.message.bytes",
        broker_name: Some("message.max.bytes"),
        config_type: 3,
        doc: "Largest batch accepted.",
        apply: |c, v| {
            c.max_message_bytes = positive(v)?;
            Ok(())
        },
        show: |c| c.max_message_bytes.to_string(),
    },
    TopicSetting {
        name: "message.timestamp.type",
        broker_name: Some("log.message.timestamp.type"),
        config_type: 2,
        doc: "CreateTime or LogAppendTime.",
        apply: |c, v| {
            c.timestamp_type = timestamp_type(v)?;
            Ok(())
        },
        show: |c| timestamp_type_name(c.timestamp_type).into(),
    },
    TopicSetting {
        name: "message.timestamp.before.max.ms",
        broker_name: Some("log.message.timestamp.before.max.ms"),
        config_type: 5,
        doc: "Largest allowed age of a batch timestamp.",
        apply: |c, v| {
            c.timestamp_before_max_ms = non_negative(v)?;
            Ok(())
        },
        show: |c| c.timestamp_before_max_ms.to_string(),
    },
    TopicSetting {
        name: "message.timestamp.after.max.ms",
        broker_name: Some("log.message.timestamp.after.max.ms"),
        config_type: 5,
        doc: "Largest allowed lead of a batch timestamp over the broker clock.",
        apply: |c, v| {
            c.timestamp_after_max_ms = non_negative(v)?;
            Ok(())
        },
        show: |c| c.timestamp_after_max_ms.to_string(),
    },
    TopicSetting {
        name: "flush.policy",
        broker_name: Some("log.flush.policy"),
        config_type: 2,
        doc: "(idem) always, interval or never; see log.flush.policy.",
        apply: |c, v| {
            c.flush_policy = FlushPolicy::parse(v.trim())?;
            Ok(())
        },
        show: |c| c.flush_policy.name().into(),
    },
    TopicSetting {
        name: "flush.ms",
        broker_name: Some("log.flush.interval.ms"),
        config_type: 5,
        doc: "Period of the interval policy; setting it selects that policy.",
        apply: |c, v| {
            c.flush_ms = positive(v)?;
            c.flush_policy = FlushPolicy::Interval;
            Ok(())
        },
        show: |c| c.flush_ms.to_string(),
    },
    TopicSetting {
        name: "flush.messages",
        broker_name: Some("log.flush.interval.messages"),
        config_type: 5,
        doc: "1 selects the always policy (sync every batch); other values select never.",
        apply: |c, v| {
            let n: i64 = positive(v)?;
            c.flush_policy = if n == 1 {
                FlushPolicy::Always
            } else {
                FlushPolicy::Never
            };
            Ok(())
        },
        show: |c| {
            if c.flush_policy == FlushPolicy::Always {
                "1".into()
            } else {
                i64::MAX.to_string()
            }
        },
    },
    TopicSetting {
        name: "min.insync.replicas",
        broker_name: Some("min.insync.replicas"),
        config_type: 3,
        doc: "Only 1: idem is a single node.",
        apply: |_, v| match v.trim() {
            "1" => Ok(()),
            _ => Err("idem is a single node: min.insync.replicas must be 1".into()),
        },
        show: |_| "1".into(),
    },
    TopicSetting {
        name: "unclean.leader.election.enable",
        broker_name: Some("unclean.leader.election.enable"),
        config_type: 1,
        doc: "Accepted and ignored: a single node has no other replica.",
        apply: |_, v| boolean(v).map(|_| ()),
        show: |_| "false".into(),
    },
];

/// A topic's settings: the overrides given at creation, and what they resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSettings {
    /// Overrides by name, as given.
    pub overrides: BTreeMap<String, String>,
    /// The effective values.
    pub effective: TopicConfig,
}

impl TopicSettings {
    /// Resolves overrides over the broker defaults; an unknown name or a bad value is an
    /// error naming it.
    pub fn resolve(
        defaults: &TopicConfig,
        overrides: BTreeMap<String, String>,
    ) -> Result<TopicSettings, String> {
        let mut effective = defaults.clone();
        // flush.ms and flush.messages pick a policy; an explicit flush.policy wins, so it is
        // applied last.
        let mut names: Vec<&String> = overrides.keys().collect();
        names.sort_by_key(|n| (n.as_str() == "flush.policy", n.as_str()));
        for name in names {
            let value = &overrides[name];
            let setting = TOPIC_SETTINGS
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("unknown topic config {name}"))?;
            (setting.apply)(&mut effective, value).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(TopicSettings {
            overrides,
            effective,
        })
    }
}

/// Applies `name = value` to the broker settings.
pub fn apply_setting(config: &mut BrokerConfig, name: &str, value: &str) -> Result<(), String> {
    let setting = BROKER_SETTINGS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("unknown setting {name} (see `idem serve --help`)"))?;
    (setting.apply)(config, value).map_err(|e| format!("{name}: {e}"))
}

/// Reads a TOML settings file: flat quoted keys or nested tables, values of any scalar type.
pub fn load_toml(config: &mut BrokerConfig, text: &str) -> Result<(), String> {
    let value: toml::Table = text.parse().map_err(|e| format!("invalid TOML: {e}"))?;
    let mut flat = Vec::new();
    flatten("", &toml::Value::Table(value), &mut flat)?;
    for (name, value) in flat {
        apply_setting(config, &name, &value)?;
    }
    Ok(())
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
            Ok(())
        }
        toml::Value::String(s) => {
            out.push((prefix.to_string(), s.clone()));
            Ok(())
        }
        toml::Value::Integer(i) => {
            out.push((prefix.to_string(), i.to_string()));
            Ok(())
        }
        toml::Value::Boolean(b) => {
            out.push((prefix.to_string(), b.to_string()));
            Ok(())
        }
        toml::Value::Float(f) => {
            out.push((prefix.to_string(), f.to_string()));
            Ok(())
        }
        other => Err(format!("{prefix}: unsupported value {other}")),
    }
}

/// The settings table as help text.
pub fn settings_help() -> String {
    let defaults = BrokerConfig::default();
    let mut out = String::from("SETTINGS (TOML file or --set NAME=VALUE, Kafka's names):\n");
    for s in BROKER_SETTINGS {
        let value = s.value(&defaults);
        let value = if value.is_empty() {
            "unset".to_string()
        } else {
            value
        };
        out.push_str(&format!(
            "  {:<44} [default: {value}]\n      {}\n",
            s.name, s.doc
        ));
    }
    out.push_str("\nTOPIC CONFIGS (CreateTopics, DescribeConfigs):\n");
    for s in TOPIC_SETTINGS {
        out.push_str(&format!("  {:<32} {}\n", s.name, s.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_accepts_flat_and_nested_kafka_names() {
        let mut c = BrokerConfig::default();
        load_toml(
            &mut c,
            r#"
            "log.segment.bytes" = 1048576
            "auto.create.topics.enable" = false
            [log.retention]
            ms = 60000
            [log.flush]
            policy = "never"
            "#,
        )
        .expect("load");
        assert_eq!(c.topic_defaults.segment_bytes, 1_048_576);
        assert!(!c.auto_create_topics);
        assert_eq!(c.topic_defaults.retention_ms, 60_000);
        assert_eq!(c.topic_defaults.flush_policy, FlushPolicy::Never);
        assert!(load_toml(&mut c, "\"no.such.setting\" = 1").is_err());
        assert!(load_toml(&mut c, "\"num.partitions\" = 0").is_err());
    }

    #[test]
    fn topic_overrides_resolve_and_refuse_what_idem_does_not_do() {
        let d = BrokerConfig::default().topic_defaults;
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("flush.ms".to_string(), "50".to_string());
        let s = TopicSettings::resolve(&d, o).expect("resolve");
        assert_eq!(s.effective.retention_ms, 1000);
        assert_eq!(s.effective.flush_policy, FlushPolicy::Interval);
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "compact".to_string());
        assert!(TopicSettings::resolve(&d, o).is_err());
        let mut o = BTreeMap::new();
        o.insert("bogus".to_string(), "1".to_string());
        assert!(TopicSettings::resolve(&d, o).is_err());
    }

    #[test]
    fn listeners_accept_kafka_syntax() {
        let mut c = BrokerConfig::default();
        apply_setting(&mut c, "listeners", "PLAINTEXT://0.0.0.0:19092").expect("listener");
        assert_eq!(c.listener, "0.0.0.0:19092");
        assert!(apply_setting(&mut c, "listeners", "nonsense").is_err());
        assert!(settings_help().contains("log.segment.bytes"));
    }
}
