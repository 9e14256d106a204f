//! Consumer groups over the wire: the classic protocol round trips, Kafka's error codes,
//! offsets that survive a crash, and the internal topic.

use std::time::Duration;

use bytes::Bytes;
use idem_test_support::{config, start, start_with, Raw};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
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
        .with_metadata(Bytes::from_static(b"sub"))])
}

async fn join(raw: &mut Raw, group: &str) -> JoinGroupResponse {
    let first: JoinGroupResponse = raw.call(ApiKey::JoinGroup, 9, &join_req(group, "")).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first");
    raw.call(ApiKey::JoinGroup, 9, &join_req(group, &first.member_id))
        .await
}

async fn commit(
    raw: &mut Raw,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
) -> i16 {
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
                        .with_committed_offset(offset),
                ]),
        ]);
    let r: OffsetCommitResponse = raw.call(ApiKey::OffsetCommit, 8, &req).await;
    r.topics[0].partitions[0].error_code
}

async fn committed(raw: &mut Raw, group: &str, topic: &str) -> i64 {
    let req = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None),
    ]);
    let r: OffsetFetchResponse = raw.call(ApiKey::OffsetFetch, 9, &req).await;
    r.groups[0]
        .topics
        .iter()
        .find(|t| &*t.name.0 == topic)
        .map_or(-1, |t| t.partitions[0].committed_offset)
}

