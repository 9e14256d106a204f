//! The cluster store of idem: PostgreSQL for metadata and sequencing (issue 15, Step 10).
//!
//! In cluster mode N stateless brokers share one PostgreSQL database (metadata, offsets,
//! producer state) and one object store (record bytes); no replication of idem's own. This
//! crate is built up in steps. What it holds so far:
//!
//! - [`migrate`]: the schema as versioned SQL files (`migrations/`), applied at start by any
//!   broker, in one transaction under an advisory lock, so that brokers starting together
//!   apply each file exactly once; a database whose applied files differ from the binary's, or
//!   that is newer than the binary, is refused rather than guessed at.
//! - [`ClusterStore`]: one connection; the cluster id, producer ids from a database sequence
//!   (never reused, across crashes and rolled-back transactions), and broker registration with
//!   a lease fenced by an epoch that rises with every registration, on the database's clock
//!   (brokers' clocks may differ).
//!
//! - [`open_object_store`], [`put_new`], [`read_range`]: the object store (`s3://` or
//!   `file://`) where record bytes will live, written once under fresh keys, never overwritten.
//!
//! Next (ARCHITECTURE.md, "Cluster mode"): topics and partitions, the produce commit
//! transaction running `idem-producer-state`'s rules on locked rows, the object store, fetch.

mod migrate;
mod objects;
mod store;

pub use migrate::{migrate, Migration, MIGRATIONS};
pub use objects::{open_object_store, put_new, read_range};
pub use store::{BrokerRow, ClusterStore, Lease};

/// What the cluster store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or the connection failed.
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// The database has a schema version this binary does not know: a newer idem migrated it.
    #[error("the database schema is at version {found}, this idem knows versions up to {known}: upgrade idem")]
    SchemaNewer {
        /// Highest version applied in the database.
        found: i32,
        /// Highest version this binary ships.
        known: i32,
    },
    /// A migration applied in the database differs from the file this binary ships.
    #[error("schema migration {version} ({name}) applied in the database differs from the one this idem ships (checksum {applied:#x} vs {shipped:#x}); migrations must never be edited once applied")]
    MigrationModified {
        /// Version.
        version: i32,
        /// Name of the file.
        name: String,
        /// Checksum recorded when it was applied.
        applied: i64,
        /// Checksum of the shipped file.
        shipped: i64,
    },
    /// Another live broker holds this node id (its lease has not expired).
    #[error("node.id {node_id} is registered by a live broker (its lease ends in {remaining_ms} ms): two brokers cannot share a node id")]
    NodeIdInUse {
        /// The node id.
        node_id: i32,
        /// Milliseconds left on the other broker's lease.
        remaining_ms: i64,
    },
    /// The object store refused or failed.
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    /// An `object.store` URL idem cannot use.
    #[error("object.store {0}")]
    BadObjectStoreUrl(String),
    /// An object already exists under a key that must be fresh.
    #[error("object {0} already exists: objects are written once under fresh keys")]
    ObjectExists(String),
    /// The lease lapsed or another incarnation registered the node id since.
    #[error("the lease of node {node_id} epoch {epoch} is gone (expired or taken over): stop acknowledging and register again")]
    Fenced {
        /// The node id.
        node_id: i32,
        /// The epoch of the lost lease.
        epoch: i64,
    },
}
