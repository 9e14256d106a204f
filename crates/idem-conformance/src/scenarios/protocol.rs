//! ApiVersions, Metadata, InitProducerId and Produce-version edge cases.
//!
//! ApiVersions answers are compared by shape only (error code, whether the rows a producer
//! needs are there, ApiVersions' own max): Kafka advertises many APIs idem does not have, and
//! the full lists go to `info` so the report can show which keys idem lacks.

use anyhow::{bail, Context as _};
use bytes::{Buf, Bytes};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, MetadataRequest,
    MetadataResponse, ResponseHeader, TopicName, TransactionalId,
};
use kafka_protocol::protocol::Decodable;
use serde_json::{json, Value};
use uuid::Uuid;

use super::idempotence::init;
use super::{table, Scenario};
use crate::batches;
use crate::client::is_closed;
use crate::ctx::{produce_request, s, Ctx};

pub(super) fn all() -> Vec<Scenario> {
    table! { "protocol";
        "p-api-versions-v0" => api_versions_v0, "ApiVersions v0";
        "p-api-versions-v3" => api_versions_v3, "ApiVersions v3 (flexible, client software name)";
        "p-api-versions-v4" => api_versions_v4, "ApiVersions v4";
        "s39-api-versions-v99" => api_versions_v99, "ApiVersions v99 as a newer client sends it (header v2, v3-shaped body): v0-shaped UNSUPPORTED_VERSION";
        "p-api-versions-v99-bare" => api_versions_v99_bare, "ApiVersions v99 with a v1 header and no body";
        "p-metadata-missing-no-auto-create" => metadata_missing, "Metadata v12 for a missing topic, allow_auto_topic_creation=false";
        "p-metadata-auto-create" => metadata_auto_create, "Metadata v12 for a missing topic, allow_auto_topic_creation=true";
        "p-metadata-v0-all-topics" => metadata_v0_all, "Metadata v0 with an empty topic list (all topics)";
        "p-metadata-v1-topic" => metadata_v1_topic, "Metadata v1 for one topic: leader, replicas, controller";
        "p-metadata-v12-topic" => metadata_v12_topic, "Metadata v12 for one topic by name";
        "p-metadata-v12-by-topic-id" => metadata_by_id, "Metadata v12 for one topic by id (no name)";
        "p-metadata-v12-unknown-topic-id" => metadata_unknown_id, "Metadata v12 for a topic id nobody has";
        "p-init-producer-id-empty-txn-id" => init_empty_txn_id, "InitProducerId v4 with transactional id \"\"";
        "p-produce-v2" => produce_v2, "Produce v2 (advertised, not served) with a magic 1 message set";
        "p-produce-v3" => produce_v3, "Produce v3, the oldest served version, with B(0,0,1)";
    }
}

// ---- ApiVersions ---------------------------------------------------------------------------

/// The rows an idempotent producer needs (kafka-idempotence.md §6), by name.
const NEEDED: [(&str, ApiKey); 5] = [
    ("Produce", ApiKey::Produce),
    ("Fetch", ApiKey::Fetch),
    ("Metadata", ApiKey::Metadata),
    ("ApiVersions", ApiKey::ApiVersions),
    ("InitProducerId", ApiKey::InitProducerId),
];

fn record_api_versions(c: &mut Ctx, label: &str, resp: &ApiVersionsResponse) {
    let row = |key: ApiKey| resp.api_keys.iter().find(|r| r.api_key == key as i16);
    let present: serde_json::Map<String, Value> = NEEDED
        .iter()
        .map(|(name, key)| (name.to_string(), json!(row(*key).is_some())))
        .collect();
    c.step(
        label,
        vec![
            ("error_code", json!(resp.error_code)),
            ("rows_present", Value::Object(present)),
            (
                "api_versions_max",
                json!(row(ApiKey::ApiVersions).map(|r| r.max_version)),
            ),
        ],
    );
    let keys: Vec<String> = resp
        .api_keys
        .iter()
        .map(|r| format!("{}:{}-{}", r.api_key, r.min_version, r.max_version))
        .collect();
    c.info(&format!("{label}.api_keys"), json!(keys));
}

