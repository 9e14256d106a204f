//! Durable broker metadata: the cluster id and the topics (names, ids, partition counts,
//! configs), in one JSON file replaced atomically (temporary file, fsync, rename, fsync of
//! the directory) on every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use idem_log::storage::{self, Storage};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const FILE: &str = "idem-meta.json";
const FORMAT_VERSION: u32 = 1;

/// One topic as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Topic name.
    pub name: String,
    /// Topic id (Kafka's topic UUID).
    pub id: Uuid,
    /// Partition count.
    pub partitions: i32,
    /// Config overrides given at creation.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatalogFile {
    version: u32,
    cluster_id: String,
    topics: Vec<TopicRecord>,
}

/// The broker's durable metadata.
#[derive(Debug)]
pub struct Catalog {
    storage: Arc<dyn Storage>,
    dir: PathBuf,
    file: CatalogFile,
}

impl Catalog {
    /// Opens the catalog in `dir`, creating the directory and an empty catalog (with a new
    /// cluster id) the first time. A catalog that does not parse is an error: guessing would
    /// lose topics.
    pub fn open(storage: Arc<dyn Storage>, dir: &Path) -> anyhow::Result<Catalog> {
        storage
            .create_dir_all(dir)
            .with_context(|| format!("create data directory {}", dir.display()))?;
        let path = dir.join(FILE);
        if !storage.exists(&path) {
            let catalog = Catalog {
                storage,
                dir: dir.to_path_buf(),
                file: CatalogFile {
                    version: FORMAT_VERSION,
                    cluster_id: new_cluster_id(),
                    topics: Vec::new(),
                },
            };
            catalog.save()?;
            return Ok(catalog);
        }
        let bytes = storage::read_file(storage.as_ref(), &path)
            .with_context(|| format!("read {}", path.display()))?;
        let file: CatalogFile = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; restore it from a backup (idem will not guess which topics existed)",
                path.display()
            )
        })?;
        if file.version != FORMAT_VERSION {
            bail!(
                "{} has format version {}, this idem reads {FORMAT_VERSION}",
                path.display(),
                file.version
            );
        }
        Ok(Catalog {
            storage,
            dir: dir.to_path_buf(),
            file,
        })
    }

    fn save(&self) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.file).context("encode catalog")?;
        storage::write_atomically(self.storage.as_ref(), &self.dir, FILE, &bytes)
            .with_context(|| format!("write {}", self.dir.join(FILE).display()))
    }

    /// The cluster id (22 characters of base64, like Kafka's).
    pub fn cluster_id(&self) -> &str {
        &self.file.cluster_id
    }

    /// The recorded topics.
    pub fn topics(&self) -> &[TopicRecord] {
        &self.file.topics
    }

    /// Adds or replaces a topic, durably.
    pub fn put_topic(&mut self, record: TopicRecord) -> anyhow::Result<()> {
        let mut next = self.file.clone();
        next.topics.retain(|t| t.name != record.name);
        next.topics.push(record);
        next.topics.sort_by(|a, b| a.name.cmp(&b.name));
        let old = std::mem::replace(&mut self.file, next);
        if let Err(e) = self.save() {
            self.file = old;
            return Err(e);
        }
        Ok(())
    }

    /// Removes a topic, durably.
    pub fn remove_topic(&mut self, name: &str) -> anyhow::Result<()> {
        let mut next = self.file.clone();
        next.topics.retain(|t| t.name != name);
        let old = std::mem::replace(&mut self.file, next);
        if let Err(e) = self.save() {
            self.file = old;
            return Err(e);
        }
        Ok(())
    }
}

/// A Kafka-style cluster id: a random UUID in URL-safe base64 without padding.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

/// Whether `name` is a legal Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name {name:?} is not allowed"));
    }
    if name.len() > 249 {
        return Err(format!(
            "topic name is {} characters, the limit is 249",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "topic name {name:?} contains {c:?}; allowed: a-z A-Z 0-9 . _ -"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use idem_log::StdStorage;

    #[test]
    fn survives_reopen_and_refuses_damage() {
        let tmp = tempfile::tempdir().expect("tmp");
        let s: Arc<dyn Storage> = Arc::new(StdStorage);
        let mut c = Catalog::open(Arc::clone(&s), tmp.path()).expect("open");
        let id = c.cluster_id().to_string();
        assert_eq!(id.len(), 22);
        c.put_topic(TopicRecord {
            name: "t".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::new(),
        })
        .expect("put");
        let c2 = Catalog::open(Arc::clone(&s), tmp.path()).expect("reopen");
        assert_eq!(c2.cluster_id(), id);
        assert_eq!(c2.topics().len(), 1);
        std::fs::write(tmp.path().join(FILE), b"{ not json").expect("damage");
        let err = Catalog::open(s, tmp.path()).expect_err("damaged");
        assert!(format!("{err:#}").contains("damaged"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(valid_topic_name("orders.v1_x-2").is_ok());
        assert!(valid_topic_name("").is_err());
        assert!(valid_topic_name("..").is_err());
        assert!(valid_topic_name("a/b").is_err());
        assert!(valid_topic_name(&"x".repeat(250)).is_err());
    }
}
