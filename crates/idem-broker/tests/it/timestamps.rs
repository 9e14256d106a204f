//! Record timestamp validation as Kafka 4.1.1's LogValidator does it (settled against a real
//! Kafka by the conformance scenarios `v-ts-*`): every record is checked except those stamped
//! -1 (NO_TIMESTAMP), negative values included; the header's base and max timestamps are not
//! checked; the stored max timestamp is the records' largest, at least -1; a client batch with
//! the LogAppendTime bit is refused unless the topic is CreateTime and its max timestamp is in
//! range (it is then stored as CreateTime).

use idem_test_support::{now_ms, start, Raw};
use idem_wire::batch::{BatchHeader, RawBatch};
use idem_wire::compression::{compress, Codec};
use idem_wire::records::{encode_record, RecordParts};
use kafka_protocol::messages::{ApiKey, ProduceResponse};

const MIN: i64 = i64::MIN;

/// A batch without producer id, one record per timestamp (deltas from `base`), header max
/// timestamp `max`, attributes `attributes` with `codec`'s bits.
fn stamped(codec: Codec, base: i64, max: i64, stamps: &[i64], attributes: i16) -> Vec<u8> {
    let mut plain = Vec::new();
    for (i, ts) in stamps.iter().enumerate() {
        let value = format!("v{i}");
        encode_record(
            &mut plain,
            &RecordParts {
                offset_delta: i as i32,
                timestamp_delta: ts - base,
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            },
        );
    }
    let records = compress(codec, &plain).expect("compress");
    let n = stamps.len() as i32;
    RawBatch {
        header: BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: attributes | i16::from(codec.id()),
            last_offset_delta: n - 1,
            base_timestamp: base,
            max_timestamp: max,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: n,
        },
        records,
    }
    .to_bytes()
}

/// `(error, record_errors indexes)` of producing `batch` to partition 0 of `topic`.
async fn produce(raw: &mut Raw, topic: &str, batch: Vec<u8>) -> (i16, Vec<i32>) {
    let req = Raw::produce_request(topic, 0, Some(batch), -1);
    let resp: ProduceResponse = raw.call(ApiKey::Produce, 9, &req).await;
    let p = &resp.responses[0].partition_responses[0];
    (
        p.error_code,
        p.record_errors.iter().map(|e| e.batch_index).collect(),
    )
}

fn uniform(codec: Codec, ts: i64) -> Vec<u8> {
    stamped(codec, ts, ts, &[ts, ts], 0)
}

#[tokio::test]
async fn negative_timestamps_are_checked_like_any_other() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("d", 1, &[]).await, 0);
    let small = [
        ("message.timestamp.before.max.ms", "60000"),
        ("message.timestamp.after.max.ms", "60000"),
    ];
    assert_eq!(raw.create_topic("s", 1, &small).await, 0);
    for codec in [Codec::None, Codec::Gzip, Codec::Zstd] {
        // Default limits (before: unlimited, after: 1 h): only i64::MIN is out of range, as
        // Kafka's `now - ts` wraps for it.
        for ts in [-2, -1000, -1] {
            assert_eq!(
                produce(&mut raw, "d", uniform(codec, ts)).await,
                (0, vec![]),
                "{codec:?} {ts}"
            );
        }
        assert_eq!(
            produce(&mut raw, "d", uniform(codec, MIN)).await,
            (32, vec![0, 1]),
            "{codec:?} MIN"
        );
        // Small limits: every negative value but -1 is too old.
        for ts in [-2, -1000, MIN] {
            assert_eq!(
                produce(&mut raw, "s", uniform(codec, ts)).await,
                (32, vec![0, 1]),
                "{codec:?} {ts}"
            );
        }
        assert_eq!(
            produce(&mut raw, "s", uniform(codec, -1)).await,
            (0, vec![])
        );
    }
    let t0 = now_ms() - 1_000;
    let mixed = [t0, -1, t0 - 120_000, -2, t0 + 120_000, t0];
    for codec in [Codec::None, Codec::Gzip] {
        let batch = stamped(codec, -2, t0, &mixed, 0);
        assert_eq!(produce(&mut raw, "s", batch).await, (32, vec![2, 3, 4]));
        let batch = stamped(codec, MIN, -1, &[-2, MIN, -1, -1000], 0);
        assert_eq!(produce(&mut raw, "d", batch).await, (32, vec![1]));
    }
    // Stored max timestamps: the records' largest, never below -1 (Kafka starts from -1).
    let maxes: Vec<i64> = raw
        .stored_headers("d", 0)
        .await
        .iter()
        .map(|h| h.max_timestamp)
        .collect();
    assert_eq!(maxes, vec![-1; 9]);
}

#[tokio::test]
async fn header_timestamps_are_not_checked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("t", 1, &[]).await, 0);
    let t0 = now_ms() - 1_000;
    for max in [-2, MIN, -1, t0 + 36_000_000] {
        assert_eq!(
            produce(&mut raw, "t", stamped(Codec::None, t0, max, &[t0, t0], 0)).await,
            (0, vec![])
        );
    }
    assert_eq!(
        produce(&mut raw, "t", stamped(Codec::Zstd, -1000, t0, &[t0, t0], 0)).await,
        (0, vec![])
    );
    for h in raw.stored_headers("t", 0).await {
        assert_eq!(h.max_timestamp, t0, "stored max is what the records carry");
    }
}

#[tokio::test]
async fn a_client_log_append_time_bit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let broker = start(tmp.path()).await;
    let mut raw = Raw::connect(broker.addr).await;
    assert_eq!(raw.create_topic("t", 1, &[]).await, 0);
    let lat = [("message.timestamp.type", "LogAppendTime")];
    assert_eq!(raw.create_topic("lat", 1, &lat).await, 0);
    let t0 = now_ms() - 1_000;
    // CreateTime topic: the records read as stamped with the header's max timestamp, which
    // is in range: stored, as a CreateTime batch.
    assert_eq!(
        produce(&mut raw, "t", stamped(Codec::None, t0, t0, &[t0, t0], 0x08)).await,
        (0, vec![])
    );
    assert_eq!(
        produce(&mut raw, "t", stamped(Codec::None, t0, -1, &[t0, t0], 0x08)).await,
        (32, vec![0, 1])
    );
    let stored = raw.stored_headers("t", 0).await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].is_log_append_time());
    assert_eq!(stored[0].max_timestamp, t0);
    // LogAppendTime topic: the bit is refused; without it no record timestamp is looked at.
    assert_eq!(
        produce(
            &mut raw,
            "lat",
            stamped(Codec::None, t0, t0, &[t0, t0], 0x08)
        )
        .await,
        (32, vec![0, 1])
    );
    assert_eq!(
        produce(
            &mut raw,
            "lat",
            stamped(Codec::None, MIN, MIN, &[MIN, -2], 0)
        )
        .await,
        (0, vec![])
    );
}
