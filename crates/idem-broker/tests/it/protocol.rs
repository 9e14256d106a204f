//! Protocol behaviour: every advertised API at every version, pipelining, long-poll fetch,
//! topic ids, and recovery as a consumer sees it.

use std::time::Duration;

use bytes::Bytes;
use idem_test_support::{batch, config, start, start_with, Raw};
use idem_wire::batch::BatchHeader;
use idem_wire::versions::ADVERTISED;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Sends `body` at `version` and decodes the answer as `Resp`: proves the broker answers
/// this version with a response of the right shape.
async fn answers<Req: Encodable + Default, Resp: Decodable>(
    raw: &mut Raw,
    key: ApiKey,
    version: i16,
    body: Req,
) -> Resp {
    raw.call::<Req, Resp>(key, version, &body).await
}

#[tokio::test]
async fn every_advertised_version_is_answered() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("v", 2, &[]).await, 0);
    let topic_id = raw_topic_id(&mut raw, "v").await;
    for row in ADVERTISED {
        for v in row.served_min..=row.max {
            let name = TopicName(s("v"));
            match row.key {
                ApiKey::Produce => {
                    let mut req = Raw::produce_request("v", 0, Some(batch::plain(1, "x")), 1);
                    if v >= 13 {
                        req.topic_data[0].name = TopicName::default();
                        req.topic_data[0].topic_id = topic_id;
                    }
                    let r: ProduceResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(
                        r.responses[0].partition_responses[0].error_code, 0,
                        "Produce v{v}"
                    );
                }
                ApiKey::Fetch => {
                    let mut topic = FetchTopic::default().with_partitions(vec![
                        FetchPartition::default().with_partition_max_bytes(1 << 20),
                    ]);
                    if v >= 13 {
                        topic = topic.with_topic_id(topic_id);
                    } else {
                        topic = topic.with_topic(name);
                    }
                    let req = FetchRequest::default()
                        .with_max_wait_ms(0)
                        .with_topics(vec![topic]);
                    let r: FetchResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.responses[0].partitions[0].error_code, 0, "Fetch v{v}");
                }
                ApiKey::ListOffsets => {
                    let req = ListOffsetsRequest::default().with_topics(vec![
                        list_offsets_request::ListOffsetsTopic::default()
                            .with_name(name)
                            .with_partitions(vec![
                                list_offsets_request::ListOffsetsPartition::default()
                                    .with_timestamp(-1),
                            ]),
                    ]);
                    let r: ListOffsetsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.topics[0].partitions[0].error_code, 0, "ListOffsets v{v}");
                }
                ApiKey::Metadata => {
                    let req = MetadataRequest::default().with_topics(None);
                    let r: MetadataResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.brokers.len(), 1, "Metadata v{v}");
                    assert!(
                        r.topics.iter().any(|t| t.partitions.len() == 2),
                        "Metadata v{v}"
                    );
                    if v >= 10 {
                        assert_eq!(r.topics[0].topic_id, topic_id);
                    }
                }
                ApiKey::FindCoordinator => {
                    let req = if v >= 4 {
                        FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g")])
                    } else {
                        FindCoordinatorRequest::default().with_key(s("g"))
                    };
                    let r: FindCoordinatorResponse = answers(&mut raw, row.key, v, req).await;
                    let code = if v >= 4 {
                        r.coordinators[0].error_code
                    } else {
                        r.error_code
                    };
                    assert_eq!(
                        code, 0,
                        "FindCoordinator v{v}: this broker coordinates groups"
                    );
                }
                ApiKey::ApiVersions => {
                    let req = ApiVersionsRequest::default()
                        .with_client_software_name(s("idem-test"))
                        .with_client_software_version(s("1.0"));
                    let r: ApiVersionsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.error_code, 0);
                    assert_eq!(r.api_keys.len(), ADVERTISED.len(), "ApiVersions v{v}");
                }
                ApiKey::CreateTopics => {
                    let req = CreateTopicsRequest::default().with_topics(vec![
                        create_topics_request::CreatableTopic::default()
                            .with_name(TopicName(s(&format!("created-{v}"))))
                            .with_num_partitions(1)
                            .with_replication_factor(1),
                    ]);
                    let r: CreateTopicsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.topics[0].error_code, 0, "CreateTopics v{v}");
                }
                ApiKey::DeleteTopics => {
                    let target = format!("created-{}", 1 + v);
                    let req = if v >= 6 {
                        DeleteTopicsRequest::default()
                            .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                                .with_name(Some(TopicName(s(&target))))])
                    } else {
                        DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s(&target))])
                    };
                    let r: DeleteTopicsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.responses[0].error_code, 0, "DeleteTopics v{v}");
                }
                ApiKey::DeleteRecords => {
                    let req = DeleteRecordsRequest::default().with_topics(vec![
                        delete_records_request::DeleteRecordsTopic::default()
                            .with_name(name)
                            .with_partitions(vec![
                                delete_records_request::DeleteRecordsPartition::default()
                                    .with_partition_index(1)
                                    .with_offset(0),
                            ]),
                    ]);
                    let r: DeleteRecordsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(
                        r.topics[0].partitions[0].error_code, 0,
                        "DeleteRecords v{v}"
                    );
                }
                ApiKey::InitProducerId => {
                    let req = InitProducerIdRequest::default().with_transactional_id(None);
                    let r: InitProducerIdResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.error_code, 0, "InitProducerId v{v}");
                }
                ApiKey::DescribeConfigs => {
                    let req = DescribeConfigsRequest::default().with_resources(vec![
                        describe_configs_request::DescribeConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s("v"))
                            .with_configuration_keys(None),
                    ]);
                    let r: DescribeConfigsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.results[0].error_code, 0, "DescribeConfigs v{v}");
                    assert!(r.results[0]
                        .configs
                        .iter()
                        .any(|c| &*c.name == "retention.ms"));
                }
                ApiKey::CreatePartitions => {
                    let req = CreatePartitionsRequest::default().with_topics(vec![
                        create_partitions_request::CreatePartitionsTopic::default()
                            .with_name(name)
                            .with_count(3 + i32::from(v)),
                    ]);
                    let r: CreatePartitionsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.results[0].error_code, 0, "CreatePartitions v{v}");
                }
                ApiKey::DescribeCluster => {
                    let req = DescribeClusterRequest::default();
                    let r: DescribeClusterResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.brokers.len(), 1, "DescribeCluster v{v}");
                }
                ApiKey::DescribeProducers => {
                    let (code, _) = raw.describe_producers("v", 0).await;
                    assert_eq!(code, 0);
                }
                ApiKey::OffsetCommit => {
                    let req = OffsetCommitRequest::default()
                        .with_group_id(GroupId(s("pg")))
                        .with_generation_id_or_member_epoch(-1)
                        .with_retention_time_ms(-1)
                        .with_topics(vec![
                            offset_commit_request::OffsetCommitRequestTopic::default()
                                .with_name(name)
                                .with_partitions(vec![
                                    offset_commit_request::OffsetCommitRequestPartition::default()
                                        .with_committed_offset(i64::from(v))
                                        .with_committed_metadata(Some(s("m"))),
                                ]),
                        ]);
                    let r: OffsetCommitResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.topics[0].partitions[0].error_code, 0, "OffsetCommit v{v}");
                }
                ApiKey::OffsetFetch => {
                    let committed = if v >= 8 {
                        let req = OffsetFetchRequest::default().with_groups(vec![
                            offset_fetch_request::OffsetFetchRequestGroup::default()
                                .with_group_id(GroupId(s("pg")))
                                .with_topics(Some(vec![
                                    offset_fetch_request::OffsetFetchRequestTopics::default()
                                        .with_name(name)
                                        .with_partition_indexes(vec![0]),
                                ])),
                        ]);
                        let r: OffsetFetchResponse = answers(&mut raw, row.key, v, req).await;
                        assert_eq!(r.groups[0].error_code, 0);
                        r.groups[0].topics[0].partitions[0].committed_offset
                    } else {
                        let req = OffsetFetchRequest::default()
                            .with_group_id(GroupId(s("pg")))
                            .with_topics(Some(vec![
                                offset_fetch_request::OffsetFetchRequestTopic::default()
                                    .with_name(name)
                                    .with_partition_indexes(vec![0]),
                            ]));
                        let r: OffsetFetchResponse = answers(&mut raw, row.key, v, req).await;
                        r.topics[0].partitions[0].committed_offset
                    };
                    assert_eq!(committed, 9, "OffsetFetch v{v}: the last commit (v9)");
                }
                ApiKey::JoinGroup => {
                    let req = JoinGroupRequest::default()
                        .with_group_id(GroupId(s(&format!("jg-{v}"))))
                        .with_session_timeout_ms(10_000)
                        .with_rebalance_timeout_ms(10_000)
                        .with_protocol_type(s("consumer"))
                        .with_protocols(vec![
                            join_group_request::JoinGroupRequestProtocol::default()
                                .with_name(s("range"))
                                .with_metadata(Bytes::from_static(b"m")),
                        ]);
                    let r: JoinGroupResponse = answers(&mut raw, row.key, v, req).await;
                    let expected = if v >= 4 { 79 } else { 0 };
                    assert_eq!(r.error_code, expected, "JoinGroup v{v}");
                    assert!(!r.member_id.is_empty());
                }
                ApiKey::Heartbeat => {
                    let req = HeartbeatRequest::default()
                        .with_group_id(GroupId(s("nope")))
                        .with_member_id(s("m"));
                    let r: HeartbeatResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.error_code, 25, "Heartbeat v{v}: UNKNOWN_MEMBER_ID");
                }
                ApiKey::LeaveGroup => {
                    let req = if v >= 3 {
                        LeaveGroupRequest::default()
                            .with_group_id(GroupId(s("nope")))
                            .with_members(vec![leave_group_request::MemberIdentity::default()
                                .with_member_id(s("m"))])
                    } else {
                        LeaveGroupRequest::default()
                            .with_group_id(GroupId(s("nope")))
                            .with_member_id(s("m"))
                    };
                    let r: LeaveGroupResponse = answers(&mut raw, row.key, v, req).await;
                    let code = if v >= 3 {
                        r.members[0].error_code
                    } else {
                        r.error_code
                    };
                    assert_eq!(code, 25, "LeaveGroup v{v}");
                }
                ApiKey::SyncGroup => {
                    let req = SyncGroupRequest::default()
                        .with_group_id(GroupId(s("nope")))
                        .with_member_id(s("m"));
                    let r: SyncGroupResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.error_code, 25, "SyncGroup v{v}");
                }
                ApiKey::DescribeGroups => {
                    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("pg"))]);
                    let r: DescribeGroupsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.groups[0].error_code, 0, "DescribeGroups v{v}");
                    assert_eq!(&*r.groups[0].group_state, "Empty");
                }
                ApiKey::ListGroups => {
                    let r: ListGroupsResponse =
                        answers(&mut raw, row.key, v, ListGroupsRequest::default()).await;
                    assert!(
                        r.groups.iter().any(|g| &*g.group_id.0 == "pg"),
                        "ListGroups v{v}"
                    );
                }
                ApiKey::DeleteGroups => {
                    let req =
                        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("nope"))]);
                    let r: DeleteGroupsResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(
                        r.results[0].error_code, 69,
                        "DeleteGroups v{v}: GROUP_ID_NOT_FOUND"
                    );
                }
                ApiKey::OffsetDelete => {
                    let req = OffsetDeleteRequest::default()
                        .with_group_id(GroupId(s("pg")))
                        .with_topics(vec![
                            offset_delete_request::OffsetDeleteRequestTopic::default()
                                .with_name(name)
                                .with_partitions(vec![
                                    offset_delete_request::OffsetDeleteRequestPartition::default(),
                                ]),
                        ]);
                    let r: OffsetDeleteResponse = answers(&mut raw, row.key, v, req).await;
                    assert_eq!(r.error_code, 0);
                    assert_eq!(r.topics[0].partitions[0].error_code, 0, "OffsetDelete v{v}");
                }
                other => panic!("no version check for {other:?}"),
            }
        }
    }
    broker.shutdown().await.expect("shutdown");
}

