//! The descriptor cache: bounds, sync before closing a dirty descriptor, reads and syncs
//! after eviction, a failed sync at eviction reported later, and a whole log on a tiny
//! budget through the power-loss simulator.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::sim::SimStorage;
use crate::{Log, LogConfig};

/// What the counting storage saw, in order.
#[derive(Debug, Default)]
struct Events {
    live: usize,
    max_live: usize,
    log: Vec<String>,
}

/// A storage over the simulator that counts open descriptors (live inner files) and logs
/// syncs and closes; `fail_sync` makes every fdatasync fail.
#[derive(Debug, Clone)]
struct Counting {
    inner: SimStorage,
    events: Arc<Mutex<Events>>,
    fail_sync: Arc<AtomicBool>,
}

#[derive(Debug)]
struct CountingFile {
    name: String,
    inner: Arc<dyn StorageFile>,
    events: Arc<Mutex<Events>>,
    fail_sync: Arc<AtomicBool>,
}

impl Counting {
    fn new() -> Counting {
        Counting {
            inner: SimStorage::new(Path::new("/d")),
            events: Arc::default(),
            fail_sync: Arc::default(),
        }
    }
    fn max_live(&self) -> usize {
        self.events.lock().unwrap().max_live
    }
    fn live(&self) -> usize {
        self.events.lock().unwrap().live
    }
    fn log(&self) -> Vec<String> {
        self.events.lock().unwrap().log.clone()
    }
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

impl Drop for CountingFile {
    fn drop(&mut self) {
        let mut e = self.events.lock().unwrap();
        e.live -= 1;
        e.log.push(format!("close {}", self.name));
    }
}

impl StorageFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.events
            .lock()
            .unwrap()
            .log
            .push(format!("sync {}", self.name));
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected EIO"));
        }
        self.inner.sync_data()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Storage for Counting {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let inner = self.inner.open(path, create)?;
        let mut e = self.events.lock().unwrap();
        e.live += 1;
        e.max_live = e.max_live.max(e.live);
        e.log.push(format!("open {}", name(path)));
        Ok(Arc::new(CountingFile {
            name: name(path),
            inner,
            events: Arc::clone(&self.events),
            fail_sync: Arc::clone(&self.fail_sync),
        }))
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

fn setup(budget: usize) -> (Counting, FileCache) {
    let counting = Counting::new();
    counting.inner.create_dir_all(Path::new("/d")).unwrap();
    let cache = FileCache::with_exact_budget(Arc::new(counting.clone()), budget);
    (counting, cache)
}

fn path(i: usize) -> PathBuf {
    PathBuf::from(format!("/d/f{i}"))
}

#[test]
fn never_more_descriptors_than_the_budget() {
    let (counting, cache) = setup(3);
    let files: Vec<_> = (0..20)
        .map(|i| cache.open(&path(i), true).unwrap())
        .collect();
    assert!(counting.max_live() <= 3, "max {}", counting.max_live());
    for round in 0..5u8 {
        for (i, f) in files.iter().enumerate() {
            f.write_all_at(&[round, i as u8], u64::from(round) * 2)
                .unwrap();
            assert!(counting.live() <= 3);
        }
        // Reverse order, so the victims are not simply the next ones.
        for f in files.iter().rev() {
            f.sync_data().unwrap();
        }
    }
    for (i, f) in files.iter().enumerate() {
        let mut buf = [0u8; 10];
        assert_eq!(f.read_at(&mut buf, 0).unwrap(), 10);
        assert_eq!(
            buf,
            [0, i as u8, 1, i as u8, 2, i as u8, 3, i as u8, 4, i as u8]
        );
    }
    assert!(counting.max_live() <= 3, "max {}", counting.max_live());
    let stats = cache.stats();
    assert!(stats.evictions > 0 && stats.reopens > 0, "{stats:?}");
    assert!(stats.open <= 3);
    drop(files);
    assert_eq!(counting.live(), 0);
    assert_eq!(cache.stats().open, 0);
}

#[test]
fn a_dirty_descriptor_is_synced_before_it_is_closed() {
    let (counting, cache) = setup(1);
    let a = cache.open(&path(1), true).unwrap();
    a.write_all_at(b"unsynced", 0).unwrap();
    let b = cache.open(&path(2), true).unwrap();
    let log = counting.log();
    let sync = log.iter().position(|e| e == "sync f1").expect("f1 synced");
    let close = log.iter().position(|e| e == "close f1").expect("f1 closed");
    assert!(sync < close, "{log:?}");
    assert!(counting.inner.contents(&path(1)).is_some());
    assert_eq!(cache.stats().eviction_syncs, 1);
    // A clean one is closed without a sync.
    b.sync_data().unwrap();
    let syncs_before = counting.log().iter().filter(|e| *e == "sync f2").count();
    let _c = cache.open(&path(3), true).unwrap();
    let log = counting.log();
    assert!(log.contains(&"close f2".to_string()), "{log:?}");
    assert_eq!(
        log.iter().filter(|e| *e == "sync f2").count(),
        syncs_before,
        "no sync for a clean descriptor"
    );
    assert_eq!(counting.max_live(), 1);
}

#[test]
fn clean_descriptors_are_evicted_before_dirty_ones() {
    let (counting, cache) = setup(2);
    let dirty = cache.open(&path(1), true).unwrap();
    dirty.write_all_at(b"x", 0).unwrap();
    let clean = cache.open(&path(2), true).unwrap();
    let mut buf = [0u8; 1];
    clean.read_at(&mut buf, 0).unwrap();
    let _third = cache.open(&path(3), true).unwrap();
    let log = counting.log();
    assert!(log.contains(&"close f2".to_string()), "{log:?}");
    assert!(!log.contains(&"close f1".to_string()), "{log:?}");
    assert_eq!(cache.stats().eviction_syncs, 0);
}

#[test]
fn reads_and_syncs_after_eviction_reopen_the_file() {
    let (counting, cache) = setup(1);
    let a = cache.open(&path(1), true).unwrap();
    a.write_all_at(b"hello world", 0).unwrap();
    a.sync_data().unwrap();
    let b = cache.open(&path(2), true).unwrap();
    assert!(counting.log().contains(&"close f1".to_string()));
    let mut buf = [0u8; 11];
    assert_eq!(a.read_at(&mut buf, 0).unwrap(), 11);
    assert_eq!(&buf, b"hello world");
    assert_eq!(a.len().unwrap(), 11);
    // b was evicted by that read; syncing it reopens it and really syncs.
    b.write_all_at(b"bb", 0).unwrap();
    let _ = a.len().unwrap();
    let before = counting.log().iter().filter(|e| *e == "sync f2").count();
    b.sync_data().unwrap();
    assert!(counting.log().iter().filter(|e| *e == "sync f2").count() > before);
    assert_eq!(counting.max_live(), 1);
    assert!(cache.stats().reopens >= 2);
}

#[test]
fn a_failed_sync_at_eviction_keeps_the_descriptor_and_fails_the_next_sync() {
    let (counting, cache) = setup(1);
    let a = cache.open(&path(1), true).unwrap();
    a.write_all_at(b"doomed", 0).unwrap();
    counting.fail_sync.store(true, Ordering::SeqCst);
    let _b = cache.open(&path(2), true).unwrap();
    counting.fail_sync.store(false, Ordering::SeqCst);
    assert!(
        !counting.log().contains(&"close f1".to_string()),
        "a descriptor whose sync failed stays open"
    );
    let err = a.sync_data().expect_err("the failure is reported");
    assert!(err.to_string().contains("injected EIO"), "{err}");
    assert!(a.sync_data().is_err(), "and stays reported");
}

#[test]
fn missing_files_are_not_created_by_open_without_create() {
    let (counting, cache) = setup(2);
    assert!(cache.open(&path(9), false).is_err());
    assert_eq!(cache.stats().open, 0);
    assert_eq!(counting.live(), 0);
}

#[test]
fn concurrent_users_stay_within_the_budget() {
    let (counting, cache) = setup(4);
    let files: Vec<_> = (0..16)
        .map(|i| cache.open(&path(i), true).unwrap())
        .collect();
    std::thread::scope(|s| {
        for t in 0..4usize {
            let files = &files;
            s.spawn(move || {
                for round in 0..200usize {
                    let i = (round * 7 + t * 3) % files.len();
                    let f = &files[i];
                    let at = (t * 1000 + round) as u64;
                    f.write_all_at(&[i as u8], at).unwrap();
                    let mut b = [0u8; 1];
                    assert_eq!(f.read_at(&mut b, at).unwrap(), 1);
                    assert_eq!(b[0], i as u8);
                    if round % 5 == 0 {
                        f.sync_data().unwrap();
                    }
                }
            });
        }
    });
    assert!(counting.max_live() <= 4, "max {}", counting.max_live());
}

/// A log with many segments on a budget of 3 descriptors: written, read back, reopened
/// cleanly and after a crash, with never more than 3 open.
#[test]
fn a_log_works_on_a_tiny_budget() {
    let (counting, cache) = setup(3);
    let storage: Arc<dyn Storage> = Arc::new(cache.clone());
    let config = LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 256,
        ..LogConfig::default()
    };
    let dir = Path::new("/d/t-0");
    let mut log = Log::create(Arc::clone(&storage), dir, config.clone()).unwrap();
    let value = [7u8; 100];
    let mut written = Vec::new();
    for i in 0..60i64 {
        let b = idem_wire::batch::client_batch(-1, -1, -1, 1000 + i, 1, &[value.as_slice()]);
        if log.should_roll(b.len(), 1000 + i, 0) {
            log.roll().unwrap();
        }
        log.append(&b, 0).unwrap();
        written.push(b.len());
    }
    assert!(log.segment_bases().len() > 5);
    let read_all = |log: &Log| {
        let mut offset = 0;
        let mut n = 0;
        loop {
            let bytes = log
                .plan_read(offset, log.log_end_offset())
                .unwrap()
                .read(1 << 20, true)
                .unwrap();
            if bytes.is_empty() {
                return n;
            }
            let mut pos = 0;
            while pos < bytes.len() {
                let h = idem_wire::batch::BatchHeader::parse(&bytes[pos..]).unwrap();
                idem_wire::batch::verify_crc(&bytes[pos..], &h).unwrap();
                pos += h.total_len();
                offset = h.last_offset() + 1;
                n += 1;
            }
        }
    };
    assert_eq!(read_all(&log), 60);
    let (tgt, _) = log.sync_target();
    log.close().unwrap();
    drop(log);
    let (log, _) = Log::open(Arc::clone(&storage), dir, config.clone(), true).unwrap();
    assert_eq!(read_all(&log), 60);
    tgt.sync_data().unwrap();
    drop(log);
    // After a crash: every segment verified (all through the cache).
    let crashed = counting.inner.crash_image(&mut crate::sim::SimRng::new(1));
    let counting2 = Counting {
        inner: crashed,
        events: Arc::default(),
        fail_sync: Arc::default(),
    };
    let storage2: Arc<dyn Storage> =
        Arc::new(FileCache::with_exact_budget(Arc::new(counting2.clone()), 3));
    let (log, report) = Log::open(storage2, dir, config, false).unwrap();
    assert!(report.verified_segments > 0);
    assert_eq!(read_all(&log), 60, "everything was synced at close");
    assert!(counting.max_live() <= 3, "max {}", counting.max_live());
    assert!(counting2.max_live() <= 3, "max {}", counting2.max_live());
    assert!(written.len() == 60);
}
