//! The coordinator against Kafka's classic-protocol rules, one behaviour per test.

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn coordinator(initial_delay: i32) -> Coordinator {
    Coordinator::new(
        Config {
            initial_rebalance_delay_ms: initial_delay,
            ..Config::default()
        },
        42,
    )
}

fn protocols(names: &[&str]) -> Vec<(String, Bytes)> {
    names
        .iter()
        .map(|n| (n.to_string(), Bytes::from(format!("meta-{n}"))))
        .collect()
}

fn join_req(group: &str, member: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        member_id: member.into(),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols(&["range", "roundrobin"]),
        require_known_member_id: true,
        ..JoinRequest::default()
    }
}

fn join_reply(out: &Outcome, t: u64) -> Option<JoinResponse> {
    out.replies.iter().find_map(|(tk, r)| match r {
        Reply::Join(j) if tk.0 == t => Some(j.clone()),
        _ => None,
    })
}

fn sync_reply(out: &Outcome, t: u64) -> Option<SyncResponse> {
    out.replies.iter().find_map(|(tk, r)| match r {
        Reply::Sync(s) if tk.0 == t => Some(s.clone()),
        _ => None,
    })
}

/// A new member's two-step join; returns its member id (the join stays parked).
fn join_new(c: &mut Coordinator, now: i64, group: &str, t: u64) -> (String, Outcome) {
    let out = c.join(now, join_req(group, ""), Ticket(t));
    let first = join_reply(&out, t).expect("MEMBER_ID_REQUIRED now");
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED);
    assert!(first.member_id.starts_with("client-"));
    let out = c.join(now, join_req(group, &first.member_id), Ticket(t + 1));
    (first.member_id, out)
}

/// One member joined, synced and stable; returns (member id, generation).
fn stable_single(c: &mut Coordinator, group: &str) -> (String, i32) {
    let (id, out) = join_new(c, 0, group, 1);
    assert!(
        join_reply(&out, 2).is_none(),
        "parked until the initial delay"
    );
    let out = c.tick(0);
    let j = join_reply(&out, 2).expect("join completes");
    assert_eq!(j.error_code, NONE);
    assert_eq!(j.leader, id);
    assert_eq!(j.members.len(), 1);
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    let out = c.sync(
        0,
        SyncRequest {
            group_id: group.into(),
            generation_id: j.generation_id,
            member_id: id.clone(),
            assignments: vec![(id.clone(), Bytes::from_static(b"all"))],
            ..SyncRequest::default()
        },
        Ticket(3),
    );
    let s = sync_reply(&out, 3).expect("leader sync answers");
    assert_eq!(s.error_code, NONE);
    assert_eq!(&s.assignment[..], b"all");
    assert!(matches!(out.records[..], [Record::Group { .. }]));
    (id, j.generation_id)
}

#[test]
fn new_member_gets_member_id_required_then_joins_and_syncs() {
    let mut c = coordinator(0);
    let (id, generation) = stable_single(&mut c, "g");
    assert_eq!(generation, 1);
    assert_eq!(c.heartbeat(1, "g", &id, None, 1), NONE);
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
}

#[test]
fn v3_join_needs_no_second_round() {
    let mut c = coordinator(0);
    let mut req = join_req("g", "");
    req.require_known_member_id = false;
    let out = c.join(0, req, Ticket(1));
    assert!(join_reply(&out, 1).is_none());
    let out = c.tick(0);
    assert_eq!(join_reply(&out, 1).unwrap().generation_id, 1);
}