async fn raw_topic_id(raw: &mut Raw, topic: &str) -> uuid::Uuid {
    let req = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(topic)))),
    ]));
    let r: MetadataResponse = raw.call(ApiKey::Metadata, 12, &req).await;
    r.topics[0].topic_id
}

/// An ApiVersions version idem does not know gets Kafka's v0-shaped answer.
#[tokio::test]
async fn unknown_api_versions_version_gets_the_v0_shape() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    // kafka-protocol cannot encode v99: write the header by hand (key, version, correlation
    // id, null client id, the flexible header's empty tagged fields) and no body.
    let mut request = Vec::new();
    request.extend_from_slice(&11i32.to_be_bytes());
    request.extend_from_slice(&18i16.to_be_bytes());
    request.extend_from_slice(&99i16.to_be_bytes());
    request.extend_from_slice(&7i32.to_be_bytes());
    request.extend_from_slice(&(-1i16).to_be_bytes());
    request.push(0);
    raw.write_raw(&request).await;
    let mut frame = raw.read_frame().await.expect("a response");
    let _header = ResponseHeader::decode(&mut frame, 0).expect("header v0");
    let body = ApiVersionsResponse::decode(&mut frame, 0).expect("v0 body");
    assert_eq!(body.error_code, 35);
    // Only the ApiVersions row, as Kafka answers.
    assert_eq!(body.api_keys.len(), 1);
    assert_eq!(
        (body.api_keys[0].api_key, body.api_keys[0].max_version),
        (ApiKey::ApiVersions as i16, 4)
    );
    // Without the tagged-fields byte the header does not parse: closed, as Kafka does.
    let mut raw = Raw::connect(broker.addr).await;
    let mut bare = request[..request.len() - 1].to_vec();
    bare[..4].copy_from_slice(&10i32.to_be_bytes());
    raw.write_raw(&bare).await;
    assert!(raw.closed_by_peer().await);
    broker.shutdown().await.expect("shutdown");
}

