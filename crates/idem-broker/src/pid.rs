//! Producer id allocation: never the same id twice, across clean and unclean restarts.
//!
//! Ids are handed out from blocks of [`BLOCK_SIZE`]. Before the first id of a block is used,
//! the end of the block is written durably to `producer-ids.json`; a restart starts after the
//! last recorded block, so ids handed out before a crash are skipped, never reused.
//!
//! The allocation floor comes from that file only, never from producer ids seen in batches:
//! a client can write any id into a batch, and taking the largest one as the floor let one
//! forged batch near `i64::MAX` exhaust the id space after a restart. Only when the file is
//! missing while the logs hold producer state (an operator deleted it) do the logs give the
//! floor, so that ids are still never reused. The end of the newest durable block is also
//! the limit of ids a batch may carry (`issued_below`): see
//! `idem_producer_state::check_issued`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use idem_log::storage::{self, Storage};
use serde::{Deserialize, Serialize};

/// Ids reserved per durable write, as Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`.
pub const BLOCK_SIZE: i64 = 1000;
const FILE: &str = "producer-ids.json";

#[derive(Debug, Serialize, Deserialize)]
struct PidFile {
    /// Every id below this may have been handed out.
    next_block_start: i64,
}

#[derive(Debug)]
struct Block {
    next: i64,
    end: i64,
}

/// The producer id allocator of the broker.
#[derive(Debug)]
pub struct ProducerIds {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    block: Mutex<Block>,
    /// Every id handed out so far, in this run or before, is below this (the end of the
    /// newest durable block). Read on every idempotent produce, hence an atomic.
    issued_below: AtomicI64,
}

impl ProducerIds {
    /// Opens the allocator. `floor_if_missing` (one above the largest producer id in any
    /// partition's state) is used only when `producer-ids.json` does not exist.
    pub fn open(
        storage: Arc<dyn Storage>,
        dir: &Path,
        floor_if_missing: Option<i64>,
    ) -> anyhow::Result<ProducerIds> {
        let path = dir.join(FILE);
        let start = if storage.exists(&path) {
            let bytes = storage::read_file(storage.as_ref(), &path)
                .with_context(|| format!("read {}", path.display()))?;
            let file: PidFile = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is damaged; write {{\"next_block_start\": N}} into it with N above every producer id in use",
                    path.display()
                )
            })?;
            file.next_block_start
        } else {
            match floor_if_missing {
                Some(floor) if floor > 0 => {
                    tracing::warn!(
                        "{} is missing but the logs hold producer ids up to {}; allocating above them",
                        path.display(),
                        floor - 1
                    );
                    floor
                }
                _ => 0,
            }
        }
        .max(0);
        Ok(ProducerIds {
            storage,
            dir: dir.to_path_buf(),
            block: Mutex::new(Block {
                next: start,
                end: start,
            }),
            issued_below: AtomicI64::new(start),
        })
    }

    /// Every producer id handed out so far is below this.
    pub fn issued_below(&self) -> i64 {
        self.issued_below.load(Ordering::Acquire)
    }

    /// A producer id never handed out before. Blocks on a durable write once per block.
    pub fn allocate(&self) -> anyhow::Result<i64> {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        if block.next >= block.end {
            let end = block
                .end
                .checked_add(BLOCK_SIZE)
                .context("producer id space exhausted")?;
            let bytes = serde_json::to_vec(&PidFile {
                next_block_start: end,
            })
            .context("encode producer id block")?;
            storage::write_atomically(self.storage.as_ref(), &self.dir, FILE, &bytes)
                .with_context(|| format!("write {}", self.dir.join(FILE).display()))?;
            block.end = end;
            // Published before the first id of the block is returned, so a producer can
            // never send a batch with an id the produce path does not know yet.
            self.issued_below.store(end, Ordering::Release);
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idem_log::StdStorage;
    use std::collections::HashSet;

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s: Arc<dyn Storage> = Arc::new(StdStorage);
        let mut seen = HashSet::new();
        for _ in 0..3 {
            // Each "restart" drops the allocator mid-block, as a crash would.
            let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), None).expect("open");
            for _ in 0..1500 {
                let id = ids.allocate().expect("allocate");
                assert!(id < ids.issued_below());
                assert!(seen.insert(id));
            }
        }
    }

    #[test]
    fn the_logs_floor_only_counts_when_the_file_is_missing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s: Arc<dyn Storage> = Arc::new(StdStorage);
        let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), Some(1_000_000)).expect("open");
        assert_eq!(ids.issued_below(), 1_000_000);
        assert_eq!(
            ids.allocate().expect("allocate"),
            1_000_000,
            "missing file: the logs' floor"
        );
        drop(ids);
        // The file now exists: a forged id in the logs no longer moves the floor.
        let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), Some(i64::MAX)).expect("open");
        assert_eq!(ids.issued_below(), 1_001_000);
        assert_eq!(ids.allocate().expect("allocate"), 1_001_000);
    }

    #[test]
    fn an_exhausted_id_space_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s: Arc<dyn Storage> = Arc::new(StdStorage);
        let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), Some(i64::MAX)).expect("open");
        assert!(ids.allocate().is_err());
    }
}