async fn api_versions(c: &mut Ctx, version: i16) -> anyhow::Result<()> {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(s("idem-conformance"))
        .with_client_software_version(s("1.0"));
    let resp: ApiVersionsResponse = c.conn().call(ApiKey::ApiVersions, version, &req).await?;
    record_api_versions(c, &format!("api-versions-v{version}"), &resp);
    Ok(())
}

async fn api_versions_v0(c: &mut Ctx) -> anyhow::Result<()> {
    api_versions(c, 0).await
}

async fn api_versions_v3(c: &mut Ctx) -> anyhow::Result<()> {
    api_versions(c, 3).await
}

async fn api_versions_v4(c: &mut Ctx) -> anyhow::Result<()> {
    api_versions(c, 4).await
}

/// A request frame written by hand, for versions `kafka-protocol` cannot encode. `flexible`
/// selects request header v2 (tagged fields after the client id) over v1.
fn hand_frame(
    api_key: i16,
    version: i16,
    correlation: i32,
    flexible: bool,
    body: &[u8],
) -> Vec<u8> {
    let client = b"idem-conformance";
    let mut inner = Vec::new();
    inner.extend_from_slice(&api_key.to_be_bytes());
    inner.extend_from_slice(&version.to_be_bytes());
    inner.extend_from_slice(&correlation.to_be_bytes());
    inner.extend_from_slice(&(client.len() as i16).to_be_bytes());
    inner.extend_from_slice(client);
    if flexible {
        inner.push(0); // no tagged fields
    }
    inner.extend_from_slice(body);
    let mut frame = (inner.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&inner);
    frame
}

/// Sends a hand-made frame; the response body after a v0 header, or `None` if the broker
/// closed the connection (recorded as the step's outcome).
async fn hand_call(
    c: &mut Ctx,
    label: &str,
    frame: &[u8],
    correlation: i32,
) -> anyhow::Result<Option<Bytes>> {
    let answer = async {
        c.conn().write(frame).await?;
        c.conn().read_frame().await
    }
    .await;
    let body = match answer {
        Ok(body) => body,
        Err(e) if is_closed(&e) => None,
        Err(e) => return Err(e.context(format!("step {label}"))),
    };
    let Some(mut body) = body else {
        c.step(label, vec![("outcome", json!("connection closed"))]);
        c.reconnect().await?;
        return Ok(None);
    };
    let header = ResponseHeader::decode(&mut body, 0).context("response header v0")?;
    if header.correlation_id != correlation {
        bail!(
            "step {label}: correlation id {} in the response, {correlation} expected",
            header.correlation_id
        );
    }
    Ok(Some(body))
}

async fn v99(c: &mut Ctx, label: &str, flexible: bool) -> anyhow::Result<()> {
    // What a client with a newer ApiVersions sends: header v2 and a v3+-shaped body (client
    // software name and version as compact strings, no tagged fields).
    let body: &[u8] = if flexible {
        b"\x11idem-conformance\x041.0\x00"
    } else {
        b""
    };
    let correlation = c.conn().next_correlation();
    let frame = hand_frame(ApiKey::ApiVersions as i16, 99, correlation, flexible, body);
    let Some(mut body) = hand_call(c, label, &frame, correlation).await? else {
        return Ok(());
    };
    // The broker cannot know the shape of v99, so it answers in v0.
    let resp = ApiVersionsResponse::decode(&mut body, 0).context("a v0-shaped ApiVersions body")?;
    record_api_versions(c, label, &resp);
    Ok(())
}

async fn api_versions_v99(c: &mut Ctx) -> anyhow::Result<()> {
    v99(c, "api-versions-v99", true).await
}

async fn api_versions_v99_bare(c: &mut Ctx) -> anyhow::Result<()> {
    v99(c, "api-versions-v99-bare", false).await
}

