//! DescribeCluster (60). FindCoordinator is answered with the group APIs (`groups.rs`).

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Ctx, Dispatch};
use crate::broker::Broker;

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
