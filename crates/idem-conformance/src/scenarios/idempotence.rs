//! kafka-idempotence.md §9, the single-node scenarios, plus two rows of the §2.2 decision
//! table that §9 does not spell out (epoch -1, a producer id nobody issued).
//!
//! Setup for each: topic `t` (one partition, CreateTime), P0 from InitProducerId, Produce v9
//! with acks=all. `B(e,s,n)` is an idempotent batch of P0 with epoch e, base sequence s and n
//! records.

use std::time::Duration;

use anyhow::Context as _;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use serde_json::json;

use super::{table, Scenario};
use crate::ctx::Ctx;

pub(super) fn all() -> Vec<Scenario> {
    table! { "idempotence";
        "s01-init-producer-id" => s01, "InitProducerId v0–v5 {null, MAX}: a new id, epoch 0, every call";
        "s02-init-known-producer" => s02, "InitProducerId v3–v5 {null, P0, 0}: a new id, epoch 0 (no server-side bump)";
        "s03-init-half-set" => s03, "InitProducerId v3/v4 {null, -1, 3} and {null, P0, -1}: INVALID_REQUEST, -1/-1";
        "s05-first-batch" => s05, "B(0,0,3) on an empty log";
        "s06-in-order" => s06, "B(0,0,3) then B(0,3,2)";
        "s07-duplicate" => s07, "B(0,0,3), B(0,3,2), then B(0,3,2) again: the original offset, nothing stored";
        "s08-window-fifth-newest" => s08, "B(0,i,1) for i=0..5, resend B(0,1,1): still one of the 5 cached";
        "s09-evicted-duplicate" => s09, "B(0,i,1) for i=0..5, resend B(0,0,1): evicted, OUT_OF_ORDER_SEQUENCE";
        "s10-gap" => s10, "last seq 5, B(0,7,1) (gap) then B(0,6,1)";
        "s11-partial-overlap" => s11, "cached B(0,0,10); B(0,0,5) and B(0,5,10)";
        "s12-same-range-other-payload" => s12, "B(0,0,3) then the same range with other values: old offset, new payload dropped";
        "s13-fresh-producer-any-sequence" => s13, "fresh producer: B(0,42,1), then B(0,44,1), then B(0,43,1)";
        "s14-epoch-bump" => s14, "last seq 5, B(1,0,1), then the old-epoch retry B(0,5,1)";
        "s15-epoch-bump-nonzero-seq" => s15, "last seq 5, B(1,6,1)";
        "s16-stale-epoch" => s16, "state epoch 1, B(0,6,1)";
        "s17-epoch-jump" => s17, "state epoch 1, B(5,0,1): epochs may jump";
        "s18-epoch-wrap" => s18, "state epoch 32767, B(-32768,0,1)";
        "s19-sequence-wrap" => s19, "B(0,MAX-2,3) then B(0,0,2)";
        "s20-batch-straddles-wrap" => s20, "B(0,MAX-1,4), B(0,2,1), then the straddling batch again";
        "s21-producer-without-sequence" => s21, "B(0,-1,1) (producer id, no sequence), then B(0,0,1)";
        "s23-non-idempotent-twice" => s23, "a batch without producer id, sent twice";
        "s27-create-time-duplicate" => s27_create_time, "CreateTime topic: B(0,0,2) and its duplicate: LogAppendTime -1, then T";
        "s27-log-append-time-duplicate" => s27_log_append_time, "LogAppendTime topic: the duplicate answers the original append time";
        "s31-backdated-producer-expiry" => s31, "B(0,0,1) stamped 2 days ago, wait past an expiry check, then B(0,100,1)";
        "s32-delete-records-in-order" => s32_in_order, "3 batches, DeleteRecords to 3, then the next in-order batch";
        "s32-delete-records-out-of-order" => s32_out_of_order, "3 batches, DeleteRecords to 3, then an out-of-order batch";
        "s34-describe-producers" => s34, "after B(0,0,3) and B(0,3,2): DescribeProducers";
        "s35-describe-producers-unknown" => s35, "DescribeProducers for a missing topic and a missing partition";
        "dt12-epoch-minus-one" => dt12, "fresh producer sending epoch -1: B(-1,5,1), B(-1,100,1), B(-1,0,1)";
        "dt-unissued-producer-id" => dt_unissued, "a producer id no InitProducerId handed out: B(0,0,1), B(0,1,1), one near i64::MAX, then InitProducerId";
    }
}

/// Topic `t` and producer P0.
async fn setup(c: &mut Ctx) -> anyhow::Result<i64> {
    c.create_topic("t", 1, &[]).await?;
    c.producer().await
}

