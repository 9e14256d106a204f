//! Schemas of JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups and
//! DeleteGroups: requests and responses.
//!
//! Transcribed from the decode functions of `kafka-protocol` 0.18.0: one module per
//! message, one static per struct, fields in wire order, each with the versions in which
//! it is on the wire and the dotted path that errors name. Tables keep one entry per line,
//! so the modules are not run through rustfmt.

/// `JoinGroupRequest` v0-9, flexible from v6 (`messages/join_group_request.rs`).
#[rustfmt::skip]
pub(super) mod join_group_request {
    use super::super::walker::*;

    pub(crate) static JOIN_GROUP_REQUEST: Struct = Struct {
        path: "JoinGroupRequest",
        versions: between(0, 9),
        flexible: Some(6),
        fields: &[
            f("group_id", ALL, STR),
            f("session_timeout_ms", ALL, I32),
            f("rebalance_timeout_ms", since(1), I32),
            f("member_id", ALL, STR),
            f("group_instance_id", since(5), NSTR),
            f("protocol_type", ALL, STR),
            f("protocols", ALL, array(&JOIN_GROUP_REQUEST_PROTOCOL)),
            f("reason", since(8), NSTR),
        ],
        tags: &[],
    };
    /// `JoinGroupRequestProtocol`.
    static JOIN_GROUP_REQUEST_PROTOCOL: Struct = Struct {
        path: "protocols",
        versions: between(0, 9),
        flexible: Some(6),
        fields: &[
            f("protocols.name", ALL, STR),
            f("protocols.metadata", ALL, BYTES),
        ],
        tags: &[],
    };
}

/// `JoinGroupResponse` v0-9, flexible from v6 (`messages/join_group_response.rs`).
#[rustfmt::skip]
pub(super) mod join_group_response {
    use super::super::walker::*;

    pub(crate) static JOIN_GROUP_RESPONSE: Struct = Struct {
        path: "JoinGroupResponse",
        versions: between(0, 9),
        flexible: Some(6),
        fields: &[
            f("throttle_time_ms", since(2), I32),
            f("error_code", ALL, I16),
            f("generation_id", ALL, I32),
            f("protocol_type", since(7), NSTR),
            f("protocol_name", ALL, NSTR),
            f("leader", ALL, STR),
            f("skip_assignment", since(9), BOOL),
            f("member_id", ALL, STR),
            f("members", ALL, array(&JOIN_GROUP_RESPONSE_MEMBER)),
        ],
        tags: &[],
    };
    /// `JoinGroupResponseMember`.
    static JOIN_GROUP_RESPONSE_MEMBER: Struct = Struct {
        path: "members",
        versions: between(0, 9),
        flexible: Some(6),
        fields: &[
            f("members.member_id", ALL, STR),
            f("members.group_instance_id", since(5), NSTR),
            f("members.metadata", ALL, BYTES),
        ],
        tags: &[],
    };
}

/// `SyncGroupRequest` v0-5, flexible from v4 (`messages/sync_group_request.rs`).
#[rustfmt::skip]
pub(super) mod sync_group_request {
    use super::super::walker::*;

    pub(crate) static SYNC_GROUP_REQUEST: Struct = Struct {
        path: "SyncGroupRequest",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("group_id", ALL, STR),
            f("generation_id", ALL, I32),
            f("member_id", ALL, STR),
            f("group_instance_id", since(3), NSTR),
            f("protocol_type", since(5), NSTR),
            f("protocol_name", since(5), NSTR),
            f("assignments", ALL, array(&SYNC_GROUP_REQUEST_ASSIGNMENT)),
        ],
        tags: &[],
    };
    /// `SyncGroupRequestAssignment`.
    static SYNC_GROUP_REQUEST_ASSIGNMENT: Struct = Struct {
        path: "assignments",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("assignments.member_id", ALL, STR),
            f("assignments.assignment", ALL, BYTES),
        ],
        tags: &[],
    };
}

/// `SyncGroupResponse` v0-5, flexible from v4 (`messages/sync_group_response.rs`).
#[rustfmt::skip]
pub(super) mod sync_group_response {
    use super::super::walker::*;

