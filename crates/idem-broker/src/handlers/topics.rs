//! Topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions (37),
//! DeleteRecords (21). All change files, so they run off the async threads, as barriers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    TopicName,
};

use super::{blocking_barrier, str_bytes, Ctx, Dispatch};
use crate::broker::{Broker, TopicError};
use crate::config::{TopicSettings, TOPIC_SETTINGS};
use crate::error_codes as ec;

pub(super) fn create_topics(broker: &Arc<Broker>, ctx: Ctx, req: CreateTopicsRequest) -> Dispatch {
    let broker = Arc::clone(broker);
    blocking_barrier(move || {
        let v = ctx.version;
        let node = broker.config().node_id;
        let mut seen = HashSet::new();
        let duplicates: HashSet<String> = req
            .topics
            .iter()
            .filter(|t| !seen.insert(t.name.0.to_string()))
            .map(|t| t.name.0.to_string())
            .collect();
        let mut results = Vec::with_capacity(req.topics.len());
        for t in &req.topics {
            let name = t.name.0.to_string();
            let configs: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| {
                    c.value
                        .as_ref()
                        .map(|v| (c.name.to_string(), v.to_string()))
                })
                .collect();
            let outcome = if duplicates.contains(&name) {
                Err(TopicError {
                    code: ec::INVALID_REQUEST,
                    message: format!("Create topics request from client contains multiple entries for the topic {name}"),
                })
            } else {
                explicit_partitions(t, node).and_then(|(partitions, rf)| {
                    if req.validate_only {
                        broker
                            .validate_new_topic(&name, partitions, rf, &configs)
                            .map(|(count, settings)| (uuid::Uuid::nil(), count, settings))
                    } else {
                        broker
                            .create_topic(&name, partitions, rf, configs.clone())
                            .map(|topic| {
                                (
                                    topic.id,
                                    topic.partitions.len() as i32,
                                    topic.settings.clone(),
                                )
                            })
                    }
                })
            };
            let mut r = CreatableTopicResult::default().with_name(TopicName(str_bytes(&name)));
            match outcome {
                Ok((id, count, settings)) => {
                    if v >= 7 {
                        r = r.with_topic_id(id);
                    }
                    if v >= 5 {
                        r = r
                            .with_num_partitions(count)
                            .with_replication_factor(1)
                            .with_configs(Some(topic_configs(&settings)));
                    }
                }
                Err(e) => {
                    r = r.with_error_code(e.code);
                    if v >= 1 {
                        r = r.with_error_message(Some(str_bytes(&e.message)));
                    }
                    if v >= 5 {
                        r = r.with_num_partitions(-1).with_replication_factor(-1);
                    }
                }
            }
            results.push(r);
        }
        broker
            .metrics()
            .errors_of(ctx.api_key as i16, results.iter().map(|r| r.error_code));
        ctx.respond(&CreateTopicsResponse::default().with_topics(results))
    })
}

/// Partition count and replication factor, from the counts or from manual assignments
/// (which on a single node may name only this node, once per partition).
fn explicit_partitions(
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    node: i32,
) -> Result<(i32, i16), TopicError> {
    if t.assignments.is_empty() {
        return Ok((t.num_partitions, t.replication_factor));
    }
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(TopicError {
            code: ec::INVALID_REQUEST,
            message: "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
        });
    }
    let mut indexes: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
    indexes.sort_unstable();
    let contiguous = indexes.iter().enumerate().all(|(i, p)| *p == i as i32);
    let only_here = t
        .assignments
        .iter()
        .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == node);
    if !contiguous || !only_here {
        return Err(TopicError {
            code: ec::INVALID_REPLICA_ASSIGNMENT,
            message: format!("assignments must name partitions 0..n-1, each on broker {node} only"),
        });
    }
    Ok((t.assignments.len() as i32, 1))
}

/// The effective configs of a topic, as CreateTopics v5+ reports them.
fn topic_configs(settings: &TopicSettings) -> Vec<CreatableTopicConfigs> {
    TOPIC_SETTINGS
        .iter()
        .map(|s| {
            let source = if settings.overrides.contains_key(s.name) {
                1 // TOPIC_CONFIG
            } else {
                5 // DEFAULT_CONFIG
            };
            CreatableTopicConfigs::default()
                .with_name(str_bytes(s.name))
                .with_value(Some(str_bytes(&s.value(&settings.effective))))
                .with_config_source(source)
        })
        .collect()
}

