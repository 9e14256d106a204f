//! Metadata auto-creation details and DescribeConfigs' read-only flags (issue 14 defect 9).
//!
//! 9a: what the Metadata request that triggers an auto-creation answers (Kafka KRaft creates
//! the topic asynchronously), at v1 and v12, also for a topic that was just deleted.
//! 9b: which broker and topic configs DescribeConfigs marks read-only (only names both brokers
//! have are compared; the sources go to `info`).

use std::time::Duration;

use anyhow::Context as _;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use serde_json::{json, Map, Value};

use super::protocol::record_metadata;
use super::{table, Scenario};
use crate::ctx::{s, Ctx};

pub(super) fn all() -> Vec<Scenario> {
    table! { "protocol";
        "p-metadata-v1-auto-create" => metadata_v1_auto_create, "Metadata v1 (auto-creation implied) for a missing topic";
        "p-metadata-auto-create-after-delete" => auto_create_after_delete, "create, delete, then Metadata v12 with allow_auto_topic_creation=true";
        "p-describe-configs-broker-read-only" => broker_read_only, "DescribeConfigs v4 of the broker: read_only of each config idem also has";
        "p-describe-configs-topic-read-only" => topic_read_only, "DescribeConfigs v4 of a topic: read_only of each config idem also has";
    }
}

/// Broker configs idem describes that Kafka 4.1.1 also has.
const BROKER_CONFIGS: [&str; 29] = [
    "log.dirs",
    "listeners",
    "advertised.listeners",
    "node.id",
    "num.partitions",
    "auto.create.topics.enable",
    "socket.request.max.bytes",
    "max.connections",
    "connections.max.idle.ms",
    "log.retention.check.interval.ms",
    "producer.id.expiration.ms",
    "producer.id.expiration.check.interval.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.initial.rebalance.delay.ms",
    "group.max.size",
    "offsets.retention.minutes",
    "offsets.retention.check.interval.ms",
    "offset.metadata.max.bytes",
    "log.segment.bytes",
    "log.roll.ms",
    "log.retention.ms",
    "log.retention.bytes",
    "log.index.interval.bytes",
    "message.max.bytes",
    "log.message.timestamp.type",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "log.flush.interval.ms",
];

/// Topic configs idem describes that Kafka 4.1.1 also has.
const TOPIC_CONFIGS: [&str; 15] = [
    "cleanup.policy",
    "compression.type",
    "segment.bytes",
    "segment.ms",
    "retention.ms",
    "retention.bytes",
    "index.interval.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "flush.ms",
    "flush.messages",
    "min.insync.replicas",
    "unclean.leader.election.enable",
];

fn by_name(name: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(TopicName(s(name))))
}

async fn metadata(
    c: &mut Ctx,
    version: i16,
    name: &str,
    auto_create: bool,
) -> anyhow::Result<MetadataResponse> {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![by_name(name)]))
        .with_allow_auto_topic_creation(auto_create || version < 4);
    c.conn().call(ApiKey::Metadata, version, &req).await
}

async fn metadata_v1_auto_create(c: &mut Ctx) -> anyhow::Result<()> {
    let auto = c.name("auto");
    let resp = metadata(c, 1, &auto, true).await?;
    record_metadata(c, "v1-first-answer", 1, &resp);
    c.adopt_topic("auto").await?;
    let resp = metadata(c, 1, &auto, true).await?;
    record_metadata(c, "v1-once-ready", 1, &resp);
    Ok(())
}

/// Asks (without auto-creation) until `name` is unknown, for at most 10 s.
async fn wait_until_gone(c: &mut Ctx, name: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        let resp = metadata(c, 12, name, false).await?;
        if resp.topics.first().is_some_and(|t| t.error_code == 3) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("topic {name} still listed 10 s after DeleteTopics")
}

async fn auto_create_after_delete(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let name = c.name("t");
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(s(&name))])
        .with_timeout_ms(30_000);
    let resp: DeleteTopicsResponse = c.conn().call(ApiKey::DeleteTopics, 4, &req).await?;
    let code = resp.responses.first().map_or(-1, |r| r.error_code);
    c.step("delete", vec![("error_code", json!(code))]);
    wait_until_gone(c, &name).await?;
    let resp = metadata(c, 12, &name, true).await?;
    record_metadata(c, "first-answer-after-delete", 12, &resp);
    // Once it is back (auto-created), it has a partition again; read back empty at the end.
    let mut ready = None;
    for _ in 0..100 {
        let resp = metadata(c, 12, &name, false).await?;
        let t = resp.topics.first().context("no topic in Metadata")?;
        if t.error_code == 0 && t.partitions.iter().all(|p| p.leader_id.0 >= 0) {
            ready = Some(resp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match ready {
        Some(resp) => record_metadata(c, "once-recreated", 12, &resp),
        None => c.step(
            "once-recreated",
            vec![("outcome", json!("not recreated within 10 s"))],
        ),
    }
    Ok(())
}

/// DescribeConfigs v4 of one resource; records `read_only` for each of `names` (or `absent`),
/// the sources as information.
async fn describe(
    c: &mut Ctx,
    label: &str,
    resource_type: i8,
    resource: &str,
    names: &[&str],
) -> anyhow::Result<()> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(resource))
            .with_configuration_keys(None)]);
    let resp: DescribeConfigsResponse = c.conn().call(ApiKey::DescribeConfigs, 4, &req).await?;
    let r = resp
        .results
        .first()
        .context("no result in DescribeConfigs")?;
    let mut read_only = Map::new();
    let mut sources = Map::new();
    for name in names {
        let entry = r.configs.iter().find(|e| &*e.name == *name);
        read_only.insert(
            name.to_string(),
            entry.map_or(json!("absent"), |e| json!(e.read_only)),
        );
        sources.insert(
            name.to_string(),
            entry.map_or(Value::Null, |e| json!(e.config_source)),
        );
    }
    c.step(
        label,
        vec![
            ("error_code", json!(r.error_code)),
            ("read_only", Value::Object(read_only)),
        ],
    );
    c.info(&format!("{label}.config_source"), Value::Object(sources));
    Ok(())
}

async fn broker_read_only(c: &mut Ctx) -> anyhow::Result<()> {
    let resp: MetadataResponse = c
        .conn()
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(Vec::new())),
        )
        .await?;
    let node = resp
        .brokers
        .first()
        .context("no broker in Metadata")?
        .node_id
        .0;
    describe(c, "broker", 4, &node.to_string(), &BROKER_CONFIGS).await
}

async fn topic_read_only(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[("retention.ms", "3600000")])
        .await?;
    let name = c.name("t");
    describe(c, "topic", 2, &name, &TOPIC_CONFIGS).await
}
