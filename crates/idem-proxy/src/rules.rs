//! Fault rules: which requests, and what to do to them.
//!
//! A rule is written `API:ACTION[:SELECTOR][:ms=D]`, for example `produce:drop-response:every=10`,
//! `produce:drop-response:first=1`, `fetch:delay:prob=0.2:ms=300`, `any:reset-after:every=50`.
//! - API: a Kafka API name in kebab case (`produce`, `fetch`, `metadata`, `init-producer-id`,
//!   ...), its numeric key, or `any`.
//! - ACTION: `drop-response` (forward the request, swallow its response, close the
//!   connection: a lost acknowledgement), `delay` (hold the response `ms`), `reset-before`
//!   (close without forwarding), `reset-after` (forward, then close before the response),
//!   `duplicate` (forward the request twice, drop the copy's response), `blackhole` (swallow
//!   the request; never answer).
//! - SELECTOR: `every=N` (the N-th, 2N-th, ... matching request), `first=N` (the first N),
//!   `prob=P` (each with probability P, from the proxy's seeded generator); none: all.
//!
//! The first rule that selects a request decides its fate; a request no rule selects passes.

use std::fmt;

use kafka_protocol::messages::ApiKey;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;

/// What to do to a selected request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Forward; swallow the response; close the connection.
    DropResponse,
    /// Forward; hold the response this long.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Close without forwarding.
    ResetBefore,
    /// Forward, then close without waiting for the response.
    ResetAfter,
    /// Forward twice; the second copy's response is dropped.
    Duplicate,
    /// Swallow the request; never answer.
    Blackhole,
}

impl Action {
    /// The action's name in rules and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Action::DropResponse => "drop-response",
            Action::Delay { .. } => "delay",
            Action::ResetBefore => "reset-before",
            Action::ResetAfter => "reset-after",
            Action::Duplicate => "duplicate",
            Action::Blackhole => "blackhole",
        }
    }
}

/// Which matching requests a rule takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// Every request.
    All,
    /// The N-th, 2N-th, ...
    Every(u64),
    /// The first N.
    First(u64),
    /// Each with this probability.
    Probability(f64),
}

/// One rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// The API key, or `None` for any.
    pub api_key: Option<i16>,
    /// What to do.
    pub action: Action,
    /// Which requests.
    pub selector: Selector,
    /// Matching requests seen so far.
    pub matched: u64,
    /// Requests this rule acted on.
    pub applied: u64,
    /// The rule as written.
    pub text: String,
}

/// Why a rule does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {reason}")]
pub struct RuleError {
    rule: String,
    reason: String,
}

fn api_key_by_name(name: &str) -> Option<i16> {
    if let Ok(n) = name.parse::<i16>() {
        return Some(n);
    }
    // ApiKey's Debug names are CamelCase: compare without separators and case.
    let wanted: String = name.chars().filter(|c| *c != '-' && *c != '_').collect();
    (0..=200i16).find(|k| {
        ApiKey::try_from(*k)
            .ok()
            .is_some_and(|key| format!("{key:?}").eq_ignore_ascii_case(&wanted))
    })
}

impl Rule {
    /// Parses `API:ACTION[:SELECTOR][:ms=D]`.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let err = |reason: &str| RuleError {
            rule: text.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = text.trim().split(':');
        let api = parts.next().ok_or_else(|| err("empty"))?;
        let api_key = if api == "any" {
            None
        } else {
            Some(api_key_by_name(api).ok_or_else(|| err("unknown API"))?)
        };
        let action_name = parts.next().ok_or_else(|| err("no action"))?;
        let mut selector = Selector::All;
        let mut ms = None;
        for part in parts {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err("expected key=value"))?;
            match k {
                "every" => {
                    let n: u64 = v.parse().map_err(|_| err("every= needs a number"))?;
                    if n == 0 {
                        return Err(err("every=0 selects nothing"));
                    }
                    selector = Selector::Every(n);
                }
                "first" => {
                    selector = Selector::First(v.parse().map_err(|_| err("first= needs a number"))?)
                }
                "prob" => {
                    let p: f64 = v.parse().map_err(|_| err("prob= needs a number"))?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(err("prob= must be between 0 and 1"));
                    }
                    selector = Selector::Probability(p);
                }
                "ms" => ms = Some(v.parse().map_err(|_| err("ms= needs a number"))?),
                _ => return Err(err("unknown key (every, first, prob, ms)")),
            }
        }
        let action = match action_name {
            "drop-response" => Action::DropResponse,
            "delay" => Action::Delay {
                ms: ms.ok_or_else(|| err("delay needs ms="))?,
            },
            "reset-before" => Action::ResetBefore,
            "reset-after" => Action::ResetAfter,
            "duplicate" => Action::Duplicate,
            "blackhole" => Action::Blackhole,
            _ => return Err(err("unknown action")),
        };
        Ok(Rule {
            api_key,
            action,
            selector,
            matched: 0,
            applied: 0,
            text: text.trim().to_string(),
        })
    }

    /// Counts a request of `api_key` and says whether this rule takes it.
    pub fn select(&mut self, api_key: i16, rng: &mut StdRng) -> bool {
        if self.api_key.is_some_and(|k| k != api_key) {
            return false;
        }
        self.matched += 1;
        let take = match self.selector {
            Selector::All => true,
            Selector::Every(n) => self.matched.is_multiple_of(n),
            Selector::First(n) => self.matched <= n,
            Selector::Probability(p) => rng.gen_bool(p),
        };
        if take {
            self.applied += 1;
        }
        take
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_and_selects() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut r = Rule::parse("produce:drop-response:every=3").expect("parse");
        assert_eq!(r.api_key, Some(0));
        let taken: Vec<bool> = (0..6).map(|_| r.select(0, &mut rng)).collect();
        assert_eq!(taken, [false, false, true, false, false, true]);
        assert!(!r.select(1, &mut rng), "other APIs pass");
        let mut first = Rule::parse("any:reset-before:first=1").expect("parse");
        assert!(first.select(3, &mut rng));
        assert!(!first.select(0, &mut rng));
        assert_eq!(
            Rule::parse("init-producer-id:blackhole")
                .expect("parse")
                .api_key,
            Some(22)
        );
        assert_eq!(
            Rule::parse("fetch:delay:ms=50").expect("parse").action,
            Action::Delay { ms: 50 }
        );
        for bad in [
            "",
            "nope:drop-response",
            "produce:explode",
            "produce:delay",
            "produce:drop-response:every=0",
            "produce:drop-response:prob=2",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn probabilities_are_reproducible_from_the_seed() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut r = Rule::parse("any:duplicate:prob=0.3").expect("parse");
            (0..100).map(|_| r.select(0, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