/// Produces `B(e, s, n)` of `pid` to `t`, values tagged with the producer alias, epoch and
/// sequence so a stored batch shows which send it came from.
async fn b(c: &mut Ctx, label: &str, pid: i64, e: i16, seq: i32, n: i32) -> anyhow::Result<()> {
    let tag = format!("{}e{e}s{seq}", c.pid(pid));
    let batch = c.batch(pid, e, seq, n, &tag);
    c.produce(label, "t", batch).await?;
    Ok(())
}

/// `B(0,i,1)` for i = 0..6: last sequence 5, the newest five cached.
async fn six_singles(c: &mut Ctx, pid: i64) -> anyhow::Result<()> {
    for i in 0..6 {
        b(c, &format!("seq{i}"), pid, 0, i, 1).await?;
    }
    Ok(())
}

/// InitProducerId at `version`; records error, producer alias and epoch. Retries the
/// retriable coordinator errors (a fresh Kafka answers 14 until its first id block arrives).
pub(super) async fn init(
    c: &mut Ctx,
    label: &str,
    version: i16,
    req: InitProducerIdRequest,
) -> anyhow::Result<()> {
    let mut retries = 0;
    let resp = loop {
        let resp: InitProducerIdResponse = c
            .conn()
            .call(ApiKey::InitProducerId, version, &req)
            .await
            .with_context(|| format!("step {label}"))?;
        if (14..=16).contains(&resp.error_code) && retries < 100 {
            retries += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        break resp;
    };
    let producer = c.issued_pid(resp.producer_id.0);
    c.step(
        label,
        vec![
            ("error_code", json!(resp.error_code)),
            ("producer", json!(producer)),
            ("epoch", json!(resp.producer_epoch)),
        ],
    );
    if retries > 0 {
        c.info(&format!("{label}.retries"), json!(retries));
    }
    Ok(())
}

fn null_txn() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(i32::MAX)
}

async fn s01(c: &mut Ctx) -> anyhow::Result<()> {
    for version in 0..=5 {
        init(c, &format!("v{version}"), version, null_txn()).await?;
    }
    Ok(())
}

async fn s02(c: &mut Ctx) -> anyhow::Result<()> {
    let p = c.producer().await?;
    for version in 3..=5 {
        let req = null_txn()
            .with_producer_id(ProducerId(p))
            .with_producer_epoch(0);
        init(c, &format!("v{version}-known-P0"), version, req).await?;
    }
    Ok(())
}

async fn s03(c: &mut Ctx) -> anyhow::Result<()> {
    let p = c.producer().await?;
    for version in [3, 4] {
        let req = null_txn()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(3);
        init(c, &format!("v{version}-id-unset-epoch-3"), version, req).await?;
        let req = null_txn()
            .with_producer_id(ProducerId(p))
            .with_producer_epoch(-1);
        init(c, &format!("v{version}-P0-epoch-unset"), version, req).await?;
    }
    Ok(())
}

async fn s05(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,3)", p, 0, 0, 3).await
}

async fn s06(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,3)", p, 0, 0, 3).await?;
    b(c, "B(0,3,2)", p, 0, 3, 2).await
}

async fn s07(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,3)", p, 0, 0, 3).await?;
    b(c, "B(0,3,2)", p, 0, 3, 2).await?;
    b(c, "resend-B(0,3,2)", p, 0, 3, 2).await
}

async fn s08(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "resend-B(0,1,1)", p, 0, 1, 1).await
}

async fn s09(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "resend-B(0,0,1)", p, 0, 0, 1).await
}

async fn s10(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "gap-B(0,7,1)", p, 0, 7, 1).await?;
    b(c, "B(0,6,1)", p, 0, 6, 1).await
}

async fn s11(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,10)", p, 0, 0, 10).await?;
    b(c, "B(0,0,5)", p, 0, 0, 5).await?;
    b(c, "B(0,5,10)", p, 0, 5, 10).await
}

async fn s12(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let original = c.batch(p, 0, 0, 3, "original");
    c.produce("B(0,0,3)-original", "t", original).await?;
    let other = c.batch(p, 0, 0, 3, "different");
    c.produce("B(0,0,3)-different", "t", other).await?;
    Ok(())
}

async fn s13(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,42,1)", p, 0, 42, 1).await?;
    b(c, "B(0,44,1)", p, 0, 44, 1).await?;
    b(c, "B(0,43,1)", p, 0, 43, 1).await
}

async fn s14(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "B(1,0,1)", p, 1, 0, 1).await?;
    b(c, "retry-B(0,5,1)", p, 0, 5, 1).await
}

async fn s15(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "B(1,6,1)", p, 1, 6, 1).await
}

async fn s16(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "B(1,0,1)", p, 1, 0, 1).await?;
    b(c, "B(0,6,1)", p, 0, 6, 1).await
}

async fn s17(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    six_singles(c, p).await?;
    b(c, "B(1,0,1)", p, 1, 0, 1).await?;
    b(c, "B(5,0,1)", p, 5, 0, 1).await
}