#[test]
fn request_validation_errors() {
    let mut c = coordinator(0);
    let out = c.join(0, join_req("", ""), Ticket(1));
    assert_eq!(join_reply(&out, 1).unwrap().error_code, INVALID_GROUP_ID);
    let mut req = join_req("g", "");
    req.session_timeout_ms = 10;
    let out = c.join(0, req, Ticket(2));
    assert_eq!(
        join_reply(&out, 2).unwrap().error_code,
        INVALID_SESSION_TIMEOUT
    );
    // A member id for a group that does not exist.
    let out = c.join(0, join_req("nope", "m-1"), Ticket(3));
    assert_eq!(join_reply(&out, 3).unwrap().error_code, UNKNOWN_MEMBER_ID);
    // An unknown member id in an existing group.
    stable_single(&mut c, "g");
    let out = c.join(0, join_req("g", "m-unknown"), Ticket(4));
    assert_eq!(join_reply(&out, 4).unwrap().error_code, UNKNOWN_MEMBER_ID);
    // A protocol type or protocols the group does not speak.
    let mut req = join_req("g", "");
    req.protocol_type = "connect".into();
    let out = c.join(0, req, Ticket(5));
    assert_eq!(
        join_reply(&out, 5).unwrap().error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let mut req = join_req("g", "");
    req.protocols = protocols(&["sticky"]);
    let out = c.join(0, req, Ticket(6));
    assert_eq!(
        join_reply(&out, 6).unwrap().error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    assert_eq!(c.heartbeat(0, "", "m", None, 1), INVALID_GROUP_ID);
    assert_eq!(c.heartbeat(0, "nope", "m", None, 1), UNKNOWN_MEMBER_ID);
}

#[test]
fn initial_rebalance_waits_the_delay_and_extends_for_newcomers() {
    let mut c = coordinator(3_000);
    let (_a, _) = join_new(&mut c, 0, "g", 1);
    assert!(join_reply(&c.tick(2_999), 2).is_none());
    let (_b, _) = join_new(&mut c, 2_000, "g", 10);
    // The delay runs out with a newcomer: it is extended once more.
    let out = c.tick(3_000);
    assert!(out.replies.is_empty());
    let out = c.tick(6_000);
    let a = join_reply(&out, 2).unwrap();
    let b = join_reply(&out, 11).unwrap();
    assert_eq!(a.generation_id, 1);
    assert_eq!(b.generation_id, 1);
    assert_eq!(a.leader, b.leader);
    let leader_view = if a.member_id == a.leader { &a } else { &b };
    assert_eq!(leader_view.members.len(), 2);
    let follower = if a.member_id == a.leader { &b } else { &a };
    assert!(follower.members.is_empty());
}

#[test]
fn second_member_triggers_rebalance_and_followers_wait_for_leader() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let (b, out) = join_new(&mut c, 100, "g", 10);
    assert!(join_reply(&out, 11).is_none(), "waits for the old member");
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::PreparingRebalance
    );
    // The old member learns of the rebalance by heartbeat, then commits are still allowed.
    assert_eq!(c.heartbeat(200, "g", &a, None, g1), REBALANCE_IN_PROGRESS);
    let (codes, _) = c.commit_offsets(
        200,
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: g1,
            member_id: a.clone(),
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 5, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    assert_eq!(codes, vec![NONE]);
    let out = c.join(300, join_req("g", &a), Ticket(20));
    let ja = join_reply(&out, 20).unwrap();
    let jb = join_reply(&out, 11).unwrap();
    assert_eq!(ja.generation_id, g1 + 1);
    assert_eq!(jb.generation_id, g1 + 1);
    assert_eq!(ja.leader, a, "the old leader stays leader");
    assert_eq!(ja.members.len(), 2);
    // The follower syncs first and waits; the leader's sync answers both.
    let out = c.sync(
        400,
        SyncRequest {
            group_id: "g".into(),
            generation_id: g1 + 1,
            member_id: b.clone(),
            ..SyncRequest::default()
        },
        Ticket(30),
    );
    assert!(out.replies.is_empty());
    // Commits are refused until the assignment is known.
    let (codes, _) = c.commit_offsets(
        400,
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: g1 + 1,
            member_id: b.clone(),
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 6, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    assert_eq!(codes, vec![REBALANCE_IN_PROGRESS]);
    let out = c.sync(
        500,
        SyncRequest {
            group_id: "g".into(),
            generation_id: g1 + 1,
            member_id: a.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![
                (a.clone(), Bytes::from_static(b"A")),
                (b.clone(), Bytes::from_static(b"B")),
            ],
            ..SyncRequest::default()
        },
        Ticket(31),
    );
    assert_eq!(&sync_reply(&out, 30).unwrap().assignment[..], b"B");
    assert_eq!(&sync_reply(&out, 31).unwrap().assignment[..], b"A");
    // The old generation is now fenced.
    assert_eq!(c.heartbeat(600, "g", &b, None, g1), ILLEGAL_GENERATION);
    assert_eq!(c.heartbeat(600, "g", &b, None, g1 + 1), NONE);
}

#[test]
fn sync_errors() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let sync = |c: &mut Coordinator, generation: i32, member: &str, name: Option<&str>| {
        let out = c.sync(
            0,
            SyncRequest {
                group_id: "g".into(),
                generation_id: generation,
                member_id: member.into(),
                protocol_name: name.map(String::from),
                ..SyncRequest::default()
            },
            Ticket(99),
        );
        sync_reply(&out, 99).unwrap().error_code
    };
    assert_eq!(sync(&mut c, g1 + 1, &a, None), ILLEGAL_GENERATION);
    assert_eq!(sync(&mut c, g1, "x", None), UNKNOWN_MEMBER_ID);
    assert_eq!(
        sync(&mut c, g1, &a, Some("roundrobin")),
        INCONSISTENT_GROUP_PROTOCOL
    );
    assert_eq!(sync(&mut c, g1, &a, Some("range")), NONE);
    let out = c.sync(
        0,
        SyncRequest {
            group_id: "nope".into(),
            ..SyncRequest::default()
        },
        Ticket(1),
    );
    assert_eq!(sync_reply(&out, 1).unwrap().error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn session_timeout_removes_member_and_rebalances() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let (_b, _) = join_new(&mut c, 0, "g", 10);
    // a never rejoins nor heartbeats: a is awaiting nothing, so its session expires.
    let out = c.tick(i64::from(SESSION));
    let jb = join_reply(&out, 11).expect("b's join completes once a is gone");
    assert_eq!(jb.generation_id, g1 + 1);
    assert_ne!(jb.leader, a);
    assert_eq!(jb.members.len(), 1);
    assert_eq!(c.heartbeat(0, "g", &a, None, g1), UNKNOWN_MEMBER_ID);
}

#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let (b, _) = join_new(&mut c, 0, "g", 10);
    // a keeps heartbeating but never rejoins.
    for t in (1_000..i64::from(REBALANCE)).step_by(1_000) {
        assert_eq!(c.heartbeat(t, "g", &a, None, g1), REBALANCE_IN_PROGRESS);
        assert!(c.tick(t).replies.is_empty());
    }
    let out = c.tick(i64::from(REBALANCE));
    let jb = join_reply(&out, 11).unwrap();
    assert_eq!(jb.leader, b);
    assert_eq!(c.heartbeat(0, "g", &a, None, g1), UNKNOWN_MEMBER_ID);
}

#[test]
fn pending_member_that_never_returns_expires() {
    let mut c = coordinator(0);
    let (_a, _) = stable_single(&mut c, "g");
    let out = c.join(0, join_req("g", ""), Ticket(5));
    let id = join_reply(&out, 5).unwrap().member_id;
    c.tick(i64::from(SESSION));
    // Gone: joining with it now is an unknown member.
    let out = c.join(i64::from(SESSION) + 1, join_req("g", &id), Ticket(6));
    assert_eq!(join_reply(&out, 6).unwrap().error_code, UNKNOWN_MEMBER_ID);
}

#[test]
fn leave_group_rebalances_and_last_leave_empties() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let (res, out) = c.leave(
        0,
        "g",
        &[
            LeaveMember {
                member_id: a.clone(),
                group_instance_id: None,
            },
            LeaveMember {
                member_id: "ghost".into(),
                group_instance_id: None,
            },
        ],
    );
    assert_eq!(res, Ok(vec![NONE, UNKNOWN_MEMBER_ID]));
    assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
    // The empty generation is persisted.
    assert!(out.records.iter().any(|r| matches!(r,
        Record::Group { value: Some(v), .. } if v.generation == g1 + 1 && v.members.is_empty())));
    let (res, _) = c.leave(
        0,
        "nope",
        &[LeaveMember {
            member_id: "x".into(),
            group_instance_id: None,
        }],
    );
    assert_eq!(res, Ok(vec![UNKNOWN_MEMBER_ID]));
    assert_eq!(c.leave(0, "", &[]).0, Err(INVALID_GROUP_ID));
}

