//! The schema walker against `kafka-protocol` 0.18.0 itself.
//!
//! - Every covered API, request and response, at every version `kafka-protocol` knows, is built
//!   fully populated (two elements in every array, nested ones too, non-empty strings, every
//!   nullable both null and set, known tagged fields set so they are emitted, an unknown tagged
//!   field in every flexible struct), encoded by `kafka-protocol`, and must walk to exactly its
//!   encoded length: a field in the wrong place or with the wrong versions in a schema table
//!   shows up as a length mismatch or an error.
//! - Every single-byte corruption of those encodings, random bytes and random mutations: the
//!   walker never panics, and whenever it accepts a body `kafka-protocol` decodes that body
//!   too and stops at the same byte (so a schema more lenient than the decoder shows up).
//! - Hostile bodies (huge counts, negative lengths, overlong varints, every truncation) are
//!   refused with the right error.

use std::fmt::Debug;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use idem_wire::schema::{check_request, check_response, walk_request, walk_response, BodyError};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use proptest::prelude::*;

/// A tag number no covered struct knows, so both sides treat it as unknown.
const UNKNOWN_TAG: i32 = 99;

/// Builds a struct from its `Default`, setting each listed field when the version is in the
/// field's range (all versions when no range is given). Unless `n` ("nulls") is set, it also
/// adds an unknown tagged field, which `kafka-protocol` writes only in flexible versions.
macro_rules! build {
    ($t:ident, $v:ident, $n:ident; $($f:ident $($lo:literal..=$hi:literal)? = $val:expr),* $(,)?) => {{
        let mut m = build_classic!($t, $v, $n; $($f $($lo..=$hi)? = $val),*);
        if !$n {
            m.unknown_tagged_fields.insert(UNKNOWN_TAG, Bytes::from_static(b"unknown"));
        }
        m
    }};
}

/// [`build!`] for structs that never have tagged fields.
macro_rules! build_classic {
    ($t:ident, $v:ident, $n:ident; $($f:ident $($lo:literal..=$hi:literal)? = $val:expr),* $(,)?) => {{
        let mut m = $t::default();
        let _ = ($v, $n);
        $(if true $(&& ($lo..=$hi).contains(&$v))? {
            m.$f = $val;
        })*
        m
    }};
}

fn s<T: From<StrBytes>>(x: &'static str) -> T {
    StrBytes::from_static_str(x).into()
}

fn ns<T: From<StrBytes>>(n: bool, x: &'static str) -> Option<T> {
    (!n).then(|| s(x))
}

fn b() -> Bytes {
    Bytes::from_static(b"some bytes")
}

fn nb(n: bool) -> Option<Bytes> {
    (!n).then(b)
}

fn uuid<T: FromStr<Err: Debug>>() -> T {
    let text = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    text.parse().expect("valid uuid")
}

fn two<T>(f: impl Fn() -> T) -> Vec<T> {
    vec![f(), f()]
}

/// Lists the covered APIs once and derives from it the dispatch functions the tests need.
macro_rules! apis {
    ($($key:ident: $req_fn:ident $req:ident, $resp_fn:ident $resp:ident;)*) => {
        const APIS: &[ApiKey] = &[$(ApiKey::$key),*];

        /// `kafka-protocol`'s versions of the message.
        fn versions(api: ApiKey, response: bool) -> std::ops::RangeInclusive<i16> {
            let range = match (api, response) {
                $((ApiKey::$key, false) => $req::VERSIONS,
                  (ApiKey::$key, true) => $resp::VERSIONS,)*
                _ => panic!("{api:?} is not covered"),
            };
            range.min..=range.max
        }

        /// The message encoded by `kafka-protocol`: populated, or `Default` if `full` is false.
        fn encode(api: ApiKey, response: bool, v: i16, n: bool, full: bool) -> BytesMut {
            let mut buf = BytesMut::new();
            let res = match (api, response, full) {
                $((ApiKey::$key, false, true) => $req_fn(v, n).encode(&mut buf, v),
                  (ApiKey::$key, false, false) => $req::default().encode(&mut buf, v),
                  (ApiKey::$key, true, true) => $resp_fn(v, n).encode(&mut buf, v),
                  (ApiKey::$key, true, false) => $resp::default().encode(&mut buf, v),)*
                _ => panic!("{api:?} is not covered"),
            };
            res.unwrap_or_else(|e| panic!("encode {api:?} response={response} v{v}: {e}"));
            buf
        }

        /// `kafka-protocol`'s decode of `body`: the bytes it consumed.
        fn kp_decode(api: ApiKey, response: bool, v: i16, body: &[u8]) -> Result<usize, String> {
            let mut buf = Bytes::copy_from_slice(body);
            let res = match (api, response) {
                $((ApiKey::$key, false) => $req::decode(&mut buf, v).map(drop),
                  (ApiKey::$key, true) => $resp::decode(&mut buf, v).map(drop),)*
                _ => panic!("{api:?} is not covered"),
            };
            res.map(|()| body.len() - buf.len()).map_err(|e| e.to_string())
        }
    };
}

