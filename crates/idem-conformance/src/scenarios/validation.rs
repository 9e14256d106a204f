//! Produce requests a broker must refuse (or accept) before any producer-state check:
//! kafka-idempotence.md §2.1 and §9 #22, plus codecs, sizes, timestamps, acks and topic
//! addressing. Each refused batch is followed by the good `B(0,0,1)` of the same producer, so
//! the observation also shows that a refusal left the producer state alone.

use idem_wire::batch::RawBatch;
use idem_wire::compression::Codec;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, ProduceRequest, TopicName,
};
use serde_json::json;
use uuid::Uuid;

use super::{table, Scenario};
use crate::batches;
use crate::ctx::{now_ms, produce_request, s, Ctx, PRODUCE_VERSION};

pub(super) fn all() -> Vec<Scenario> {
    table! { "validation";
        "v-bad-crc" => bad_crc, "B(0,0,1) with one record byte flipped: CORRUPT_MESSAGE";
        "v-magic-0" => magic_0, "a magic 0 message set at Produce v9";
        "v-magic-1" => magic_1, "a magic 1 message set at Produce v9 (§9 #22)";
        "v-magic-3" => magic_3, "a v2 batch with magic 3";
        "v-base-offset-5" => base_offset_5, "B(0,0,1) with base offset 5 (§9 #22)";
        "v-last-offset-delta-mismatch" => last_offset_delta, "3 records, count 3, lastOffsetDelta 1";
        "v-count-zero" => count_zero, "an empty batch: count 0, lastOffsetDelta -1, no records";
        "v-count-above-records" => count_above_records, "2 records, count 3 and lastOffsetDelta 2";
        "v-count-below-records" => count_below_records, "3 records, count 2 and lastOffsetDelta 1";
        "v-truncated-batch" => truncated, "B(0,0,2) with its last 3 bytes cut";
        "v-too-large" => too_large, "a 1100-byte value on a topic with max.message.bytes=1000";
        "v-two-batches" => two_batches, "B(0,0,1) and B(0,1,1) for one partition in one request (§9 #22)";
        "v-null-records" => null_records, "records null (§9 #22: no batch)";
        "v-empty-records" => empty_records, "records of zero bytes";
        "v-codec-gzip" => codec_gzip, "gzip B(0,0,3), then B(0,3,1)";
        "v-codec-snappy" => codec_snappy, "snappy (xerial framing) B(0,0,3), then B(0,3,1)";
        "v-codec-lz4" => codec_lz4, "lz4 B(0,0,3), then B(0,3,1)";
        "v-codec-zstd" => codec_zstd, "zstd B(0,0,3), then B(0,3,1)";
        "v-codec-unknown-5" => codec_5, "attributes codec 5 on an uncompressed batch";
        "v-zstd-produce-v6" => zstd_v6, "zstd at Produce v6, then the same batch at v7";
        "v-transactional-without-id" => transactional, "transactional bit set, Produce without transactional id";
        "v-control-batch" => control, "control bit set on a client batch";
        "v-timestamp-future" => timestamp_future, "records stamped now, 2 h and 4 h ahead (log.message.timestamp.after.max.ms 1 h)";
        "v-acks-2" => acks_2, "B(0,0,1) with acks=2";
        "v-acks-0" => acks_0, "B(0,0,1) with acks=0 (no answer), then B(0,1,1) with acks=all";
        "v-unknown-topic" => unknown_topic, "Produce to a topic that does not exist (no auto-creation by Produce)";
        "v-unknown-partition" => unknown_partition, "Produce to partition 5 of a one-partition topic";
        "v-produce-v13-topic-id" => v13_topic_id, "Produce v13 addressing the topic by id";
        "v-produce-v13-unknown-topic-id" => v13_unknown_topic_id, "Produce v13 with a topic id nobody has";
    }
}

async fn setup(c: &mut Ctx) -> anyhow::Result<i64> {
    c.create_topic("t", 1, &[]).await?;
    c.producer().await
}

/// Records `bad`, then the good `B(0,0,1)` of `pid`.
async fn bad_then_good(c: &mut Ctx, label: &str, bad: Vec<u8>, pid: i64) -> anyhow::Result<()> {
    c.produce(label, "t", bad).await?;
    good(c, pid, 0).await
}

