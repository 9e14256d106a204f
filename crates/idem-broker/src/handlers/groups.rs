//! The classic group APIs: JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13),
//! OffsetCommit (8), OffsetFetch (9), ListGroups (16), DescribeGroups (15), DeleteGroups (42)
//! and OffsetDelete (47); FindCoordinator (10) for group keys.
//!
//! Each handler turns the request into `idem-group`'s plain types, runs it on the
//! coordinator in the reader (so requests of one connection apply in order) and answers
//! later: after the records it wrote are durable, and for JoinGroup and SyncGroup after the
//! rest of the group has arrived. The first group request creates `__consumer_offsets`,
//! off the async threads, as a barrier.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use idem_group::{codes, JoinRequest, LeaveMember, OffsetCommitRequest, Reply, SyncRequest};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as FoundCoordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{str_bytes, Ctx, Dispatch, Response};
use crate::broker::Broker;
use crate::groups::Groups;

/// Who sent a request: JoinGroup records the client id and host of each member.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) peer: Option<SocketAddr>,
}

impl Client {
    fn host(&self) -> String {
        self.peer
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default()
    }
}

fn s(v: &StrBytes) -> String {
    v.to_string()
}

fn opt(v: &Option<StrBytes>) -> Option<String> {
    v.as_ref().map(|x| x.to_string())
}

fn ostr(v: &Option<String>) -> Option<StrBytes> {
    v.as_deref().map(str_bytes)
}

/// Runs `work` once the internal topic exists: now if it does, else after creating it off
/// the async threads (a barrier, so later requests of the connection see it).
fn with_log(
    broker: &Arc<Broker>,
    work: impl FnOnce(&Arc<Broker>) -> Dispatch + Send + 'static,
) -> Dispatch {
    if broker.groups().has_log() {
        return work(broker);
    }
    let broker = Arc::clone(broker);
    Dispatch::Barrier(Box::pin(async move {
        let b = Arc::clone(&broker);
        let created = tokio::task::spawn_blocking(move || b.ensure_offsets_topic()).await;
        match created {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(
                "cannot create {}: {}",
                crate::groups::OFFSETS_TOPIC,
                e.message
            ),
            Err(e) => tracing::error!("cannot create {}: {e}", crate::groups::OFFSETS_TOPIC),
        }
        match work(&broker) {
            Dispatch::Now(r) => r,
            Dispatch::Later(f) | Dispatch::Barrier(f) => f.await,
        }
    }))
}

// ---- FindCoordinator ----------------------------------------------------------------------

const KEY_GROUP: i8 = 0;
const TXN_NOT_AVAILABLE: &str = "idem has no transaction coordinator";

pub(super) fn find_coordinator(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: FindCoordinatorRequest,
) -> Dispatch {
    if req.key_type != KEY_GROUP {
        return Dispatch::Now(ctx.respond(&not_available(&ctx, &req)));
    }
    with_log(broker, move |broker| {
        let (host, port) = broker.advertised();
        let node = BrokerId(broker.config().node_id);
        let ready = broker.groups().has_log();
        let code = if ready {
            codes::NONE
        } else {
            codes::COORDINATOR_NOT_AVAILABLE
        };
        let mut response = FindCoordinatorResponse::default();
        if ctx.version >= 4 {
            response.coordinators = req
                .coordinator_keys
                .iter()
                .map(|key| {
                    let c = FoundCoordinator::default().with_key(key.clone());
                    if ready {
                        c.with_node_id(node)
                            .with_host(str_bytes(&host))
                            .with_port(port)
                    } else {
                        c.with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(code)
                    }
                })
                .collect();
        } else if ready {
            response = response
                .with_node_id(node)
                .with_host(str_bytes(&host))
                .with_port(port);
        } else {
            response = response
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        Dispatch::Now(ctx.respond(&response))
    })
}

fn not_available(ctx: &Ctx, req: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    let code = codes::COORDINATOR_NOT_AVAILABLE;
    let mut response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        response.coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                FoundCoordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(TXN_NOT_AVAILABLE)))
            })
            .collect();
    } else {
        response = response
            .with_error_code(code)
            .with_node_id(BrokerId(-1))
            .with_port(-1);
        if ctx.version >= 1 {
            response = response.with_error_message(Some(str_bytes(TXN_NOT_AVAILABLE)));
        }
    }
    response
}