    pub(crate) static SYNC_GROUP_RESPONSE: Struct = Struct {
        path: "SyncGroupResponse",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("error_code", ALL, I16),
            f("protocol_type", since(5), NSTR),
            f("protocol_name", since(5), NSTR),
            f("assignment", ALL, BYTES),
        ],
        tags: &[],
    };
}

/// `HeartbeatRequest` v0-4, flexible from v4 (`messages/heartbeat_request.rs`).
#[rustfmt::skip]
pub(super) mod heartbeat_request {
    use super::super::walker::*;

    pub(crate) static HEARTBEAT_REQUEST: Struct = Struct {
        path: "HeartbeatRequest",
        versions: between(0, 4),
        flexible: Some(4),
        fields: &[
            f("group_id", ALL, STR),
            f("generation_id", ALL, I32),
            f("member_id", ALL, STR),
            f("group_instance_id", since(3), NSTR),
        ],
        tags: &[],
    };
}

/// `HeartbeatResponse` v0-4, flexible from v4 (`messages/heartbeat_response.rs`).
#[rustfmt::skip]
pub(super) mod heartbeat_response {
    use super::super::walker::*;

    pub(crate) static HEARTBEAT_RESPONSE: Struct = Struct {
        path: "HeartbeatResponse",
        versions: between(0, 4),
        flexible: Some(4),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("error_code", ALL, I16),
        ],
        tags: &[],
    };
}

/// `LeaveGroupRequest` v0-5, flexible from v4 (`messages/leave_group_request.rs`).
#[rustfmt::skip]
pub(super) mod leave_group_request {
    use super::super::walker::*;

    pub(crate) static LEAVE_GROUP_REQUEST: Struct = Struct {
        path: "LeaveGroupRequest",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("group_id", ALL, STR),
            f("member_id", until(2), STR),
            f("members", since(3), array(&MEMBER_IDENTITY)),
        ],
        tags: &[],
    };
    /// `MemberIdentity`.
    static MEMBER_IDENTITY: Struct = Struct {
        path: "members",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("members.member_id", since(3), STR),
            f("members.group_instance_id", since(3), NSTR),
            f("members.reason", since(5), NSTR),
        ],
        tags: &[],
    };
}

/// `LeaveGroupResponse` v0-5, flexible from v4 (`messages/leave_group_response.rs`).
#[rustfmt::skip]
pub(super) mod leave_group_response {
    use super::super::walker::*;

    pub(crate) static LEAVE_GROUP_RESPONSE: Struct = Struct {
        path: "LeaveGroupResponse",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("error_code", ALL, I16),
            f("members", since(3), array(&MEMBER_RESPONSE)),
        ],
        tags: &[],
    };
    /// `MemberResponse`.
    static MEMBER_RESPONSE: Struct = Struct {
        path: "members",
        versions: between(0, 5),
        flexible: Some(4),
        fields: &[
            f("members.member_id", since(3), STR),
            f("members.group_instance_id", since(3), NSTR),
            f("members.error_code", since(3), I16),
        ],
        tags: &[],
    };
}

/// `ListGroupsRequest` v0-5, flexible from v3 (`messages/list_groups_request.rs`).
#[rustfmt::skip]
pub(super) mod list_groups_request {
    use super::super::walker::*;

    pub(crate) static LIST_GROUPS_REQUEST: Struct = Struct {
        path: "ListGroupsRequest",
        versions: between(0, 5),
        flexible: Some(3),
        fields: &[
            f("states_filter", since(4), STR_ARRAY),
            f("types_filter", since(5), STR_ARRAY),
        ],
        tags: &[],
    };
}

/// `ListGroupsResponse` v0-5, flexible from v3 (`messages/list_groups_response.rs`).
#[rustfmt::skip]
pub(super) mod list_groups_response {
    use super::super::walker::*;