// ---- Metadata ------------------------------------------------------------------------------

/// Metadata normalised: node ids as `self` (the one broker in the answer), topics by alias
/// (only the scenario's own topics; how many others exist depends on what ran before).
pub(super) fn record_metadata(c: &mut Ctx, label: &str, version: i16, resp: &MetadataResponse) {
    let self_id = resp.brokers.first().map(|b| b.node_id.0);
    let node = |id: i32| -> &'static str {
        if id == -1 {
            "-1"
        } else if Some(id) == self_id {
            "self"
        } else {
            "other"
        }
    };
    let addr = c.addr().to_string();
    let mut topics: Vec<(String, Value)> = Vec::new();
    let mut others = 0;
    for t in &resp.topics {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        let alias = c.topic_name(&name);
        if alias == "other" {
            others += 1;
            continue;
        }
        let mut partitions: Vec<&_> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition_index);
        let partitions: Vec<Value> = partitions
            .iter()
            .map(|p| {
                let mut v = json!({
                    "index": p.partition_index,
                    "error_code": p.error_code,
                    "leader": node(p.leader_id.0),
                    "replicas": p.replica_nodes.iter().map(|n| node(n.0)).collect::<Vec<_>>(),
                    "isr": p.isr_nodes.iter().map(|n| node(n.0)).collect::<Vec<_>>(),
                });
                if version >= 5 {
                    v["offline"] = json!(p.offline_replicas.len());
                }
                if version >= 7 {
                    v["leader_epoch"] = json!(p.leader_epoch);
                }
                v
            })
            .collect();
        let mut v = json!({
            "name": if t.name.is_none() { "null".to_string() } else { alias.clone() },
            "error_code": t.error_code,
            "partitions": partitions,
        });
        if version >= 1 {
            v["is_internal"] = json!(t.is_internal);
        }
        if version >= 10 {
            v["topic_id"] = json!(c.topic_id(t.topic_id));
        }
        topics.push((alias, v));
    }
    topics.sort_by(|a, b| a.0.cmp(&b.0));
    let mut fields = vec![
        ("brokers", json!(resp.brokers.len())),
        (
            "broker_is_the_address_dialled",
            json!(resp
                .brokers
                .iter()
                .any(|b| format!("{}:{}", b.host.as_str(), b.port) == addr)),
        ),
        (
            "topics",
            Value::Array(topics.into_iter().map(|(_, v)| v).collect()),
        ),
    ];
    if version >= 1 {
        fields.push(("controller", json!(node(resp.controller_id.0))));
    }
    if version >= 2 {
        fields.push(("cluster_id_present", json!(resp.cluster_id.is_some())));
    }
    c.step(label, fields);
    c.info(&format!("{label}.other_topics"), json!(others));
}

async fn metadata(
    c: &mut Ctx,
    label: &str,
    version: i16,
    topics: Option<Vec<MetadataRequestTopic>>,
    auto_create: bool,
) -> anyhow::Result<()> {
    // Before v4 the field does not exist (and every request may auto-create).
    let req = MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(auto_create || version < 4);
    let resp: MetadataResponse = c.conn().call(ApiKey::Metadata, version, &req).await?;
    record_metadata(c, label, version, &resp);
    Ok(())
}

fn by_name(name: &str) -> MetadataRequestTopic {
    MetadataRequestTopic::default().with_name(Some(TopicName(s(name))))
}

fn by_id(id: Uuid) -> MetadataRequestTopic {
    MetadataRequestTopic::default()
        .with_topic_id(id)
        .with_name(None)
}

async fn metadata_missing(c: &mut Ctx) -> anyhow::Result<()> {
    let missing = c.name("missing");
    metadata(c, "missing", 12, Some(vec![by_name(&missing)]), false).await?;
    // Asked again: still missing (nothing was created).
    metadata(c, "missing-again", 12, Some(vec![by_name(&missing)]), false).await
}

