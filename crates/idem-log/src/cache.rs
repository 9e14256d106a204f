//! A bounded cache of open file descriptors behind the [`Storage`] seam.
//!
//! Every segment holds a [`StorageFile`] for its `.log` file for as long as it lives, so
//! without a bound a broker needs a descriptor per segment of every partition and a topic of
//! a few thousand partitions fails with "Too many open files". [`FileCache`] wraps any
//! [`Storage`] (the real one, or the power-loss simulator in tests) and hands out handles
//! that open their file on demand; when more than `budget` descriptors would be open, the
//! least recently used one (a CLOCK approximation: a "referenced" bit per handle, cleared by
//! a sweeping hand) is closed. A closed handle reopens its file at its next operation.
//!
//! **Durability.** On Linux a write-back error is reported only to descriptors that were
//! open when it happened: closing a descriptor with written but not yet fdatasync'd data and
//! syncing a new one later could report success for data that was lost. So the cache never
//! closes such a descriptor without syncing it first: clean handles (nothing written since
//! their last successful `sync_data`) are evicted first, and a dirty one is fdatasync'd
//! before it is closed. If that sync fails the descriptor is kept open and the handle
//! remembers the failure: its next `sync_data` returns an error, so the log goes offline
//! as it would have without the cache. Hence: a handle whose descriptor is closed has
//! nothing of its own unsynced, yet `sync_data` on it still reopens and fdatasyncs, because
//! the file may hold data written before the handle existed (recovery syncs what a killed
//! process left in the page cache).
//!
//! A handle reopens its file by path, so a file must not be renamed while handles to it are
//! in use (the log renames only temporary files after closing them, and a deleted topic's
//! directory); a reopen after the file was deleted fails with `NotFound`, where a descriptor
//! kept open would still have read the unlinked file.
//!
//! Dropping the last reference to a handle closes its descriptor as a plain file would
//! (without a sync): that is its owner's decision, as before.
//!
//! **Cost.** An operation on a handle whose descriptor is open takes one uncontended
//! read lock of that handle (concurrent readers and the appender of a segment share it) and
//! a relaxed atomic or two; nothing is allocated. The cache-wide mutex is taken only to open
//! a descriptor (and to choose a victim); the I/O itself runs under the handle's read lock
//! so a descriptor is never closed under a running operation.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use crate::storage::{Storage, StorageFile};

/// The smallest budget the cache accepts: a log needs a few files open at once (segment,
/// index, checkpoint), and a budget this low would only thrash.
pub const MIN_OPEN_FILES: usize = 16;

/// Descriptors the cache may keep open by default: half of the process's soft
/// `RLIMIT_NOFILE` (the rest is left for sockets, directories and the runtime), at least
/// [`MIN_OPEN_FILES`]. With no limit, 1 << 20.
pub fn default_max_open_files() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let half = soft.map_or(1 << 20, |n| usize::try_from(n / 2).unwrap_or(1 << 20));
    half.max(MIN_OPEN_FILES)
}

/// Counters of a [`FileCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileCacheStats {
    /// The most descriptors it keeps open.
    pub budget: usize,
    /// Descriptors open now.
    pub open: usize,
    /// Descriptors closed to make room.
    pub evictions: u64,
    /// Of those, descriptors that had to be fdatasync'd first.
    pub eviction_syncs: u64,
    /// Times an evicted handle opened its file again.
    pub reopens: u64,
}

/// A [`Storage`] that keeps at most `budget` files open (see the module documentation).
/// Share one per broker: the budget is for the process.
#[derive(Debug, Clone)]
pub struct FileCache {
    inner: Arc<dyn Storage>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    budget: usize,
    /// Descriptors open (or reserved for an open under way).
    open: AtomicUsize,
    evictions: AtomicU64,
    eviction_syncs: AtomicU64,
    reopens: AtomicU64,
    /// Handles whose descriptor is open, in CLOCK order; entries of dropped handles are
    /// removed lazily.
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: Vec<Weak<CachedFile>>,
    hand: usize,
}