#[test]
fn leave_during_rebalance_completes_join() {
    let mut c = coordinator(0);
    let (a, _) = stable_single(&mut c, "g");
    let (_b, _) = join_new(&mut c, 0, "g", 10);
    let (_, out) = c.leave(
        0,
        "g",
        &[LeaveMember {
            member_id: a,
            group_instance_id: None,
        }],
    );
    assert_eq!(join_reply(&out, 11).unwrap().error_code, NONE);
}

fn static_join(group: &str, member: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..join_req(group, member)
    }
}

#[test]
fn static_member_rejoins_without_rebalance_and_fences_old_id() {
    let mut c = coordinator(0);
    let out = c.join(0, static_join("g", "", "i1"), Ticket(1));
    assert!(
        join_reply(&out, 1).is_none(),
        "static members skip MEMBER_ID_REQUIRED"
    );
    let j = join_reply(&c.tick(0), 1).unwrap();
    let old = j.member_id.clone();
    assert!(old.starts_with("i1-"));
    c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: j.generation_id,
            member_id: old.clone(),
            group_instance_id: Some("i1".into()),
            assignments: vec![(old.clone(), Bytes::from_static(b"X"))],
            ..SyncRequest::default()
        },
        Ticket(2),
    );
    // Restarted with the same instance id, unknown member id: same generation, new id.
    let out = c.join(10, static_join("g", "", "i1"), Ticket(3));
    let j2 = join_reply(&out, 3).unwrap();
    assert_eq!(j2.error_code, NONE);
    assert_eq!(j2.generation_id, j.generation_id);
    assert_ne!(j2.member_id, old);
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    assert_eq!(
        c.heartbeat(20, "g", &old, Some("i1"), j.generation_id),
        FENCED_INSTANCE_ID
    );
    assert_eq!(
        c.heartbeat(20, "g", &j2.member_id, Some("i1"), j.generation_id),
        NONE
    );
    // The new id keeps the assignment.
    let out = c.sync(
        20,
        SyncRequest {
            group_id: "g".into(),
            generation_id: j.generation_id,
            member_id: j2.member_id.clone(),
            group_instance_id: Some("i1".into()),
            ..SyncRequest::default()
        },
        Ticket(4),
    );
    assert_eq!(&sync_reply(&out, 4).unwrap().assignment[..], b"X");
    // Removal by instance id alone.
    let (res, _) = c.leave(
        30,
        "g",
        &[LeaveMember {
            member_id: String::new(),
            group_instance_id: Some("i1".into()),
        }],
    );
    assert_eq!(res, Ok(vec![NONE]));
    assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
}