// ---- JoinGroup / SyncGroup ----------------------------------------------------------------

fn join_error(ctx: &Ctx, code: i16, member_id: &str) -> Response {
    ctx.respond(
        &JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(str_bytes(member_id)),
    )
}

fn encode_join(ctx: &Ctx, j: idem_group::JoinResponse) -> Response {
    let v = ctx.version;
    let mut r = JoinGroupResponse::default()
        .with_error_code(j.error_code)
        .with_generation_id(j.generation_id)
        .with_protocol_name(ostr(&j.protocol_name))
        .with_leader(str_bytes(&j.leader))
        .with_member_id(str_bytes(&j.member_id))
        .with_members(
            j.members
                .into_iter()
                .map(|m| {
                    let mut jm = JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_metadata(m.metadata);
                    if v >= 5 {
                        jm = jm.with_group_instance_id(ostr(&m.group_instance_id));
                    }
                    jm
                })
                .collect(),
        );
    if v >= 7 {
        r = r.with_protocol_type(ostr(&j.protocol_type));
    }
    if v >= 9 {
        r = r.with_skip_assignment(j.skip_assignment);
    }
    if v < 6 && r.protocol_name.is_none() {
        // Non-flexible versions have a non-nullable protocol name.
        r.protocol_name = Some(StrBytes::default());
    }
    ctx.respond(&r)
}

pub(super) fn join_group(
    broker: &Arc<Broker>,
    ctx: Ctx,
    client: Client,
    req: JoinGroupRequest,
) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let rebalance_timeout = if ctx.version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let jr = JoinRequest {
            group_id: s(&req.group_id.0),
            member_id: s(&req.member_id),
            group_instance_id: if ctx.version >= 5 {
                opt(&req.group_instance_id)
            } else {
                None
            },
            client_id: client.id.clone(),
            client_host: client.host(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: rebalance_timeout,
            protocol_type: s(&req.protocol_type),
            protocols: req
                .protocols
                .iter()
                .map(|p| (s(&p.name), p.metadata.clone()))
                .collect(),
            require_known_member_id: ctx.version >= 4,
            supports_skip_assignment: ctx.version >= 9,
        };
        let member_id = jr.member_id.clone();
        let (ticket, rx) = groups.park();
        let ((), delivery) = groups.run(|c, now| ((), c.join(now, jr, ticket)));
        let delivered = groups.deliver(delivery);
        // Java's client waits rebalance timeout + 5 s for a JoinGroup answer.
        let wait = Duration::from_millis(u64::try_from(rebalance_timeout.max(0)).unwrap_or(0))
            + Duration::from_secs(5);
        Dispatch::Later(Box::pin(async move {
            let _ = delivered.await;
            match tokio::time::timeout(wait, rx).await {
                Ok(Ok(Reply::Join(j))) => encode_join(&ctx, j),
                Ok(Ok(Reply::Sync(_))) | Ok(Err(_)) => {
                    join_error(&ctx, codes::UNKNOWN_SERVER_ERROR, &member_id)
                }
                Err(_) => {
                    groups.unpark(ticket);
                    join_error(&ctx, codes::REBALANCE_IN_PROGRESS, &member_id)
                }
            }
        }))
    })
}

fn encode_sync(ctx: &Ctx, r: idem_group::SyncResponse) -> Response {
    let mut out = SyncGroupResponse::default()
        .with_error_code(r.error_code)
        .with_assignment(r.assignment);
    if ctx.version >= 5 {
        out = out
            .with_protocol_type(ostr(&r.protocol_type))
            .with_protocol_name(ostr(&r.protocol_name));
    }
    ctx.respond(&out)
}

