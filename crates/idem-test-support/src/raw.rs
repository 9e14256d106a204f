//! A raw Kafka protocol client for tests.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use idem_wire::batch::BatchHeader;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::ProducerState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One connection to a broker.
#[derive(Debug)]
pub struct Raw {
    /// The socket, for tests that write by hand.
    pub stream: TcpStream,
    correlation: i32,
}

/// One partition's answer to a Produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResult {
    /// Error code.
    pub error_code: i16,
    /// Base offset (-1 on error).
    pub base_offset: i64,
    /// LogAppendTimeMs.
    pub log_append_time: i64,
    /// LogStartOffset.
    pub log_start_offset: i64,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

impl Raw {
    /// Connects.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            correlation: 0,
        }
    }

    /// Sends a request and returns the decoded response.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        self.send(api_key, version, body).await;
        self.receive(api_key, version).await
    }

    /// Sends a request without waiting; returns its correlation id.
    pub async fn send<Req: Encodable>(&mut self, api_key: ApiKey, version: i16, body: &Req) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(s("idem-test")));
        let frame = idem_wire::request::encode_request(&header, api_key, body).expect("encode");
        self.stream.write_all(&frame).await.expect("write");
        self.correlation
    }

    /// Reads and decodes one response.
    pub async fn receive<Resp: Decodable>(&mut self, api_key: ApiKey, version: i16) -> Resp {
        self.receive_with_id(api_key, version).await.1
    }

    /// Reads and decodes one response, with its correlation id.
    pub async fn receive_with_id<Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
    ) -> (i32, Resp) {
        let mut body = self.read_frame().await.expect("a response frame");
        let header_version = api_key.response_header_version(version);
        let header = ResponseHeader::decode(&mut body, header_version).expect("header");
        (
            header.correlation_id,
            Resp::decode(&mut body, version).expect("body"),
        )
    }

    /// One response frame, or `None` when the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        match tokio::time::timeout(Duration::from_secs(30), self.stream.read_exact(&mut size)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return None,
            Err(_) => panic!("no response within 30 s"),
        }
        let size = i32::from_be_bytes(size) as usize;
        let mut buf = BytesMut::zeroed(size);
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(buf.freeze())
    }

    /// Writes bytes as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// True when the broker closes the connection within 10 s.
    pub async fn closed_by_peer(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// CreateTopics v7; returns the error code.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> i16 {
        let topic = CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            );
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000);
        let resp: CreateTopicsResponse = self.call(ApiKey::CreateTopics, 7, &req).await;
        resp.topics[0].error_code
    }

    /// InitProducerId with a null transactional id: `(error, producer id, epoch)`.
    pub async fn init_producer_id(&mut self, version: i16) -> (i16, i64, i16) {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX);
        let resp: InitProducerIdResponse = self.call(ApiKey::InitProducerId, version, &req).await;
        (resp.error_code, resp.producer_id.0, resp.producer_epoch)
    }

    /// A Produce request with one batch for one partition.
    pub fn produce_request(
        topic: &str,
        partition: i32,
        records: Option<Vec<u8>>,
        acks: i16,
    ) -> ProduceRequest {
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(s(topic)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(records.map(Bytes::from))])])
    }

    /// Produce v9, acks=all, one batch: that partition's answer.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: Vec<u8>,
    ) -> ProduceResult {
        self.produce_with(topic, partition, Some(records), -1, 9)
            .await
    }

    /// Produce with the given acks and version.
    pub async fn produce_with(
        &mut self,
        topic: &str,
        partition: i32,
        records: Option<Vec<u8>>,
        acks: i16,
        version: i16,
    ) -> ProduceResult {
        let req = Raw::produce_request(topic, partition, records, acks);
        let resp: ProduceResponse = self.call(ApiKey::Produce, version, &req).await;
        let p = &resp.responses[0].partition_responses[0];
        ProduceResult {
            error_code: p.error_code,
            base_offset: p.base_offset,
            log_append_time: p.log_append_time_ms,
            log_start_offset: p.log_start_offset,
        }
    }

    /// Every stored batch of a partition from `from` up to the high watermark (Fetch v12).
    pub async fn fetch_batches(&mut self, topic: &str, partition: i32, from: i64) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut offset = from;
        loop {
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_min_bytes(0)
                .with_max_bytes(8 << 20)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(TopicName(s(topic)))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(4 << 20)])]);
            let resp: FetchResponse = self.call(ApiKey::Fetch, 12, &req).await;
            let p = &resp.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "fetch {topic}-{partition} at {offset}");
            let records = p.records.clone().unwrap_or_default();
            if records.is_empty() {
                return out;
            }
            let mut pos = 0;
            while pos < records.len() {
                let h = BatchHeader::parse(&records[pos..]).expect("whole batches");
                let end = pos + h.total_len();
                offset = h.last_offset() + 1;
                out.push(records.slice(pos..end));
                pos = end;
            }
        }
    }

    /// Headers of every stored batch of a partition.
    pub async fn stored_headers(&mut self, topic: &str, partition: i32) -> Vec<BatchHeader> {
        self.fetch_batches(topic, partition, 0)
            .await
            .iter()
            .map(|b| BatchHeader::parse(b).expect("batch"))
            .collect()
    }

    /// ListOffsets v7 for one partition: `(error, timestamp, offset)`.
    pub async fn list_offset(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> (i16, i64, i64) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let resp: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 7, &req).await;
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.timestamp, p.offset)
    }

    /// The log end visible to consumers (ListOffsets latest).
    pub async fn end_offset(&mut self, topic: &str, partition: i32) -> i64 {
        self.list_offset(topic, partition, -1).await.2
    }

    /// DescribeProducers v0 for one partition: `(error, producers)`.
    pub async fn describe_producers(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> (i16, Vec<ProducerState>) {
        let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![partition])]);
        let resp: DescribeProducersResponse = self.call(ApiKey::DescribeProducers, 0, &req).await;
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.active_producers.clone())
    }
}
