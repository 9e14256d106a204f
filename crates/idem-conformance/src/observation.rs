//! What one broker answered in one scenario, normalised so that two brokers' observations can
//! be compared field by field.
//!
//! Everything that legitimately differs between two correct brokers is either normalised
//! (producer ids become `P0`, `P1`, ... in the order the scenario obtained them; timestamps
//! become `t0`, `t0-172800000ms`, `broker-clock` or `same-as:<step>`; topic ids become the
//! alias of the topic) or kept in `info`, which the report shows and the comparison ignores
//! (error messages, throttle times, the full API key list).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scenario's answers from one broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Observation {
    /// The requests the scenario made, in order, with their normalised answers.
    pub(crate) steps: Vec<Step>,
    /// The batches of every topic the scenario created, read back by Fetch at the end.
    pub(crate) stored: Vec<StoredPartition>,
    /// Shown in the report, never compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) info: BTreeMap<String, Value>,
}

/// One request and its normalised answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Step {
    /// Unique within the scenario; used in the allow-list paths.
    pub(crate) label: String,
    /// Compared field by field.
    pub(crate) fields: BTreeMap<String, Value>,
}

/// A partition as Fetch returns it at the end of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredPartition {
    /// Topic alias within the scenario (`t`, `lat`, ...).
    pub(crate) topic: String,
    /// Partition index.
    pub(crate) partition: i32,
    /// Fetch's log start offset.
    pub(crate) log_start_offset: i64,
    /// Fetch's high watermark.
    pub(crate) high_watermark: i64,
    /// Every batch from the log start offset to the high watermark.
    pub(crate) batches: Vec<StoredBatch>,
}

/// One stored record batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredBatch {
    /// Offset of the first record.
    pub(crate) base_offset: i64,
    /// `P0`, `P1`, ... (the scenario's own producers), `none` (-1) or `unissued:<id>`.
    pub(crate) producer: String,
    /// Producer epoch.
    pub(crate) epoch: i16,
    /// Base sequence.
    pub(crate) base_sequence: i32,
    /// Records in the batch.
    pub(crate) count: i32,
    /// Codec name, or `unknown:<id>`.
    pub(crate) codec: String,
    /// `CreateTime` or `LogAppendTime`.
    pub(crate) timestamp_type: String,
    /// `transactional` and/or `control` when those attribute bits are set.
    pub(crate) flags: Vec<String>,
    /// The partition leader epoch the broker stamped.
    pub(crate) leader_epoch: i32,
    /// The batch max timestamp, normalised.
    pub(crate) max_timestamp: String,
    /// Whether the stored CRC matches the bytes (a broker that rewrites timestamps must fix it).
    pub(crate) crc_ok: bool,
    /// Record values (lossy UTF-8; `null` for a null value), or the decode error.
    pub(crate) values: Vec<String>,
}

impl Observation {
    /// Every compared value under a path: `<step label>.<field>` for the steps,
    /// `stored.<topic>-<partition>.<field>` and `stored.<topic>-<partition>.batch[<i>]` for the
    /// log. In order: steps first, then the log.
    pub(crate) fn flatten(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for step in &self.steps {
            for (field, value) in &step.fields {
                out.push((format!("{}.{field}", step.label), value.clone()));
            }
        }
        for p in &self.stored {
            let at = format!("stored.{}-{}", p.topic, p.partition);
            out.push((
                format!("{at}.log_start_offset"),
                Value::from(p.log_start_offset),
            ));
            out.push((
                format!("{at}.high_watermark"),
                Value::from(p.high_watermark),
            ));
            out.push((format!("{at}.batch_count"), Value::from(p.batches.len())));
            for (i, b) in p.batches.iter().enumerate() {
                out.push((
                    format!("{at}.batch[{i}]"),
                    serde_json::to_value(b).unwrap_or(Value::Null),
                ));
            }
        }
        out
    }

    /// A one-line summary for the report table: each step's error code (with `@offset` for a
    /// successful produce), then what the log holds.
    pub(crate) fn summary(&self) -> String {
        let mut parts: Vec<String> = self.steps.iter().map(step_summary).collect();
        for p in &self.stored {
            let records: i64 = p.batches.iter().map(|b| i64::from(b.count)).sum();
            let mut s = format!(
                "{}-{}: {} batch{}/{} rec",
                p.topic,
                p.partition,
                p.batches.len(),
                if p.batches.len() == 1 { "" } else { "es" },
                records
            );
            if p.log_start_offset != 0 {
                s.push_str(&format!(", lso {}", p.log_start_offset));
            }
            parts.push(format!("[{s}]"));
        }
        parts.join(" ")
    }
}

fn step_summary(step: &Step) -> String {
    let f = &step.fields;
    if let Some(Value::String(outcome)) = f.get("outcome") {
        return outcome.clone();
    }
    if let Some(Value::Array(topics)) = f.get("topics") {
        // Metadata: each topic's error code.
        let codes: Vec<String> = topics
            .iter()
            .map(|t| t.get("error_code").map_or("?".into(), Value::to_string))
            .collect();
        return format!("topics[{}]", codes.join(","));
    }
    match (f.get("error_code"), f.get("base_offset")) {
        (Some(e), Some(Value::Number(o))) if o.as_i64().is_some_and(|o| o >= 0) => {
            format!("{e}@{o}")
        }
        (Some(e), _) => e.to_string(),
        (None, _) => "ok".into(),
    }
}