/// Pipelined requests are answered in the order sent, even when an early one waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("p", 1, &[]).await, 0);
    let long_poll = FetchRequest::default()
        .with_max_wait_ms(300)
        .with_min_bytes(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s("p")))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(1_000)
                .with_partition_max_bytes(1 << 20)])]);
    let mut expected = Vec::new();
    for i in 0..60 {
        let id = match i % 3 {
            0 => {
                raw.send(
                    ApiKey::Produce,
                    9,
                    &Raw::produce_request("p", 0, Some(batch::plain(1, "x")), -1),
                )
                .await
            }
            1 => {
                raw.send(ApiKey::Metadata, 12, &MetadataRequest::default())
                    .await
            }
            _ => raw.send(ApiKey::Fetch, 12, &long_poll).await,
        };
        expected.push((i % 3, id));
    }
    for (kind, id) in expected {
        let got = match kind {
            0 => {
                raw.receive_with_id::<ProduceResponse>(ApiKey::Produce, 9)
                    .await
                    .0
            }
            1 => {
                raw.receive_with_id::<MetadataResponse>(ApiKey::Metadata, 12)
                    .await
                    .0
            }
            _ => {
                raw.receive_with_id::<FetchResponse>(ApiKey::Fetch, 12)
                    .await
                    .0
            }
        };
        assert_eq!(got, id, "responses in request order");
    }
    assert_eq!(
        raw.end_offset("p", 0).await,
        20,
        "produces applied in order"
    );
    let offsets: Vec<i64> = raw
        .stored_headers("p", 0)
        .await
        .iter()
        .map(|h| h.base_offset)
        .collect();
    assert_eq!(offsets, (0..20).collect::<Vec<_>>());
    broker.shutdown().await.expect("shutdown");
}