apis! {
    ApiVersions: api_versions_request ApiVersionsRequest, api_versions_response ApiVersionsResponse;
    Metadata: metadata_request MetadataRequest, metadata_response MetadataResponse;
    Produce: produce_request ProduceRequest, produce_response ProduceResponse;
    Fetch: fetch_request FetchRequest, fetch_response FetchResponse;
    ListOffsets: list_offsets_request ListOffsetsRequest, list_offsets_response ListOffsetsResponse;
    CreateTopics: create_topics_request CreateTopicsRequest, create_topics_response CreateTopicsResponse;
    DeleteTopics: delete_topics_request DeleteTopicsRequest, delete_topics_response DeleteTopicsResponse;
    CreatePartitions: create_partitions_request CreatePartitionsRequest,
        create_partitions_response CreatePartitionsResponse;
    DescribeConfigs: describe_configs_request DescribeConfigsRequest,
        describe_configs_response DescribeConfigsResponse;
    DescribeCluster: describe_cluster_request DescribeClusterRequest,
        describe_cluster_response DescribeClusterResponse;
    FindCoordinator: find_coordinator_request FindCoordinatorRequest,
        find_coordinator_response FindCoordinatorResponse;
    InitProducerId: init_producer_id_request InitProducerIdRequest,
        init_producer_id_response InitProducerIdResponse;
    DescribeProducers: describe_producers_request DescribeProducersRequest,
        describe_producers_response DescribeProducersResponse;
    DeleteRecords: delete_records_request DeleteRecordsRequest,
        delete_records_response DeleteRecordsResponse;
    JoinGroup: join_group_request JoinGroupRequest, join_group_response JoinGroupResponse;
    SyncGroup: sync_group_request SyncGroupRequest, sync_group_response SyncGroupResponse;
    Heartbeat: heartbeat_request HeartbeatRequest, heartbeat_response HeartbeatResponse;
    LeaveGroup: leave_group_request LeaveGroupRequest, leave_group_response LeaveGroupResponse;
    OffsetCommit: offset_commit_request OffsetCommitRequest, offset_commit_response OffsetCommitResponse;
    OffsetFetch: offset_fetch_request OffsetFetchRequest, offset_fetch_response OffsetFetchResponse;
    ListGroups: list_groups_request ListGroupsRequest, list_groups_response ListGroupsResponse;
    DescribeGroups: describe_groups_request DescribeGroupsRequest,
        describe_groups_response DescribeGroupsResponse;
    DeleteGroups: delete_groups_request DeleteGroupsRequest, delete_groups_response DeleteGroupsResponse;
    OffsetDelete: offset_delete_request OffsetDeleteRequest, offset_delete_response OffsetDeleteResponse;
}

fn walk(api: ApiKey, response: bool, v: i16, body: &[u8]) -> Result<usize, BodyError> {
    if response {
        walk_response(api, v, body)
    } else {
        walk_request(api, v, body)
    }
}

fn check(api: ApiKey, response: bool, v: i16, body: &[u8]) -> Result<(), BodyError> {
    if response {
        check_response(api, v, body)
    } else {
        check_request(api, v, body)
    }
}

/// Every (api, response, version) covered.
fn all_messages() -> Vec<(ApiKey, bool, i16)> {
    let mut all = vec![];
    for &api in APIS {
        for response in [false, true] {
            all.extend(versions(api, response).map(|v| (api, response, v)));
        }
    }
    all
}

/// Every covered message, populated, in both null variants: (api, response, version, body).
fn all_encodings() -> Vec<(ApiKey, bool, i16, Vec<u8>)> {
    let mut all = vec![];
    for (api, response, v) in all_messages() {
        for nulls in [false, true] {
            let body = encode(api, response, v, nulls, true).to_vec();
            all.push((api, response, v, body));
        }
    }
    all
}

#[test]
fn covered_versions_are_the_advertised_ones() {
    let mut differ = vec![];
    for &api in APIS {
        let range = api.valid_versions();
        for response in [false, true] {
            let ours = versions(api, response);
            if ours != (range.min..=range.max) {
                differ.push((api, response, ours));
            }
        }
    }
    // kafka-protocol 0.18.0's `ApiKey::valid_versions` lists one more version than these
    // request types decode (their responses have it). The walker follows the types: those
    // versions are Unsupported, as decoding them fails.
    let expected = [
        (ApiKey::InitProducerId, false, 0..=5),
        (ApiKey::OffsetCommit, false, 2..=9),
        (ApiKey::OffsetFetch, false, 1..=9),
    ];
    assert_eq!(differ, expected);
}

#[test]
fn every_version_walks_to_its_encoded_length() {
    let all = all_encodings();
    // 24 APIs, requests and responses, every version, two null variants.
    assert_eq!(all.len(), 2 * all_messages().len());
    assert!(all.len() > 600, "only {} messages", all.len());
    for (api, response, v, body) in all {
        let what = format!("{api:?} response={response} v{v}");
        let len = body.len();
        let decoded = kp_decode(api, response, v, &body);
        assert_eq!(decoded, Ok(len), "kafka-protocol: {what}");
        assert_eq!(walk(api, response, v, &body), Ok(len), "walker: {what}");
        // Bytes after the message are left alone, as kafka-protocol leaves them.
        let longer = [&body[..], &[0xff; 7]].concat();
        assert_eq!(walk(api, response, v, &longer), Ok(len), "trailing: {what}");
        assert_eq!(check(api, response, v, &body), Ok(()), "check: {what}");
    }
}