#[tokio::test]
async fn two_members_join_sync_commit_and_leave() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut a = Raw::connect(broker.addr).await;
    let mut b = Raw::connect(broker.addr).await;
    assert_eq!(a.create_topic("t", 1, &[]).await, 0);

    let fc: FindCoordinatorResponse = a
        .call(
            ApiKey::FindCoordinator,
            6,
            &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")]),
        )
        .await;
    assert_eq!(fc.coordinators[0].error_code, 0);
    assert_eq!(fc.coordinators[0].port, i32::from(broker.addr.port()));

    let ja = join(&mut a, "g").await;
    assert_eq!(ja.error_code, 0);
    assert_eq!(ja.generation_id, 1);
    assert_eq!(ja.leader, ja.member_id);
    let sa: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(1)
                .with_member_id(ja.member_id.clone())
                .with_protocol_type(Some(s("consumer")))
                .with_protocol_name(Some(s("range")))
                .with_assignments(vec![
                    sync_group_request::SyncGroupRequestAssignment::default()
                        .with_member_id(ja.member_id.clone())
                        .with_assignment(Bytes::from_static(b"A")),
                ]),
        )
        .await;
    assert_eq!(sa.error_code, 0);
    assert_eq!(&sa.assignment[..], b"A");
    assert_eq!(commit(&mut a, "g", 1, &ja.member_id, "t", 5).await, 0);

    // b joins: its JoinGroup is parked until a rejoins.
    let first: JoinGroupResponse = b.call(ApiKey::JoinGroup, 9, &join_req("g", "")).await;
    b.send(ApiKey::JoinGroup, 9, &join_req("g", &first.member_id))
        .await;
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(ja.member_id.clone());
    let r: HeartbeatResponse = a.call(ApiKey::Heartbeat, 4, &hb).await;
    assert_eq!(r.error_code, 27, "REBALANCE_IN_PROGRESS");
    // Commits with the old generation still count while the group prepares.
    assert_eq!(commit(&mut a, "g", 1, &ja.member_id, "t", 6).await, 0);
    let ja2: JoinGroupResponse = a
        .call(ApiKey::JoinGroup, 9, &join_req("g", &ja.member_id))
        .await;
    let jb: JoinGroupResponse = b.receive(ApiKey::JoinGroup, 9).await;
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja2.members.len(), 2, "the leader sees both members");
    assert!(jb.members.is_empty());
    // The old generation is fenced now.
    assert_eq!(commit(&mut a, "g", 1, &ja.member_id, "t", 7).await, 22);
    // A stranger cannot commit into a live group.
    assert_eq!(commit(&mut a, "g", -1, "", "t", 7).await, 25);

    let d: DescribeGroupsResponse = a
        .call(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        )
        .await;
    assert_eq!(&*d.groups[0].group_state, "CompletingRebalance");
    assert_eq!(d.groups[0].members.len(), 2);

    let leave: LeaveGroupResponse = b
        .call(
            ApiKey::LeaveGroup,
            5,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_members(vec![leave_group_request::MemberIdentity::default()
                    .with_member_id(jb.member_id.clone())]),
        )
        .await;
    assert_eq!(leave.members[0].error_code, 0);
    assert_eq!(committed(&mut a, "g", "t").await, 6);

    // The internal topic exists, is internal, and refuses produces.
    let md: MetadataResponse = a
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    let internal = md
        .topics
        .iter()
        .find(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| &*n.0 == "__consumer_offsets")
        })
        .expect("__consumer_offsets listed");
    assert!(internal.is_internal);
    let p = a
        .produce(
            "__consumer_offsets",
            0,
            idem_test_support::batch::plain(1, "x"),
        )
        .await;
    assert_eq!(p.error_code, 17, "INVALID_TOPIC_EXCEPTION");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn committed_offsets_and_groups_survive_a_crash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut a = Raw::connect(broker.addr).await;
    assert_eq!(a.create_topic("t", 1, &[]).await, 0);
    let j = join(&mut a, "g").await;
    let _: SyncGroupResponse = a
        .call(
            ApiKey::SyncGroup,
            5,
            &SyncGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(j.generation_id)
                .with_member_id(j.member_id.clone()),
        )
        .await;
    for o in [3, 9, 42] {
        assert_eq!(
            commit(&mut a, "g", j.generation_id, &j.member_id, "t", o).await,
            0
        );
    }
    assert_eq!(commit(&mut a, "simple", -1, "", "t", 7).await, 0);
    let addr = broker.addr;
    broker.abort().await;

    let mut cfg = config(tmp.path());
    cfg.listener = addr.to_string();
    let broker = start_with(cfg).await;
    let mut a = Raw::connect(broker.addr).await;
    assert_eq!(committed(&mut a, "g", "t").await, 42);
    assert_eq!(committed(&mut a, "simple", "t").await, 7);
    // The member carries on in its generation after the restart.
    let r: HeartbeatResponse = a
        .call(
            ApiKey::Heartbeat,
            4,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(j.generation_id)
                .with_member_id(j.member_id.clone()),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let listed: ListGroupsResponse = a
        .call(ApiKey::ListGroups, 5, &ListGroupsRequest::default())
        .await;
    let mut names: Vec<String> = listed
        .groups
        .iter()
        .map(|g| g.group_id.0.to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["g".to_string(), "simple".to_string()]);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn session_timeout_evicts_a_silent_member() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cfg = config(tmp.path());
    cfg.group_min_session_timeout_ms = 100;
    let broker = start_with(cfg).await;
    let mut a = Raw::connect(broker.addr).await;
    let mut req = join_req("g", "");
    req.session_timeout_ms = 300;
    let first: JoinGroupResponse = a.call(ApiKey::JoinGroup, 9, &req).await;
    req.member_id = first.member_id.clone();
    let j: JoinGroupResponse = a.call(ApiKey::JoinGroup, 9, &req).await;
    assert_eq!(j.error_code, 0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r: HeartbeatResponse = a
        .call(
            ApiKey::Heartbeat,
            4,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_generation_id(j.generation_id)
                .with_member_id(j.member_id.clone()),
        )
        .await;
    assert_eq!(
        r.error_code, 25,
        "UNKNOWN_MEMBER_ID after the session timeout"
    );
    // Out-of-range session timeouts are refused.
    let mut bad = join_req("g", "");
    bad.session_timeout_ms = 10;
    let r: JoinGroupResponse = a.call(ApiKey::JoinGroup, 9, &bad).await;
    assert_eq!(r.error_code, 26, "INVALID_SESSION_TIMEOUT");
    broker.shutdown().await.expect("shutdown");
}