    pub(crate) static LIST_GROUPS_RESPONSE: Struct = Struct {
        path: "ListGroupsResponse",
        versions: between(0, 5),
        flexible: Some(3),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("error_code", ALL, I16),
            f("groups", ALL, array(&LISTED_GROUP)),
        ],
        tags: &[],
    };
    /// `ListedGroup`.
    static LISTED_GROUP: Struct = Struct {
        path: "groups",
        versions: between(0, 5),
        flexible: Some(3),
        fields: &[
            f("groups.group_id", ALL, STR),
            f("groups.protocol_type", ALL, STR),
            f("groups.group_state", since(4), STR),
            f("groups.group_type", since(5), STR),
        ],
        tags: &[],
    };
}

/// `DescribeGroupsRequest` v0-6, flexible from v5 (`messages/describe_groups_request.rs`).
#[rustfmt::skip]
pub(super) mod describe_groups_request {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_GROUPS_REQUEST: Struct = Struct {
        path: "DescribeGroupsRequest",
        versions: between(0, 6),
        flexible: Some(5),
        fields: &[
            f("groups", ALL, STR_ARRAY),
            f("include_authorized_operations", since(3), BOOL),
        ],
        tags: &[],
    };
}

/// `DescribeGroupsResponse` v0-6, flexible from v5 (`messages/describe_groups_response.rs`).
#[rustfmt::skip]
pub(super) mod describe_groups_response {
    use super::super::walker::*;

    pub(crate) static DESCRIBE_GROUPS_RESPONSE: Struct = Struct {
        path: "DescribeGroupsResponse",
        versions: between(0, 6),
        flexible: Some(5),
        fields: &[
            f("throttle_time_ms", since(1), I32),
            f("groups", ALL, array(&DESCRIBED_GROUP)),
        ],
        tags: &[],
    };
    /// `DescribedGroup`.
    static DESCRIBED_GROUP: Struct = Struct {
        path: "groups",
        versions: between(0, 6),
        flexible: Some(5),
        fields: &[
            f("groups.error_code", ALL, I16),
            f("groups.error_message", since(6), NSTR),
            f("groups.group_id", ALL, STR),
            f("groups.group_state", ALL, STR),
            f("groups.protocol_type", ALL, STR),
            f("groups.protocol_data", ALL, STR),
            f("groups.members", ALL, array(&DESCRIBED_GROUP_MEMBER)),
            f("groups.authorized_operations", since(3), I32),
        ],
        tags: &[],
    };
    /// `DescribedGroupMember`.
    static DESCRIBED_GROUP_MEMBER: Struct = Struct {
        path: "groups.members",
        versions: between(0, 6),
        flexible: Some(5),
        fields: &[
            f("groups.members.member_id", ALL, STR),
            f("groups.members.group_instance_id", since(4), NSTR),
            f("groups.members.client_id", ALL, STR),
            f("groups.members.client_host", ALL, STR),
            f("groups.members.member_metadata", ALL, BYTES),
            f("groups.members.member_assignment", ALL, BYTES),
        ],
        tags: &[],
    };
}

/// `DeleteGroupsRequest` v0-2, flexible from v2 (`messages/delete_groups_request.rs`).
#[rustfmt::skip]
pub(super) mod delete_groups_request {
    use super::super::walker::*;

    pub(crate) static DELETE_GROUPS_REQUEST: Struct = Struct {
        path: "DeleteGroupsRequest",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("groups_names", ALL, STR_ARRAY),
        ],
        tags: &[],
    };
}

/// `DeleteGroupsResponse` v0-2, flexible from v2 (`messages/delete_groups_response.rs`).
#[rustfmt::skip]
pub(super) mod delete_groups_response {
    use super::super::walker::*;

    pub(crate) static DELETE_GROUPS_RESPONSE: Struct = Struct {
        path: "DeleteGroupsResponse",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("throttle_time_ms", ALL, I32),
            f("results", ALL, array(&DELETABLE_GROUP_RESULT)),
        ],
        tags: &[],
    };
    /// `DeletableGroupResult`.
    static DELETABLE_GROUP_RESULT: Struct = Struct {
        path: "results",
        versions: between(0, 2),
        flexible: Some(2),
        fields: &[
            f("results.group_id", ALL, STR),
            f("results.error_code", ALL, I16),
        ],
        tags: &[],
    };
}
