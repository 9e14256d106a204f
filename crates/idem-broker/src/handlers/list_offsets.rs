//! ListOffsets (2), v1-10: earliest, latest, max timestamp, and offset by timestamp through
//! the time index.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Ctx, Dispatch};
use crate::broker::Broker;
use crate::error_codes as ec;

pub(super) fn handle(broker: &Arc<Broker>, ctx: Ctx, req: ListOffsetsRequest) -> Dispatch {
    let v = ctx.version;
    let cap = broker.config().max_decompressed_bytes;
    let topics: Vec<ListOffsetsTopicResponse> = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    match broker.partition(&t.name.0, p.partition_index) {
                        None => r = r.with_error_code(ec::UNKNOWN_TOPIC_OR_PARTITION),
                        Some(partition) => match partition.list_offset(p.timestamp, cap) {
                            Ok((timestamp, offset)) => {
                                r = r.with_timestamp(timestamp).with_offset(offset);
                                if v >= 4 {
                                    r = r.with_leader_epoch(if offset >= 0 { 0 } else { -1 });
                                }
                            }
                            Err(e) => r = r.with_error_code(e.code),
                        },
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
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
    Dispatch::Now(ctx.respond(&ListOffsetsResponse::default().with_topics(topics)))
}
