//! The classic consumer-group APIs: JoinGroup (the v4+ MEMBER_ID_REQUIRED round trip and
//! v3's direct join), SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch with
//! their generation and member checks, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete
//! and FindCoordinator for groups.
//!
//! Kafka creates `__consumer_offsets` on the first FindCoordinator and then loads its
//! partitions: until that is done its group APIs answer COORDINATOR_NOT_AVAILABLE,
//! NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS, and clients retry. Each scenario first
//! waits (setup, not recorded) until the coordinator of its groups answers.
//!
//! Member ids are random on both brokers: steps record what is comparable about them (set or
//! empty, prefixed by the client id, equal to the leader). Group ids come from the scenario's
//! prefix, so runs and scenarios never share a group.

use bytes::Bytes;
use kafka_protocol::messages::*;
use serde_json::json;

use super::{table, Scenario};
use crate::ctx::{s, Ctx};

pub(super) fn all() -> Vec<Scenario> {
    table! { "groups";
        "g-find-coordinator" => find_coordinator, "FindCoordinator v3 and v4 (batched keys) for a group";
        "g-join-sync-heartbeat-leave" => join_sync_leave, "JoinGroup v9 (MEMBER_ID_REQUIRED, then joined), SyncGroup v5, Heartbeat v4 with good and bad generations and members, LeaveGroup v5, DescribeGroups v5";
        "g-join-v3" => join_v3, "JoinGroup v3: a new member joins directly, no MEMBER_ID_REQUIRED";
        "g-join-errors" => join_errors, "JoinGroup errors: empty group id, session timeout out of range, member id for an unknown group, another protocol type";
        "g-offsets-simple" => offsets_simple, "OffsetCommit v8 with generation -1 (standalone consumer), OffsetFetch v7 and v8, unknown group, unknown topic, a generation for an unknown group";
        "g-offsets-live-group" => offsets_live_group, "OffsetCommit into a live group: from outside, wrong generation, unknown member, the member itself";
        "g-admin" => admin, "ListGroups v5, DescribeGroups v5/v6 of an unknown group, DeleteGroups of unknown, live and empty groups, OffsetDelete";
    }
}

/// Setup: waits until the broker coordinates `group` (FindCoordinator answers, and a
/// Heartbeat is judged instead of bounced as coordinator trouble).
async fn ready(c: &mut Ctx, group: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r: FindCoordinatorResponse = c
            .conn()
            .call(
                ApiKey::FindCoordinator,
                3,
                &FindCoordinatorRequest::default().with_key(s(group)),
            )
            .await?;
        if r.error_code == 0 {
            let code = heartbeat(c, group, "nobody", 1).await?;
            if !(14..=16).contains(&code) {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the broker never became the coordinator of {group}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn join_req(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::from_static(
            b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff",
        ))])
}

fn record_join(c: &mut Ctx, label: &str, r: &JoinGroupResponse) {
    c.step(
        label,
        vec![
            ("error_code", json!(r.error_code)),
            ("generation_id", json!(r.generation_id)),
            ("member_id_set", json!(!r.member_id.is_empty())),
            (
                "member_id_prefixed_by_client_id",
                json!(r.member_id.starts_with("idem-conformance-")),
            ),
            (
                "leader_is_self",
                json!(!r.leader.is_empty() && r.leader == r.member_id),
            ),
            ("protocol_type", json!(r.protocol_type.as_deref())),
            ("protocol_name", json!(r.protocol_name.as_deref())),
            ("members", json!(r.members.len())),
        ],
    );
}

/// A member joined and synced (assignment "A"); returns (member id, generation).
async fn member(c: &mut Ctx, group: &str) -> anyhow::Result<(String, i32)> {
    let first: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req(group, ""))
        .await?;
    let joined: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req(group, &first.member_id))
        .await?;
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(Bytes::from_static(b"A")),
        ]);
    let _: SyncGroupResponse = c.conn().call(ApiKey::SyncGroup, 5, &sync).await?;
    Ok((joined.member_id.to_string(), joined.generation_id))
}

async fn heartbeat(c: &mut Ctx, group: &str, member: &str, generation: i32) -> anyhow::Result<i16> {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member));
    let r: HeartbeatResponse = c.conn().call(ApiKey::Heartbeat, 4, &req).await?;
    Ok(r.error_code)
}