pub(super) fn delete_topics(broker: &Arc<Broker>, ctx: Ctx, req: DeleteTopicsRequest) -> Dispatch {
    let broker = Arc::clone(broker);
    blocking_barrier(move || {
        let v = ctx.version;
        // v0-5 name topics; v6 names or ids.
        let targets: Vec<(Option<String>, uuid::Uuid)> = if v >= 6 {
            req.topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
                .collect()
        } else {
            req.topic_names
                .iter()
                .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
                .collect()
        };
        let mut responses = Vec::with_capacity(targets.len());
        for (name, id) in targets {
            let resolved = match &name {
                Some(n) => Ok(n.clone()),
                None => broker
                    .topic_by_id(&id)
                    .map(|t| t.name.to_string())
                    .ok_or(TopicError {
                        code: ec::UNKNOWN_TOPIC_ID,
                        message: "This server does not host this topic ID.".into(),
                    }),
            };
            let outcome = resolved.and_then(|n| broker.delete_topic(&n).map(|id| (n, id)));
            let mut r = DeletableTopicResult::default();
            match outcome {
                Ok((n, topic_id)) => {
                    r = r.with_name(Some(TopicName(str_bytes(&n))));
                    if v >= 6 {
                        r = r.with_topic_id(topic_id);
                    }
                }
                Err(e) => {
                    r = r
                        .with_name(Some(TopicName(str_bytes(name.as_deref().unwrap_or("")))))
                        .with_error_code(e.code);
                    if v >= 6 {
                        r = r.with_topic_id(id);
                        if name.is_none() {
                            r = r.with_name(None);
                        }
                    }
                    if v >= 5 {
                        r = r.with_error_message(Some(str_bytes(&e.message)));
                    }
                }
            }
            responses.push(r);
        }
        broker
            .metrics()
            .errors_of(ctx.api_key as i16, responses.iter().map(|r| r.error_code));
        ctx.respond(&DeleteTopicsResponse::default().with_responses(responses))
    })
}

pub(super) fn create_partitions(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: CreatePartitionsRequest,
) -> Dispatch {
    let broker = Arc::clone(broker);
    blocking_barrier(move || {
        let node = broker.config().node_id;
        let results: Vec<CreatePartitionsTopicResult> = req
            .topics
            .iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let assignment_ok = t.assignments.as_ref().is_none_or(|a| {
                    a.iter()
                        .all(|x| x.broker_ids.len() == 1 && x.broker_ids[0].0 == node)
                });
                let outcome = if !assignment_ok {
                    Err(TopicError {
                        code: ec::INVALID_REPLICA_ASSIGNMENT,
                        message: format!("partitions may only be assigned to broker {node}"),
                    })
                } else if req.validate_only {
                    match broker.topic(&name) {
                        None => Err(TopicError {
                            code: ec::UNKNOWN_TOPIC_OR_PARTITION,
                            message: format!("The topic '{name}' does not exist."),
                        }),
                        Some(topic) if t.count <= topic.partitions.len() as i32 => Err(TopicError {
                            code: ec::INVALID_PARTITIONS,
                            message: format!(
                                "Topic currently has {} partitions, which is higher than the requested {}.",
                                topic.partitions.len(),
                                t.count
                            ),
                        }),
                        Some(_) => Ok(()),
                    }
                } else {
                    broker.create_partitions(&name, t.count)
                };
                let mut r =
                    CreatePartitionsTopicResult::default().with_name(TopicName(str_bytes(&name)));
                if let Err(e) = outcome {
                    r = r
                        .with_error_code(e.code)
                        .with_error_message(Some(str_bytes(&e.message)));
                }
                r
            })
            .collect();
        broker
            .metrics()
            .errors_of(ctx.api_key as i16, results.iter().map(|r| r.error_code));
        ctx.respond(&CreatePartitionsResponse::default().with_results(results))
    })
}

pub(super) fn delete_records(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: DeleteRecordsRequest,
) -> Dispatch {
    let broker = Arc::clone(broker);
    blocking_barrier(move || {
        let topics: Vec<DeleteRecordsTopicResult> = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let r = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index)
                            .with_low_watermark(-1);
                        match broker.partition(&t.name.0, p.partition_index) {
                            None => r.with_error_code(ec::UNKNOWN_TOPIC_OR_PARTITION),
                            Some(partition) => match partition.delete_records(p.offset) {
                                Ok(low) => r.with_low_watermark(low),
                                Err(e) => r.with_error_code(e.code),
                            },
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        broker.metrics().errors_of(
            ctx.api_key as i16,
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        );
        ctx.respond(&DeleteRecordsResponse::default().with_topics(topics))
    })
}
