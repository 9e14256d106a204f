//! InitProducerId (22) and DescribeProducers (61).
//!
//! InitProducerId with a null transactional id hands out a brand-new producer id with epoch 0
//! on every call, as Kafka does for idempotent producers: there is no server-side epoch bump
//! (clients bump locally, KIP-360). idem has no transaction coordinator, so a transactional
//! id is refused.

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeProducersResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId,
};

use super::{str_bytes, Ctx, Dispatch};
use crate::broker::Broker;
use crate::error_codes as ec;
use idem_wire::extensions as ext;

/// Retriable: the client tries again (Kafka answers it while a new id block is on its way).
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;

fn respond_failed(broker: &Broker, ctx: &Ctx, code: i16) -> super::Response {
    broker.metrics().error(ctx.api_key as i16, code);
    ctx.respond(&failed(code))
}

fn failed(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

pub(super) fn init_producer_id(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: InitProducerIdRequest,
) -> Dispatch {
    match req.transactional_id.as_ref().map(|t| t.0.to_string()) {
        Some(id) if id.is_empty() => {
            return Dispatch::Now(respond_failed(broker, &ctx, ec::INVALID_REQUEST));
        }
        Some(_) => {
            return Dispatch::Now(respond_failed(
                broker,
                &ctx,
                ec::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            ));
        }
        None => {}
    }
    // v3+: both or neither of producer id and epoch (KIP-360).
    if ctx.version >= 3 && ((req.producer_id.0 == -1) != (req.producer_epoch == -1)) {
        return Dispatch::Now(respond_failed(broker, &ctx, ec::INVALID_REQUEST));
    }
    let broker = Arc::clone(broker);
    // Allocation writes a file once per block of ids: off the async threads.
    Dispatch::Later(Box::pin(async move {
        let allocated = {
            let broker = Arc::clone(&broker);
            tokio::task::spawn_blocking(move || broker.pids.allocate()).await
        };
        let response = match allocated {
            Ok(Ok(id)) => {
                broker.metrics().producer_ids_allocated.inc();
                InitProducerIdResponse::default()
                    .with_producer_id(ProducerId(id))
                    .with_producer_epoch(0)
            }
            Ok(Err(e)) => {
                tracing::error!("producer id allocation failed: {e:#}");
                failed(COORDINATOR_LOAD_IN_PROGRESS)
            }
            Err(e) => {
                tracing::error!("producer id allocation failed: {e}");
                failed(COORDINATOR_LOAD_IN_PROGRESS)
            }
        };
        ctx.respond(&response)
    }))
}

pub(super) fn describe_producers(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: DescribeProducersRequest,
) -> Dispatch {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|index| {
                    let r = PartitionResponse::default().with_partition_index(*index);
                    match broker.partition(&t.name.0, *index) {
                        None => r
                            .with_error_code(ec::UNKNOWN_TOPIC_OR_PARTITION)
                            .with_error_message(Some(str_bytes(
                                "This server does not host this topic-partition.",
                            ))),
                        Some(p) => r.with_active_producers(
                            p.producers()
                                .iter()
                                .map(|e| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(e.producer_id))
                                        .with_producer_epoch(i32::from(e.epoch))
                                        .with_last_sequence(e.last_seq())
                                        .with_last_timestamp(e.last_timestamp)
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(-1)
                                        .with_unknown_tagged_fields(
                                            [
                                                (
                                                    ext::DESCRIBE_PRODUCERS_LAST_OFFSET,
                                                    ext::encode_i64(e.last_offset()),
                                                ),
                                                (
                                                    ext::DESCRIBE_PRODUCERS_LAST_APPEND_MS,
                                                    ext::encode_i64(e.last_append_ms),
                                                ),
                                            ]
                                            .into(),
                                        )
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    Dispatch::Now(ctx.respond(&DescribeProducersResponse::default().with_topics(topics)))
}