#[test]
fn static_member_that_does_not_rejoin_stays_through_rebalance() {
    let mut c = coordinator(0);
    let out = c.join(0, static_join("g", "", "i1"), Ticket(1));
    drop(out);
    let j = join_reply(&c.tick(0), 1).unwrap();
    c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: j.generation_id,
            member_id: j.member_id.clone(),
            assignments: vec![],
            ..SyncRequest::default()
        },
        Ticket(2),
    );
    let (_b, _) = join_new(&mut c, 0, "g", 10);
    // Heartbeats keep the static member alive but it does not rejoin.
    for t in (1_000..i64::from(REBALANCE)).step_by(1_000) {
        c.heartbeat(t, "g", &j.member_id, Some("i1"), j.generation_id);
        c.tick(t);
    }
    let out = c.tick(i64::from(REBALANCE));
    let jb = join_reply(&out, 11).unwrap();
    assert_eq!(jb.members.len(), 2, "the static member is kept");
}

#[test]
fn offset_commit_rules() {
    let mut c = coordinator(0);
    let commit = |c: &mut Coordinator, group: &str, generation: i32, member: &str| {
        c.commit_offsets(
            0,
            OffsetCommitRequest {
                group_id: group.into(),
                generation_id: generation,
                member_id: member.into(),
                retention_time_ms: -1,
                offsets: vec![("t".into(), 0, 10, 3, Some("md".into()))],
                ..OffsetCommitRequest::default()
            },
        )
        .0[0]
    };
    // Simple consumers commit into a group that does not exist yet (it is created)...
    assert_eq!(commit(&mut c, "simple", -1, ""), NONE);
    assert_eq!(c.describe("simple").unwrap().state, GroupState::Empty);
    // ...but a generation for an unknown group is illegal.
    assert_eq!(commit(&mut c, "nope", 1, "m"), ILLEGAL_GENERATION);
    assert_eq!(commit(&mut c, "", -1, ""), INVALID_GROUP_ID);
    let (a, g1) = stable_single(&mut c, "g");
    assert_eq!(commit(&mut c, "g", -1, ""), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut c, "g", g1 + 7, &a), ILLEGAL_GENERATION);
    assert_eq!(commit(&mut c, "g", g1, "stranger"), UNKNOWN_MEMBER_ID);
    assert_eq!(commit(&mut c, "g", g1, &a), NONE);
    let fetched = c
        .fetch_offsets("g", Some(&[("t".to_string(), vec![0, 1])]))
        .unwrap();
    assert_eq!(fetched[0].2.as_ref().unwrap().offset, 10);
    assert_eq!(fetched[0].2.as_ref().unwrap().leader_epoch, 3);
    assert_eq!(fetched[0].2.as_ref().unwrap().metadata, "md");
    assert!(fetched[1].2.is_none());
    assert_eq!(c.fetch_offsets("g", None).unwrap().len(), 1);
    assert!(c.fetch_offsets("unknown", None).unwrap().is_empty());
    // Metadata over the limit.
    let (codes, _) = c.commit_offsets(
        0,
        OffsetCommitRequest {
            group_id: "simple".into(),
            generation_id: -1,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 1, -1, Some("x".repeat(5000)))],
            ..OffsetCommitRequest::default()
        },
    );
    assert_eq!(codes, vec![OFFSET_METADATA_TOO_LARGE]);
}

