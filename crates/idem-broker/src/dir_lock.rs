//! An exclusive lock on the data directory, as Kafka's `.lock` in each log directory.
//!
//! Two brokers on one directory would each assign the same offsets and overwrite each
//! other's acknowledged writes. The lock is an advisory `flock` on `D/.lock`, held for the
//! life of the broker: the kernel drops it when the process dies (kill -9 included), so a
//! stale lock never blocks a restart. The file also names its holder (pid, listener, start
//! time), so the second broker's error says who has the directory.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const FILE: &str = ".lock";
/// The most of the holder's note read back for an error message.
const MAX_NOTE: u64 = 4096;

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or another broker in this one) holds it.
    #[error("data directory {} is in use by another idem broker ({holder}); two brokers on one directory would overwrite each other's writes", dir.display())]
    Held {
        /// The directory.
        dir: PathBuf,
        /// What the holder wrote about itself.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("lock {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    started_ms: i64,
}

impl DirLock {
    /// Locks `dir` (which must exist) for this process, noting `listener` as the holder's
    /// address.
    pub fn acquire(dir: &Path, listener: &str) -> Result<DirLock, LockError> {
        let path = dir.join(FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut note = String::new();
                let _ = (&file).take(MAX_NOTE).read_to_string(&mut note);
                let holder = match note.trim() {
                    "" => "holder unknown".to_string(),
                    n => n.to_string(),
                };
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let lock = DirLock {
            file,
            started_ms: crate::clock::now_ms(),
        };
        lock.note(listener);
        Ok(lock)
    }

    /// Rewrites the holder's note with the address actually bound (port 0 resolved).
    pub fn note(&self, listener: &str) {
        // Only the holder writes the note; it is informational, so a failure to write it
        // does not refuse the start.
        let note = format!(
            "pid {}, listener {listener}, started at {} ms since the Unix epoch",
            std::process::id(),
            self.started_ms
        );
        let mut file = &self.file;
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_the_first_release_frees_it() {
        let tmp = tempfile::tempdir().expect("tmp");
        let first = DirLock::acquire(tmp.path(), "127.0.0.1:1111").expect("first");
        let second = DirLock::acquire(tmp.path(), "127.0.0.1:2222").expect_err("second");
        let message = second.to_string();
        assert!(
            message.contains("in use by another idem broker"),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("127.0.0.1:1111"), "{message}");
        drop(first);
        DirLock::acquire(tmp.path(), "127.0.0.1:2222").expect("free again");
    }
}