async fn commit(
    c: &mut Ctx,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
) -> anyhow::Result<i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s("md"))),
                ]),
        ]);
    let r: OffsetCommitResponse = c.conn().call(ApiKey::OffsetCommit, 8, &req).await?;
    Ok(r.topics
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(-100, |p| p.error_code))
}

async fn fetch_v8(c: &mut Ctx, label: &str, group: &str, topic: &str) -> anyhow::Result<()> {
    let req = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(topic)))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let r: OffsetFetchResponse = c.conn().call(ApiKey::OffsetFetch, 8, &req).await?;
    let g = r.groups.first();
    let p = g
        .and_then(|g| g.topics.first())
        .and_then(|t| t.partitions.first());
    c.step(
        label,
        vec![
            ("group_error_code", json!(g.map(|g| g.error_code))),
            ("error_code", json!(p.map(|p| p.error_code))),
            ("committed_offset", json!(p.map(|p| p.committed_offset))),
            ("leader_epoch", json!(p.map(|p| p.committed_leader_epoch))),
            (
                "metadata",
                json!(p.and_then(|p| p.metadata.as_deref().map(str::to_string))),
            ),
        ],
    );
    Ok(())
}

async fn find_coordinator(c: &mut Ctx) -> anyhow::Result<()> {
    let group = c.name("g");
    let name_h = c.name("h");
    ready(c, &group).await?;
    ready(c, &name_h).await?;
    let addr = c.addr().to_string();
    let r: FindCoordinatorResponse = c
        .conn()
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default().with_key(s(&group)),
        )
        .await?;
    c.step(
        "find-coordinator-v3",
        vec![
            ("error_code", json!(r.error_code)),
            (
                "coordinator_is_the_address_dialled",
                json!(format!("{}:{}", r.host.as_str(), r.port) == addr),
            ),
        ],
    );
    let r: FindCoordinatorResponse = c
        .conn()
        .call(
            ApiKey::FindCoordinator,
            4,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s(&group), s(&name_h)]),
        )
        .await?;
    c.step(
        "find-coordinator-v4",
        vec![
            ("keys", json!(r.coordinators.len())),
            (
                "error_codes",
                json!(r
                    .coordinators
                    .iter()
                    .map(|k| k.error_code)
                    .collect::<Vec<_>>()),
            ),
            (
                "all_the_address_dialled",
                json!(r
                    .coordinators
                    .iter()
                    .all(|k| format!("{}:{}", k.host.as_str(), k.port) == addr)),
            ),
        ],
    );
    Ok(())
}

async fn join_sync_leave(c: &mut Ctx) -> anyhow::Result<()> {
    let group = c.name("g");
    ready(c, &group).await?;
    let name_nogroup = c.name("nogroup");
    ready(c, &name_nogroup).await?;
    let first: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req(&group, ""))
        .await?;
    record_join(c, "join-new-member", &first);
    let joined: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req(&group, &first.member_id))
        .await?;
    record_join(c, "join-with-member-id", &joined);
    c.step(
        "same-member-id",
        vec![("equal", json!(first.member_id == joined.member_id))],
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(Bytes::from_static(b"assignment")),
        ]);
    let r: SyncGroupResponse = c.conn().call(ApiKey::SyncGroup, 5, &sync).await?;
    c.step(
        "sync-leader",
        vec![
            ("error_code", json!(r.error_code)),
            ("protocol_type", json!(r.protocol_type.as_deref())),
            ("protocol_name", json!(r.protocol_name.as_deref())),
            ("assignment", json!(String::from_utf8_lossy(&r.assignment))),
        ],
    );
    let bad_gen = sync.clone().with_generation_id(joined.generation_id + 1);
    let r: SyncGroupResponse = c.conn().call(ApiKey::SyncGroup, 5, &bad_gen).await?;
    c.step(
        "sync-wrong-generation",
        vec![("error_code", json!(r.error_code))],
    );
    let bad_name = sync.clone().with_protocol_name(Some(s("roundrobin")));
    let r: SyncGroupResponse = c.conn().call(ApiKey::SyncGroup, 5, &bad_name).await?;
    c.step(
        "sync-other-protocol",
        vec![("error_code", json!(r.error_code))],
    );
    let member = joined.member_id.to_string();
    let generation = joined.generation_id;
    let code = heartbeat(c, &group, &member, generation).await?;
    c.step("heartbeat", vec![("error_code", json!(code))]);
    let code = heartbeat(c, &group, &member, generation + 1).await?;
    c.step(
        "heartbeat-wrong-generation",
        vec![("error_code", json!(code))],
    );
    let code = heartbeat(c, &group, "nobody", generation).await?;
    c.step(
        "heartbeat-unknown-member",
        vec![("error_code", json!(code))],
    );
    let code = heartbeat(c, &name_nogroup, "nobody", 1).await?;
    c.step("heartbeat-unknown-group", vec![("error_code", json!(code))]);
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(s(&member)),
            leave_group_request::MemberIdentity::default().with_member_id(s("nobody")),
        ]);
    let r: LeaveGroupResponse = c.conn().call(ApiKey::LeaveGroup, 5, &leave).await?;
    c.step(
        "leave",
        vec![
            ("error_code", json!(r.error_code)),
            (
                "member_error_codes",
                json!(r.members.iter().map(|m| m.error_code).collect::<Vec<_>>()),
            ),
        ],
    );
    let r: DescribeGroupsResponse = c
        .conn()
        .call(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
        )
        .await?;
    let g = r.groups.first();
    c.step(
        "describe-after-leave",
        vec![
            ("error_code", json!(g.map(|g| g.error_code))),
            ("state", json!(g.map(|g| g.group_state.to_string()))),
            (
                "protocol_type",
                json!(g.map(|g| g.protocol_type.to_string())),
            ),
            ("protocol", json!(g.map(|g| g.protocol_data.to_string()))),
            ("members", json!(g.map(|g| g.members.len()))),
        ],
    );
    Ok(())
}

