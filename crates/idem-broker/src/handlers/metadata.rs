//! Metadata (3): brokers, topics with ids, partitions led by this node; auto-creation,
//! started by the request and finished after its answer, as in Kafka (KRaft).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::{str_bytes, Ctx, Dispatch};
use crate::broker::{Broker, Topic};
use crate::catalog::valid_topic_name;
use crate::error_codes as ec;

enum Wanted {
    All,
    Names(Vec<String>),
    Ids(Vec<Uuid>),
    Mixed(Vec<(Option<String>, Uuid)>),
}

pub(super) fn handle(broker: &Arc<Broker>, ctx: Ctx, req: MetadataRequest) -> Dispatch {
    let wanted = match &req.topics {
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        None => Wanted::All,
        Some(t) if t.is_empty() && ctx.version == 0 => Wanted::All,
        Some(t) if t.iter().all(|x| x.name.is_some()) => Wanted::Names(
            t.iter()
                .filter_map(|x| x.name.as_ref().map(|n| n.0.to_string()))
                .collect(),
        ),
        Some(t) if t.iter().all(|x| x.name.is_none()) => {
            Wanted::Ids(t.iter().map(|x| x.topic_id).collect())
        }
        Some(t) => Wanted::Mixed(
            t.iter()
                .map(|x| (x.name.as_ref().map(|n| n.0.to_string()), x.topic_id))
                .collect(),
        ),
    };
    // Before v4 every Metadata request may create topics (the field did not exist).
    let allow_create =
        broker.config().auto_create_topics && (ctx.version < 4 || req.allow_auto_topic_creation);
    let missing: Vec<String> = match &wanted {
        Wanted::Names(names) if allow_create => names
            .iter()
            .filter(|n| broker.topic(n).is_none() && valid_topic_name(n).is_ok())
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    if !missing.is_empty() {
        start_creations(broker, missing);
    }
    // A topic whose creation this request started (or one still in flight) is answered as
    // Kafka (KRaft) answers it: UNKNOWN_TOPIC_OR_PARTITION, no partitions, no topic id; the
    // client asks again and a later request sees it. Clients that delete a topic and ask for
    // its partitions rely on that first answer having none.
    Dispatch::Now(ctx.respond(&counted(broker, &ctx, build(broker, &ctx, &wanted))))
}

/// Auto-creations under way, by broker (its address) and topic name: a client that retries
/// Metadata while one runs does not start another.
static IN_FLIGHT: Mutex<BTreeSet<(usize, String)>> = Mutex::new(BTreeSet::new());

/// Creates `names` through the broker's usual create path, off the async threads (file-system
/// work), without waiting for it.
fn start_creations(broker: &Arc<Broker>, names: Vec<String>) {
    let key = Arc::as_ptr(broker) as usize;
    let names: Vec<String> = {
        let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        names
            .into_iter()
            .filter(|n| in_flight.insert((key, n.clone())))
            .collect()
    };
    if names.is_empty() {
        return;
    }
    let broker = Arc::clone(broker);
    tokio::task::spawn_blocking(move || {
        for name in &names {
            create(&broker, name);
            IN_FLIGHT
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(key, name.clone()));
        }
    });
}

fn create(broker: &Broker, name: &str) {
    if name == crate::groups::OFFSETS_TOPIC {
        // Created as Kafka does: by the group coordinator, with its settings.
        if let Err(e) = broker.ensure_offsets_topic() {
            tracing::warn!(topic = %name, "auto-create failed: {}", e.message);
        }
        return;
    }
    match broker.create_topic(name, -1, -1, BTreeMap::new()) {
        Ok(_) => tracing::debug!(topic = %name, "auto-created"),
        // Another connection created it meanwhile.
        Err(e) if e.code == ec::TOPIC_ALREADY_EXISTS => {}
        Err(e) => tracing::warn!(topic = %name, "auto-create failed: {}", e.message),
    }
}

/// Counts the topic errors of a response in the metrics.
fn counted(broker: &Broker, ctx: &Ctx, response: MetadataResponse) -> MetadataResponse {
    broker.metrics().errors_of(
        ctx.api_key as i16,
        response.topics.iter().map(|t| t.error_code),
    );
    response
}

fn build(broker: &Broker, ctx: &Ctx, wanted: &Wanted) -> MetadataResponse {
    let v = ctx.version;
    let (host, port) = broker.advertised();
    let node = broker.config().node_id;
    let mut topics = Vec::new();
    match wanted {
        Wanted::All => {
            for t in broker.topics() {
                topics.push(describe(broker, v, &t));
            }
        }
        Wanted::Names(names) => {
            for name in names {
                topics.push(match broker.topic(name) {
                    Some(t) => describe(broker, v, &t),
                    None => missing_name(name),
                });
            }
        }
        Wanted::Ids(ids) => {
            for id in ids {
                topics.push(match broker.topic_by_id(id) {
                    Some(t) => describe(broker, v, &t),
                    None => missing_id(v, *id),
                });
            }
        }
        Wanted::Mixed(list) => {
            for (name, id) in list {
                let found = match name {
                    Some(n) => broker.topic(n),
                    None => broker.topic_by_id(id),
                };
                topics.push(match (found, name) {
                    (Some(t), _) => describe(broker, v, &t),
                    (None, Some(n)) => missing_name(n),
                    (None, None) => missing_id(v, *id),
                });
            }
        }
    }
    let mut response = MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(node))
            .with_host(str_bytes(&host))
            .with_port(port)])
        .with_topics(topics);
    if v >= 1 {
        response = response.with_controller_id(BrokerId(node));
    }
    if v >= 2 {
        response = response.with_cluster_id(Some(str_bytes(broker.cluster_id())));
    }
    response
}

fn describe(broker: &Broker, v: i16, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config().node_id);
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let mut m = MetadataResponsePartition::default()
                .with_partition_index(p.index())
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node]);
            if v >= 7 {
                m = m.with_leader_epoch(0);
            }
            if p.watermark().offline {
                m = m.with_error_code(ec::KAFKA_STORAGE_ERROR);
                if v >= 5 {
                    m = m.with_offline_replicas(vec![node]);
                }
            }
            m
        })
        .collect();
    let mut t = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_partitions(partitions);
    if v >= 1 {
        t = t.with_is_internal(&*topic.name == crate::groups::OFFSETS_TOPIC);
    }
    if v >= 10 {
        t = t.with_topic_id(topic.id);
    }
    t
}

fn missing_name(name: &str) -> MetadataResponseTopic {
    let code = if valid_topic_name(name).is_ok() {
        ec::UNKNOWN_TOPIC_OR_PARTITION
    } else {
        ec::INVALID_TOPIC_EXCEPTION
    };
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(TopicName(str_bytes(name))))
}

fn missing_id(v: i16, id: Uuid) -> MetadataResponseTopic {
    // The response's topic name is nullable only from v12.
    let name = if v >= 12 {
        None
    } else {
        Some(TopicName(str_bytes("")))
    };
    let mut t = MetadataResponseTopic::default()
        .with_error_code(ec::UNKNOWN_TOPIC_ID)
        .with_name(name);
    if v >= 10 {
        t = t.with_topic_id(id);
    }
    t
}
