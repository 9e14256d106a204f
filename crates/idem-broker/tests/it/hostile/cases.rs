//! The hostile cases, group by group (see the module above for what each group holds).

use super::*;
// ------------------------------------------------------------------------------------------
// The cases.

pub(super) fn all_cases(env: &Env) -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(frame_cases());
    cases.extend(header_cases());
    cases.extend(api_cases());
    cases.extend(body_cases());
    cases.extend(legacy_produce_cases());
    cases.extend(routing_cases(env));
    cases.extend(batch_cases(env));
    cases.extend(record_cases(env));
    cases.extend(compression_cases(env));
    cases.extend(bomb_cases(env));
    cases
}

fn frame_cases() -> Vec<Case> {
    let g = "frames";
    let size = |n: i32| n.to_be_bytes().to_vec();
    let with_junk = |n: i32| {
        let mut b = size(n);
        b.extend_from_slice(&[0u8; 16]);
        b
    };
    let max = idem_wire::frame::DEFAULT_MAX_REQUEST_BYTES as i32;
    vec![
        case(g, "frame size -1", with_junk(-1), Expect::Close),
        case(g, "frame size 0", size(0), Expect::Close),
        case(
            g,
            "frame size 4, below a request header",
            with_junk(4),
            Expect::Close,
        ),
        case(g, "frame size 7", with_junk(7), Expect::Close),
        case(g, "frame size i32::MIN", with_junk(i32::MIN), Expect::Close),
        case(g, "frame size 2^31-1", with_junk(i32::MAX), Expect::Close),
        case(
            g,
            "frame size one above socket.request.max.bytes",
            with_junk(max + 1),
            Expect::Close,
        ),
    ]
}

