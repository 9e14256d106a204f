//! Record timestamps a broker must refuse or accept (issue 14 defect 7a): negative values
//! other than -1 (NO_TIMESTAMP), with Kafka's default limits and with small
//! `message.timestamp.before.max.ms` / `after.max.ms`, uncompressed and compressed; what the
//! batch header's base and max timestamps count for; the LogAppendTime attribute bit sent by a
//! client. Batches are non-idempotent (producer id -1) so that every step stands alone.

use idem_wire::compression::Codec;

use super::{table, Scenario};
use crate::batches;
use crate::ctx::Ctx;

pub(super) fn all() -> Vec<Scenario> {
    table! { "validation";
        "v-ts-negative-default" => negative_default, "records stamped -2, -1000, i64::MIN and -1 (uncompressed, gzip, zstd), default limits";
        "v-ts-mixed-default" => mixed_default, "one batch mixing t0, -2, -1, -1000 (and i64::MIN), default limits: which record indexes";
        "v-ts-negative-small-limits" => negative_small_limits, "the same on a topic with message.timestamp.before/after.max.ms = 60000, plus t0-2min and t0+2min";
        "v-ts-header-fields" => header_fields, "records at t0 with the header's max timestamp -2, i64::MIN, -1, t0+10h, t0-10h; base timestamp -1000";
        "v-ts-log-append-bit" => log_append_bit, "a client batch with the LogAppendTime attribute bit, CreateTime and LogAppendTime topics";
        "v-ts-backfill-1970" => backfill_1970, "50 batches stamped in 1970 (a backfill), then one Fetch from 0: segments roll by the records' timestamps, so it returns all 50";
    }
}

const CODECS: [Codec; 3] = [Codec::None, Codec::Gzip, Codec::Zstd];
const NEGATIVE: [i64; 4] = [-2, -1000, i64::MIN, -1];
const MINUTE: i64 = 60_000;

fn label(codec: Codec, what: &str) -> String {
    format!("{}-{what}", codec.name())
}

fn ts_name(ts: i64) -> String {
    if ts == i64::MIN {
        "min".into()
    } else {
        ts.to_string()
    }
}

/// Two records both stamped `ts` (base `ts`, header max `ts`).
async fn uniform(
    c: &mut Ctx,
    alias: &str,
    codec: Codec,
    ts: i64,
    name: &str,
) -> anyhow::Result<()> {
    c.sent(ts);
    let batch = batches::stamped(codec, ts, ts, &[ts, ts], name)?;
    c.produce(&label(codec, name), alias, batch).await?;
    Ok(())
}

async fn negative_default(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    for codec in CODECS {
        for ts in NEGATIVE {
            uniform(c, "t", codec, ts, &ts_name(ts)).await?;
        }
    }
    Ok(())
}

async fn mixed_default(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let t0 = c.t0;
    for codec in [Codec::None, Codec::Zstd] {
        // Base -1000 (the lowest), so every delta is small and non-negative.
        let stamps = [t0, -2, -1, -1000];
        let batch = batches::stamped(codec, -1000, t0, &stamps, "mixed")?;
        for s in stamps {
            c.sent(s);
        }
        c.produce(&label(codec, "t0,-2,-1,-1000"), "t", batch)
            .await?;
    }
    for codec in [Codec::None, Codec::Gzip] {
        // Base i64::MIN: the deltas to the other negatives fit, t0's would not.
        let stamps = [-2, i64::MIN, -1, -1000];
        let batch = batches::stamped(codec, i64::MIN, -1, &stamps, "mixed-min")?;
        c.sent(i64::MIN);
        c.produce(&label(codec, "-2,min,-1,-1000"), "t", batch)
            .await?;
    }
    Ok(())
}

async fn negative_small_limits(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic(
        "t",
        1,
        &[
            ("message.timestamp.before.max.ms", "60000"),
            ("message.timestamp.after.max.ms", "60000"),
        ],
    )
    .await?;
    let t0 = c.t0;
    for codec in [Codec::None, Codec::Zstd] {
        for ts in NEGATIVE {
            uniform(c, "t", codec, ts, &ts_name(ts)).await?;
        }
        uniform(c, "t", codec, t0 - 2 * MINUTE, "t0-2min").await?;
        uniform(c, "t", codec, t0 + 2 * MINUTE, "t0+2min").await?;
        uniform(c, "t", codec, t0, "t0").await?;
    }
    for codec in [Codec::None, Codec::Gzip] {
        let stamps = [t0, -1, t0 - 2 * MINUTE, -2, t0 + 2 * MINUTE, t0];
        let batch = batches::stamped(codec, -2, t0 + 2 * MINUTE, &stamps, "mixed")?;
        c.produce(&label(codec, "t0,-1,t0-2min,-2,t0+2min,t0"), "t", batch)
            .await?;
    }
    Ok(())
}

async fn header_fields(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    let t0 = c.t0;
    let hour = 60 * MINUTE;
    let maxes = [
        ("max=-2", -2),
        ("max=min", i64::MIN),
        ("max=-1", -1),
        ("max=t0+10h", t0 + 10 * hour),
        ("max=t0-10h", t0 - 10 * hour),
    ];
    for codec in [Codec::None, Codec::Zstd] {
        for (name, max) in maxes {
            c.sent(max);
            let batch = batches::stamped(codec, t0, max, &[t0, t0], name)?;
            c.produce(&label(codec, name), "t", batch).await?;
        }
        // The base timestamp is only what the deltas are added to.
        c.sent(-1000);
        let batch = batches::stamped(codec, -1000, t0, &[t0, t0], "base=-1000")?;
        c.produce(&label(codec, "base=-1000"), "t", batch).await?;
    }
    Ok(())
}

async fn log_append_bit(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    c.create_topic("lat", 1, &[("message.timestamp.type", "LogAppendTime")])
        .await?;
    let t0 = c.t0;
    for (alias, max) in [("t", t0), ("t", -1), ("lat", t0)] {
        let mut batch = batches::stamped(Codec::None, t0, max, &[t0, t0], "lat-bit")?;
        batches::set_attributes(&mut batch, 0x08);
        let name = format!(
            "{alias}-lat-bit-max={}",
            if max == t0 { "t0" } else { "-1" }
        );
        c.produce(&name, alias, batch).await?;
    }
    // Without the bit, a LogAppendTime topic looks at no record timestamp at all.
    c.sent(i64::MIN);
    let batch = batches::stamped(Codec::None, i64::MIN, i64::MIN, &[i64::MIN, -2], "lat-min")?;
    c.produce("lat-no-bit-min,-2", "lat", batch).await?;
    Ok(())
}

/// Issue 14 defect 8: a segment rolls when the incoming batch's timestamp is `segment.ms`
/// past the segment's first, not by the broker's clock, so old CreateTimes stay in one
/// segment and one Fetch (which reads one segment) returns them all.
async fn backfill_1970(c: &mut Ctx) -> anyhow::Result<()> {
    c.create_topic("t", 1, &[]).await?;
    for i in 0..50 {
        let ts = 86_400_000 + i64::from(i) * 1_000;
        c.sent(ts);
        let batch = batches::client(-1, -1, -1, ts, &batches::values(&format!("old{i}"), 2));
        c.produce(&format!("1970-{i}"), "t", batch).await?;
    }
    c.fetch_once("one-fetch-from-0", "t", 0).await
}
