//! Request dispatch: one module per API.
//!
//! [`dispatch`] runs in the connection's reader, in request order. Each handler does the
//! part whose order matters right away (a produce is appended before the next request is
//! read) and returns how the response completes:
//! - [`Dispatch::Now`]: the response is ready;
//! - [`Dispatch::Later`]: a future the writer awaits in order (acks=all waits for the high
//!   watermark, fetch long-polls) while the reader goes on;
//! - [`Dispatch::Barrier`]: a future the reader awaits before reading the next request,
//!   for requests with effects later requests may depend on (topic creation and deletion).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use idem_wire::request::{self, decode_body, decode_header};
use idem_wire::versions;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::memory::ResponseMemory;

mod api_versions;
mod cluster;
mod configs;
mod fetch;
mod groups;
mod list_offsets;
mod metadata;
mod produce;
mod produce_legacy;
mod producers;
mod topics;

/// What the writer sends back for one request.
#[derive(Debug)]
pub(crate) enum Response {
    /// A whole response frame.
    Frame(Bytes),
    /// A whole response frame whose bytes are counted in the response memory budget until
    /// it has been written (Fetch).
    Budgeted(
        Bytes,
        // Never read: held for its drop, which gives the bytes back.
        #[allow(dead_code)] crate::memory::Grant,
    ),
    /// No response (acks=0 produce).
    Nothing,
    /// Close the connection, for the logged reason.
    Close(String),
}

/// A response still being computed.
pub(crate) type Reply = Pin<Box<dyn Future<Output = Response> + Send>>;

/// How a request completes; see the module documentation.
pub(crate) enum Dispatch {
    /// Ready now.
    Now(Response),
    /// Awaited by the writer, in order.
    Later(Reply),
    /// Awaited by the reader before the next request.
    Barrier(Reply),
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dispatch::Now(r) => write!(f, "Now({r:?})"),
            Dispatch::Later(_) => write!(f, "Later(..)"),
            Dispatch::Barrier(_) => write!(f, "Barrier(..)"),
        }
    }
}

/// The request being answered.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub(crate) api_key: ApiKey,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
}