/// A fetch with min_bytes waits for data (up to max_wait) and returns as soon as it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_long_polls_until_data_arrives() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("lp", 1, &[]).await, 0);
    let addr = broker.addr;
    let producer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut p = Raw::connect(addr).await;
        p.produce("lp", 0, batch::plain(3, "late")).await
    });
    let req = FetchRequest::default()
        .with_max_wait_ms(10_000)
        .with_min_bytes(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s("lp")))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let started = std::time::Instant::now();
    let r: FetchResponse = raw.call(ApiKey::Fetch, 12, &req).await;
    let waited = started.elapsed();
    let records = r.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    assert!(!records.is_empty(), "the fetch returned the late batch");
    assert_eq!(
        BatchHeader::parse(&records).expect("batch").records_count,
        3
    );
    assert!(
        waited < Duration::from_secs(9),
        "returned on arrival, not at max_wait"
    );
    assert_eq!(producer.await.expect("producer").error_code, 0);
    // With no data and min_bytes 1 it waits about max_wait, then answers empty.
    let idle = FetchRequest::default()
        .with_max_wait_ms(200)
        .with_min_bytes(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s("lp")))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(3)
                .with_partition_max_bytes(1 << 20)])]);
    let started = std::time::Instant::now();
    let r: FetchResponse = raw.call(ApiKey::Fetch, 12, &idle).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(r.responses[0].partitions[0]
        .records
        .as_ref()
        .is_none_or(Bytes::is_empty));
    broker.shutdown().await.expect("shutdown");
}

