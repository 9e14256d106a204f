//! One connection to the cluster database and the operations built so far.
//!
//! Times that decide leases are the database's (`now()`), never a broker's: brokers' clocks
//! may differ, the database is the one clock they share.

use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::{migrate, StoreError};

/// A broker's registration: its node id and the epoch of this incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// `node.id`.
    pub node_id: i32,
    /// Rises with every registration of the node id; renewals must name it.
    pub epoch: i64,
}

/// A registered broker whose lease has not expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRow {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Epoch of its registration.
    pub epoch: i64,
}

/// A connection to the cluster database.
#[derive(Debug)]
pub struct ClusterStore {
    client: Client,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ClusterStore {
    /// Connects (`postgresql://user@host:port/db`, any libpq-style URL tokio-postgres reads)
    /// and brings the schema up to date. Needs a tokio runtime: the connection runs as a task.
    pub async fn connect(url: &str) -> Result<ClusterStore, StoreError> {
        let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("cluster database connection ended: {e}");
            }
        });
        migrate(&mut client).await?;
        Ok(ClusterStore { client })
    }

    /// The underlying client (tests, and the steps still to come).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The cluster id: `proposed` if this is the first broker ever, else the one recorded.
    pub async fn cluster_id(&self, proposed: &str) -> Result<String, StoreError> {
        self.client
            .execute(
                "INSERT INTO idem_cluster (cluster_id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&proposed],
            )
            .await?;
        let row = self
            .client
            .query_one("SELECT cluster_id FROM idem_cluster", &[])
            .await?;
        Ok(row.get(0))
    }

    /// A producer id never handed out before, by any broker (InitProducerId).
    pub async fn next_producer_id(&self) -> Result<i64, StoreError> {
        let row = self
            .client
            .query_one("SELECT nextval('idem_producer_ids')", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Registers this broker under `node_id` with a lease of `lease`. A node id whose lease
    /// is still live belongs to another broker (or to this one's previous incarnation, which
    /// may still be acknowledging): refused with [`StoreError::NodeIdInUse`] until it lapses.
    pub async fn register_broker(
        &self,
        node_id: i32,
        host: &str,
        port: i32,
        lease: Duration,
    ) -> Result<Lease, StoreError> {
        let row = self
            .client
            .query_opt(
                "INSERT INTO idem_brokers AS b (node_id, host, port, epoch, lease_expires_at)
                 VALUES ($1, $2, $3, 1, now() + $4::bigint * interval '1 millisecond')
                 ON CONFLICT (node_id) DO UPDATE
                     SET host = EXCLUDED.host, port = EXCLUDED.port, epoch = b.epoch + 1,
                         lease_expires_at = EXCLUDED.lease_expires_at
                     WHERE b.lease_expires_at <= now()
                 RETURNING epoch",
                &[&node_id, &host, &port, &millis(lease)],
            )
            .await?;
        if let Some(row) = row {
            return Ok(Lease {
                node_id,
                epoch: row.get(0),
            });
        }
        let remaining = self
            .client
            .query_one(
                "SELECT GREATEST(0, (EXTRACT(EPOCH FROM lease_expires_at - now()) * 1000)::bigint)
                 FROM idem_brokers WHERE node_id = $1",
                &[&node_id],
            )
            .await?;
        Err(StoreError::NodeIdInUse {
            node_id,
            remaining_ms: remaining.get(0),
        })
    }

    /// Extends a live lease by `lease` from now. Fails with [`StoreError::Fenced`] once it
    /// has lapsed or the node id was registered again: the broker must then stop
    /// acknowledging anything before it registers anew.
    pub async fn renew_lease(&self, held: Lease, lease: Duration) -> Result<(), StoreError> {
        let n = self
            .client
            .execute(
                "UPDATE idem_brokers SET lease_expires_at = now() + $3::bigint * interval '1 millisecond'
                 WHERE node_id = $1 AND epoch = $2 AND lease_expires_at > now()",
                &[&held.node_id, &held.epoch, &millis(lease)],
            )
            .await?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                node_id: held.node_id,
                epoch: held.epoch,
            })
        }
    }

    /// The brokers whose leases are live, by node id (what Metadata will list).
    pub async fn live_brokers(&self) -> Result<Vec<BrokerRow>, StoreError> {
        let rows = self
            .client
            .query(
                "SELECT node_id, host, port, epoch FROM idem_brokers
                 WHERE lease_expires_at > now() ORDER BY node_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| BrokerRow {
                node_id: r.get(0),
                host: r.get(1),
                port: r.get(2),
                epoch: r.get(3),
            })
            .collect())
    }
}