impl Ctx {
    /// Encodes a response body for this request.
    pub(crate) fn respond<T: Encodable>(&self, body: &T) -> Response {
        match request::encode_response(self.correlation_id, self.api_key, self.version, body) {
            Ok(frame) => Response::Frame(frame),
            Err(e) => {
                // A handler set a field this version lacks: a bug, reported loudly.
                tracing::error!(api = ?self.api_key, version = self.version, "cannot encode response: {e}");
                Response::Close(format!(
                    "internal error encoding {:?} v{}",
                    self.api_key, self.version
                ))
            }
        }
    }
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Decodes one request frame and runs its handler.
pub(crate) fn dispatch(
    broker: &Arc<Broker>,
    memory: &Arc<ResponseMemory>,
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Dispatch {
    let Some(peek) = request::peek(&frame) else {
        broker.metrics().requests.inc();
        return close("frame shorter than a request header");
    };
    broker.metrics().request(peek.api_key);
    let Ok(api_key) = ApiKey::try_from(peek.api_key) else {
        return close(format!("unknown api key {}", peek.api_key));
    };
    let version = peek.api_version;
    let ctx = Ctx {
        api_key,
        version,
        correlation_id: peek.correlation_id,
    };
    // The header is read first, whatever the version: a request whose header does not
    // parse is closed, as Kafka closes it.
    let mut body = frame.clone();
    let client = match decode_header(&mut body, api_key, version) {
        Ok(h) => groups::Client {
            id: h.client_id.unwrap_or_default(),
            peer,
        },
        Err(e) => return close(e.to_string()),
    };
    if !versions::is_served(api_key, version) {
        // Kafka answers an ApiVersions version it does not know in the v0 shape, so the
        // client can retry with the version it finds there. Produce v0-2 are advertised (old
        // librdkafka needs it): Kafka 4 closes the connection on them, idem answers
        // UNSUPPORTED_VERSION for each partition, which tells the client why. Anything else:
        // close, as Kafka does.
        return match api_key {
            ApiKey::ApiVersions => Dispatch::Now(api_versions::unsupported(&ctx)),
            ApiKey::Produce if (0..=2).contains(&version) => {
                Dispatch::Now(produce_legacy::unsupported(&ctx, &frame))
            }
            _ => close(format!("{api_key:?} v{version} is not supported")),
        };
    }
    macro_rules! route {
        ($handler:path, $ty:ty) => {
            match decode_body::<$ty>(&mut body, api_key, version) {
                Ok(req) => $handler(broker, ctx, req),
                Err(e) => close(format!("{api_key:?} v{version}: {e}")),
            }
        };
    }
    match api_key {
        ApiKey::ApiVersions => route!(api_versions::handle, ApiVersionsRequest),
        ApiKey::Metadata => route!(metadata::handle, MetadataRequest),
        ApiKey::Produce => route!(produce::handle, ProduceRequest),
        ApiKey::Fetch => match decode_body::<FetchRequest>(&mut body, api_key, version) {
            Ok(req) => fetch::handle(broker, memory, ctx, req),
            Err(e) => close(format!("{api_key:?} v{version}: {e}")),
        },
        ApiKey::ListOffsets => route!(list_offsets::handle, ListOffsetsRequest),
        ApiKey::CreateTopics => route!(topics::create_topics, CreateTopicsRequest),
        ApiKey::DeleteTopics => route!(topics::delete_topics, DeleteTopicsRequest),
        ApiKey::CreatePartitions => route!(topics::create_partitions, CreatePartitionsRequest),
        ApiKey::DeleteRecords => route!(topics::delete_records, DeleteRecordsRequest),
        ApiKey::DescribeConfigs => route!(configs::describe_configs, DescribeConfigsRequest),
        ApiKey::DescribeCluster => route!(cluster::describe_cluster, DescribeClusterRequest),
        ApiKey::FindCoordinator => route!(groups::find_coordinator, FindCoordinatorRequest),
        ApiKey::JoinGroup => match decode_body::<JoinGroupRequest>(&mut body, api_key, version) {
            Ok(req) => groups::join_group(broker, ctx, client, req),
            Err(e) => close(format!("{api_key:?} v{version}: {e}")),
        },
        ApiKey::SyncGroup => route!(groups::sync_group, SyncGroupRequest),
        ApiKey::Heartbeat => route!(groups::heartbeat, HeartbeatRequest),
        ApiKey::LeaveGroup => route!(groups::leave_group, LeaveGroupRequest),
        ApiKey::OffsetCommit => route!(groups::offset_commit, OffsetCommitRequest),
        ApiKey::OffsetFetch => route!(groups::offset_fetch, OffsetFetchRequest),
        ApiKey::ListGroups => route!(groups::list_groups, ListGroupsRequest),
        ApiKey::DescribeGroups => route!(groups::describe_groups, DescribeGroupsRequest),
        ApiKey::DeleteGroups => route!(groups::delete_groups, DeleteGroupsRequest),
        ApiKey::OffsetDelete => route!(groups::offset_delete, OffsetDeleteRequest),
        ApiKey::InitProducerId => route!(producers::init_producer_id, InitProducerIdRequest),
        ApiKey::DescribeProducers => {
            route!(producers::describe_producers, DescribeProducersRequest)
        }
        other => close(format!("{other:?} is not handled")),
    }
}

fn close(reason: impl Into<String>) -> Dispatch {
    Dispatch::Now(Response::Close(reason.into()))
}

/// Runs blocking work (file-system changes) off the async threads, as a barrier.
pub(crate) fn blocking_barrier(work: impl FnOnce() -> Response + Send + 'static) -> Dispatch {
    Dispatch::Barrier(Box::pin(async move {
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r,
            Err(e) => Response::Close(format!("handler failed: {e}")),
        }
    }))
}