async fn metadata_auto_create(c: &mut Ctx) -> anyhow::Result<()> {
    let auto = c.name("auto");
    metadata(c, "first-answer", 12, Some(vec![by_name(&auto)]), true).await?;
    // Kafka creates it asynchronously; once it has a leader both must show one partition
    // (num.partitions=1) and an empty log.
    c.adopt_topic("auto").await?;
    metadata(c, "once-ready", 12, Some(vec![by_name(&auto)]), false).await
}

async fn metadata_v0_all(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("a", 1, &[]).await?;
    c.create_topic("b", 2, &[]).await?;
    // v0 has no null topic list: an empty list means every topic.
    metadata(c, "v0-all", 0, Some(Vec::new()), false).await
}

async fn metadata_v1_topic(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let t = c.name("t");
    metadata(c, "v1-topic", 1, Some(vec![by_name(&t)]), false).await
}

async fn metadata_v12_topic(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 3, &[]).await?;
    let t = c.name("t");
    metadata(c, "v12-topic", 12, Some(vec![by_name(&t)]), false).await
}

async fn metadata_by_id(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let id = c.topic("t")?.id;
    metadata(c, "v12-by-id", 12, Some(vec![by_id(id)]), false).await
}

async fn metadata_unknown_id(c: &mut Ctx) -> anyhow::Result<()> {
    let unknown = Uuid::from_u128(0x1d3e_c0ff_ee00_4000_8000_0000_0000_0002);
    metadata(c, "v12-unknown-id", 12, Some(vec![by_id(unknown)]), false).await
}

// ---- InitProducerId and Produce versions ---------------------------------------------------

async fn init_empty_txn_id(c: &mut Ctx) -> anyhow::Result<()> {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(""))))
        .with_transaction_timeout_ms(60_000);
    init(c, "empty-transactional-id", 4, req).await
}

async fn produce_v2(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let name = c.name("t");
    let set = batches::legacy_message_set(1, c.t0, b"v2");
    // Produce v2 body: acks, timeout, [topic name, [partition, records]].
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes());
    body.extend_from_slice(&30_000i32.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(name.len() as i16).to_be_bytes());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&(set.len() as i32).to_be_bytes());
    body.extend_from_slice(&set);
    let correlation = c.conn().next_correlation();
    let frame = hand_frame(ApiKey::Produce as i16, 2, correlation, false, &body);
    let Some(mut resp) = hand_call(c, "produce-v2", &frame, correlation).await? else {
        return Ok(());
    };
    // Produce v2 response: [topic name, [partition, error, base offset, log append time]],
    // throttle time.
    let answer = (|| -> Option<(i16, i64, i64)> {
        let topics = get_i32(&mut resp)?;
        if topics < 1 {
            return None;
        }
        let name_len = usize::try_from(get_i16(&mut resp)?).ok()?;
        if resp.remaining() < name_len {
            return None;
        }
        resp.advance(name_len);
        if get_i32(&mut resp)? < 1 {
            return None;
        }
        let _partition = get_i32(&mut resp)?;
        let error = get_i16(&mut resp)?;
        let base = get_i64(&mut resp)?;
        let append_time = get_i64(&mut resp)?;
        Some((error, base, append_time))
    })();
    let Some((error, base, append_time)) = answer else {
        bail!("step produce-v2: malformed Produce v2 response");
    };
    let append_time = c.ts(append_time);
    c.step(
        "produce-v2",
        vec![
            ("error_code", json!(error)),
            ("base_offset", json!(base)),
            ("log_append_time", json!(append_time)),
        ],
    );
    Ok(())
}

fn get_i16(b: &mut Bytes) -> Option<i16> {
    (b.remaining() >= 2).then(|| b.get_i16())
}

fn get_i32(b: &mut Bytes) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

fn get_i64(b: &mut Bytes) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

async fn produce_v3(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let p = c.producer().await?;
    let batch = c.batch(p, 0, 0, 1, "v3");
    let req = produce_request(&c.name("t"), 0, Some(batch), -1);
    c.produce_request("produce-v3", 3, &req).await?;
    Ok(())
}
