//! The log of a partition, on disk.
//!
//! - [`storage`]: the file-system seam ([`Storage`], [`StorageFile`]) and [`StdStorage`].
//! - [`cache`]: [`FileCache`], a [`Storage`] keeping at most N descriptors open (least
//!   recently used closed, dirty ones synced first), so partitions are not bounded by the
//!   descriptor limit.
//! - [`Log`]: segments of record batches stored byte for byte as validated, with contiguous
//!   offsets; roll by size and age; retention by age and size; a log start offset; recovery
//!   after an unclean stop (every batch CRC-checked from the recovery point, truncated at the
//!   first torn or corrupt batch); producer snapshot files kept next to the segments.
//! - `segment` and `index`: one segment file and its sparse offset and time indexes.
//!
//! What it does not do: validate client batches (the broker does, with `idem-wire`), know
//! about producers (snapshot contents are opaque bytes here), decide when to fsync (the
//! broker's flush policy calls [`Log::sync_target`] and [`Log::mark_flushed`]), or lock (the
//! broker serialises access per partition).

pub mod cache;
mod index;
mod log;
mod segment;
pub mod sim;
pub mod storage;

use std::path::{Path, PathBuf};

pub use crate::log::{delete_log_dir, AppendInfo, Log, LogConfig, OpenReport, ReadPlan};
pub use cache::{default_max_open_files, FileCache, FileCacheStats};
pub use storage::{StdStorage, Storage, StorageFile};

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The offset is outside `[log start, log end]`.
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// Requested offset.
        offset: i64,
        /// First offset.
        log_start_offset: i64,
        /// Next offset.
        log_end_offset: i64,
    },
    /// A write or sync failed earlier; the log serves nothing until a restart recovers it.
    #[error("log is offline: {0}")]
    Offline(String),
    /// A batch handed to `append` does not parse (a caller bug: batches are validated first).
    #[error("batch does not parse: {0}")]
    BadBatch(idem_wire::batch::BatchError),
    /// Stored bytes that should be a batch header are not.
    #[error("corrupt batch in {} at position {position}", path.display())]
    Corrupt {
        /// Segment file.
        path: PathBuf,
        /// Byte position.
        position: u64,
    },
}

/// Maps an I/O error to a [`LogError`] naming the file; the path is copied only on error.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LogError + 'a {
    move |source| LogError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
