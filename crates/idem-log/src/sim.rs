//! A simulated file system for power-loss tests: it keeps what was written apart from what
//! was made durable, and builds post-crash images.
//!
//! The model is the POSIX minimum a careful program may rely on (what ext4 and xfs give at
//! least):
//! - File contents become durable at `sync_data` of that file; until then every write or
//!   length change since the last sync is pending. After a crash a file holds its durable
//!   bytes plus **any prefix** of its pending operations, the next one possibly **torn**: a
//!   prefix of its bytes, then up to a page (4 KiB) of garbage or zeros.
//! - Names (create, rename, unlink, mkdir) become durable at `sync_dir` of their directory;
//!   after a crash each directory has applied any prefix of its pending name operations. A
//!   name whose parent directory did not survive is gone.
//!
//! Every mutating call can run a hook ([`SimStorage::set_hook`]): a test takes crash images
//! there, so crashes land between any two storage operations, inside the log's own
//! multi-step operations too (roll, snapshot, checkpoint).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::storage::{Storage, StorageFile};

/// A small deterministic generator (splitmix64): crash images are reproducible by seed.
#[derive(Debug, Clone)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SimRng {
        SimRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[derive(Debug, Clone)]
enum FileOp {
    Write { at: u64, bytes: Vec<u8> },
    SetLen(u64),
}

