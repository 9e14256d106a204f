//! Metadata auto-creation and DescribeConfigs answers as Kafka 4.1.1 gives them (settled by
//! the conformance scenarios p-metadata-*-auto-create*, p-describe-configs-*-read-only).

use std::time::Duration;

use idem_test_support::{start, Raw};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

fn name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

async fn metadata(raw: &mut Raw, version: i16, topic: &str, auto: bool) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic)))
        ]))
        .with_allow_auto_topic_creation(auto);
    raw.call(ApiKey::Metadata, version, &req).await
}

/// Asks until the topic is listed with a leader for every partition (at most 10 s).
async fn wait_created(raw: &mut Raw, topic: &str) -> MetadataResponse {
    for _ in 0..200 {
        let resp = metadata(raw, 12, topic, false).await;
        let t = &resp.topics[0];
        if t.error_code == 0 && !t.partitions.is_empty() {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{topic} was not auto-created within 10 s");
}

#[tokio::test]
async fn the_metadata_request_that_auto_creates_answers_unknown() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    for (version, topic) in [(12, "auto12"), (1, "auto1"), (4, "auto4")] {
        // Kafka (KRaft) sends the creation to its controller and answers at once.
        let resp = metadata(&mut raw, version, topic, true).await;
        let t = &resp.topics[0];
        assert_eq!(t.error_code, 3, "v{version}: UNKNOWN_TOPIC_OR_PARTITION");
        assert!(t.partitions.is_empty(), "v{version}: no partitions yet");
        assert!(t.topic_id.is_nil(), "v{version}: no topic id yet");
        assert!(!t.is_internal);
        // A later request sees it.
        let resp = wait_created(&mut raw, topic).await;
        assert_eq!(resp.topics[0].partitions.len(), 1);
        assert!(!resp.topics[0].topic_id.is_nil());
    }
    // A deleted topic asked for with auto-creation: no partitions in that answer either.
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![name("auto12")])
        .with_timeout_ms(30_000);
    let resp: DeleteTopicsResponse = raw.call(ApiKey::DeleteTopics, 4, &req).await;
    assert_eq!(resp.responses[0].error_code, 0);
    let resp = metadata(&mut raw, 12, "auto12", true).await;
    assert_eq!(resp.topics[0].error_code, 3);
    assert!(resp.topics[0].partitions.is_empty());
    wait_created(&mut raw, "auto12").await;
    // Without auto-creation nothing is created.
    assert_eq!(
        metadata(&mut raw, 12, "never", false).await.topics[0].error_code,
        3
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        metadata(&mut raw, 12, "never", false).await.topics[0].error_code,
        3
    );
}

async fn read_only(raw: &mut Raw, resource_type: i8, resource: &str) -> Vec<(String, bool)> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(resource.to_string()))
            .with_configuration_keys(None)]);
    let resp: DescribeConfigsResponse = raw.call(ApiKey::DescribeConfigs, 4, &req).await;
    assert_eq!(resp.results[0].error_code, 0);
    resp.results[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.read_only))
        .collect()
}

#[tokio::test]
async fn broker_configs_are_read_only_topic_configs_are_not() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("t", 1, &[]).await, 0);
    let node = idem_test_support::config(tmp.path()).node_id.to_string();
    let brokers = read_only(&mut raw, 4, &node).await;
    assert!(brokers.iter().any(|(n, _)| n == "advertised.listeners"));
    for (n, ro) in &brokers {
        assert!(ro, "{n}: idem changes no broker setting at run time");
    }
    let topics = read_only(&mut raw, 2, "t").await;
    assert!(topics.iter().any(|(n, _)| n == "retention.ms"));
    for (n, ro) in &topics {
        assert!(!ro, "{n}: topic configs say read_only=false, as Kafka's");
    }
}
