//! Producer id allocation: never the same id twice, across clean and unclean restarts.
//!
//! Ids are handed out from blocks of [`BLOCK_SIZE`]. Before the first id of a block is used,
//! the end of the block is written durably to `producer-ids.json`; a restart starts after the
//! last recorded block, so ids handed out before a crash are skipped, never reused. As a
//! second guard, start-up also starts above every producer id found in any partition's state.

use std::path::{Path, PathBuf};
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
}

impl ProducerIds {
    /// Opens the allocator; `floor` is one above the largest producer id seen in any log.
    pub fn open(storage: Arc<dyn Storage>, dir: &Path, floor: i64) -> anyhow::Result<ProducerIds> {
        let path = dir.join(FILE);
        let recorded = if storage.exists(&path) {
            let bytes = storage::read_file(storage.as_ref(), &path)
                .with_context(|| format!("read {}", path.display()))?;
            let file: PidFile = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is damaged; delete it to restart allocation above the ids found in the logs",
                    path.display()
                )
            })?;
            file.next_block_start
        } else {
            0
        };
        let start = recorded.max(floor).max(0);
        Ok(ProducerIds {
            storage,
            dir: dir.to_path_buf(),
            block: Mutex::new(Block {
                next: start,
                end: start,
            }),
        })
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
            let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), 0).expect("open");
            for _ in 0..1500 {
                assert!(seen.insert(ids.allocate().expect("allocate")));
            }
        }
        let ids = ProducerIds::open(Arc::clone(&s), tmp.path(), 1_000_000).expect("open");
        assert_eq!(
            ids.allocate().expect("allocate"),
            1_000_000,
            "floor from the logs wins"
        );
    }
}