pub(super) fn sync_group(broker: &Arc<Broker>, ctx: Ctx, req: SyncGroupRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let sr = SyncRequest {
            group_id: s(&req.group_id.0),
            generation_id: req.generation_id,
            member_id: s(&req.member_id),
            group_instance_id: if ctx.version >= 3 {
                opt(&req.group_instance_id)
            } else {
                None
            },
            protocol_type: if ctx.version >= 5 {
                opt(&req.protocol_type)
            } else {
                None
            },
            protocol_name: if ctx.version >= 5 {
                opt(&req.protocol_name)
            } else {
                None
            },
            assignments: req
                .assignments
                .iter()
                .map(|a| (s(&a.member_id), a.assignment.clone()))
                .collect(),
        };
        let (ticket, rx) = groups.park();
        let ((), delivery) = groups.run(|c, now| ((), c.sync(now, sr, ticket)));
        let delivered = groups.deliver(delivery);
        let wait = Duration::from_millis(
            u64::try_from(broker.config().group_max_session_timeout_ms).unwrap_or(0),
        ) + Duration::from_secs(5);
        Dispatch::Later(Box::pin(async move {
            let ok = delivered.await.unwrap_or(false);
            let error = |code| ctx.respond(&SyncGroupResponse::default().with_error_code(code));
            match tokio::time::timeout(wait, rx).await {
                Ok(Ok(Reply::Sync(_))) if !ok => error(codes::COORDINATOR_NOT_AVAILABLE),
                Ok(Ok(Reply::Sync(r))) => encode_sync(&ctx, r),
                Ok(Ok(Reply::Join(_))) | Ok(Err(_)) => error(codes::UNKNOWN_SERVER_ERROR),
                Err(_) => {
                    groups.unpark(ticket);
                    error(codes::REBALANCE_IN_PROGRESS)
                }
            }
        }))
    })
}

// ---- Heartbeat / LeaveGroup ---------------------------------------------------------------

pub(super) fn heartbeat(broker: &Arc<Broker>, ctx: Ctx, req: HeartbeatRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let instance = if ctx.version >= 3 {
            opt(&req.group_instance_id)
        } else {
            None
        };
        let (code, delivery) = groups.run(|c, now| {
            let code = c.heartbeat(
                now,
                &req.group_id.0,
                &req.member_id,
                instance.as_deref(),
                req.generation_id,
            );
            (code, idem_group::Outcome::default())
        });
        let delivered = groups.deliver(delivery);
        Dispatch::Later(Box::pin(async move {
            let _ = delivered.await;
            ctx.respond(&HeartbeatResponse::default().with_error_code(code))
        }))
    })
}

pub(super) fn leave_group(broker: &Arc<Broker>, ctx: Ctx, req: LeaveGroupRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let members: Vec<LeaveMember> = if ctx.version >= 3 {
            req.members
                .iter()
                .map(|m| LeaveMember {
                    member_id: s(&m.member_id),
                    group_instance_id: opt(&m.group_instance_id),
                })
                .collect()
        } else {
            vec![LeaveMember {
                member_id: s(&req.member_id),
                group_instance_id: None,
            }]
        };
        let group_id = s(&req.group_id.0);
        let (result, delivery) = groups.run(|c, now| c.leave(now, &group_id, &members));
        let delivered = groups.deliver(delivery);
        Dispatch::Later(Box::pin(async move {
            let _ = delivered.await;
            let mut r = LeaveGroupResponse::default();
            match result {
                Err(code) => r.error_code = code,
                Ok(codes_) if ctx.version >= 3 => {
                    r.members = members
                        .iter()
                        .zip(codes_)
                        .map(|(m, code)| {
                            MemberResponse::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_group_instance_id(ostr(&m.group_instance_id))
                                .with_error_code(code)
                        })
                        .collect();
                }
                Ok(codes_) => {
                    r.error_code = codes_.into_iter().find(|c| *c != 0).unwrap_or(0);
                }
            }
            ctx.respond(&r)
        }))
    })
}

// ---- OffsetCommit / OffsetFetch -----------------------------------------------------------