#[test]
fn records_replay_to_the_same_state() {
    let mut c = coordinator(0);
    let mut log = Vec::new();
    let (id, out) = join_new(&mut c, 0, "g", 1);
    log.extend(out.records);
    log.extend(c.tick(0).records);
    let out = c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: id.clone(),
            assignments: vec![(id.clone(), Bytes::from_static(b"A"))],
            ..SyncRequest::default()
        },
        Ticket(3),
    );
    log.extend(out.records);
    for off in [5, 9, 12] {
        let (_, out) = c.commit_offsets(
            0,
            OffsetCommitRequest {
                group_id: "g".into(),
                generation_id: 1,
                member_id: id.clone(),
                retention_time_ms: -1,
                offsets: vec![("t".into(), 0, off, -1, None)],
                ..OffsetCommitRequest::default()
            },
        );
        log.extend(out.records);
    }
    let (_, out) = c.commit_offsets(
        0,
        OffsetCommitRequest {
            group_id: "other".into(),
            generation_id: -1,
            retention_time_ms: -1,
            offsets: vec![("t".into(), 1, 3, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    log.extend(out.records);
    let mut gone = Outcome::default();
    assert_eq!(c.delete_group("other", &mut gone), NONE);
    log.extend(gone.records);

    // Through the byte encoding, as the broker stores them.
    let mut r = coordinator(0);
    for rec in &log {
        let (k, v) = rec.encode();
        r.replay(Record::decode(&k, v.as_deref()).unwrap(), 1_000);
    }
    assert_eq!(
        r.fetch_offsets("g", None).unwrap()[0]
            .2
            .as_ref()
            .unwrap()
            .offset,
        12
    );
    assert!(r.describe("other").is_none());
    let d = r.describe("g").unwrap();
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.members.len(), 1);
    assert_eq!(&d.members[0].assignment[..], b"A");
    // The member carries on with its generation after the restart.
    assert_eq!(r.heartbeat(1_000, "g", &id, None, 1), NONE);
    // A snapshot replays to the same state, and wipes what came before it.
    let mut s = coordinator(0);
    s.replay(
        Record::Offset {
            group: "stale".into(),
            topic: "t".into(),
            partition: 0,
            value: Some(Committed {
                offset: 1,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 0,
                expire_timestamp: None,
            }),
        },
        0,
    );
    for rec in r.snapshot() {
        s.replay(rec, 2_000);
    }
    assert!(s.describe("stale").is_none());
    assert_eq!(
        s.fetch_offsets("g", None).unwrap(),
        r.fetch_offsets("g", None).unwrap()
    );
    assert_eq!(s.describe("g"), r.describe("g"));
    // Generations never go back after a restart: the next rebalance is generation 2.
    let out = s.join(3_000, join_req("g", &id), Ticket(9));
    let j = join_reply(&out, 9).unwrap();
    assert_eq!(j.generation_id, 2);
}

#[test]
fn offsets_of_empty_groups_expire_after_retention() {
    let mut c = Coordinator::new(
        Config {
            initial_rebalance_delay_ms: 0,
            offsets_retention_ms: 1_000,
            ..Config::default()
        },
        1,
    );
    let (a, g1) = stable_single(&mut c, "g");
    c.commit_offsets(
        0,
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: g1,
            member_id: a.clone(),
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 5, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    // Not while the group has members (heartbeating).
    for t in [500, 1_500, 2_500] {
        c.heartbeat(t, "g", &a, None, g1);
        c.tick(t);
        assert!(c.expire_offsets(t).records.is_empty());
    }
    assert_eq!(c.fetch_offsets("g", None).unwrap().len(), 1);
    let _ = c.leave(
        3_000,
        "g",
        &[LeaveMember {
            member_id: a,
            group_instance_id: None,
        }],
    );
    assert_eq!(c.expire_offsets(3_999).records.len(), 0);
    let out = c.expire_offsets(4_000);
    assert!(out
        .records
        .iter()
        .any(|r| matches!(r, Record::Offset { value: None, .. })));
    assert!(out
        .records
        .iter()
        .any(|r| matches!(r, Record::Group { value: None, .. })));
    assert!(c.describe("g").is_none());
}

#[test]
fn sync_timeout_removes_members_that_never_sync() {
    let mut c = coordinator(0);
    let (_a, g1) = stable_single(&mut c, "g");
    let (b, _) = join_new(&mut c, 0, "g", 10);
    let (a, _) = (_a.clone(), ());
    let out = c.join(0, join_req("g", &a), Ticket(20));
    assert_eq!(join_reply(&out, 20).unwrap().generation_id, g1 + 1);
    // Only the leader syncs; b never does.
    let out = c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: g1 + 1,
            member_id: a.clone(),
            ..SyncRequest::default()
        },
        Ticket(21),
    );
    assert_eq!(sync_reply(&out, 21).unwrap().error_code, NONE);
    for t in (1_000..i64::from(REBALANCE)).step_by(1_000) {
        assert_eq!(c.heartbeat(t, "g", &a, None, g1 + 1), NONE);
        assert_eq!(c.heartbeat(t, "g", &b, None, g1 + 1), NONE);
        c.tick(t);
    }
    c.tick(i64::from(REBALANCE));
    assert_eq!(
        c.heartbeat(i64::from(REBALANCE), "g", &b, None, g1 + 1),
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::PreparingRebalance
    );
}

#[test]
fn delete_groups_and_offsets() {
    let mut c = coordinator(0);
    let (a, g1) = stable_single(&mut c, "g");
    let mut out = Outcome::default();
    assert_eq!(c.delete_group("g", &mut out), NON_EMPTY_GROUP);
    assert_eq!(c.delete_group("nope", &mut out), GROUP_ID_NOT_FOUND);
    // OffsetDelete on a live consumer group: allowed for topics nobody subscribes to. The
    // test metadata does not parse as a subscription, so every topic counts as subscribed.
    c.commit_offsets(
        0,
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: g1,
            member_id: a.clone(),
            retention_time_ms: -1,
            offsets: vec![("t".into(), 0, 5, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    let (res, _) = c.delete_offsets("g", &[("t".into(), 0)]);
    assert_eq!(res, Ok(vec![GROUP_SUBSCRIBED_TO_TOPIC]));
    let _ = c.leave(
        0,
        "g",
        &[LeaveMember {
            member_id: a,
            group_instance_id: None,
        }],
    );
    let (res, out) = c.delete_offsets("g", &[("t".into(), 0), ("t".into(), 9)]);
    assert_eq!(res, Ok(vec![NONE, NONE]));
    assert_eq!(
        out.records.len(),
        1,
        "a tombstone only for the stored offset"
    );
    assert_eq!(c.delete_offsets("nope", &[]).0, Err(GROUP_ID_NOT_FOUND));
    let mut out = Outcome::default();
    assert_eq!(c.delete_group("g", &mut out), NONE);
    assert!(c.list().is_empty());
}

#[test]
fn list_and_describe() {
    let mut c = coordinator(0);
    let (a, _) = stable_single(&mut c, "g");
    let listed = c.list();
    assert_eq!(
        listed,
        vec![ListedGroup {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            state: GroupState::Stable,
        }]
    );
    let d = c.describe("g").unwrap();
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members[0].member_id, a);
    assert_eq!(&d.members[0].metadata[..], b"meta-range");
    assert!(c.describe("nope").is_none());
}

#[test]
fn protocol_vote_picks_what_everyone_supports() {
    let mut c = coordinator(0);
    let mut r1 = join_req("g", "");
    r1.protocols = protocols(&["sticky", "range"]);
    r1.require_known_member_id = false;
    let mut r2 = join_req("g", "");
    r2.protocols = protocols(&["roundrobin", "range"]);
    r2.require_known_member_id = false;
    c.join(0, r1, Ticket(1));
    c.join(0, r2, Ticket(2));
    // A newcomer during the initial delay extends it once (by the delay, 0 here).
    assert!(c.tick(0).replies.is_empty());
    let out = c.tick(0);
    assert_eq!(
        join_reply(&out, 1).unwrap().protocol_name.as_deref(),
        Some("range")
    );
}

#[test]
fn max_group_size_is_enforced() {
    let mut c = Coordinator::new(
        Config {
            initial_rebalance_delay_ms: 0,
            max_size: 1,
            ..Config::default()
        },
        1,
    );
    stable_single(&mut c, "g");
    let out = c.join(0, join_req("g", ""), Ticket(9));
    assert_eq!(
        join_reply(&out, 9).unwrap().error_code,
        GROUP_MAX_SIZE_REACHED
    );
}

/// Two members, both joined in generation g1+1 and waiting for the leader's sync.
fn completing_pair(c: &mut Coordinator) -> (String, String, i32) {
    let (a, g1) = stable_single(c, "g");
    let (b, _) = join_new(c, 0, "g", 10);
    let out = c.join(0, join_req("g", &a), Ticket(20));
    assert_eq!(join_reply(&out, 20).unwrap().generation_id, g1 + 1);
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::CompletingRebalance
    );
    (a, b, g1 + 1)
}

#[test]
fn rejoin_with_same_metadata_while_completing_gets_the_current_generation() {
    let mut c = coordinator(0);
    let (a, b, g2) = completing_pair(&mut c);
    // A follower that lost its JoinGroup answer asks again: same generation, no rebalance.
    let out = c.join(0, join_req("g", &b), Ticket(30));
    let j = join_reply(&out, 30).unwrap();
    assert_eq!((j.error_code, j.generation_id), (NONE, g2));
    assert!(j.members.is_empty());
    // The leader asking again gets the member list again.
    let out = c.join(0, join_req("g", &a), Ticket(31));
    assert_eq!(join_reply(&out, 31).unwrap().members.len(), 2);
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::CompletingRebalance
    );
    // Heartbeats in CompletingRebalance are fine.
    assert_eq!(c.heartbeat(0, "g", &b, None, g2), NONE);
}

#[test]
fn new_metadata_while_completing_restarts_the_rebalance_and_fails_parked_syncs() {
    let mut c = coordinator(0);
    let (_a, b, g2) = completing_pair(&mut c);
    // b waits in SyncGroup for the leader.
    let out = c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: g2,
            member_id: b.clone(),
            ..SyncRequest::default()
        },
        Ticket(40),
    );
    assert!(out.replies.is_empty());
    let mut req = join_req("g", &b);
    req.protocols = protocols(&["roundrobin", "range"]);
    let out = c.join(0, req, Ticket(41));
    assert_eq!(
        sync_reply(&out, 40).unwrap().error_code,
        REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::PreparingRebalance
    );
}

