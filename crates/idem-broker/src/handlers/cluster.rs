//! DescribeCluster (60) and FindCoordinator (10).
//!
//! FindCoordinator is advertised (librdkafka enables LZ4 only when it sees it) and answers
//! COORDINATOR_NOT_AVAILABLE until consumer groups exist.

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse,
};

use super::{str_bytes, Ctx, Dispatch};
use crate::broker::Broker;
use crate::error_codes as ec;

pub(super) fn describe_cluster(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: DescribeClusterRequest,
) -> Dispatch {
    let (host, port) = broker.advertised();
    let node = BrokerId(broker.config().node_id);
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(str_bytes(broker.cluster_id()))
        .with_controller_id(node)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(str_bytes(&host))
            .with_port(port)]);
    if ctx.version >= 1 {
        // This single node is both the broker and the controller.
        response = response.with_endpoint_type(req.endpoint_type);
    }
    Dispatch::Now(ctx.respond(&response))
}

const NOT_AVAILABLE: &str = "idem has no group or transaction coordinator yet";

pub(super) fn find_coordinator(
    _broker: &Arc<Broker>,
    ctx: Ctx,
    req: FindCoordinatorRequest,
) -> Dispatch {
    let mut response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(ec::COORDINATOR_NOT_AVAILABLE)
                    .with_error_message(Some(str_bytes(NOT_AVAILABLE)))
            })
            .collect();
        response = response.with_coordinators(coordinators);
    } else {
        response = response
            .with_error_code(ec::COORDINATOR_NOT_AVAILABLE)
            .with_node_id(BrokerId(-1))
            .with_port(-1);
        if ctx.version >= 1 {
            response = response.with_error_message(Some(str_bytes(NOT_AVAILABLE)));
        }
    }
    Dispatch::Now(ctx.respond(&response))
}