pub(super) fn offset_commit(broker: &Arc<Broker>, ctx: Ctx, req: OffsetCommitRequest_) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        // Unknown topics and partitions are answered here; the rest go to the coordinator.
        let mut slots: Vec<(String, i32, Option<i16>)> = Vec::new();
        let mut offsets = Vec::new();
        for t in &req.topics {
            let name = s(&t.name.0);
            let topic = broker.topic(&name);
            for p in &t.partitions {
                let known = topic.as_ref().is_some_and(|tp| {
                    p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
                });
                if known {
                    offsets.push((
                        name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        if ctx.version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        opt(&p.committed_metadata),
                    ));
                    slots.push((name.clone(), p.partition_index, None));
                } else {
                    slots.push((
                        name.clone(),
                        p.partition_index,
                        Some(codes::UNKNOWN_TOPIC_OR_PARTITION),
                    ));
                }
            }
        }
        let cr = OffsetCommitRequest {
            group_id: s(&req.group_id.0),
            generation_id: req.generation_id_or_member_epoch,
            member_id: s(&req.member_id),
            group_instance_id: if ctx.version >= 7 {
                opt(&req.group_instance_id)
            } else {
                None
            },
            retention_time_ms: if (2..=4).contains(&ctx.version) {
                req.retention_time_ms
            } else {
                -1
            },
            offsets,
        };
        let (codes_, delivery) = groups.run(|c, now| c.commit_offsets(now, cr));
        let delivered = groups.deliver(delivery);
        Dispatch::Later(Box::pin(async move {
            let ok = delivered.await.unwrap_or(false);
            let mut from_coordinator = codes_.into_iter();
            let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
            for (topic, partition, fixed) in slots {
                let mut code = match fixed {
                    Some(c) => c,
                    None => from_coordinator
                        .next()
                        .unwrap_or(codes::UNKNOWN_SERVER_ERROR),
                };
                if code == codes::NONE && !ok {
                    code = codes::COORDINATOR_NOT_AVAILABLE;
                }
                let entry = OffsetCommitResponsePartition::default()
                    .with_partition_index(partition)
                    .with_error_code(code);
                match topics.last_mut() {
                    Some(t) if t.name.0.as_str() == topic => t.partitions.push(entry),
                    _ => topics.push(
                        OffsetCommitResponseTopic::default()
                            .with_name(TopicName(str_bytes(&topic)))
                            .with_partitions(vec![entry]),
                    ),
                }
            }
            ctx.respond(&OffsetCommitResponse::default().with_topics(topics))
        }))
    })
}

/// `kafka_protocol`'s request type, renamed so `idem_group`'s plain one keeps its name here.
type OffsetCommitRequest_ = kafka_protocol::messages::OffsetCommitRequest;

/// Requested (topic, partitions), or all of the group's when `None`.
type TopicPartitions = Vec<(String, Vec<i32>)>;

type Fetched = Result<Vec<(String, i32, Option<idem_group::records::Committed>)>, i16>;

fn fetch_one(groups: &Groups, group_id: &str, topics: Option<TopicPartitions>) -> Fetched {
    groups.read(|c| c.fetch_offsets(group_id, topics.as_deref()))
}

pub(super) fn offset_fetch(broker: &Arc<Broker>, ctx: Ctx, req: OffsetFetchRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let v = ctx.version;
        // (group id, requested topics or all)
        let wanted: Vec<(String, Option<TopicPartitions>)> = if v >= 8 {
            req.groups
                .iter()
                .map(|g| {
                    (
                        s(&g.group_id.0),
                        g.topics.as_ref().map(|ts| {
                            ts.iter()
                                .map(|t| (s(&t.name.0), t.partition_indexes.clone()))
                                .collect()
                        }),
                    )
                })
                .collect()
        } else {
            vec![(
                s(&req.group_id.0),
                req.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (s(&t.name.0), t.partition_indexes.clone()))
                        .collect()
                }),
            )]
        };
        let results: Vec<(String, Fetched)> = wanted
            .into_iter()
            .map(|(g, topics)| {
                let r = if g.is_empty() {
                    Err(codes::INVALID_GROUP_ID)
                } else {
                    fetch_one(&groups, &g, topics)
                };
                (g, r)
            })
            .collect();
        // Answer only what is durable: wait for the coordinator log to be synced up to now.
        let durable = groups.durable_point();
        Dispatch::Later(Box::pin(async move {
            if let Some((log, end)) = durable {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                let _ = log.wait_for(end, deadline).await;
            }
            ctx.respond(&encode_fetch(v, results))
        }))
    })
}