async fn s18(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(32767,0,1)", p, i16::MAX, 0, 1).await?;
    b(c, "B(-32768,0,1)", p, i16::MIN, 0, 1).await
}

async fn s19(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,MAX-2,3)", p, 0, i32::MAX - 2, 3).await?;
    b(c, "B(0,0,2)", p, 0, 0, 2).await
}

async fn s20(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,MAX-1,4)", p, 0, i32::MAX - 1, 4).await?;
    b(c, "B(0,2,1)", p, 0, 2, 1).await?;
    b(c, "resend-B(0,MAX-1,4)", p, 0, i32::MAX - 1, 4).await
}

async fn s21(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,-1,1)", p, 0, -1, 1).await?;
    b(c, "B(0,0,1)", p, 0, 0, 1).await
}

async fn s23(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let plain = c.batch(-1, -1, -1, 1, "plain");
    c.produce("plain", "t", plain.clone()).await?;
    c.produce("plain-again", "t", plain).await?;
    Ok(())
}

async fn s27_create_time(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,2)", p, 0, 0, 2).await?;
    b(c, "duplicate", p, 0, 0, 2).await
}

async fn s27_log_append_time(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[("message.timestamp.type", "LogAppendTime")])
        .await?;
    let p = c.producer().await?;
    b(c, "B(0,0,2)", p, 0, 0, 2).await?;
    // A later wall-clock millisecond, so "same as the first append" cannot be a coincidence.
    tokio::time::sleep(Duration::from_millis(20)).await;
    b(c, "duplicate", p, 0, 0, 2).await
}

/// Kafka expires a producer when `now - lastTimestamp >= producer.id.expiration.ms`, where
/// lastTimestamp is the batch's max *CreateTime*; idem uses its own clock of the last append
/// (kafka-idempotence.md §8 item 3). The run script starts both brokers with a 500 ms
/// `producer.id.expiration.check.interval.ms` so the check happens within the wait.
async fn s31(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    let two_days_ago = c.t0 - 2 * 86_400_000;
    let batch = c.batch_at(p, 0, 0, 1, "backdated", two_days_ago);
    c.produce("B(0,0,1)-2-days-old", "t", batch).await?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let name = c.name("t");
    c.describe_producers("describe-after-wait", &name, 0)
        .await?;
    b(c, "B(0,100,1)", p, 0, 100, 1).await
}

async fn s32_three_then_delete(c: &mut Ctx) -> anyhow::Result<i64> {
    let p = setup(c).await?;
    for i in 0..3 {
        b(c, &format!("seq{i}"), p, 0, i, 1).await?;
    }
    c.delete_records("delete-records-to-3", "t", 3).await?;
    Ok(p)
}

async fn s32_in_order(c: &mut Ctx) -> anyhow::Result<()> {
    let p = s32_three_then_delete(c).await?;
    b(c, "B(0,3,1)", p, 0, 3, 1).await
}

async fn s32_out_of_order(c: &mut Ctx) -> anyhow::Result<()> {
    let p = s32_three_then_delete(c).await?;
    b(c, "B(0,9,1)", p, 0, 9, 1).await
}

async fn s34(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(0,0,3)", p, 0, 0, 3).await?;
    let later = c.t0 + 7;
    let batch = c.batch_at(p, 0, 3, 2, "P0e0s3", later);
    c.produce("B(0,3,2)", "t", batch).await?;
    let name = c.name("t");
    c.describe_producers("describe", &name, 0).await
}

async fn s35(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let missing = c.name("missing");
    c.describe_producers("missing-topic", &missing, 0).await?;
    let t = c.name("t");
    c.describe_producers("missing-partition-7", &t, 7).await
}

/// Decision table row 12: an unknown producer sending epoch -1 is accepted with any
/// sequence, and Kafka then applies no sequence checks to it (§8 item 5).
async fn dt12(c: &mut Ctx) -> anyhow::Result<()> {
    let p = setup(c).await?;
    b(c, "B(-1,5,1)", p, -1, 5, 1).await?;
    b(c, "B(-1,100,1)", p, -1, 100, 1).await?;
    b(c, "B(-1,0,1)", p, -1, 0, 1).await
}

/// No provenance check on producer ids (§8 item 5): Kafka accepts an id it never issued.
async fn dt_unissued(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let invented = 8_000_000_000_i64;
    b(c, "B(0,0,1)", invented, 0, 0, 1).await?;
    b(c, "B(0,1,1)", invented, 0, 1, 1).await?;
    // The audit's forged id near i64::MAX; InitProducerId must keep working after it.
    b(c, "B(0,0,1)-near-max", 0x7fff_ffff_ffff_fffe, 0, 0, 1).await?;
    c.producer().await?;
    Ok(())
}