async fn join_v3(c: &mut Ctx) -> anyhow::Result<()> {
    let group = c.name("g");
    ready(c, &group).await?;
    let r: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 3, &join_req(&group, ""))
        .await?;
    record_join(c, "join-v3", &r);
    Ok(())
}

async fn join_errors(c: &mut Ctx) -> anyhow::Result<()> {
    let group = c.name("g");
    ready(c, &group).await?;
    let name_nogroup = c.name("nogroup");
    ready(c, &name_nogroup).await?;
    let r: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req("", ""))
        .await?;
    record_join(c, "empty-group-id", &r);
    let r: JoinGroupResponse = c
        .conn()
        .call(
            ApiKey::JoinGroup,
            9,
            &join_req(&group, "").with_session_timeout_ms(1),
        )
        .await?;
    record_join(c, "session-timeout-1ms", &r);
    let r: JoinGroupResponse = c
        .conn()
        .call(ApiKey::JoinGroup, 9, &join_req(&name_nogroup, "someone"))
        .await?;
    record_join(c, "member-id-for-unknown-group", &r);
    member(c, &group).await?;
    let r: JoinGroupResponse = c
        .conn()
        .call(
            ApiKey::JoinGroup,
            9,
            &join_req(&group, "").with_protocol_type(s("connect")),
        )
        .await?;
    record_join(c, "other-protocol-type", &r);
    Ok(())
}

async fn offsets_simple(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let topic = c.name("t");
    let group = c.name("g");
    ready(c, &group).await?;
    let name_nogroup = c.name("nogroup");
    ready(c, &name_nogroup).await?;
    let name_missing = c.name("missing");
    let name_other = c.name("other");
    ready(c, &name_other).await?;
    let code = commit(c, &group, -1, "", &topic, 42).await?;
    c.step("commit-standalone", vec![("error_code", json!(code))]);
    fetch_v8(c, "fetch-v8", &group, &topic).await?;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(&topic)))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let r: OffsetFetchResponse = c.conn().call(ApiKey::OffsetFetch, 7, &req).await?;
    c.step(
        "fetch-v7",
        vec![
            ("error_code", json!(r.error_code)),
            (
                "partitions",
                json!(r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| (p.partition_index, p.committed_offset, p.error_code))
                    .collect::<Vec<_>>()),
            ),
        ],
    );
    fetch_v8(c, "fetch-unknown-group", &name_nogroup, &topic).await?;
    let code = commit(c, &group, -1, "", &name_missing, 1).await?;
    c.step("commit-unknown-topic", vec![("error_code", json!(code))]);
    let code = commit(c, &name_other, 5, "someone", &topic, 1).await?;
    c.step(
        "commit-generation-unknown-group",
        vec![("error_code", json!(code))],
    );
    Ok(())
}

