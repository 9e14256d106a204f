//! Versioned schema migrations, applied at start by any broker.
//!
//! Every broker runs [`migrate`] when it starts. It takes a transaction-level advisory lock
//! first, so brokers starting together queue up: the first applies what is missing, the
//! others then find nothing to do. The whole run is one transaction (PostgreSQL's DDL is
//! transactional): a crash half-way leaves the schema as it was. Each applied file is
//! recorded with a checksum; a recorded file that differs from the shipped one, or a version
//! the binary does not know, stops the broker with a clear error.

use tokio_postgres::Client;

use crate::StoreError;

/// One schema migration: a SQL file under `migrations/`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version; files apply in this order, from 1 without gaps.
    pub version: i32,
    /// The file's name, for messages.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl Migration {
    /// CRC-32C of the SQL text, as recorded in the database.
    pub fn checksum(&self) -> i64 {
        i64::from(crc32c::crc32c(self.sql.as_bytes()))
    }
}

/// The migrations this binary ships, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_cluster.sql",
    sql: include_str!("../migrations/0001_cluster.sql"),
}];

/// Key of the advisory lock that serialises migrations (any constant no other user of the
/// database takes; "idem" in ASCII).
const LOCK_KEY: i64 = 0x6964_656d;

/// Brings the schema to the newest version this binary ships. Returns the versions it
/// applied (empty when the schema was already current).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS idem_schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             checksum   bigint      NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let rows = tx
        .query(
            "SELECT version, name, checksum FROM idem_schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i32 = row.get(0);
        let name: String = row.get(1);
        let checksum: i64 = row.get(2);
        let Some(shipped) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(StoreError::SchemaNewer {
                found: version,
                known,
            });
        };
        if shipped.checksum() != checksum {
            return Err(StoreError::MigrationModified {
                version,
                name,
                applied: checksum,
                shipped: shipped.checksum(),
            });
        }
        applied.push(version);
    }
    let mut done = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying schema migration"
        );
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO idem_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &m.checksum()],
        )
        .await?;
        done.push(m.version);
    }
    tx.commit().await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
            assert!(!m.sql.trim().is_empty(), "{}", m.name);
        }
    }
}