fn encode_fetch(v: i16, results: Vec<(String, Fetched)>) -> OffsetFetchResponse {
    let mut response = OffsetFetchResponse::default();
    if v >= 8 {
        response.groups = results
            .into_iter()
            .map(|(group, r)| {
                let mut g =
                    OffsetFetchResponseGroup::default().with_group_id(GroupId(str_bytes(&group)));
                match r {
                    Err(code) => g.error_code = code,
                    Ok(list) => {
                        let mut topics: Vec<OffsetFetchResponseTopics> = Vec::new();
                        for (topic, partition, c) in list {
                            let p = OffsetFetchResponsePartitions::default()
                                .with_partition_index(partition)
                                .with_committed_offset(c.as_ref().map_or(-1, |c| c.offset))
                                .with_committed_leader_epoch(
                                    c.as_ref().map_or(-1, |c| c.leader_epoch),
                                )
                                .with_metadata(Some(str_bytes(
                                    c.as_ref().map_or("", |c| c.metadata.as_str()),
                                )));
                            match topics.last_mut() {
                                Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
                                _ => topics.push(
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(str_bytes(&topic)))
                                        .with_partitions(vec![p]),
                                ),
                            }
                        }
                        g.topics = topics;
                    }
                }
                g
            })
            .collect();
        return response;
    }
    let Some((_, r)) = results.into_iter().next() else {
        return response;
    };
    match r {
        Err(code) => {
            if v >= 2 {
                response.error_code = code;
            }
        }
        Ok(list) => {
            let mut topics: Vec<OffsetFetchResponseTopic> = Vec::new();
            for (topic, partition, c) in list {
                let mut p = OffsetFetchResponsePartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(c.as_ref().map_or(-1, |c| c.offset))
                    .with_metadata(Some(str_bytes(
                        c.as_ref().map_or("", |c| c.metadata.as_str()),
                    )));
                if v >= 5 {
                    p = p.with_committed_leader_epoch(c.as_ref().map_or(-1, |c| c.leader_epoch));
                }
                match topics.last_mut() {
                    Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
                    _ => topics.push(
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(str_bytes(&topic)))
                            .with_partitions(vec![p]),
                    ),
                }
            }
            response.topics = topics;
        }
    }
    response
}

// ---- ListGroups / DescribeGroups / DeleteGroups / OffsetDelete -----------------------------

pub(super) fn list_groups(broker: &Arc<Broker>, ctx: Ctx, req: ListGroupsRequest) -> Dispatch {
    let v = ctx.version;
    let states: Vec<String> = if v >= 4 {
        req.states_filter.iter().map(|x| x.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if v >= 5 {
        req.types_filter.iter().map(|x| x.to_lowercase()).collect()
    } else {
        Vec::new()
    };
    let listed = broker.groups().read(|c| c.list());
    let groups = listed
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.as_str().to_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == "classic"))
        .map(|g| {
            let mut l = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_protocol_type(str_bytes(&g.protocol_type));
            if v >= 4 {
                l = l.with_group_state(str_bytes(g.state.as_str()));
            }
            if v >= 5 {
                l = l.with_group_type(str_bytes("classic"));
            }
            l
        })
        .collect();
    Dispatch::Now(ctx.respond(&ListGroupsResponse::default().with_groups(groups)))
}