/// A file of a [`FileCache`]: opens its descriptor on demand.
#[derive(Debug)]
pub struct CachedFile {
    path: PathBuf,
    storage: Arc<dyn Storage>,
    shared: Arc<Shared>,
    me: Weak<CachedFile>,
    /// The descriptor when open. Operations run under the read lock; eviction takes the
    /// write lock (without waiting), so it never closes a descriptor in use.
    fd: RwLock<Option<Arc<dyn StorageFile>>>,
    /// Used since the hand last passed (CLOCK).
    referenced: AtomicBool,
    /// Written (or resized) through this handle since its last successful `sync_data`.
    dirty: AtomicBool,
    /// An fdatasync at eviction failed: reported by every later `sync_data`.
    failed: Mutex<Option<String>>,
    any_failed: AtomicBool,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FileCache {
    /// A cache over `inner` keeping at most `budget` (at least [`MIN_OPEN_FILES`]) open.
    pub fn new(inner: Arc<dyn Storage>, budget: usize) -> FileCache {
        if budget < MIN_OPEN_FILES {
            tracing::warn!(
                budget,
                min = MIN_OPEN_FILES,
                "file cache budget below the minimum; using the minimum"
            );
        }
        FileCache::with_exact_budget(inner, budget.max(MIN_OPEN_FILES))
    }

    /// Like [`FileCache::new`] without the minimum (tests of eviction use tiny budgets).
    pub fn with_exact_budget(inner: Arc<dyn Storage>, budget: usize) -> FileCache {
        FileCache {
            inner,
            shared: Arc::new(Shared {
                budget: budget.max(1),
                open: AtomicUsize::new(0),
                evictions: AtomicU64::new(0),
                eviction_syncs: AtomicU64::new(0),
                reopens: AtomicU64::new(0),
                ring: Mutex::new(Ring::default()),
            }),
        }
    }

    /// Counters.
    pub fn stats(&self) -> FileCacheStats {
        FileCacheStats {
            budget: self.shared.budget,
            open: self.shared.open.load(Ordering::Relaxed),
            evictions: self.shared.evictions.load(Ordering::Relaxed),
            eviction_syncs: self.shared.eviction_syncs.load(Ordering::Relaxed),
            reopens: self.shared.reopens.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    /// Reserves a descriptor slot, evicting while the budget is used up.
    fn reserve(&self) {
        // Wait rounds when every open descriptor is busy or failed: I/O finishes quickly, so
        // a few rounds normally suffice; past them one descriptor over the budget is better
        // than failing an append (the budget leaves half the limit in reserve).
        for round in 0..200 {
            {
                let mut ring = lock(&self.ring);
                if self.open.load(Ordering::Relaxed) < self.budget {
                    self.open.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if self.evict_one(&mut ring) {
                    continue;
                }
            }
            if round < 20 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        tracing::warn!(
            budget = self.budget,
            "every cached descriptor is busy; opening one over the budget"
        );
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes one descriptor: a clean, unreferenced one by the CLOCK sweep; failing that, a
    /// dirty one after syncing it. False when none could be closed now.
    fn evict_one(&self, ring: &mut Ring) -> bool {
        // Two turns of the hand: the first clears referenced bits, the second finds them.
        let mut steps = 2 * ring.entries.len() + 1;
        while steps > 0 && !ring.entries.is_empty() {
            steps -= 1;
            if ring.hand >= ring.entries.len() {
                ring.hand = 0;
            }
            let i = ring.hand;
            let Some(file) = ring.entries[i].upgrade() else {
                ring.entries.swap_remove(i);
                continue;
            };
            if file.referenced.swap(false, Ordering::Relaxed) {
                ring.hand += 1;
                continue;
            }
            if !file.dirty.load(Ordering::Acquire) && file.try_close(false, self) {
                ring.entries.swap_remove(i);
                return true;
            }
            ring.hand += 1;
        }
        // Only dirty or busy descriptors are open: sync the first dirty one that is idle.
        // (Held under the cache mutex: opens wait for this one fdatasync. Rare: it takes a
        // budget's worth of files written since their last sync.)
        let mut i = 0;
        while i < ring.entries.len() {
            let Some(file) = ring.entries[i].upgrade() else {
                ring.entries.swap_remove(i);
                continue;
            };
            if file.try_close(true, self) {
                ring.entries.swap_remove(i);
                return true;
            }
            i += 1;
        }
        false
    }

    fn register(&self, file: Weak<CachedFile>) {
        let mut ring = lock(&self.ring);
        // Drop entries of dropped handles now and then, so the ring stays near the number of
        // open descriptors when nothing is evicted.
        let open = self.open.load(Ordering::Relaxed);
        if ring.entries.len() > 2 * open.max(MIN_OPEN_FILES) {
            ring.entries.retain(|w| w.strong_count() > 0);
            ring.hand = 0;
        }
        ring.entries.push(file);
    }
}

impl CachedFile {
    /// Closes the descriptor if no operation holds it. A dirty one is closed only with
    /// `sync_dirty`, after a successful fdatasync; a failed sync keeps it open and is
    /// remembered. True if it was closed.
    fn try_close(&self, sync_dirty: bool, shared: &Shared) -> bool {
        if self.any_failed.load(Ordering::Acquire) {
            return false;
        }
        let Ok(mut guard) = self.fd.try_write() else {
            return false;
        };
        let Some(fd) = guard.as_ref() else {
            return false;
        };
        // Under the write lock no write is running: `dirty` is exact here.
        if self.dirty.load(Ordering::Acquire) {
            if !sync_dirty {
                return false;
            }
            shared.eviction_syncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = fd.sync_data() {
                tracing::error!(path = %self.path.display(), error = %e, "fdatasync before closing a cached descriptor failed; keeping it open");
                *lock(&self.failed) = Some(e.to_string());
                self.any_failed.store(true, Ordering::Release);
                return false;
            }
            self.dirty.store(false, Ordering::Release);
        }
        *guard = None;
        shared.open.fetch_sub(1, Ordering::Relaxed);
        shared.evictions.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Runs `op` on the open descriptor, reopening the file first if it was evicted.
    #[inline]
    fn with_fd<R>(&self, op: impl FnOnce(&dyn StorageFile) -> io::Result<R>) -> io::Result<R> {
        loop {
            {
                let guard = read(&self.fd);
                if let Some(fd) = guard.as_deref() {
                    if !self.referenced.load(Ordering::Relaxed) {
                        self.referenced.store(true, Ordering::Relaxed);
                    }
                    return op(fd);
                }
            }
            self.reopen()?;
        }
    }

    /// Like [`CachedFile::with_fd`] for writes: marks the handle dirty after the write (a
    /// sync starting later covers it; one that started earlier leaves it dirty).
    #[inline]
    fn with_fd_writing(
        &self,
        op: impl FnOnce(&dyn StorageFile) -> io::Result<()>,
    ) -> io::Result<()> {
        self.with_fd(|fd| {
            let r = op(fd);
            if !self.dirty.load(Ordering::Relaxed) {
                self.dirty.store(true, Ordering::Release);
            }
            r
        })
    }

    #[cold]
    fn reopen(&self) -> io::Result<()> {
        let mut guard = write(&self.fd);
        if guard.is_some() {
            return Ok(());
        }
        self.shared.reserve();
        match self.storage.open(&self.path, false) {
            Ok(fd) => {
                *guard = Some(fd);
                drop(guard);
                // Just used: not the next victim (else two files could take turns forever).
                self.referenced.store(true, Ordering::Relaxed);
                self.shared.reopens.fetch_add(1, Ordering::Relaxed);
                self.shared.register(Weak::clone(&self.me));
                Ok(())
            }
            Err(e) => {
                self.shared.open.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn failure(&self) -> io::Error {
        let what = lock(&self.failed).clone().unwrap_or_default();
        io::Error::other(format!(
            "an earlier fdatasync (before closing a cached descriptor) failed: {what}"
        ))
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        let fd = self.fd.get_mut().unwrap_or_else(|p| p.into_inner());
        if fd.take().is_some() {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl StorageFile for CachedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with_fd(|fd| fd.read_at(buf, offset))
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with_fd_writing(|fd| fd.write_all_at(buf, offset))
    }
    fn write_all_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> io::Result<()> {
        self.with_fd_writing(|fd| fd.write_all_vectored_at(bufs, offset))
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with_fd_writing(|fd| fd.set_len(len))
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.any_failed.load(Ordering::Acquire) {
            return Err(self.failure());
        }
        // An evicted handle reopens and syncs: nothing written through it is unsynced, but
        // the file may hold data from before it existed (see the module documentation).
        self.with_fd(|fd| {
            // Cleared before the sync: a write racing it marks the handle dirty again.
            self.dirty.store(false, Ordering::Release);
            let r = fd.sync_data();
            if r.is_err() {
                self.dirty.store(true, Ordering::Release);
            }
            r
        })
    }
    fn len(&self) -> io::Result<u64> {
        self.with_fd(|fd| fd.len())
    }
}

impl Storage for FileCache {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        self.shared.reserve();
        let fd = match self.inner.open(path, create) {
            Ok(fd) => fd,
            Err(e) => {
                self.shared.open.fetch_sub(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let file = Arc::new_cyclic(|me| CachedFile {
            path: path.to_path_buf(),
            storage: Arc::clone(&self.inner),
            shared: Arc::clone(&self.shared),
            me: Weak::clone(me),
            fd: RwLock::new(Some(fd)),
            referenced: AtomicBool::new(true),
            dirty: AtomicBool::new(false),
            failed: Mutex::new(None),
            any_failed: AtomicBool::new(false),
        });
        self.shared.register(Arc::downgrade(&file));
        Ok(file)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
}

#[cfg(test)]
mod tests;
