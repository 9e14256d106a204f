//! The scenario table. A scenario is an async fn over a [`Ctx`]: it creates its own topics and
//! producer ids, records each request's normalised answer as a step, and returns; the runner
//! then reads back every topic it created. It never asserts what the answer should be: the
//! point is to compare brokers, and Kafka's answer is the reference.

use std::future::Future;
use std::pin::Pin;

use crate::ctx::Ctx;

mod admin;
mod groups;
mod idempotence;
mod protocol;
mod tags;
mod timestamps;
mod validation;

/// A scenario body.
pub(crate) type Run =
    for<'a> fn(&'a mut Ctx) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scenario {
    /// Stable id, used by `--only` and in the allow-list. Starts with the §9 number when the
    /// scenario is one of kafka-idempotence.md's.
    pub(crate) id: &'static str,
    /// `idempotence`, `validation`, `protocol` or `groups`.
    pub(crate) family: &'static str,
    /// What it does, for the report.
    pub(crate) title: &'static str,
    /// The body.
    pub(crate) run: Run,
}

/// Builds a family's table: `"id" => function, "title";`.
macro_rules! table {
    ($family:literal; $($id:literal => $f:path, $title:literal;)*) => {
        vec![$(crate::scenarios::Scenario {
            id: $id,
            family: $family,
            title: $title,
            run: |c| Box::pin($f(c)),
        },)*]
    };
}
pub(crate) use table;

/// Every scenario, in the order they run.
pub(crate) fn all() -> Vec<Scenario> {
    let mut all = idempotence::all();
    all.extend(validation::all());
    all.extend(timestamps::all());
    all.extend(protocol::all());
    all.extend(tags::all());
    all.extend(admin::all());
    all.extend(groups::all());
    all
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_topic_safe() {
        let all = super::all();
        let mut ids: Vec<&str> = all.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "duplicate scenario id");
        for id in ids {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id}: ids become topic names"
            );
        }
        assert!(all.len() >= 40);
    }
}
