//! Comparing two brokers' observations, and the allow-list of known differences.
//!
//! Allow-list format, one entry a line (`#` starts a comment line):
//!
//! ```text
//! <scenario-id>[/<path>]   <reason>
//! ```
//!
//! Without a path every difference in the scenario is allowed; with one, only differences at
//! that path or below it (`resend.error_code`, `stored.t-0`, `stored.t-0.batch[1]`, ...).
//! The reason is required: it is what the report prints.

use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use crate::observation::Observation;

/// One allow-list entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Allowance {
    /// Scenario id.
    pub(crate) scenario: String,
    /// Path prefix within the scenario, or every path.
    pub(crate) path: Option<String>,
    /// Why this difference is fine (or, with `BUG:`, why it is tolerated for now).
    pub(crate) reason: String,
    /// Line in the file, for messages.
    pub(crate) line: usize,
}

impl Allowance {
    fn covers(&self, scenario: &str, path: &str) -> bool {
        self.scenario == scenario
            && match &self.path {
                None => true,
                Some(p) => {
                    path == p
                        || path
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
                }
            }
    }
}

/// Reads the allow-list.
pub(crate) fn read_allow_list(file: &Path) -> anyhow::Result<Vec<Allowance>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("read the allow-list {}", file.display()))?;
    parse_allow_list(&text).with_context(|| format!("allow-list {}", file.display()))
}

pub(crate) fn parse_allow_list(text: &str) -> anyhow::Result<Vec<Allowance>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line
            .split_once(char::is_whitespace)
            .map(|(k, r)| (k, r.trim()))
            .unwrap_or((line, ""));
        if reason.is_empty() {
            bail!("line {}: `{key}` has no reason", i + 1);
        }
        let (scenario, path) = match key.split_once('/') {
            Some((s, p)) => (s, Some(p.to_string())),
            None => (key, None),
        };
        out.push(Allowance {
            scenario: scenario.to_string(),
            path,
            reason: reason.to_string(),
            line: i + 1,
        });
    }
    Ok(out)
}

/// One differing value.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Difference {
    /// Where, as in the allow-list.
    pub(crate) path: String,
    /// The reference broker's value (`None`: it has no such path).
    pub(crate) reference: Option<Value>,
    /// The other broker's value.
    pub(crate) other: Option<Value>,
    /// Index into the allow-list when an entry covers this difference.
    pub(crate) allowed_by: Option<usize>,
}

/// The differences between a reference observation and another, each marked with the
/// allow-list entry covering it, if any.
pub(crate) fn differences(
    scenario: &str,
    reference: &Observation,
    other: &Observation,
    allow: &[Allowance],
) -> Vec<Difference> {
    let a = reference.flatten();
    let b = other.flatten();
    let mut out = Vec::new();
    let mut push = |path: &str, x: Option<&Value>, y: Option<&Value>| {
        out.push(Difference {
            path: path.to_string(),
            reference: x.cloned(),
            other: y.cloned(),
            allowed_by: allow.iter().position(|e| e.covers(scenario, path)),
        });
    };
    for (path, x) in &a {
        let y = b.iter().find(|(p, _)| p == path).map(|(_, v)| v);
        if y != Some(x) {
            push(path, Some(x), y);
        }
    }
    for (path, y) in &b {
        if !a.iter().any(|(p, _)| p == path) {
            push(path, None, Some(y));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Step;
    use serde_json::json;

    fn obs(code: i64) -> Observation {
        Observation {
            steps: vec![Step {
                label: "resend".into(),
                fields: [
                    ("error_code".to_string(), json!(code)),
                    ("base_offset".to_string(), json!(3)),
                ]
                .into_iter()
                .collect(),
            }],
            ..Observation::default()
        }
    }

    #[test]
    fn paths_match_whole_components() {
        let allow =
            parse_allow_list("# comment\n\ns28/resend.error_code  improvement\ns29 all of it\n")
                .expect("parse");
        assert_eq!(allow.len(), 2);
        let d = differences("s28", &obs(45), &obs(0), &allow);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].allowed_by, Some(0));
        let d = differences("s29", &obs(45), &obs(0), &allow);
        assert_eq!(d[0].allowed_by, Some(1));
        let d = differences("s30", &obs(45), &obs(0), &allow);
        assert_eq!(d[0].allowed_by, None);
        assert!(!allow[0].covers("s28", "resend.error_code_x"));
        assert!(differences("s28", &obs(0), &obs(0), &allow).is_empty());
    }

    #[test]
    fn an_entry_needs_a_reason() {
        assert!(parse_allow_list("s28\n").is_err());
    }
}