/// Recovery as a consumer sees it: damage the files of a stopped broker four ways; each
/// partition comes back as the longest valid prefix and no corrupt batch is served.
#[tokio::test]
async fn recovery_serves_the_longest_valid_prefix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = config(tmp.path());
    c.topic_defaults.segment_bytes = 2_000;
    let broker = start_with(c.clone()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("r", 4, &[]).await, 0);
    let mut sent = vec![Vec::new(); 4];
    for i in 0..40 {
        for p in 0..4 {
            let b = batch::plain(2, &format!("r{p}-{i}"));
            assert_eq!(raw.produce("r", p, b.clone()).await.error_code, 0);
            sent[p as usize].push(b);
        }
    }
    drop(raw);
    // Partition 3 is damaged by nothing but the missing clean-shutdown marker (an abort).
    broker.abort().await;
    let dir = |p: i32| tmp.path().join(format!("r-{p}"));
    let last_segment = |p: i32| {
        let mut logs: Vec<_> = std::fs::read_dir(dir(p))
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|x| x.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        logs.pop().expect("a segment")
    };
    // 0: a torn tail.
    let seg0 = last_segment(0);
    let len = std::fs::metadata(&seg0).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg0)
        .expect("open")
        .set_len(len - 5)
        .expect("truncate");
    // 1: a flipped byte inside the last segment's first batch.
    let seg1 = last_segment(1);
    let mut bytes = std::fs::read(&seg1).expect("read");
    bytes[70] ^= 0x01;
    std::fs::write(&seg1, bytes).expect("write");
    // 2: missing indexes.
    for e in std::fs::read_dir(dir(2)).expect("dir") {
        let path = e.expect("entry").path();
        if path
            .extension()
            .is_some_and(|x| x == "index" || x == "timeindex")
        {
            std::fs::remove_file(path).expect("rm");
        }
    }
    let broker = start_with(c).await;
    let mut raw = Raw::connect(broker.addr).await;
    for p in 0..4 {
        let stored = raw.fetch_batches("r", p, 0).await;
        for b in &stored {
            let h = BatchHeader::parse(b).expect("parses");
            idem_wire::batch::verify_crc(b, &h).expect("no corrupt batch is served");
        }
        let n = stored.len();
        let expect_all = p >= 2;
        if expect_all {
            assert_eq!(n, 40, "partition {p} intact");
        } else {
            assert!(n < 40, "partition {p} lost its damaged tail");
        }
        for (i, b) in stored.iter().enumerate() {
            assert_eq!(
                &b[61..],
                &sent[p as usize][i][61..],
                "partition {p} batch {i}"
            );
        }
        // The partition keeps working at the recovered end.
        let r = raw.produce("r", p, batch::plain(1, "after")).await;
        assert_eq!((r.error_code, r.base_offset), (0, n as i64 * 2));
    }
    broker.shutdown().await.expect("shutdown");
}