fn header_cases() -> Vec<Case> {
    let g = "headers";
    let mut fixed = Vec::new();
    fixed.put_i16(3); // Metadata v1: header v1 needs a client id after these 8 bytes
    fixed.put_i16(1);
    fixed.put_i32(7);

    let mut client_id_beyond = fixed.clone();
    client_id_beyond.put_i16(1000);
    client_id_beyond.extend_from_slice(b"only-ten-b");

    let metadata_v1_body = 0i32.to_be_bytes(); // no topics
    let mut client_id_negative = fixed.clone();
    client_id_negative.put_i16(-2);
    client_id_negative.extend_from_slice(&metadata_v1_body);

    let mut client_id_not_utf8 = fixed.clone();
    client_id_not_utf8.put_i16(2);
    client_id_not_utf8.extend_from_slice(&[0xff, 0xfe]);
    client_id_not_utf8.extend_from_slice(&metadata_v1_body);

    // Metadata v12 (header v2): client id, then a tagged-field section.
    let flexible = |tags: &[u8]| {
        let mut h = raw_header(3, 12, false);
        h.extend_from_slice(tags);
        h.extend_from_slice(&[0x01, 0x00, 0x00]); // no topics, auto-create false, no tags
        framed(&[&h])
    };
    vec![
        case(
            g,
            "truncated request header: no client id length",
            framed(&[&fixed]),
            Expect::Close,
        ),
        case(
            g,
            "request header cut inside the client id length",
            framed(&[&fixed, &[0x00]]),
            Expect::Close,
        ),
        case(
            g,
            "client id length beyond the frame",
            framed(&[&client_id_beyond]),
            Expect::Close,
        ),
        case(
            g,
            "client id length -2",
            framed(&[&client_id_negative]),
            Expect::Frame(check_metadata_v1),
        ),
        case(
            g,
            "client id that is not UTF-8",
            framed(&[&client_id_not_utf8]),
            Expect::Frame(check_metadata_v1),
        ),
        case(
            g,
            "flexible header: tagged-field size 2^32-1",
            flexible(&[0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Expect::Close,
        ),
        case(
            g,
            "flexible header: tagged-field count 2^32-1",
            flexible(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Expect::Close,
        ),
        case(
            g,
            "flexible header: 6-byte varint tag count, frame ends",
            framed(&[
                &raw_header(3, 12, false),
                &[0x81, 0x80, 0x80, 0x80, 0x80, 0x00],
            ]),
            Expect::Close,
        ),
    ]
}

fn api_cases() -> Vec<Case> {
    let g = "apis";
    let request = |key: i16, version: i16| framed(&[&raw_header(key, version, false), &[0u8; 8]]);
    let mut valid_then_garbage = api_versions_v3();
    valid_then_garbage.extend_from_slice(&(-1i32).to_be_bytes());
    let bad_software = encode(
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("-bad name-"))
            .with_client_software_version(StrBytes::from_static_str("1.0")),
    );
    let future_api_versions = |version: i16| {
        framed(&[
            &raw_header(18, version, true),
            &[0x05, b'i', b'd', b'e', b'm', 0x02, b'9', 0x00],
        ])
    };
    vec![
        case(g, "unknown api key 9999", request(9999, 0), Expect::Close),
        case(g, "unknown api key -1", request(-1, 0), Expect::Close),
        case(
            g,
            "unknown api key i16::MAX",
            request(i16::MAX, 0),
            Expect::Close,
        ),
        case(
            g,
            "JoinGroup v5 with no body",
            request(11, 5),
            Expect::Close,
        ),
        case(
            g,
            "Metadata v14, above the advertised 13",
            request(3, 14),
            Expect::Close,
        ),
        case(
            g,
            "Produce v14, above the advertised 13",
            request(0, 14),
            Expect::Close,
        ),
        case(
            g,
            "Fetch v19, above the advertised 18",
            request(1, 19),
            Expect::Close,
        ),
        case(
            g,
            "Fetch v3, below the advertised 4",
            request(1, 3),
            Expect::Close,
        ),
        case(
            g,
            "ListOffsets v0, below the advertised 1",
            request(2, 0),
            Expect::Close,
        ),
        case(g, "Produce v-1", request(0, -1), Expect::Close),
        case(
            g,
            "ApiVersions v99: v0 answer with error 35",
            future_api_versions(99),
            Expect::Frame(check_api_versions_unsupported),
        ),
        case(
            g,
            "ApiVersions v5: v0 answer with error 35",
            future_api_versions(5),
            Expect::Frame(check_api_versions_unsupported),
        ),
        case(
            g,
            "Metadata before any ApiVersions",
            encode(
                ApiKey::Metadata,
                12,
                &MetadataRequest::default().with_topics(Some(vec![])),
            ),
            Expect::Frame(check_metadata_v12),
        ),
        case(
            g,
            "ApiVersions v3 with an invalid software name: INVALID_REQUEST",
            bad_software,
            Expect::Frame(check_api_versions_invalid_request),
        ),
        case(
            g,
            "a valid request then a frame of size -1: answered, then closed",
            valid_then_garbage,
            Expect::FrameThenClose(check_api_versions_ok),
        ),
    ]
}

fn body_cases() -> Vec<Case> {
    let g = "bodies";
    let classic =
        |key: i16, version: i16, body: &[u8]| framed(&[&raw_header(key, version, false), body]);
    let flexible =
        |key: i16, version: i16, body: &[u8]| framed(&[&raw_header(key, version, true), body]);
    let max_count = i32::MAX.to_be_bytes();
    // Produce v3 up to topic_data: null transactional id, acks, timeout.
    let mut produce_v3 = Vec::new();
    produce_v3.put_i16(-1);
    produce_v3.put_i16(-1);
    produce_v3.put_i32(1000);
    // Produce v9 up to topic_data: compact null transactional id, acks, timeout.
    let mut produce_v9 = vec![0x00];
    produce_v9.put_i16(-1);
    produce_v9.put_i32(1000);
    let cat = |parts: &[&[u8]]| parts.concat();

    let mut v3_one_topic = produce_v3.clone();
    v3_one_topic.put_i32(1);
    put_str(&mut v3_one_topic, TARGET);
    let mut v3_one_partition = v3_one_topic.clone();
    v3_one_partition.put_i32(1);
    v3_one_partition.put_i32(0);

    // Produce v9: one topic (TARGET), one partition 0, then the records field.
    let mut v9_one_partition = produce_v9.clone();
    v9_one_partition.push(0x02); // one topic
    v9_one_partition.push(TARGET.len() as u8 + 1);
    v9_one_partition.extend_from_slice(TARGET.as_bytes());
    v9_one_partition.push(0x02); // one partition
    v9_one_partition.put_i32(0);

    // Produce v9 with no topics: only its top-level tagged fields follow.
    let v9_empty = cat(&[&produce_v9, &[0x01]]);

    let mut fetch_v4 = Vec::new();
    fetch_v4.put_i32(-1); // replica
    fetch_v4.put_i32(0); // max wait
    fetch_v4.put_i32(0); // min bytes
    fetch_v4.put_i32(1 << 20); // max bytes
    fetch_v4.push(0); // isolation

    let mut metadata_truncated = Vec::new();
    metadata_truncated.put_i32(2);
    put_str(&mut metadata_truncated, TARGET);

    // JoinGroup v5 up to its protocols: group, session and rebalance timeouts, empty member
    // id, null instance id, protocol type.
    let mut join_v5 = Vec::new();
    put_str(&mut join_v5, "g");
    join_v5.put_i32(10_000);
    join_v5.put_i32(10_000);
    put_str(&mut join_v5, "");
    join_v5.put_i16(-1);
    put_str(&mut join_v5, "consumer");
    let mut join_v5_one_protocol = join_v5.clone();
    join_v5_one_protocol.put_i32(1);
    put_str(&mut join_v5_one_protocol, "range");
    // SyncGroup v3 up to its assignments: group, generation, member, null instance id.
    let mut sync_v3 = Vec::new();
    put_str(&mut sync_v3, "g");
    sync_v3.put_i32(1);
    put_str(&mut sync_v3, "m");
    sync_v3.put_i16(-1);
    // OffsetCommit v2 up to its topics: group, generation, member, retention.
    let mut commit_v2 = Vec::new();
    put_str(&mut commit_v2, "g");
    commit_v2.put_i32(-1);
    put_str(&mut commit_v2, "");
    commit_v2.put_i64(-1);

    vec![
        case(
            g,
            "JoinGroup v5: protocol count i32::MAX",
            classic(11, 5, &cat(&[&join_v5, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "JoinGroup v5: protocol metadata length i32::MAX",
            classic(
                11,
                5,
                &cat(&[&join_v5_one_protocol, &max_count, &[0u8; 10]]),
            ),
            Expect::Close,
        ),
        case(
            g,
            "SyncGroup v3: assignment count i32::MAX",
            classic(14, 3, &cat(&[&sync_v3, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "LeaveGroup v3: member count i32::MAX",
            classic(13, 3, &cat(&[&[0, 1, b'g'], &max_count[..], &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "OffsetCommit v2: topic count i32::MAX",
            classic(8, 2, &cat(&[&commit_v2, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "OffsetFetch v8: compact group count 2^32-2 over 6 bytes",
            flexible(9, 8, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
            Expect::Close,
        ),
        case(
            g,
            "DescribeGroups v0: group count i32::MAX",
            classic(15, 0, &cat(&[&max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "DeleteGroups v0: group count i32::MAX",
            classic(42, 0, &cat(&[&max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "OffsetDelete v0: topic count i32::MAX",
            classic(47, 0, &cat(&[&[0, 1, b'g'], &max_count[..], &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "Metadata v1: array count i32::MAX over a 10-byte body",
            classic(3, 1, &cat(&[&max_count, &[0u8; 6]])),
            Expect::Close,
        ),
        case(
            g,
            "Metadata v9: compact array count 2^32-2 over 6 bytes",
            flexible(3, 9, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
            Expect::Close,
        ),
        case(
            g,
            "Produce v3: topic count i32::MAX",
            classic(0, 3, &cat(&[&produce_v3, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "Produce v3: partition count i32::MAX",
            classic(0, 3, &cat(&[&v3_one_topic, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "Produce v3: records length i32::MAX",
            classic(0, 3, &cat(&[&v3_one_partition, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "Produce v3: records length -2",
            classic(0, 3, &cat(&[&v3_one_partition, &(-2i32).to_be_bytes()])),
            Expect::Close,
        ),
        case(
            g,
            "Fetch v4: topic count i32::MAX",
            classic(1, 4, &cat(&[&fetch_v4, &max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "CreateTopics v4: topic count i32::MAX",
            classic(19, 4, &cat(&[&max_count, &[0u8; 10]])),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: 6-byte varint topic count",
            flexible(
                0,
                9,
                &cat(&[&produce_v9, &[0x82, 0x80, 0x80, 0x80, 0x80, 0x00]]),
            ),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: compact array count 2^32-2",
            flexible(
                0,
                9,
                &cat(&[&produce_v9, &[0xff, 0xff, 0xff, 0xff, 0x0f], &[0u8; 10]]),
            ),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: compact string length overflow",
            flexible(0, 9, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03]),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: compact records length beyond the body",
            flexible(0, 9, &cat(&[&v9_one_partition, &[0xe9, 0x07], &[0u8; 40]])),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: tagged field size 2^32-1",
            flexible(
                0,
                9,
                &cat(&[&v9_empty, &[0x01, 0x63, 0xff, 0xff, 0xff, 0xff, 0x0f]]),
            ),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: tagged field size 2^32",
            flexible(
                0,
                9,
                &cat(&[&v9_empty, &[0x01, 0x63, 0x80, 0x80, 0x80, 0x80, 0x10]]),
            ),
            Expect::Close,
        ),
        case(
            g,
            "Produce v9: tagged field count 2^32-1",
            flexible(0, 9, &cat(&[&v9_empty, &[0xff, 0xff, 0xff, 0xff, 0x0f]])),
            Expect::Close,
        ),
        case(
            g,
            "Metadata v1: two topics announced, one sent",
            classic(3, 1, &metadata_truncated),
            Expect::Close,
        ),
        case(
            g,
            "Metadata v1: empty body",
            classic(3, 1, &[]),
            Expect::Close,
        ),
        case(
            g,
            "ApiVersions v3: 6-byte varint software name length",
            flexible(18, 3, &[0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00]),
            Expect::Close,
        ),
    ]
}

fn legacy_produce_cases() -> Vec<Case> {
    let g = "produce-legacy";
    let mut hostile_count = legacy_produce(2, TARGET, &[0]);
    // size(4) + header(8 + 2 + 12) + acks(2) + timeout(4): the topic count follows.
    let at = 4 + 22 + 6;
    hostile_count[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut truncated = raw_header(0, 0, false);
    truncated.put_i16(1);
    truncated.put_i32(5000);
    truncated.put_i32(1);
    put_str(&mut truncated, TARGET);
    vec![
        case(
            g,
            "Produce v0: UNSUPPORTED_VERSION per partition",
            legacy_produce(0, TARGET, &[0, 1]),
            Expect::Frame(check_legacy_produce::<0>),
        ),
        case(
            g,
            "Produce v1: UNSUPPORTED_VERSION per partition",
            legacy_produce(1, TARGET, &[0, 1]),
            Expect::Frame(check_legacy_produce::<1>),
        ),
        case(
            g,
            "Produce v2: UNSUPPORTED_VERSION per partition",
            legacy_produce(2, UNKNOWN, &[0, 1]),
            Expect::Frame(check_legacy_produce::<2>),
        ),
        case(
            g,
            "Produce v2: topic count i32::MAX",
            hostile_count,
            Expect::Close,
        ),
        case(
            g,
            "Produce v0: body ends after the topic name",
            framed(&[&truncated]),
            Expect::Close,
        ),
    ]
}

fn routing_cases(env: &Env) -> Vec<Case> {
    let g = "produce-routing";
    let good = || Some(env.batch(2));
    let bad_crc = {
        let mut b = env.batch(2);
        let last = b.len() - 1;
        b[last] ^= 0x01;
        b
    };
    let acks = |name: &'static str, acks: i16, expect: Expect| Case {
        version: 9,
        ..case(
            g,
            name,
            produce_frame(9, acks, TARGET, env.id(TARGET), &[(0, good())]),
            expect,
        )
    };
    let transactional = env.batch_with(1, |h| {
        h.attributes = 0x10;
        h.producer_id = 1000;
        h.producer_epoch = 0;
        h.base_sequence = 0;
    });
    vec![
        env.produce(g, "unknown topic", 9, (UNKNOWN, 0), good(), Expect::Code(3)),
        env.produce(g, "partition -1", 9, (TARGET, -1), good(), Expect::Code(3)),
        env.produce(
            g,
            "partition 99999",
            9,
            (TARGET, 99_999),
            good(),
            Expect::Code(3),
        ),
        env.produce(
            g,
            "partition i32::MIN",
            3,
            (TARGET, i32::MIN),
            good(),
            Expect::Code(3),
        ),
        env.produce(
            g,
            "v13: unknown topic id",
            13,
            (UNKNOWN, 0),
            good(),
            Expect::Code(100),
        ),
        Case {
            version: 13,
            ..case(
                g,
                "v13: nil topic id",
                produce_frame(13, -1, TARGET, Uuid::nil(), &[(0, good())]),
                Expect::Code(100),
            )
        },
        acks("acks=2", 2, Expect::Code(21)),
        acks("acks=-2", -2, Expect::Code(21)),
        acks("acks=i16::MIN", i16::MIN, Expect::Code(21)),
        // Kafka has no rule for null records (its validation skips them and the append fails
        // inside); INVALID_RECORD is the useful answer.
        env.produce(g, "null records", 9, (TARGET, 0), None, Expect::Code(87)),
        env.produce(
            g,
            "empty records",
            9,
            (TARGET, 0),
            Some(Vec::new()),
            Expect::Code(87),
        ),
        env.produce(
            g,
            "transactional batch without a transactional id",
            9,
            (TARGET, 0),
            Some(transactional),
            Expect::Code(53),
        ),
        case(
            g,
            "acks=0 with a bad CRC: closed",
            produce_frame(9, 0, TARGET, env.id(TARGET), &[(0, Some(bad_crc.clone()))]),
            Expect::Close,
        ),
        case(
            g,
            "acks=0 to an unknown topic: closed",
            produce_frame(9, 0, UNKNOWN, env.id(UNKNOWN), &[(0, good())]),
            Expect::Close,
        ),
        Case {
            version: 9,
            ..case(
                g,
                "two partitions: a bad CRC and an unknown partition",
                produce_frame(
                    9,
                    -1,
                    TARGET,
                    env.id(TARGET),
                    &[(0, Some(bad_crc)), (7, good())],
                ),
                Expect::Codes(&[(0, 2), (7, 3)]),
            )
        },
    ]
}

fn batch_cases(env: &Env) -> Vec<Case> {
    let g = "batches";
    let good = env.batch(3);
    let len = good.len();
    let flip_last = {
        let mut b = good.clone();
        b[len - 1] ^= 0x40;
        b
    };
    let set_i32 = |at: usize, v: i32, fix: bool| patch(good.clone(), at, &v.to_be_bytes(), fix);
    let magic = |m: u8| patch(good.clone(), 16, &[m], true);
    let batch_length = |v: i32| set_i32(8, v, false);
    let count = |c: i32, last_delta: i32| {
        env.batch_with(3, |h| {
            h.records_count = c;
            h.last_offset_delta = last_delta;
        })
    };
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[1, 2, 3]);
    let big = build(env.header(20), simple_records(20, 100));
    let ahead = env.now + 2 * 3_600_000;
    let codec = |id: i16| env.batch_with(3, |h| h.attributes = id);
    let zstd = zc(Codec::Zstd, &simple_records(3, 8));
    let p = |name: &'static str, records: Vec<u8>, code: i16| {
        env.p9(g, name, TARGET, records, Expect::Code(code))
    };
    vec![
        p("bad CRC: a record byte flipped", flip_last, 2),
        p(
            "bad CRC: stored CRC zeroed",
            patch(good.clone(), 17, &[0; 4], false),
            2,
        ),
        p(
            "bad CRC: attributes changed after the CRC",
            patch(good.clone(), 22, &[0x01], false),
            2,
        ),
        p("magic 0 in a v2 batch", magic(0), 87),
        p("magic 1 in a v2 batch", magic(1), 87),
        p("a magic 0 message set", legacy_message_set(0), 87),
        p("a magic 1 message set", legacy_message_set(1), 87),
        p("magic 3", magic(3), 2),
        p("magic -1", magic(0xff), 2),
        p("last offset delta = count", count(3, 3), 87),
        p("last offset delta = count - 2", count(3, 1), 87),
        p("last offset delta -1 with count 1", count(1, -1), 87),
        p("last offset delta i32::MAX", count(3, i32::MAX), 87),
        p("record count 0", count(0, -1), 87),
        p("record count -1", count(-1, -2), 87),
        p("record count i32::MIN", count(i32::MIN, 2), 87),
        p(
            "batch length 100 beyond the bytes",
            batch_length(len as i32 - 12 + 100),
            87,
        ),
        p("batch length i32::MAX", batch_length(i32::MAX), 87),
        p("batch length 0", batch_length(0), 2),
        p("batch length -1", batch_length(-1), 2),
        p("batch length i32::MIN", batch_length(i32::MIN), 2),
        p(
            "batch length 48, one short of a header",
            batch_length(48),
            2,
        ),
        p(
            "30 bytes, shorter than a batch header",
            good[..30].to_vec(),
            87,
        ),
        p(
            "11 bytes, shorter than a batch length",
            good[..11].to_vec(),
            87,
        ),
        p(
            "producer id 7 with sequence -5",
            env.batch_with(3, |h| {
                h.producer_id = 7;
                h.producer_epoch = 0;
                h.base_sequence = -5;
            }),
            87,
        ),
        p(
            "producer id 7 with sequence i32::MIN",
            env.batch_with(3, |h| {
                h.producer_id = 7;
                h.producer_epoch = 0;
                h.base_sequence = i32::MIN;
            }),
            87,
        ),
        p(
            "control bit set",
            env.batch_with(3, |h| h.attributes = 0x20),
            87,
        ),
        p("two batches in one partition's records", two, 87),
        // Kafka silently drops a trailing fragment shorter than a batch length; idem refuses
        // the request, which no honest client sends.
        p("a batch followed by 3 stray bytes", trailing, 87),
        p(
            "base offset 5",
            env.batch_with(3, |h| h.base_offset = 5),
            87,
        ),
        p(
            "base offset -1",
            env.batch_with(3, |h| h.base_offset = -1),
            87,
        ),
        p(
            "base offset i64::MAX",
            env.batch_with(3, |h| h.base_offset = i64::MAX),
            87,
        ),
        env.p9(
            g,
            "batch above max.message.bytes",
            SMALL,
            big,
            Expect::Code(10),
        ),
        p(
            "timestamps 2 h ahead of the broker",
            env.batch_with(3, |h| {
                h.base_timestamp = ahead;
                h.max_timestamp = ahead;
            }),
            32,
        ),
        // Kafka 4 fails unknown codecs with UNKNOWN_SERVER_ERROR (IllegalArgumentException).
        p("compression codec 5", codec(5), 87),
        p("compression codec 7", codec(7), 87),
        env.produce(
            g,
            "zstd on Produce v6",
            6,
            (TARGET, 0),
            Some(env.with_section(Codec::Zstd, 3, zstd.clone())),
            Expect::Code(76),
        ),
        env.produce(
            g,
            "zstd on Produce v3",
            3,
            (TARGET, 0),
            Some(env.with_section(Codec::Zstd, 3, zstd)),
            Expect::Code(76),
        ),
    ]
}

fn record_cases(env: &Env) -> Vec<Case> {
    let g = "records";
    let one = |r: Rec<'_>| record(r);
    let header_beyond = one(Rec {
        header_count: 100,
        ..Rec::default()
    });
    let negative_header_key = one(Rec {
        header_count: 1,
        header_bytes: &[0x01, 0x01], // key length -1, value length -1
        ..Rec::default()
    });
    let length_beyond = one(Rec {
        length_extra: 500,
        ..Rec::default()
    });
    let key_minus_two = one(Rec {
        key_len: -2,
        ..Rec::default()
    });
    let two_records = [
        one(Rec::default()),
        one(Rec {
            offset_delta: 1,
            ..Rec::default()
        }),
    ]
    .concat();
    let ts_ahead = one(Rec {
        ts_delta: 2 * 3_600_000,
        ..Rec::default()
    });
    let plain = |count: i32, section: Vec<u8>| env.with_section(Codec::None, count, section);
    let packed =
        |codec: Codec, count: i32, raw: &[u8]| env.with_section(codec, count, zc(codec, raw));
    vec![
        env.p9(
            g,
            "uncompressed: record count 3, 2 records",
            TARGET,
            plain(3, two_records.clone()),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "uncompressed: header count beyond the bytes left",
            TARGET,
            plain(1, header_beyond.clone()),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "uncompressed: negative header key length",
            TARGET,
            plain(1, negative_header_key),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "uncompressed: record length beyond the batch",
            TARGET,
            plain(1, length_beyond),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "uncompressed: a record timestamp 2 h ahead, header says now",
            TARGET,
            plain(1, ts_ahead),
            Expect::Code(32),
        ),
        env.p9(
            g,
            "gzip: header count beyond the bytes left",
            TARGET,
            packed(Codec::Gzip, 1, &header_beyond),
            Expect::Code(87),
        ),
        // Kafka reads any negative key length as a null key: accepted, stored in LENIENT.
        env.p9(
            g,
            "uncompressed: key length -2, accepted as null",
            LENIENT,
            plain(1, key_minus_two.clone()),
            Expect::Code(0),
        ),
        env.p9(
            g,
            "gzip: key length -2, accepted as null",
            LENIENT,
            packed(Codec::Gzip, 1, &key_minus_two),
            Expect::Code(0),
        ),
        env.p9(
            g,
            "gzip: record count 3, 2 records",
            TARGET,
            packed(Codec::Gzip, 3, &two_records),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "lz4: record count 1, 2 records",
            TARGET,
            packed(Codec::Lz4, 1, &two_records),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "zstd: record count 1, no records",
            TARGET,
            packed(Codec::Zstd, 1, &[]),
            Expect::Code(87),
        ),
        env.p9(
            g,
            "snappy: record length beyond the stream",
            TARGET,
            packed(
                Codec::Snappy,
                1,
                &one(Rec {
                    length_extra: 500,
                    ..Rec::default()
                }),
            ),
            Expect::Code(87),
        ),
    ]
}

fn compression_cases(env: &Env) -> Vec<Case> {
    let g = "compression";
    let raw = simple_records(3, 300);
    let truncated = |codec: Codec| {
        let mut c = zc(codec, &raw);
        c.truncate(c.len() * 2 / 3);
        env.with_section(codec, 3, c)
    };
    let garbage = b"this is not a compressed stream, only words".to_vec();
    // zstd: magic, frame header descriptor, window descriptor (exponent 21: a 2 GiB window),
    // then a raw last block of 3 bytes.
    let zstd_window = vec![
        0x28,
        0xb5,
        0x2f,
        0xfd,
        0x00,
        21 << 3,
        0x19,
        0x00,
        0x00,
        b'a',
        b'b',
        b'c',
    ];
    // zstd single segment declaring 1 TiB of content (the window is the content size).
    let mut zstd_content = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    zstd_content.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zstd_content.extend_from_slice(&[0x19, 0x00, 0x00, b'a', b'b', b'c']);
    let xerial = |block: &[u8], claimed_len: u32| {
        let mut out = b"\x82SNAPPY\x00".to_vec();
        out.put_i32(1);
        out.put_i32(1);
        out.put_u32(claimed_len);
        out.extend_from_slice(block);
        out
    };
    let mut five_mib_block = Vec::new();
    uvarint(&mut five_mib_block, 5 * MIB as u64);
    five_mib_block.extend_from_slice(&[0x00; 8]);
    let p = |name: &'static str, records: Vec<u8>, expect: Expect| {
        env.p9(g, name, TARGET, records, expect)
    };
    vec![
        p("truncated gzip", truncated(Codec::Gzip), Expect::Code(87)),
        p(
            "truncated snappy",
            truncated(Codec::Snappy),
            Expect::Code(87),
        ),
        p("truncated lz4", truncated(Codec::Lz4), Expect::Code(87)),
        p("truncated zstd", truncated(Codec::Zstd), Expect::Code(87)),
        p(
            "gzip attribute over garbage",
            env.with_section(Codec::Gzip, 3, garbage.clone()),
            Expect::Code(87),
        ),
        p(
            "lz4 attribute over garbage",
            env.with_section(Codec::Lz4, 3, garbage.clone()),
            Expect::Code(87),
        ),
        p(
            "zstd attribute over garbage",
            env.with_section(Codec::Zstd, 3, garbage),
            Expect::Code(87),
        ),
        p(
            "zstd frame asking for a 2 GiB window",
            env.with_section(Codec::Zstd, 1, zstd_window),
            Expect::Code(87),
        ),
        p(
            "zstd single segment declaring 1 TiB",
            env.with_section(Codec::Zstd, 1, zstd_content),
            Expect::Code(87),
        ),
        p(
            "snappy block declaring 5 MiB, above the 4 MiB block limit",
            env.with_section(
                Codec::Snappy,
                1,
                xerial(&five_mib_block, five_mib_block.len() as u32),
            ),
            Expect::CodeWith(87, "larger than 4 MiB"),
        ),
        p(
            "snappy block length beyond the input",
            env.with_section(Codec::Snappy, 1, xerial(&[0x01, 0x00], 1000)),
            Expect::CodeWith(87, "longer than the input"),
        ),
    ]
}

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The start of one record whose value is `value_len` zero bytes, followed by its header
/// count (another zero): the decompressed stream of a bomb is this, then zeros only.
fn big_record_prefix(value_len: i64) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    varlong(&mut body, 0); // timestamp delta
    varlong(&mut body, 0); // offset delta
    varlong(&mut body, -1); // null key
    varlong(&mut body, value_len);
    let mut out = Vec::new();
    varlong(&mut out, body.len() as i64 + value_len + 1);
    out.extend_from_slice(&body);
    out
}

/// The prefix of a record that fills `total` decompressed bytes exactly, prefix included.
fn prefix_filling(total: usize) -> Vec<u8> {
    let guess = big_record_prefix(total as i64 - 20);
    let prefix = big_record_prefix((total - guess.len() - 1) as i64);
    assert_eq!(prefix.len(), guess.len(), "prefix length is stable");
    prefix
}

/// zstd, built by hand: a raw block with the record prefix, then `blocks` RLE blocks of
/// 128 KiB of zeros (4 bytes each).
fn zstd_bomb(blocks: usize) -> Vec<u8> {
    const BLOCK: u32 = 128 * 1024;
    let prefix = big_record_prefix(blocks as i64 * i64::from(BLOCK) - 1);
    // Magic, no content size, a window descriptor of 128 KiB.
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, (17 - 10) << 3];
    out.extend_from_slice(&((prefix.len() as u32) << 3).to_le_bytes()[..3]);
    out.extend_from_slice(&prefix);
    for i in 0..blocks {
        let last = u32::from(i + 1 == blocks);
        out.extend_from_slice(&((BLOCK << 3) | (1 << 1) | last).to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

/// gzip: one member with the record prefix, then `mib` members of 1 MiB of zeros each.
fn gzip_bomb(mib: usize) -> Vec<u8> {
    let chunk = zc(Codec::Gzip, &vec![0u8; MIB]);
    let mut out = zc(Codec::Gzip, &big_record_prefix((mib * MIB) as i64 - 1));
    for _ in 0..mib {
        out.extend_from_slice(&chunk);
    }
    out
}

/// lz4: one frame of `blocks` independent 64 KiB blocks, the first with the record prefix, the
/// others copies of one all-zero block. The content checksum at the end is left zero: the cap
/// stops the broker long before it.
fn lz4_bomb(blocks: usize) -> Vec<u8> {
    const BLOCK: usize = 64 * 1024;
    let prefix = prefix_filling(blocks * BLOCK);
    let mut sample = prefix.clone();
    sample.resize(2 * BLOCK, 0);
    let frame = zc(Codec::Lz4, &sample);
    let flags = frame[4];
    let mut pos =
        6 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 } + 1;
    let header = frame[..pos].to_vec();
    let block_checksum = if flags & 0x10 != 0 { 4 } else { 0 };
    let mut parts = Vec::new();
    for _ in 0..2 {
        let size = u32::from_le_bytes(frame[pos..pos + 4].try_into().expect("4 bytes"));
        let end = pos + 4 + (size & 0x7fff_ffff) as usize + block_checksum;
        parts.push(frame[pos..end].to_vec());
        pos = end;
    }
    assert_eq!(&frame[pos..pos + 4], &[0; 4], "lz4 sample has two blocks");
    let mut out = header;
    out.extend_from_slice(&parts[0]);
    for _ in 1..blocks {
        out.extend_from_slice(&parts[1]);
    }
    out.extend_from_slice(&[0; 4]);
    if flags & 0x04 != 0 {
        out.extend_from_slice(&[0; 4]);
    }
    out
}

/// snappy (xerial framing): `blocks` blocks of 32 KiB, the first with the record prefix, the
/// others copies of one all-zero block.
fn snappy_bomb(blocks: usize) -> Vec<u8> {
    const BLOCK: usize = 32 * 1024;
    let prefix = prefix_filling(blocks * BLOCK);
    let mut sample = prefix.clone();
    sample.resize(2 * BLOCK, 0);
    let framed = zc(Codec::Snappy, &sample);
    let mut pos = 16;
    let mut parts = Vec::new();
    for _ in 0..2 {
        let size = u32::from_be_bytes(framed[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        parts.push(framed[pos..pos + 4 + size].to_vec());
        pos += 4 + size;
    }
    assert_eq!(pos, framed.len(), "snappy sample has two blocks");
    let mut out = framed[..16].to_vec();
    out.extend_from_slice(&parts[0]);
    for _ in 1..blocks {
        out.extend_from_slice(&parts[1]);
    }
    out
}

fn bomb_cases(env: &Env) -> Vec<Case> {
    let g = "bombs";
    let over = Expect::CodeWith(87, "decompress to more than");
    let gib = 1usize << 30;
    let mut raw_snappy = Vec::new();
    uvarint(&mut raw_snappy, gib as u64);
    raw_snappy.extend_from_slice(&[0x00, 0x00]);
    let mut xerial_gib = b"\x82SNAPPY\x00".to_vec();
    xerial_gib.put_i32(1);
    xerial_gib.put_i32(1);
    xerial_gib.put_u32(raw_snappy.len() as u32);
    xerial_gib.extend_from_slice(&raw_snappy);
    let bomb = |name: &'static str, codec: Codec, section: Vec<u8>| {
        env.p9(g, name, BOMBS, env.with_section(codec, 1, section), over)
    };
    vec![
        bomb(
            "zstd: 1 GiB of zeros from 32 KiB",
            Codec::Zstd,
            zstd_bomb(gib / (128 * 1024)),
        ),
        bomb(
            "gzip: 1 GiB of zeros from 1 MiB",
            Codec::Gzip,
            gzip_bomb(1024),
        ),
        bomb(
            "lz4: 1 GiB of zeros from 4 MiB",
            Codec::Lz4,
            lz4_bomb(gib / (64 * 1024)),
        ),
        bomb(
            "snappy: 136 MiB of zeros from 6 MiB",
            Codec::Snappy,
            snappy_bomb(136 * MIB / (32 * 1024)),
        ),
        bomb(
            "snappy: raw input declaring 1 GiB",
            Codec::Snappy,
            raw_snappy,
        ),
        bomb(
            "snappy: one block declaring 1 GiB",
            Codec::Snappy,
            xerial_gib,
        ),
    ]
}