#[test]
fn stable_rejoins_leader_rebalances_follower_with_same_metadata_does_not() {
    let mut c = coordinator(0);
    let (a, b, g2) = completing_pair(&mut c);
    c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: g2,
            member_id: a.clone(),
            ..SyncRequest::default()
        },
        Ticket(50),
    );
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    let out = c.join(0, join_req("g", &b), Ticket(51));
    let j = join_reply(&out, 51).unwrap();
    assert_eq!((j.error_code, j.generation_id), (NONE, g2));
    assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    // The leader rejoining forces a rebalance (it may have seen new topic metadata).
    let out = c.join(0, join_req("g", &a), Ticket(52));
    assert!(join_reply(&out, 52).is_none());
    assert_eq!(
        c.describe("g").unwrap().state,
        GroupState::PreparingRebalance
    );
}

#[test]
fn static_member_with_another_member_id_is_fenced() {
    let mut c = coordinator(0);
    c.join(0, static_join("g", "", "i1"), Ticket(1));
    let j = join_reply(&c.tick(0), 1).unwrap();
    let out = c.join(0, static_join("g", "someone-else", "i1"), Ticket(2));
    assert_eq!(join_reply(&out, 2).unwrap().error_code, FENCED_INSTANCE_ID);
    let out = c.sync(
        0,
        SyncRequest {
            group_id: "g".into(),
            generation_id: j.generation_id,
            member_id: "someone-else".into(),
            group_instance_id: Some("i1".into()),
            ..SyncRequest::default()
        },
        Ticket(3),
    );
    assert_eq!(sync_reply(&out, 3).unwrap().error_code, FENCED_INSTANCE_ID);
    let (res, _) = c.leave(
        0,
        "g",
        &[LeaveMember {
            member_id: "someone-else".into(),
            group_instance_id: Some("i1".into()),
        }],
    );
    assert_eq!(res, Ok(vec![FENCED_INSTANCE_ID]));
    // An unknown instance id is an unknown member.
    assert_eq!(
        c.heartbeat(0, "g", &j.member_id, Some("i9"), j.generation_id),
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn commits_with_a_retention_time_expire_after_it() {
    let mut c = coordinator(0);
    c.commit_offsets(
        0,
        OffsetCommitRequest {
            group_id: "simple".into(),
            generation_id: -1,
            retention_time_ms: 500,
            offsets: vec![("t".into(), 0, 3, -1, None)],
            ..OffsetCommitRequest::default()
        },
    );
    assert!(c.expire_offsets(499).records.is_empty());
    assert_eq!(
        c.expire_offsets(500).records.len(),
        2,
        "offset and group tombstones"
    );
    assert!(c.fetch_offsets("simple", None).unwrap().is_empty());
}