#[test]
fn population_really_populates() {
    for (api, response, v) in all_messages() {
        let what = format!("{api:?} response={response} v{v}");
        let default = encode(api, response, v, false, false);
        let set = encode(api, response, v, false, true);
        let nulls = encode(api, response, v, true, true);
        // Every field is set away from its default (ApiVersionsRequest v0-2 has no field).
        assert!(set != default || set.is_empty(), "{what}: nothing set");
        assert!(set.len() >= nulls.len(), "{what}: {}", set.len());
        let len = Ok(default.len());
        assert_eq!(walk(api, response, v, &default), len, "{what} default");
    }
    // Versions differ in fields, so the first and last encodings differ in size.
    for &api in APIS {
        for response in [false, true] {
            let (lo, hi) = versions(api, response).into_inner();
            if lo < hi {
                let first = encode(api, response, lo, false, true).len();
                let last = encode(api, response, hi, false, true).len();
                assert_ne!(first, last, "{api:?} response={response}");
            }
        }
    }
    // Arrays nest: 2 topics of 2 partitions each carry a record set.
    for (api, response) in [(ApiKey::Produce, false), (ApiKey::Fetch, true)] {
        for v in versions(api, response) {
            let body = encode(api, response, v, false, true);
            let sets = body.windows(b().len()).filter(|w| *w == b()).count();
            assert_eq!(sets, 4, "{api:?} v{v}");
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for (api, response, v, body) in all_encodings() {
        for cut in 0..body.len() {
            // Parsing is deterministic: no proper prefix of a message is a message.
            let res = walk(api, response, v, &body[..cut]);
            assert!(res.is_err(), "{api:?} response={response} v{v} cut {cut}");
        }
    }
}

/// Overwrites one, two or four bytes at every position of every encoding with a value that
/// means something to a length or varint (0, 1, 0x7f, 0x80, 0xff; 0xffff is a classic null):
/// whatever the walker accepts, kafka-protocol must decode to the same byte. This catches a
/// schema more lenient than the decoder (a nullable field that is not, a known tag taken for
/// unknown), which valid encodings alone cannot show.
#[test]
fn every_single_point_mutation_agrees() {
    for (api, response, v, body) in all_encodings() {
        for at in 0..body.len() {
            for (width, byte) in [1, 2, 4].into_iter().flat_map(|w| BYTES.map(|b| (w, b))) {
                let mut mutated = body.clone();
                let end = (at + width).min(body.len());
                mutated[at..end].fill(byte);
                if let Err(e) = agrees(api, response, v, &mutated) {
                    panic!("{api:?} response={response} v{v} at {at}: {e}");
                }
            }
        }
    }
}

/// Bytes that mean something to a length or a varint.
const BYTES: [u8; 5] = [0, 1, 0x7f, 0x80, 0xff];

/// Walks `body`; when the walker accepts it, kafka-protocol must decode it to the same byte.
/// When the walker refuses it, kafka-protocol is not called: it might abort the process.
fn agrees(api: ApiKey, response: bool, v: i16, body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(n) = walk(api, response, v, body) {
        prop_assert!(n <= body.len());
        let decoded = kp_decode(api, response, v, body);
        prop_assert_eq!(decoded, Ok(n), "{:?} response={} v{}", api, response, v);
    }
    Ok(())
}

/// The error as (variant, field), to compare in one line.
fn err(res: Result<usize, BodyError>) -> (&'static str, &'static str) {
    match res {
        Err(BodyError::TooLong { field, .. }) => ("TooLong", field),
        Err(BodyError::Truncated { field }) => ("Truncated", field),
        Err(BodyError::Malformed { field }) => ("Malformed", field),
        Err(BodyError::Invalid { field, .. }) => ("Invalid", field),
        other => panic!("unexpected {other:?}"),
    }
}

/// The request walked with ten bytes of junk after `parts`: the field and count it refuses.
fn too_long(api: ApiKey, v: i16, parts: &[&[u8]]) -> (&'static str, i64) {
    let body = [parts.concat(), vec![0; 10]].concat();
    match walk_request(api, v, &body) {
        Err(BodyError::TooLong { field, claimed, .. }) => (field, claimed),
        other => panic!("{api:?} v{v}: expected TooLong, got {other:?}"),
    }
}

/// CVE-2022-34917: an array count far beyond the body, classic (int32) and compact (varint).
#[test]
fn huge_array_counts_are_too_long() {
    use ApiKey::{CreateTopics, Fetch, Metadata, Produce};
    const I32_MAX: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
    const U32_MAX: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0x0f];
    let classic = ("topics", i64::from(i32::MAX));
    let compact = ("topics", i64::from(u32::MAX - 1));
    // Metadata and CreateTopics start with their topics.
    assert_eq!(too_long(Metadata, 0, &[I32_MAX]), classic);
    assert_eq!(too_long(Metadata, 12, &[U32_MAX]), compact);
    assert_eq!(too_long(CreateTopics, 2, &[I32_MAX]), classic);
    assert_eq!(too_long(CreateTopics, 7, &[U32_MAX]), compact);
    // Fetch: replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level, then topics;
    // from v7 session_id and session_epoch come before topics.
    assert_eq!(too_long(Fetch, 4, &[&[0; 17], I32_MAX]), classic);
    assert_eq!(too_long(Fetch, 12, &[&[0; 25], U32_MAX]), compact);
    // Produce: transactional_id null, acks, timeout_ms, then topic_data...
    let res = too_long(Produce, 3, &[&[0xff, 0xff, 0, 1, 0, 0, 0, 0], I32_MAX]);
    assert_eq!(res, ("topic_data", classic.1));
    let res = too_long(Produce, 9, &[&[0, 0, 1, 0, 0, 0, 0], U32_MAX]);
    assert_eq!(res, ("topic_data", compact.1));
    // ... or one topic "t" whose partition_data is huge.
    let topic = &[0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't'];
    let res = too_long(Produce, 3, &[topic, I32_MAX]);
    assert_eq!(res, ("topic_data.partition_data", classic.1));
    // Fetch v7: no topics, one forgotten topic "t" whose partitions (int32 elements) claim 5:
    // one byte each would fit in the 8 + 10 left, four bytes each do not.
    let forgotten = &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 5];
    let res = too_long(Fetch, 7, &[&[0; 25], forgotten, &[0; 8]]);
    assert_eq!(res, ("forgotten_topics_data.partitions", 5));
    // Responses too: a hostile broker gets the same treatment.
    let res = walk_response(Metadata, 0, &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(err(res), ("TooLong", "brokers"));
}

#[test]
fn negative_lengths_below_minus_one_are_malformed() {
    // ProduceRequest v3: a transactional_id of length -2, then a topic_data count of -2.
    let res = walk_request(ApiKey::Produce, 3, &[0xff, 0xfe, 0, 0]);
    assert_eq!(err(res), ("Malformed", "transactional_id"));
    let body = [0xff, 0xff, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe];
    let res = walk_request(ApiKey::Produce, 3, &body);
    assert_eq!(err(res), ("Malformed", "topic_data"));
    // SyncGroupResponse v0: error_code, then an assignment (bytes) of length -2.
    let res = walk_response(ApiKey::SyncGroup, 0, &[0, 0, 0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(err(res), ("Malformed", "assignment"));
    // -1 is null, which a non-nullable field refuses too...
    let res = walk_response(ApiKey::SyncGroup, 0, &[0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(err(res), ("Malformed", "assignment"));
    // ... and a nullable one takes.
    assert_eq!(walk_request(ApiKey::Metadata, 0, &[0xff; 4]), Ok(4));
}

#[test]
fn overlong_varints_are_malformed() {
    let want = ("Malformed", "transactional_id");
    // ProduceRequest v9: six bytes for transactional_id's compact length...
    let body = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0];
    assert_eq!(err(walk_request(ApiKey::Produce, 9, &body)), want);
    // ... or five whose value overflows 32 bits.
    let body = [0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0];
    assert_eq!(err(walk_request(ApiKey::Produce, 9, &body)), want);
    // HeartbeatResponse v4: throttle_time_ms, error_code, then six bytes of tagged count.
    let body = [0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    let res = walk_response(ApiKey::Heartbeat, 4, &body);
    assert_eq!(err(res), ("Malformed", "HeartbeatResponse"));
    // Five bytes that fit are fine: an empty tagged section spelled long.
    let body = [0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x00];
    assert_eq!(walk_response(ApiKey::Heartbeat, 4, &body), Ok(11));
}

#[test]
fn tagged_fields_follow_kafka_protocol() {
    let heartbeat = |tags: &[u8]| {
        // HeartbeatResponse v4: throttle_time_ms, error_code, then the tagged fields.
        let body = [&[0; 6], tags].concat();
        walk_response(ApiKey::Heartbeat, 4, &body)
    };
    let too_long = ("TooLong", "HeartbeatResponse");
    // An unknown tag is skipped by its size, which must fit.
    assert_eq!(heartbeat(&[1, 42, 3, 1, 2, 3]), Ok(12));
    assert_eq!(err(heartbeat(&[1, 42, 100, 1, 2, 3])), too_long);
    // More entries than the bytes left could hold.
    assert_eq!(err(heartbeat(&[0xff, 0xff, 0xff, 0xff, 0x0f])), too_long);
    // A known tag's value is read in place whatever its size says, as kafka-protocol does.
    // FetchRequest v12: 25 bytes of scalars, no topics, no forgotten topics, rack_id "", then
    // root tag 0 (cluster_id, a compact nullable string) claiming 99 bytes but holding 2.
    let body = [&[0; 25][..], &[1, 1, 1], &[1, 0, 99, 3, b'a', b'b']].concat();
    assert_eq!(walk_request(ApiKey::Fetch, 12, &body), Ok(body.len()));
    assert_eq!(kp_decode(ApiKey::Fetch, false, 12, &body), Ok(body.len()));
    // Tag 1 (replica_state) is known from v15 only: kafka-protocol refuses it before.
    let body = [&[0; 25][..], &[1, 1, 1], &[1, 1, 12], &[0; 12]].concat();
    assert!(kp_decode(ApiKey::Fetch, false, 12, &body).is_err());
    let res = walk_request(ApiKey::Fetch, 12, &body);
    assert_eq!(err(res), ("Invalid", "replica_state"));
}

#[test]
fn strings_must_be_utf8() {
    // ProduceRequest v3 with a transactional_id of two bytes that are not UTF-8.
    let body = [0, 2, 0xc3, 0x28, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(kp_decode(ApiKey::Produce, false, 3, &body).is_err());
    let res = walk_request(ApiKey::Produce, 3, &body);
    assert_eq!(err(res), ("Invalid", "transactional_id"));
}

#[test]
fn unknown_apis_and_versions_are_unsupported() {
    let cases = [
        (ApiKey::SaslHandshake, false, 1),
        (ApiKey::EndTxn, true, 0),
        (ApiKey::Produce, false, 2),
        (ApiKey::Produce, true, 14),
        (ApiKey::Fetch, true, -1),
        (ApiKey::InitProducerId, false, 6),
    ];
    for (api, response, version) in cases {
        let api_key = api as i16;
        let res = check(api, response, version, &[0; 64]);
        assert_eq!(res, Err(BodyError::Unsupported { api_key, version }));
    }
}

/// Picks a covered message: (api, response, version).
fn any_message() -> impl Strategy<Value = (ApiKey, bool, i16)> {
    (0..APIS.len(), any::<bool>(), any::<u8>()).prop_map(|(i, response, pick)| {
        let api = APIS[i];
        let (lo, hi) = versions(api, response).into_inner();
        let span = u8::try_from(hi - lo + 1).expect("few versions");
        (api, response, lo + i16::from(pick % span))
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![Just(0u8), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(body: &mut Vec<u8>, m: &Mutation) {
    // Positions wrap around the current length; nothing to do on an empty body.
    let len = body.len();
    match *m {
        Mutation::Set(i, b) if len > 0 => body[i % len] = b,
        Mutation::Insert(i, b) => body.insert(i % (len + 1), b),
        Mutation::Remove(i) if len > 0 => drop(body.remove(i % len)),
        Mutation::Truncate(i) => body.truncate(i % (len + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(
        (api, response, v) in any_message(),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        agrees(api, response, v, &body)?;
    }

    #[test]
    fn mutated_encodings_agree_with_kafka_protocol(
        (api, response, v) in any_message(),
        nulls in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut body = encode(api, response, v, nulls, true).to_vec();
        for m in &mutations {
            mutate(&mut body, m);
        }
        agrees(api, response, v, &body)?;
    }
}

// Population of every covered message, transcribed from the field docs of kafka-protocol's
// structs ("Supported API versions"), independently of the schema tables under test.

fn produce_request(v: i16, n: bool) -> ProduceRequest {
    use produce_request::*;
    build!(ProduceRequest, v, n;
        transactional_id = ns(n, "x"), acks = 5, timeout_ms = 7,
        topic_data = two(|| build!(TopicProduceData, v, n;
            name 3..=12 = s("x"), topic_id 13..=13 = uuid(),
            partition_data = two(|| build!(PartitionProduceData, v, n;
                index = 7, records = nb(n))))))
}

fn produce_response(v: i16, n: bool) -> ProduceResponse {
    use produce_response::*;
    build!(ProduceResponse, v, n;
        responses = two(|| build!(TopicProduceResponse, v, n;
            name 3..=12 = s("x"), topic_id 13..=13 = uuid(),
            partition_responses = two(|| build!(PartitionProduceResponse, v, n;
                index = 7, error_code = 5, base_offset = 11, log_append_time_ms = 11,
                log_start_offset 5..=13 = 11,
                record_errors 8..=13 = two(|| build!(BatchIndexAndErrorMessage, v, n;
                    batch_index 8..=13 = 7, batch_index_error_message 8..=13 = ns(n, "x"))),
                error_message 8..=13 = ns(n, "x"),
                current_leader 10..=13 = build!(LeaderIdAndEpoch, v, n;
                    leader_id 10..=13 = 7.into(), leader_epoch 10..=13 = 7))))),
        throttle_time_ms = 7,
        node_endpoints 10..=13 = two(|| build!(NodeEndpoint, v, n;
            node_id 10..=13 = 7.into(), host 10..=13 = s("x"), port 10..=13 = 7,
            rack 10..=13 = ns(n, "x"))))
}

fn fetch_request(v: i16, n: bool) -> FetchRequest {
    use fetch_request::*;
    build!(FetchRequest, v, n;
        cluster_id 12..=18 = ns(n, "x"), replica_id 4..=14 = 7.into(),
        replica_state 15..=18 = build!(ReplicaState, v, n;
            replica_id 15..=18 = 7.into(), replica_epoch 15..=18 = 11),
        max_wait_ms = 7, min_bytes = 7, max_bytes = 7, isolation_level = 3, session_id 7..=18 = 7,
        session_epoch 7..=18 = 7,
        topics = two(|| build!(FetchTopic, v, n;
            topic 4..=12 = s("x"), topic_id 13..=18 = uuid(),
            partitions = two(|| build!(FetchPartition, v, n;
                partition = 7, current_leader_epoch 9..=18 = 7, fetch_offset = 11,
                last_fetched_epoch 12..=18 = 7, log_start_offset 5..=18 = 11,
                partition_max_bytes = 7, replica_directory_id 17..=18 = uuid(),
                high_watermark 18..=18 = 11)))),
        forgotten_topics_data 7..=18 = two(|| build!(ForgottenTopic, v, n;
            topic 7..=12 = s("x"), topic_id 13..=18 = uuid(), partitions 7..=18 = vec![7, 8])),
        rack_id 11..=18 = s("x"))
}

fn fetch_response(v: i16, n: bool) -> FetchResponse {
    use fetch_response::*;
    build!(FetchResponse, v, n;
        throttle_time_ms = 7, error_code 7..=18 = 5, session_id 7..=18 = 7,
        responses = two(|| build!(FetchableTopicResponse, v, n;
            topic 4..=12 = s("x"), topic_id 13..=18 = uuid(),
            partitions = two(|| build!(PartitionData, v, n;
                partition_index = 7, error_code = 5, high_watermark = 11, last_stable_offset = 11,
                log_start_offset 5..=18 = 11,
                diverging_epoch 12..=18 = build!(EpochEndOffset, v, n;
                    epoch 12..=18 = 7, end_offset 12..=18 = 11),
                current_leader 12..=18 = build!(LeaderIdAndEpoch, v, n;
                    leader_id 12..=18 = 7.into(), leader_epoch 12..=18 = 7),
                snapshot_id 12..=18 = build!(SnapshotId, v, n;
                    end_offset = 11, epoch = 7),
                aborted_transactions = (!n).then(|| two(|| build!(AbortedTransaction, v, n;
                    producer_id = 11.into(), first_offset = 11))),
                preferred_read_replica 11..=18 = 7.into(), records = nb(n))))),
        node_endpoints 16..=18 = two(|| build!(NodeEndpoint, v, n;
            node_id 16..=18 = 7.into(), host 16..=18 = s("x"), port 16..=18 = 7,
            rack 16..=18 = ns(n, "x"))))
}

fn list_offsets_request(v: i16, n: bool) -> ListOffsetsRequest {
    use list_offsets_request::*;
    build!(ListOffsetsRequest, v, n;
        replica_id = 7.into(), isolation_level 2..=10 = 3,
        topics = two(|| build!(ListOffsetsTopic, v, n;
            name = s("x"),
            partitions = two(|| build!(ListOffsetsPartition, v, n;
                partition_index = 7, current_leader_epoch 4..=10 = 7, timestamp = 11)))),
        timeout_ms 10..=10 = 7)
}

fn list_offsets_response(v: i16, n: bool) -> ListOffsetsResponse {
    use list_offsets_response::*;
    build!(ListOffsetsResponse, v, n;
        throttle_time_ms 2..=10 = 7,
        topics = two(|| build!(ListOffsetsTopicResponse, v, n;
            name = s("x"),
            partitions = two(|| build!(ListOffsetsPartitionResponse, v, n;
                partition_index = 7, error_code = 5, timestamp = 11, offset = 11,
                leader_epoch 4..=10 = 7)))))
}

fn delete_records_request(v: i16, n: bool) -> DeleteRecordsRequest {
    use delete_records_request::*;
    build!(DeleteRecordsRequest, v, n;
        topics = two(|| build!(DeleteRecordsTopic, v, n;
            name = s("x"),
            partitions = two(|| build!(DeleteRecordsPartition, v, n;
                partition_index = 7, offset = 11)))),
        timeout_ms = 7)
}

fn delete_records_response(v: i16, n: bool) -> DeleteRecordsResponse {
    use delete_records_response::*;
    build!(DeleteRecordsResponse, v, n;
        throttle_time_ms = 7,
        topics = two(|| build!(DeleteRecordsTopicResult, v, n;
            name = s("x"),
            partitions = two(|| build!(DeleteRecordsPartitionResult, v, n;
                partition_index = 7, low_watermark = 11, error_code = 5)))))
}

fn api_versions_request(v: i16, n: bool) -> ApiVersionsRequest {
    use api_versions_request::*;
    build!(ApiVersionsRequest, v, n;
        client_software_name 3..=4 = s("x"), client_software_version 3..=4 = s("x"))
}

fn api_versions_response(v: i16, n: bool) -> ApiVersionsResponse {
    use api_versions_response::*;
    build!(ApiVersionsResponse, v, n;
        error_code = 5,
        api_keys = two(|| build!(ApiVersion, v, n;
            api_key = 5, min_version = 5, max_version = 5)),
        throttle_time_ms 1..=4 = 7,
        supported_features 3..=4 = two(|| build!(SupportedFeatureKey, v, n;
            name 3..=4 = s("x"), min_version 3..=4 = 5, max_version 3..=4 = 5)),
        finalized_features_epoch 3..=4 = 11,
        finalized_features 3..=4 = two(|| build!(FinalizedFeatureKey, v, n;
            name 3..=4 = s("x"), max_version_level 3..=4 = 5, min_version_level 3..=4 = 5)),
        zk_migration_ready 3..=4 = true)
}

fn metadata_request(v: i16, n: bool) -> MetadataRequest {
    use metadata_request::*;
    build!(MetadataRequest, v, n;
        topics = (!n).then(|| two(|| build!(MetadataRequestTopic, v, n;
            topic_id 10..=13 = uuid(), name = ns(n, "x")))),
        allow_auto_topic_creation 4..=13 = false,
        include_cluster_authorized_operations 8..=10 = true,
        include_topic_authorized_operations 8..=13 = true)
}

fn metadata_response(v: i16, n: bool) -> MetadataResponse {
    use metadata_response::*;
    build!(MetadataResponse, v, n;
        throttle_time_ms 3..=13 = 7,
        brokers = two(|| build!(MetadataResponseBroker, v, n;
            node_id = 7.into(), host = s("x"), port = 7, rack 1..=13 = ns(n, "x"))),
        cluster_id 2..=13 = ns(n, "x"), controller_id 1..=13 = 7.into(),
        topics = two(|| build!(MetadataResponseTopic, v, n;
            error_code = 5, name = ns(n, "x"), topic_id 10..=13 = uuid(),
            is_internal 1..=13 = true,
            partitions = two(|| build!(MetadataResponsePartition, v, n;
                error_code = 5, partition_index = 7, leader_id = 7.into(),
                leader_epoch 7..=13 = 7, replica_nodes = vec![7.into(), 8.into()],
                isr_nodes = vec![7.into(), 8.into()],
                offline_replicas 5..=13 = vec![7.into(), 8.into()])),
            topic_authorized_operations 8..=13 = 7)),
        cluster_authorized_operations 8..=10 = 7, error_code 13..=13 = 5)
}

fn describe_cluster_request(v: i16, n: bool) -> DescribeClusterRequest {
    use describe_cluster_request::*;
    build!(DescribeClusterRequest, v, n;
        include_cluster_authorized_operations = true, endpoint_type 1..=2 = 3,
        include_fenced_brokers 2..=2 = true)
}

fn describe_cluster_response(v: i16, n: bool) -> DescribeClusterResponse {
    use describe_cluster_response::*;
    build!(DescribeClusterResponse, v, n;
        throttle_time_ms = 7, error_code = 5, error_message = ns(n, "x"), endpoint_type 1..=2 = 3,
        cluster_id = s("x"), controller_id = 7.into(),
        brokers = two(|| build!(DescribeClusterBroker, v, n;
            broker_id = 7.into(), host = s("x"), port = 7, rack = ns(n, "x"),
            is_fenced 2..=2 = true)),
        cluster_authorized_operations = 7)
}

fn find_coordinator_request(v: i16, n: bool) -> FindCoordinatorRequest {
    use find_coordinator_request::*;
    build!(FindCoordinatorRequest, v, n;
        key 0..=3 = s("x"), key_type 1..=6 = 3, coordinator_keys 4..=6 = vec![s("a"), s("bc")])
}

fn find_coordinator_response(v: i16, n: bool) -> FindCoordinatorResponse {
    use find_coordinator_response::*;
    build!(FindCoordinatorResponse, v, n;
        throttle_time_ms 1..=6 = 7, error_code 0..=3 = 5, error_message 1..=3 = ns(n, "x"),
        node_id 0..=3 = 7.into(), host 0..=3 = s("x"), port 0..=3 = 7,
        coordinators 4..=6 = two(|| build!(Coordinator, v, n;
            key 4..=6 = s("x"), node_id 4..=6 = 7.into(), host 4..=6 = s("x"), port 4..=6 = 7,
            error_code 4..=6 = 5, error_message 4..=6 = ns(n, "x"))))
}

fn init_producer_id_request(v: i16, n: bool) -> InitProducerIdRequest {
    use init_producer_id_request::*;
    build!(InitProducerIdRequest, v, n;
        transactional_id = ns(n, "x"), transaction_timeout_ms = 7, producer_id 3..=5 = 11.into(),
        producer_epoch 3..=5 = 5)
}

fn init_producer_id_response(v: i16, n: bool) -> InitProducerIdResponse {
    use init_producer_id_response::*;
    build!(InitProducerIdResponse, v, n;
        throttle_time_ms = 7, error_code = 5, producer_id = 11.into(), producer_epoch = 5,
        ongoing_txn_producer_id 6..=6 = 11.into(), ongoing_txn_producer_epoch 6..=6 = 5)
}

fn describe_producers_request(v: i16, n: bool) -> DescribeProducersRequest {
    use describe_producers_request::*;
    build!(DescribeProducersRequest, v, n;
        topics = two(|| build!(TopicRequest, v, n;
            name = s("x"), partition_indexes = vec![7, 8])))
}

fn describe_producers_response(v: i16, n: bool) -> DescribeProducersResponse {
    use describe_producers_response::*;
    build!(DescribeProducersResponse, v, n;
        throttle_time_ms = 7,
        topics = two(|| build!(TopicResponse, v, n;
            name = s("x"),
            partitions = two(|| build!(PartitionResponse, v, n;
                partition_index = 7, error_code = 5, error_message = ns(n, "x"),
                active_producers = two(|| build!(ProducerState, v, n;
                    producer_id = 11.into(), producer_epoch = 7, last_sequence = 7,
                    last_timestamp = 11, coordinator_epoch = 7, current_txn_start_offset = 11)))))))
}

fn create_topics_request(v: i16, n: bool) -> CreateTopicsRequest {
    use create_topics_request::*;
    build!(CreateTopicsRequest, v, n;
        topics = two(|| build!(CreatableTopic, v, n;
            name = s("x"), num_partitions = 7, replication_factor = 5,
            assignments = two(|| build!(CreatableReplicaAssignment, v, n;
                partition_index = 7, broker_ids = vec![7.into(), 8.into()])),
            configs = two(|| build!(CreatableTopicConfig, v, n;
                name = s("x"), value = ns(n, "x"))))),
        timeout_ms = 7, validate_only = true)
}

fn create_topics_response(v: i16, n: bool) -> CreateTopicsResponse {
    use create_topics_response::*;
    build!(CreateTopicsResponse, v, n;
        throttle_time_ms = 7,
        topics = two(|| build!(CreatableTopicResult, v, n;
            name = s("x"), topic_id 7..=7 = uuid(), error_code = 5, error_message = ns(n, "x"),
            topic_config_error_code 5..=7 = 5, num_partitions 5..=7 = 7,
            replication_factor 5..=7 = 5,
            configs 5..=7 = (!n).then(|| two(|| build!(CreatableTopicConfigs, v, n;
                name 5..=7 = s("x"), value 5..=7 = ns(n, "x"), read_only 5..=7 = true,
                config_source 5..=7 = 3, is_sensitive 5..=7 = true))))))
}

fn delete_topics_request(v: i16, n: bool) -> DeleteTopicsRequest {
    use delete_topics_request::*;
    build!(DeleteTopicsRequest, v, n;
        topics 6..=6 = two(|| build!(DeleteTopicState, v, n;
            name 6..=6 = ns(n, "x"), topic_id 6..=6 = uuid())),
        topic_names 1..=5 = vec![s("a"), s("bc")], timeout_ms = 7)
}

fn delete_topics_response(v: i16, n: bool) -> DeleteTopicsResponse {
    use delete_topics_response::*;
    build!(DeleteTopicsResponse, v, n;
        throttle_time_ms = 7,
        responses = two(|| build!(DeletableTopicResult, v, n;
            name = ns(n, "x"), topic_id 6..=6 = uuid(), error_code = 5,
            error_message 5..=6 = ns(n, "x"))))
}

fn create_partitions_request(v: i16, n: bool) -> CreatePartitionsRequest {
    use create_partitions_request::*;
    build!(CreatePartitionsRequest, v, n;
        topics = two(|| build!(CreatePartitionsTopic, v, n;
            name = s("x"), count = 7,
            assignments = (!n).then(|| two(|| build!(CreatePartitionsAssignment, v, n;
                broker_ids = vec![7.into(), 8.into()]))))),
        timeout_ms = 7, validate_only = true)
}

fn create_partitions_response(v: i16, n: bool) -> CreatePartitionsResponse {
    use create_partitions_response::*;
    build!(CreatePartitionsResponse, v, n;
        throttle_time_ms = 7,
        results = two(|| build!(CreatePartitionsTopicResult, v, n;
            name = s("x"), error_code = 5, error_message = ns(n, "x"))))
}

fn describe_configs_request(v: i16, n: bool) -> DescribeConfigsRequest {
    use describe_configs_request::*;
    build!(DescribeConfigsRequest, v, n;
        resources = two(|| build!(DescribeConfigsResource, v, n;
            resource_type = 3, resource_name = s("x"),
            configuration_keys = (!n).then(|| vec![s("a"), s("bc")]))),
        include_synonyms = true, include_documentation 3..=4 = true)
}

fn describe_configs_response(v: i16, n: bool) -> DescribeConfigsResponse {
    use describe_configs_response::*;
    build!(DescribeConfigsResponse, v, n;
        throttle_time_ms = 7,
        results = two(|| build!(DescribeConfigsResult, v, n;
            error_code = 5, error_message = ns(n, "x"), resource_type = 3, resource_name = s("x"),
            configs = two(|| build!(DescribeConfigsResourceResult, v, n;
                name = s("x"), value = ns(n, "x"), read_only = true, config_source = 3,
                is_sensitive = true,
                synonyms = two(|| build!(DescribeConfigsSynonym, v, n;
                    name = s("x"), value = ns(n, "x"), source = 3)),
                config_type 3..=4 = 3, documentation 3..=4 = ns(n, "x"))))))
}

fn join_group_request(v: i16, n: bool) -> JoinGroupRequest {
    use join_group_request::*;
    build!(JoinGroupRequest, v, n;
        group_id = s("x"), session_timeout_ms = 7, rebalance_timeout_ms 1..=9 = 7,
        member_id = s("x"), group_instance_id 5..=9 = ns(n, "x"), protocol_type = s("x"),
        protocols = two(|| build!(JoinGroupRequestProtocol, v, n;
            name = s("x"), metadata = b())),
        reason 8..=9 = ns(n, "x"))
}

fn join_group_response(v: i16, n: bool) -> JoinGroupResponse {
    use join_group_response::*;
    build!(JoinGroupResponse, v, n;
        throttle_time_ms 2..=9 = 7, error_code = 5, generation_id = 7,
        protocol_type 7..=9 = ns(n, "x"), protocol_name = ns(n, "x"), leader = s("x"),
        skip_assignment 9..=9 = true, member_id = s("x"),
        members = two(|| build!(JoinGroupResponseMember, v, n;
            member_id = s("x"), group_instance_id 5..=9 = ns(n, "x"), metadata = b())))
}

fn sync_group_request(v: i16, n: bool) -> SyncGroupRequest {
    use sync_group_request::*;
    build!(SyncGroupRequest, v, n;
        group_id = s("x"), generation_id = 7, member_id = s("x"),
        group_instance_id 3..=5 = ns(n, "x"), protocol_type 5..=5 = ns(n, "x"),
        protocol_name 5..=5 = ns(n, "x"),
        assignments = two(|| build!(SyncGroupRequestAssignment, v, n;
            member_id = s("x"), assignment = b())))
}

fn sync_group_response(v: i16, n: bool) -> SyncGroupResponse {
    use sync_group_response::*;
    build!(SyncGroupResponse, v, n;
        throttle_time_ms 1..=5 = 7, error_code = 5, protocol_type 5..=5 = ns(n, "x"),
        protocol_name 5..=5 = ns(n, "x"), assignment = b())
}

fn heartbeat_request(v: i16, n: bool) -> HeartbeatRequest {
    use heartbeat_request::*;
    build!(HeartbeatRequest, v, n;
        group_id = s("x"), generation_id = 7, member_id = s("x"),
        group_instance_id 3..=4 = ns(n, "x"))
}

fn heartbeat_response(v: i16, n: bool) -> HeartbeatResponse {
    use heartbeat_response::*;
    build!(HeartbeatResponse, v, n;
        throttle_time_ms 1..=4 = 7, error_code = 5)
}

fn leave_group_request(v: i16, n: bool) -> LeaveGroupRequest {
    use leave_group_request::*;
    build!(LeaveGroupRequest, v, n;
        group_id = s("x"), member_id 0..=2 = s("x"),
        members 3..=5 = two(|| build!(MemberIdentity, v, n;
            member_id 3..=5 = s("x"), group_instance_id 3..=5 = ns(n, "x"),
            reason 5..=5 = ns(n, "x"))))
}

fn leave_group_response(v: i16, n: bool) -> LeaveGroupResponse {
    use leave_group_response::*;
    build!(LeaveGroupResponse, v, n;
        throttle_time_ms 1..=5 = 7, error_code = 5,
        members 3..=5 = two(|| build!(MemberResponse, v, n;
            member_id 3..=5 = s("x"), group_instance_id 3..=5 = ns(n, "x"), error_code 3..=5 = 5)))
}

fn list_groups_request(v: i16, n: bool) -> ListGroupsRequest {
    use list_groups_request::*;
    build!(ListGroupsRequest, v, n;
        states_filter 4..=5 = vec![s("a"), s("bc")], types_filter 5..=5 = vec![s("a"), s("bc")])
}

fn list_groups_response(v: i16, n: bool) -> ListGroupsResponse {
    use list_groups_response::*;
    build!(ListGroupsResponse, v, n;
        throttle_time_ms 1..=5 = 7, error_code = 5,
        groups = two(|| build!(ListedGroup, v, n;
            group_id = s("x"), protocol_type = s("x"), group_state 4..=5 = s("x"),
            group_type 5..=5 = s("x"))))
}

fn describe_groups_request(v: i16, n: bool) -> DescribeGroupsRequest {
    use describe_groups_request::*;
    build!(DescribeGroupsRequest, v, n;
        groups = vec![s("a"), s("bc")], include_authorized_operations 3..=6 = true)
}

fn describe_groups_response(v: i16, n: bool) -> DescribeGroupsResponse {
    use describe_groups_response::*;
    build!(DescribeGroupsResponse, v, n;
        throttle_time_ms 1..=6 = 7,
        groups = two(|| build!(DescribedGroup, v, n;
            error_code = 5, error_message 6..=6 = ns(n, "x"), group_id = s("x"),
            group_state = s("x"), protocol_type = s("x"), protocol_data = s("x"),
            members = two(|| build!(DescribedGroupMember, v, n;
                member_id = s("x"), group_instance_id 4..=6 = ns(n, "x"), client_id = s("x"),
                client_host = s("x"), member_metadata = b(), member_assignment = b())),
            authorized_operations 3..=6 = 7)))
}

fn delete_groups_request(v: i16, n: bool) -> DeleteGroupsRequest {
    use delete_groups_request::*;
    build!(DeleteGroupsRequest, v, n;
        groups_names = vec![s("a"), s("bc")])
}

fn delete_groups_response(v: i16, n: bool) -> DeleteGroupsResponse {
    use delete_groups_response::*;
    build!(DeleteGroupsResponse, v, n;
        throttle_time_ms = 7,
        results = two(|| build!(DeletableGroupResult, v, n;
            group_id = s("x"), error_code = 5)))
}

fn offset_commit_request(v: i16, n: bool) -> OffsetCommitRequest {
    use offset_commit_request::*;
    build!(OffsetCommitRequest, v, n;
        group_id = s("x"), generation_id_or_member_epoch = 7, member_id = s("x"),
        group_instance_id 7..=9 = ns(n, "x"), retention_time_ms 2..=4 = 11,
        topics = two(|| build!(OffsetCommitRequestTopic, v, n;
            name = s("x"),
            partitions = two(|| build!(OffsetCommitRequestPartition, v, n;
                partition_index = 7, committed_offset = 11, committed_leader_epoch 6..=9 = 7,
                committed_metadata = ns(n, "x"))))))
}

fn offset_commit_response(v: i16, n: bool) -> OffsetCommitResponse {
    use offset_commit_response::*;
    build!(OffsetCommitResponse, v, n;
        throttle_time_ms 3..=10 = 7,
        topics = two(|| build!(OffsetCommitResponseTopic, v, n;
            name 2..=9 = s("x"), topic_id 10..=10 = uuid(),
            partitions = two(|| build!(OffsetCommitResponsePartition, v, n;
                partition_index = 7, error_code = 5)))))
}

fn offset_fetch_request(v: i16, n: bool) -> OffsetFetchRequest {
    use offset_fetch_request::*;
    build!(OffsetFetchRequest, v, n;
        group_id 1..=7 = s("x"),
        topics 1..=7 = (!n).then(|| two(|| build!(OffsetFetchRequestTopic, v, n;
            name 1..=7 = s("x"), partition_indexes 1..=7 = vec![7, 8]))),
        groups 8..=9 = two(|| build!(OffsetFetchRequestGroup, v, n;
            group_id 8..=9 = s("x"), member_id 9..=9 = ns(n, "x"), member_epoch 9..=9 = 7,
            topics 8..=9 = (!n).then(|| two(|| build!(OffsetFetchRequestTopics, v, n;
                name 8..=9 = s("x"), partition_indexes 8..=9 = vec![7, 8]))))),
        require_stable 7..=9 = true)
}

fn offset_fetch_response(v: i16, n: bool) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    build!(OffsetFetchResponse, v, n;
        throttle_time_ms 3..=10 = 7,
        topics 1..=7 = two(|| build!(OffsetFetchResponseTopic, v, n;
            name 1..=7 = s("x"),
            partitions 1..=7 = two(|| build!(OffsetFetchResponsePartition, v, n;
                partition_index 1..=7 = 7, committed_offset 1..=7 = 11,
                committed_leader_epoch 5..=7 = 7, metadata 1..=7 = ns(n, "x"),
                error_code 1..=7 = 5)))),
        error_code 2..=7 = 5,
        groups 8..=10 = two(|| build!(OffsetFetchResponseGroup, v, n;
            group_id 8..=10 = s("x"),
            topics 8..=10 = two(|| build!(OffsetFetchResponseTopics, v, n;
                name 8..=9 = s("x"), topic_id 10..=10 = uuid(),
                partitions 8..=10 = two(|| build!(OffsetFetchResponsePartitions, v, n;
                    partition_index 8..=10 = 7, committed_offset 8..=10 = 11,
                    committed_leader_epoch 8..=10 = 7, metadata 8..=10 = ns(n, "x"),
                    error_code 8..=10 = 5)))),
            error_code 8..=10 = 5)))
}

fn offset_delete_request(v: i16, n: bool) -> OffsetDeleteRequest {
    use offset_delete_request::*;
    build_classic!(OffsetDeleteRequest, v, n;
        group_id = s("x"),
        topics = two(|| build_classic!(OffsetDeleteRequestTopic, v, n;
            name = s("x"),
            partitions = two(|| build_classic!(OffsetDeleteRequestPartition, v, n;
                partition_index = 7)))))
}

fn offset_delete_response(v: i16, n: bool) -> OffsetDeleteResponse {
    use offset_delete_response::*;
    build_classic!(OffsetDeleteResponse, v, n;
        error_code = 5, throttle_time_ms = 7,
        topics = two(|| build_classic!(OffsetDeleteResponseTopic, v, n;
            name = s("x"),
            partitions = two(|| build_classic!(OffsetDeleteResponsePartition, v, n;
                partition_index = 7, error_code = 5)))))
}