fn apply(data: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { at, bytes } => {
            let at = *at as usize;
            if data.len() < at + bytes.len() {
                data.resize(at + bytes.len(), 0);
            }
            data[at..at + bytes.len()].copy_from_slice(bytes);
        }
        FileOp::SetLen(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Debug, Clone, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

#[derive(Debug, Clone)]
enum NsOp {
    Link(PathBuf, Node),
    Unlink(PathBuf),
    Rename(PathBuf, PathBuf),
}

fn apply_ns(names: &mut BTreeMap<PathBuf, Node>, op: &NsOp) {
    match op {
        NsOp::Link(p, node) => {
            names.insert(p.clone(), *node);
        }
        NsOp::Unlink(p) => names.retain(|k, _| !k.starts_with(p)),
        NsOp::Rename(from, to) => {
            let moved: Vec<(PathBuf, Node)> = names
                .iter()
                .filter(|(k, _)| k.starts_with(from))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            if moved.is_empty() {
                return;
            }
            names.retain(|k, _| !k.starts_with(from) && !k.starts_with(to));
            for (k, v) in moved {
                let rest = k.strip_prefix(from).unwrap_or(Path::new(""));
                names.insert(
                    if rest.as_os_str().is_empty() {
                        to.clone()
                    } else {
                        to.join(rest)
                    },
                    v,
                );
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    root: PathBuf,
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    names: BTreeMap<PathBuf, Node>,
    durable_names: BTreeMap<PathBuf, Node>,
    /// Name operations not yet made durable, in order, with the directory whose sync makes
    /// each durable.
    pending_ns: Vec<(PathBuf, NsOp)>,
    mutations: u64,
}

impl State {
    fn parent(path: &Path) -> PathBuf {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    fn dir_exists(&self, path: &Path) -> bool {
        path == self.root || self.names.get(path) == Some(&Node::Dir)
    }

    fn ns(&mut self, dir: PathBuf, op: NsOp) {
        apply_ns(&mut self.names, &op);
        self.pending_ns.push((dir, op));
    }

    fn not_found(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no such file", path.display()),
        )
    }
}

type Hook = Box<dyn FnMut(&SimStorage) + Send>;

struct Shared {
    state: Mutex<State>,
    hook: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// The simulated file system. Clones share it.
#[derive(Debug, Clone)]
pub struct SimStorage {
    shared: Arc<Shared>,
}

impl SimStorage {
    /// An empty file system whose `root` directory exists and is durable.
    pub fn new(root: &Path) -> SimStorage {
        SimStorage {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    root: root.to_path_buf(),
                    ..State::default()
                }),
                hook: Mutex::new(None),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `hook` after every mutating operation (write, length change, sync, create,
    /// rename, remove), outside the file system's lock.
    pub fn set_hook(&self, hook: impl FnMut(&SimStorage) + Send + 'static) {
        *self.shared.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
    }

    /// Removes the hook.
    pub fn clear_hook(&self) {
        *self.shared.hook.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn mutated(&self) {
        self.state().mutations += 1;
        // try_lock: a hook that itself touches this file system does not recurse.
        if let Ok(mut hook) = self.shared.hook.try_lock() {
            if let Some(h) = hook.as_mut() {
                h(self);
            }
        }
    }

    /// Mutating operations so far.
    pub fn mutations(&self) -> u64 {
        self.state().mutations
    }

    /// Bytes written but not yet durable, over all files.
    pub fn pending_bytes(&self) -> u64 {
        self.state()
            .inodes
            .values()
            .flat_map(|i| &i.pending)
            .map(|op| match op {
                FileOp::Write { bytes, .. } => bytes.len() as u64,
                FileOp::SetLen(_) => 0,
            })
            .sum()
    }

    /// What the disk could hold after a power loss now, as a new file system whose every
    /// byte and name is durable. `rng` picks among the legal images.
    pub fn crash_image(&self, rng: &mut SimRng) -> SimStorage {
        let st = self.state();
        // Names: the durable ones, then for each directory a prefix of its pending operations.
        let mut cut: HashMap<&Path, usize> = HashMap::new();
        let mut per_dir: HashMap<&Path, usize> = HashMap::new();
        for (dir, _) in &st.pending_ns {
            *per_dir.entry(dir.as_path()).or_default() += 1;
        }
        let mut dirs: Vec<&Path> = per_dir.keys().copied().collect();
        dirs.sort();
        for d in dirs {
            cut.insert(d, rng.below(per_dir[d] as u64 + 1) as usize);
        }
        let mut names = st.durable_names.clone();
        let mut seen: HashMap<&Path, usize> = HashMap::new();
        for (dir, op) in &st.pending_ns {
            let n = seen.entry(dir.as_path()).or_default();
            if *n < cut[dir.as_path()] {
                apply_ns(&mut names, op);
            }
            *n += 1;
        }
        // A name survives only under surviving directories.
        let root = st.root.clone();
        let reachable = |names: &BTreeMap<PathBuf, Node>, p: &Path| {
            let mut at = p.parent();
            while let Some(dir) = at {
                if dir == root {
                    return true;
                }
                if names.get(dir) != Some(&Node::Dir) {
                    return false;
                }
                at = dir.parent();
            }
            false
        };
        let keep: BTreeMap<PathBuf, Node> = names
            .iter()
            .filter(|(p, _)| reachable(&names, p))
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        // Contents: durable bytes plus a prefix of the pending operations, maybe torn.
        let mut contents: HashMap<u64, Vec<u8>> = HashMap::new();
        for node in keep.values() {
            let Node::File(id) = node else { continue };
            if contents.contains_key(id) {
                continue;
            }
            let inode = &st.inodes[id];
            let mut data = inode.durable.clone();
            let j = rng.below(inode.pending.len() as u64 + 1) as usize;
            for op in &inode.pending[..j] {
                apply(&mut data, op);
            }
            if let Some(FileOp::Write { at, bytes }) = inode.pending.get(j) {
                if !bytes.is_empty() && rng.chance(0.3) {
                    let kept = rng.below(bytes.len() as u64) as usize;
                    apply(
                        &mut data,
                        &FileOp::Write {
                            at: *at,
                            bytes: bytes[..kept].to_vec(),
                        },
                    );
                    let junk_len = (rng.below(4096) as usize + 1).min(bytes.len() - kept);
                    let zeros = rng.chance(0.5);
                    let junk: Vec<u8> = (0..junk_len)
                        .map(|_| if zeros { 0 } else { rng.next_u64() as u8 })
                        .collect();
                    apply(
                        &mut data,
                        &FileOp::Write {
                            at: *at + kept as u64,
                            bytes: junk,
                        },
                    );
                }
            }
            contents.insert(*id, data);
        }
        let mut image = State {
            root,
            next_inode: st.next_inode,
            ..State::default()
        };
        for (id, data) in contents {
            image.inodes.insert(
                id,
                Inode {
                    durable: data.clone(),
                    data,
                    pending: Vec::new(),
                },
            );
        }
        image.names = keep.clone();
        image.durable_names = keep;
        SimStorage {
            shared: Arc::new(Shared {
                state: Mutex::new(image),
                hook: Mutex::new(None),
            }),
        }
    }

    /// The current bytes of a file (for tests).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state();
        match st.names.get(path) {
            Some(Node::File(id)) => Some(st.inodes[id].data.clone()),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct SimFile {
    storage: SimStorage,
    inode: u64,
}

impl SimFile {
    fn modify(&self, op: FileOp) -> io::Result<()> {
        {
            let mut st = self.storage.state();
            let inode = st
                .inodes
                .get_mut(&self.inode)
                .ok_or_else(|| io::Error::other("inode gone"))?;
            apply(&mut inode.data, &op);
            inode.pending.push(op);
        }
        self.storage.mutated();
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let st = self.storage.state();
        let data = &st.inodes[&self.inode].data;
        let start = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.modify(FileOp::Write {
            at: offset,
            bytes: buf.to_vec(),
        })
    }

    fn write_all_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> io::Result<()> {
        // One operation, as pwritev is one system call (it may still tear).
        self.modify(FileOp::Write {
            at: offset,
            bytes: bufs.concat(),
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.modify(FileOp::SetLen(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        {
            let mut st = self.storage.state();
            let inode = st
                .inodes
                .get_mut(&self.inode)
                .ok_or_else(|| io::Error::other("inode gone"))?;
            for op in std::mem::take(&mut inode.pending) {
                apply(&mut inode.durable, &op);
            }
        }
        self.storage.mutated();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.storage.state().inodes[&self.inode].data.len() as u64)
    }
}

impl Storage for SimStorage {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let inode = {
            let mut st = self.state();
            match st.names.get(path) {
                Some(Node::File(id)) => *id,
                Some(Node::Dir) => {
                    return Err(io::Error::other(format!("{}: a directory", path.display())))
                }
                None if !create => return Err(State::not_found(path)),
                None => {
                    let parent = State::parent(path);
                    if !st.dir_exists(&parent) {
                        return Err(State::not_found(&parent));
                    }
                    let id = st.next_inode;
                    st.next_inode += 1;
                    st.inodes.insert(id, Inode::default());
                    st.ns(parent, NsOp::Link(path.to_path_buf(), Node::File(id)));
                    drop(st);
                    self.mutated();
                    id
                }
            }
        };
        Ok(Arc::new(SimFile {
            storage: self.clone(),
            inode,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut created = false;
        {
            let mut st = self.state();
            let mut missing = Vec::new();
            let mut at = Some(path);
            while let Some(p) = at {
                if st.dir_exists(p) {
                    break;
                }
                if st.names.contains_key(p) {
                    return Err(io::Error::other(format!(
                        "{}: not a directory",
                        p.display()
                    )));
                }
                missing.push(p.to_path_buf());
                at = p.parent();
            }
            for p in missing.into_iter().rev() {
                let parent = State::parent(&p);
                st.ns(parent, NsOp::Link(p, Node::Dir));
                created = true;
            }
        }
        if created {
            self.mutated();
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = self.state();
        if !st.dir_exists(path) {
            return Err(State::not_found(path));
        }
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.state();
        st.dir_exists(path) || st.names.contains_key(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        {
            let mut st = self.state();
            if !matches!(st.names.get(path), Some(Node::File(_))) {
                return Err(State::not_found(path));
            }
            st.ns(State::parent(path), NsOp::Unlink(path.to_path_buf()));
        }
        self.mutated();
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        {
            let mut st = self.state();
            if st.names.get(path) != Some(&Node::Dir) {
                return Err(State::not_found(path));
            }
            st.ns(State::parent(path), NsOp::Unlink(path.to_path_buf()));
        }
        self.mutated();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        {
            let mut st = self.state();
            if !st.names.contains_key(from) {
                return Err(State::not_found(from));
            }
            let (pf, pt) = (State::parent(from), State::parent(to));
            if !st.dir_exists(&pt) {
                return Err(State::not_found(&pt));
            }
            // A rename between directories is durable only when both are synced; every
            // rename here stays in one directory, which is all this model needs.
            if pf != pt {
                return Err(io::Error::other("sim: rename across directories"));
            }
            st.ns(pf, NsOp::Rename(from.to_path_buf(), to.to_path_buf()));
        }
        self.mutated();
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        {
            let mut st = self.state();
            if !st.dir_exists(path) {
                return Err(State::not_found(path));
            }
            let pending = std::mem::take(&mut st.pending_ns);
            let mut rest = Vec::with_capacity(pending.len());
            for (dir, op) in pending {
                if dir == path {
                    apply_ns(&mut st.durable_names, &op);
                } else {
                    rest.push((dir, op));
                }
            }
            st.pending_ns = rest;
        }
        self.mutated();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from("/d")
    }

    #[test]
    fn unsynced_writes_may_be_lost_synced_ones_never() {
        let fs = SimStorage::new(&root());
        let f = fs.open(&root().join("a"), true).expect("create");
        fs.sync_dir(&root()).expect("sync dir");
        f.write_all_at(b"hello", 0).expect("write");
        f.sync_data().expect("sync");
        f.write_all_at(b" world", 5).expect("write");
        let mut saw = std::collections::BTreeSet::new();
        let mut rng = SimRng::new(7);
        for _ in 0..200 {
            let image = fs.crash_image(&mut rng);
            let bytes = image.contents(&root().join("a")).expect("file survives");
            assert!(bytes.starts_with(b"hello"), "{bytes:?}");
            saw.insert(bytes);
        }
        assert!(saw.contains(b"hello".as_slice()), "the write may be lost");
        assert!(saw.contains(b"hello world".as_slice()), "or kept");
        assert!(saw.len() > 2, "or torn: {saw:?}");
    }

    #[test]
    fn names_need_a_directory_sync() {
        let fs = SimStorage::new(&root());
        let f = fs.open(&root().join("a"), true).expect("create");
        f.write_all_at(b"x", 0).expect("write");
        f.sync_data().expect("sync");
        let mut rng = SimRng::new(1);
        let outcomes: std::collections::BTreeSet<bool> = (0..100)
            .map(|_| fs.crash_image(&mut rng).exists(&root().join("a")))
            .collect();
        assert_eq!(
            outcomes.len(),
            2,
            "the unsynced name may or may not survive"
        );
        fs.sync_dir(&root()).expect("sync dir");
        for _ in 0..50 {
            let image = fs.crash_image(&mut rng);
            assert_eq!(
                image.contents(&root().join("a")).as_deref(),
                Some(&b"x"[..])
            );
        }
    }

    #[test]
    fn rename_is_atomic_and_needs_a_directory_sync() {
        let fs = SimStorage::new(&root());
        crate::storage::write_atomically(&fs, &root(), "meta", b"one").expect("first");
        let f = fs.open(&root().join("meta.tmp"), true).expect("tmp");
        f.write_all_at(b"two", 0).expect("write");
        f.sync_data().expect("sync");
        fs.rename(&root().join("meta.tmp"), &root().join("meta"))
            .expect("rename");
        let mut rng = SimRng::new(3);
        let mut saw = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let image = fs.crash_image(&mut rng);
            saw.insert(image.contents(&root().join("meta")).expect("meta survives"));
        }
        assert_eq!(
            saw,
            [b"one".to_vec(), b"two".to_vec()].into_iter().collect()
        );
    }

    #[test]
    fn a_directory_that_did_not_survive_takes_its_files() {
        let fs = SimStorage::new(&root());
        fs.create_dir_all(&root().join("p")).expect("mkdir");
        let f = fs.open(&root().join("p/x"), true).expect("create");
        fs.sync_dir(&root().join("p")).expect("sync p");
        f.write_all_at(b"data", 0).expect("write");
        f.sync_data().expect("sync");
        let mut rng = SimRng::new(5);
        let outcomes: std::collections::BTreeSet<bool> = (0..100)
            .map(|_| fs.crash_image(&mut rng).exists(&root().join("p/x")))
            .collect();
        assert_eq!(outcomes.len(), 2);
        fs.sync_dir(&root()).expect("sync root");
        assert!(fs.crash_image(&mut rng).exists(&root().join("p/x")));
    }

    #[test]
    fn the_hook_sees_every_mutation() {
        let fs = SimStorage::new(&root());
        let seen = Arc::new(Mutex::new(0u32));
        let s = Arc::clone(&seen);
        fs.set_hook(move |_| *s.lock().expect("lock") += 1);
        let f = fs.open(&root().join("a"), true).expect("create");
        f.write_all_at(b"x", 0).expect("write");
        f.sync_data().expect("sync");
        fs.sync_dir(&root()).expect("sync dir");
        assert_eq!(*seen.lock().expect("lock"), 4);
    }
}