pub(super) fn describe_groups(
    broker: &Arc<Broker>,
    ctx: Ctx,
    req: DescribeGroupsRequest,
) -> Dispatch {
    let v = ctx.version;
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let mut d = DescribedGroup::default().with_group_id(id.clone());
            if v >= 3 {
                d = d.with_authorized_operations(i32::MIN);
            }
            if id.0.is_empty() {
                return d.with_error_code(codes::INVALID_GROUP_ID);
            }
            match broker.groups().read(|c| c.describe(&id.0)) {
                None => {
                    d = d.with_group_state(str_bytes("Dead"));
                    if v >= 6 {
                        d = d
                            .with_error_code(codes::GROUP_ID_NOT_FOUND)
                            .with_error_message(Some(str_bytes(&format!(
                                "Group {} not found.",
                                id.0.as_str()
                            ))));
                    }
                    d
                }
                Some(g) => d
                    .with_group_state(str_bytes(g.state.as_str()))
                    .with_protocol_type(str_bytes(&g.protocol_type))
                    .with_protocol_data(str_bytes(&g.protocol))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                let mut dm = DescribedGroupMember::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if v >= 4 {
                                    dm = dm.with_group_instance_id(ostr(&m.group_instance_id));
                                }
                                dm
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    Dispatch::Now(ctx.respond(&DescribeGroupsResponse::default().with_groups(groups)))
}

pub(super) fn delete_groups(broker: &Arc<Broker>, ctx: Ctx, req: DeleteGroupsRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let names: Vec<GroupId> = req.groups_names.clone();
        let (results, delivery) = groups.run(|c, _now| {
            let mut out = idem_group::Outcome::default();
            let results: Vec<i16> = names
                .iter()
                .map(|g| c.delete_group(&g.0, &mut out))
                .collect();
            (results, out)
        });
        let delivered = groups.deliver(delivery);
        Dispatch::Later(Box::pin(async move {
            let ok = delivered.await.unwrap_or(false);
            let results = names
                .into_iter()
                .zip(results)
                .map(|(g, code)| {
                    let code = if code == codes::NONE && !ok {
                        codes::COORDINATOR_NOT_AVAILABLE
                    } else {
                        code
                    };
                    DeletableGroupResult::default()
                        .with_group_id(g)
                        .with_error_code(code)
                })
                .collect();
            ctx.respond(&DeleteGroupsResponse::default().with_results(results))
        }))
    })
}

pub(super) fn offset_delete(broker: &Arc<Broker>, ctx: Ctx, req: OffsetDeleteRequest) -> Dispatch {
    with_log(broker, move |broker| {
        let groups = Arc::clone(broker.groups());
        let group_id = s(&req.group_id.0);
        let mut parts: Vec<(String, i32)> = Vec::new();
        let mut unknown: Vec<bool> = Vec::new();
        for t in &req.topics {
            let name = s(&t.name.0);
            let topic = broker.topic(&name);
            for p in &t.partitions {
                let known = topic.as_ref().is_some_and(|tp| {
                    p.partition_index >= 0 && (p.partition_index as usize) < tp.partitions.len()
                });
                unknown.push(!known);
                parts.push((name.clone(), p.partition_index));
            }
        }
        let (result, delivery) = if group_id.is_empty() {
            (
                Err(codes::INVALID_GROUP_ID),
                crate::groups::Delivery::none(),
            )
        } else {
            groups.run(|c, _now| c.delete_offsets(&group_id, &parts))
        };
        let delivered = groups.deliver(delivery);
        Dispatch::Later(Box::pin(async move {
            let ok = delivered.await.unwrap_or(false);
            let mut r = OffsetDeleteResponse::default();
            match result {
                Err(code) => r.error_code = code,
                Ok(codes_) => {
                    let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
                    for (((topic, partition), code), unknown) in
                        parts.into_iter().zip(codes_).zip(unknown)
                    {
                        let code = if unknown {
                            codes::UNKNOWN_TOPIC_OR_PARTITION
                        } else if code == codes::NONE && !ok {
                            codes::COORDINATOR_NOT_AVAILABLE
                        } else {
                            code
                        };
                        let p = OffsetDeleteResponsePartition::default()
                            .with_partition_index(partition)
                            .with_error_code(code);
                        match topics.last_mut() {
                            Some(t) if t.name.0.as_str() == topic => t.partitions.push(p),
                            _ => topics.push(
                                OffsetDeleteResponseTopic::default()
                                    .with_name(TopicName(str_bytes(&topic)))
                                    .with_partitions(vec![p]),
                            ),
                        }
                    }
                    r.topics = topics;
                }
            }
            ctx.respond(&r)
        }))
    })
}