async fn good(c: &mut Ctx, pid: i64, seq: i32) -> anyhow::Result<()> {
    let batch = c.batch(pid, 0, seq, 1, &format!("good{seq}"));
    c.produce(&format!("then-B(0,{seq},1)"), "t", batch).await?;
    Ok(())
}

async fn bad_crc(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "crc");
    let last = batch.len() - 1;
    batch[last] ^= 0x01;
    bad_then_good(c, "bad-crc", batch, p).await
}

async fn magic_0(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let set = batches::legacy_message_set(0, c.t0, b"legacy-v0");
    bad_then_good(c, "magic-0", set, p).await
}

async fn magic_1(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let set = batches::legacy_message_set(1, c.t0, b"legacy-v1");
    bad_then_good(c, "magic-1", set, p).await
}

async fn magic_3(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "magic3");
    batches::set_magic(&mut batch, 3);
    bad_then_good(c, "magic-3", batch, p).await
}

async fn base_offset_5(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "offset5");
    idem_wire::batch::set_base_offset(&mut batch, 5);
    bad_then_good(c, "base-offset-5", batch, p).await
}

async fn last_offset_delta(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 3, "lod");
    batches::set_last_offset_delta(&mut batch, 1);
    bad_then_good(c, "count-3-delta-1", batch, p).await
}

async fn count_zero(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = RawBatch {
        header: batches::header(p, 0, 0, 0, c.t0, 0),
        records: Vec::new(),
    }
    .to_bytes();
    bad_then_good(c, "empty-batch", batch, p).await
}

async fn count_above_records(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 2, "short");
    batches::set_records_count(&mut batch, 3);
    batches::set_last_offset_delta(&mut batch, 2);
    bad_then_good(c, "2-records-count-3", batch, p).await
}

async fn count_below_records(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 3, "long");
    batches::set_records_count(&mut batch, 2);
    batches::set_last_offset_delta(&mut batch, 1);
    bad_then_good(c, "3-records-count-2", batch, p).await
}

async fn truncated(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 2, "cut");
    batch.truncate(batch.len() - 3);
    bad_then_good(c, "truncated", batch, p).await
}

async fn too_large(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[("max.message.bytes", "1000")])
        .await?;
    let p = c.producer().await?;
    let big = batches::client(p, 0, 0, c.t0, &[vec![b'x'; 1100]]);
    bad_then_good(c, "1100-byte-value", big, p).await
}

async fn two_batches(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut two = c.batch(p, 0, 0, 1, "first");
    two.extend_from_slice(&c.batch(p, 0, 1, 1, "second"));
    bad_then_good(c, "two-batches", two, p).await
}

async fn null_records(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    // Kafka 4.1.1 never answers this one (a NullPointerException in its request handler):
    // wait 5 s rather than the default 20 and record that.
    c.conn()
        .set_response_timeout(std::time::Duration::from_secs(5));
    let req = produce_request(&c.name("t"), 0, None, -1);
    c.produce_request("null-records", PRODUCE_VERSION, &req)
        .await?;
    c.conn()
        .set_response_timeout(std::time::Duration::from_secs(20));
    good(c, p, 0).await
}

async fn empty_records(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    bad_then_good(c, "zero-bytes", Vec::new(), p).await
}

async fn codec(c: &mut Ctx, codec: Codec) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let values = batches::values(codec.name(), 3);
    let batch = batches::compressed(codec, p, 0, 0, c.t0, &values)?;
    c.produce(&format!("{}-B(0,0,3)", codec.name()), "t", batch)
        .await?;
    good(c, p, 3).await
}

async fn codec_gzip(c: &mut Ctx) -> anyhow::Result<()> {
    codec(c, Codec::Gzip).await
}

async fn codec_snappy(c: &mut Ctx) -> anyhow::Result<()> {
    codec(c, Codec::Snappy).await
}

async fn codec_lz4(c: &mut Ctx) -> anyhow::Result<()> {
    codec(c, Codec::Lz4).await
}