async fn offsets_live_group(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let topic = c.name("t");
    let group = c.name("g");
    ready(c, &group).await?;
    let (member_id, generation) = member(c, &group).await?;
    let code = commit(c, &group, -1, "", &topic, 1).await?;
    c.step("commit-from-outside", vec![("error_code", json!(code))]);
    let code = commit(c, &group, generation + 1, &member_id, &topic, 1).await?;
    c.step("commit-wrong-generation", vec![("error_code", json!(code))]);
    let code = commit(c, &group, generation, "nobody", &topic, 1).await?;
    c.step("commit-unknown-member", vec![("error_code", json!(code))]);
    let code = commit(c, &group, generation, &member_id, &topic, 7).await?;
    c.step("commit-member", vec![("error_code", json!(code))]);
    fetch_v8(c, "fetch", &group, &topic).await?;
    Ok(())
}

async fn admin(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let topic = c.name("t");
    let live = c.name("live");
    let name_nogroup = c.name("nogroup");
    let empty = c.name("empty");
    ready(c, &live).await?;
    ready(c, &empty).await?;
    ready(c, &name_nogroup).await?;
    member(c, &live).await?;
    commit(c, &empty, -1, "", &topic, 3).await?;
    let r: ListGroupsResponse = c
        .conn()
        .call(ApiKey::ListGroups, 5, &ListGroupsRequest::default())
        .await?;
    let mut mine: Vec<(String, String, String, String)> = r
        .groups
        .iter()
        .filter(|g| *g.group_id.0 == *live || *g.group_id.0 == *empty)
        .map(|g| {
            (
                if *g.group_id.0 == *live {
                    "live"
                } else {
                    "empty"
                }
                .to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
                g.group_type.to_string(),
            )
        })
        .collect();
    mine.sort();
    c.step(
        "list-groups-v5",
        vec![("error_code", json!(r.error_code)), ("groups", json!(mine))],
    );
    for v in [5, 6] {
        let r: DescribeGroupsResponse = c
            .conn()
            .call(
                ApiKey::DescribeGroups,
                v,
                &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&name_nogroup))]),
            )
            .await?;
        let g = r.groups.first();
        c.step(
            &format!("describe-unknown-v{v}"),
            vec![
                ("error_code", json!(g.map(|g| g.error_code))),
                ("state", json!(g.map(|g| g.group_state.to_string()))),
            ],
        );
    }
    let req = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(&empty)))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(TopicName(s(&topic)))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default(),
                ]),
        ]);
    let r: OffsetDeleteResponse = c.conn().call(ApiKey::OffsetDelete, 0, &req).await?;
    c.step(
        "offset-delete-empty-group",
        vec![
            ("error_code", json!(r.error_code)),
            (
                "partition_error_codes",
                json!(r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .collect::<Vec<_>>()),
            ),
        ],
    );
    fetch_v8(c, "fetch-after-offset-delete", &empty, &topic).await?;
    let r: OffsetDeleteResponse = c
        .conn()
        .call(
            ApiKey::OffsetDelete,
            0,
            &req.clone().with_group_id(GroupId(s(&name_nogroup))),
        )
        .await?;
    c.step(
        "offset-delete-unknown-group",
        vec![("error_code", json!(r.error_code))],
    );
    let r: DeleteGroupsResponse = c
        .conn()
        .call(
            ApiKey::DeleteGroups,
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![
                GroupId(s(&name_nogroup)),
                GroupId(s(&live)),
                GroupId(s(&empty)),
            ]),
        )
        .await?;
    // Kafka answers in its own order (by coordinator partition): compare by group.
    let by_group: std::collections::BTreeMap<String, i16> = r
        .results
        .iter()
        .map(|g| {
            let alias = if *g.group_id.0 == *live {
                "live"
            } else if *g.group_id.0 == *empty {
                "empty"
            } else if *g.group_id.0 == *name_nogroup {
                "unknown"
            } else {
                "other"
            };
            (alias.to_string(), g.error_code)
        })
        .collect();
    c.step("delete-groups", vec![("error_codes", json!(by_group))]);
    Ok(())
}
