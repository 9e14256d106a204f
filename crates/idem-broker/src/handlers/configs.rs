//! DescribeConfigs (32): topic configs (overrides and defaults) and broker settings.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{str_bytes, Ctx, Dispatch};
use crate::broker::Broker;
use crate::config::{BROKER_SETTINGS, TOPIC_SETTINGS};
use crate::error_codes as ec;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;

// Kafka's ConfigSource values.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

struct Entry {
    name: &'static str,
    value: String,
    source: i8,
    config_type: i8,
    doc: &'static str,
    synonyms: Vec<(String, String, i8)>,
    /// Whether the value can be changed while the broker runs (what Kafka's `read_only` means).
    read_only: bool,
}

pub(super) fn describe_configs(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: DescribeConfigsRequest,
) -> Dispatch {
    let v = ctx.version;
    let results = req
        .resources
        .iter()
        .map(|res| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let entries = match res.resource_type {
                RESOURCE_TOPIC => match broker.topic(&res.resource_name) {
                    Some(topic) => Ok(TOPIC_SETTINGS
                        .iter()
                        .map(|s| {
                            let overridden = topic.settings.overrides.contains_key(s.name);
                            let broker_default = s.broker_name.map(|b| {
                                let value = BROKER_SETTINGS
                                    .iter()
                                    .find(|x| x.name == b)
                                    .map(|x| x.value(broker.config()))
                                    .unwrap_or_else(|| s.value(&broker.config().topic_defaults));
                                (b.to_string(), value, SOURCE_DEFAULT)
                            });
                            let mut synonyms = Vec::new();
                            if overridden {
                                synonyms.push((
                                    s.name.to_string(),
                                    s.value(&topic.settings.effective),
                                    SOURCE_TOPIC,
                                ));
                            }
                            synonyms.extend(broker_default);
                            Entry {
                                name: s.name,
                                value: s.value(&topic.settings.effective),
                                source: if overridden {
                                    SOURCE_TOPIC
                                } else {
                                    SOURCE_DEFAULT
                                },
                                config_type: s.config_type,
                                doc: s.doc,
                                synonyms,
                                // As Kafka answers for every topic config: they are the
                                // topic's own (set at CreateTopics), not the broker's fixed
                                // ones. idem does not serve AlterConfigs yet, which
                                // ApiVersions tells clients.
                                read_only: false,
                            }
                        })
                        .collect::<Vec<_>>()),
                    None => Err((
                        ec::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("Topic {} does not exist", &*res.resource_name),
                    )),
                },
                RESOURCE_BROKER => {
                    let name = &*res.resource_name;
                    if name.is_empty() || name == broker.config().node_id.to_string() {
                        Ok(BROKER_SETTINGS
                            .iter()
                            .map(|s| Entry {
                                name: s.name,
                                value: s.value(broker.config()),
                                source: SOURCE_STATIC_BROKER,
                                config_type: 2,
                                doc: s.doc,
                                synonyms: Vec::new(),
                                // Every idem broker setting is read at start-up only (no
                                // dynamic broker config, no AlterConfigs): read-only, as
                                // Kafka 4.1.1 answers for its static ones (advertised.listeners,
                                // node.id, ...). Kafka answers false for the ones it can
                                // change at run time (log.retention.ms, message.max.bytes, ...);
                                // idem cannot, so it does not promise it (allow.txt).
                                read_only: true,
                            })
                            .collect())
                    } else {
                        Err((
                            ec::INVALID_REQUEST,
                            format!(
                                "Unexpected broker id, expected {} but received {name}",
                                broker.config().node_id
                            ),
                        ))
                    }
                }
                RESOURCE_BROKER_LOGGER => Ok(Vec::new()),
                other => Err((
                    ec::INVALID_REQUEST,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match entries {
                Err((code, message)) => result
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(&message))),
                Ok(entries) => {
                    let wanted = |name: &str| {
                        res.configuration_keys
                            .as_ref()
                            .is_none_or(|keys| keys.iter().any(|k| &**k == name))
                    };
                    let configs = entries
                        .into_iter()
                        .filter(|e| wanted(e.name))
                        .map(|e| {
                            let mut c = DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(e.name))
                                .with_value(Some(str_bytes(&e.value)))
                                .with_read_only(e.read_only);
                            if v >= 1 {
                                c = c.with_config_source(e.source);
                                if req.include_synonyms {
                                    c = c.with_synonyms(
                                        e.synonyms
                                            .iter()
                                            .map(|(n, val, src)| {
                                                DescribeConfigsSynonym::default()
                                                    .with_name(str_bytes(n))
                                                    .with_value(Some(str_bytes(val)))
                                                    .with_source(*src)
                                            })
                                            .collect(),
                                    );
                                }
                            }
                            if v >= 3 {
                                c = c.with_config_type(e.config_type);
                                if req.include_documentation {
                                    c = c.with_documentation(Some(str_bytes(e.doc)));
                                }
                            }
                            c
                        })
                        .collect();
                    result.with_configs(configs)
                }
            }
        })
        .collect();
    Dispatch::Now(ctx.respond(&DescribeConfigsResponse::default().with_results(results)))
}