async fn codec_zstd(c: &mut Ctx) -> anyhow::Result<()> {
    codec(c, Codec::Zstd).await
}

async fn codec_5(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "codec5");
    batches::set_attributes(&mut batch, 5);
    bad_then_good(c, "codec-5", batch, p).await
}

async fn zstd_v6(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = batches::compressed(Codec::Zstd, p, 0, 0, c.t0, &batches::values("zstd", 1))?;
    let name = c.name("t");
    let req = produce_request(&name, 0, Some(batch.clone()), -1);
    c.produce_request("zstd-v6", 6, &req).await?;
    let req = produce_request(&name, 0, Some(batch), -1);
    c.produce_request("zstd-v7", 7, &req).await?;
    Ok(())
}

async fn transactional(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "txn");
    batches::set_attributes(&mut batch, 0x10);
    bad_then_good(c, "transactional-bit", batch, p).await
}

async fn control(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let mut batch = c.batch(p, 0, 0, 1, "control");
    batches::set_attributes(&mut batch, 0x20);
    bad_then_good(c, "control-bit", batch, p).await
}

async fn timestamp_future(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    // Records stamped now, now+2h and now+4h: the last two are past the 1 h limit (Kafka
    // lists each offending record in record_errors).
    let now = now_ms();
    let step = 2 * 3_600_000;
    for i in 0..3 {
        c.sent(now + i * step);
    }
    let values = batches::values("future", 3);
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let batch = idem_wire::batch::client_batch(p, 0, 0, now, step, &refs);
    bad_then_good(c, "records-0h-2h-4h-ahead", batch, p).await
}

async fn acks_2(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = c.batch(p, 0, 0, 1, "acks2");
    let req = produce_request(&c.name("t"), 0, Some(batch), 2);
    c.produce_request("acks-2", PRODUCE_VERSION, &req).await?;
    good(c, p, 0).await
}

async fn acks_0(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = c.batch(p, 0, 0, 1, "acks0");
    let req = produce_request(&c.name("t"), 0, Some(batch), 0);
    // No response comes for acks=0; the acks=all request after it on the same connection is
    // answered only after the first was handled, so the log read at the end sees both.
    c.conn()
        .send(ApiKey::Produce, PRODUCE_VERSION, &req)
        .await?;
    c.step(
        "acks-0",
        vec![("outcome", json!("sent, no answer expected"))],
    );
    good(c, p, 1).await
}

async fn unknown_topic(c: &mut Ctx) -> anyhow::Result<()> {
    let missing = c.name("missing");
    let batch = c.batch(-1, -1, -1, 1, "nowhere");
    let req = produce_request(&missing, 0, Some(batch), -1);
    c.produce_request("produce-missing-topic", PRODUCE_VERSION, &req)
        .await?;
    // Produce must not have created it.
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s(&missing))))
        ]))
        .with_allow_auto_topic_creation(false);
    let resp: MetadataResponse = c.conn().call(ApiKey::Metadata, 12, &req).await?;
    let code = resp.topics.first().map_or(-1, |t| t.error_code);
    c.step("metadata-after", vec![("error_code", json!(code))]);
    Ok(())
}

async fn unknown_partition(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = c.batch(p, 0, 0, 1, "p5");
    let req = produce_request(&c.name("t"), 5, Some(batch), -1);
    c.produce_request("partition-5", PRODUCE_VERSION, &req)
        .await?;
    good(c, p, 0).await
}

fn by_id(id: Uuid, batch: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_topic_id(id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])])
}

async fn v13_topic_id(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let id = c.topic("t")?.id;
    let batch = c.batch(p, 0, 0, 2, "by-id");
    c.produce_request("v13-by-id", 13, &by_id(id, batch))
        .await?;
    Ok(())
}

async fn v13_unknown_topic_id(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let batch = c.batch(p, 0, 0, 1, "by-unknown-id");
    let unknown = Uuid::from_u128(0x1d3e_c0ff_ee00_4000_8000_0000_0000_0001);
    c.produce_request("v13-unknown-id", 13, &by_id(unknown, batch))
        .await?;
    good(c, p, 0).await
}
