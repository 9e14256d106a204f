//! The cluster store against a real PostgreSQL. Ignored by plain `cargo test` (it needs a
//! server): `interop/cluster/test-store.sh` starts one, runs these with
//! `IDEM_TEST_POSTGRES_URL` set, and stops it. Each test works in a database of its own.

use std::collections::HashSet;
use std::time::Duration;

use idem_cluster_store::{migrate, ClusterStore, StoreError, MIGRATIONS};
use tokio_postgres::NoTls;

/// Creates a fresh database and returns its URL.
async fn fresh_database(tag: &str) -> String {
    let admin = std::env::var("IDEM_TEST_POSTGRES_URL")
        .expect("IDEM_TEST_POSTGRES_URL (run interop/cluster/test-store.sh)");
    let (client, conn) = tokio_postgres::connect(&admin, NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let name = format!(
        "idem_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000)
            .unwrap_or(0)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: interop/cluster/test-store.sh"]
async fn brokers_starting_together_apply_each_migration_once() {
    let url = fresh_database("migrate").await;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        runs.push(tokio::spawn(async move {
            let mut c = raw(&url).await;
            migrate(&mut c).await.expect("migrate")
        }));
    }
    let mut applied = Vec::new();
    for r in runs {
        applied.extend(r.await.expect("task"));
    }
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    applied.sort_unstable();
    assert_eq!(
        applied, all,
        "every migration applied exactly once among 8 brokers"
    );
    let mut c = raw(&url).await;
    assert!(
        migrate(&mut c).await.expect("again").is_empty(),
        "a current schema is left alone"
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM idem_schema_migrations", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, all.len() as i64);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: interop/cluster/test-store.sh"]
async fn an_edited_or_newer_schema_is_refused() {
    let url = fresh_database("refuse").await;
    let mut c = raw(&url).await;
    migrate(&mut c).await.expect("migrate");
    c.execute(
        "UPDATE idem_schema_migrations SET checksum = checksum + 1 WHERE version = 1",
        &[],
    )
    .await
    .expect("tamper");
    match migrate(&mut c).await {
        Err(StoreError::MigrationModified { version: 1, .. }) => {}
        other => panic!("an edited migration must be refused, got {other:?}"),
    }
    c.execute(
        "UPDATE idem_schema_migrations SET checksum = checksum - 1 WHERE version = 1",
        &[],
    )
    .await
    .expect("untamper");
    c.execute(
        "INSERT INTO idem_schema_migrations (version, name, checksum) VALUES (999, '0999_future.sql', 0)",
        &[],
    )
    .await
    .expect("a future version");
    match migrate(&mut c).await {
        Err(StoreError::SchemaNewer { found: 999, .. }) => {}
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: interop/cluster/test-store.sh"]
async fn producer_ids_are_never_handed_out_twice() {
    let url = fresh_database("pids").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let store = ClusterStore::connect(&url).await.expect("connect");
            let mut ids = Vec::new();
            for _ in 0..250 {
                ids.push(store.next_producer_id().await.expect("id"));
            }
            ids
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.expect("task") {
            assert!(id >= 0);
            assert!(seen.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(seen.len(), 1000);
    // A rolled-back transaction does not give its id back.
    let mut store = ClusterStore::connect(&url).await.expect("connect");
    let tx = store.client().transaction().await.expect("begin");
    let lost: i64 = tx
        .query_one("SELECT nextval('idem_producer_ids')", &[])
        .await
        .expect("nextval")
        .get(0);
    tx.rollback().await.expect("rollback");
    assert!(store.next_producer_id().await.expect("id") > lost);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: interop/cluster/test-store.sh"]
async fn the_cluster_id_is_the_first_brokers() {
    let url = fresh_database("cluster").await;
    let a = ClusterStore::connect(&url).await.expect("a");
    let b = ClusterStore::connect(&url).await.expect("b");
    assert_eq!(a.cluster_id("first").await.expect("a"), "first");
    assert_eq!(b.cluster_id("second").await.expect("b"), "first");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: interop/cluster/test-store.sh"]
async fn a_lease_is_fenced_once_lapsed_or_taken_over() {
    let url = fresh_database("lease").await;
    let mut store = ClusterStore::connect(&url).await.expect("connect");
    let minute = Duration::from_secs(60);
    let first = store
        .register_broker(1, "127.0.0.1", 9092, minute)
        .await
        .expect("register");
    assert_eq!(first.epoch, 1);
    store
        .renew_lease(first, minute)
        .await
        .expect("renew a live lease");
    // A second broker with the same node.id while the first is live is refused.
    match store.register_broker(1, "127.0.0.1", 9093, minute).await {
        Err(StoreError::NodeIdInUse {
            node_id: 1,
            remaining_ms,
        }) => {
            assert!(remaining_ms > 50_000, "{remaining_ms}");
        }
        other => panic!("a live node id must be refused, got {other:?}"),
    }
    store
        .register_broker(2, "127.0.0.1", 9094, minute)
        .await
        .expect("another node id");
    let live: Vec<i32> = store
        .live_brokers()
        .await
        .expect("live")
        .iter()
        .map(|b| b.node_id)
        .collect();
    assert_eq!(live, vec![1, 2]);
    // The lease lapses (as if the broker stalled past it): renewing is fenced, and the node
    // id can be registered again with a higher epoch; the old epoch stays fenced.
    store
        .client()
        .execute(
            "UPDATE idem_brokers SET lease_expires_at = now() - interval '1 second' WHERE node_id = 1",
            &[],
        )
        .await
        .expect("expire");
    assert!(matches!(
        store.renew_lease(first, minute).await,
        Err(StoreError::Fenced {
            node_id: 1,
            epoch: 1
        })
    ));
    let live: Vec<i32> = store
        .live_brokers()
        .await
        .expect("live")
        .iter()
        .map(|b| b.node_id)
        .collect();
    assert_eq!(live, vec![2], "a lapsed broker is not listed");
    let second = store
        .register_broker(1, "127.0.0.1", 9095, minute)
        .await
        .expect("register again");
    assert_eq!(second.epoch, 2);
    assert!(matches!(
        store.renew_lease(first, minute).await,
        Err(StoreError::Fenced { .. })
    ));
    store
        .renew_lease(second, minute)
        .await
        .expect("the new incarnation renews");
    let row = store
        .live_brokers()
        .await
        .expect("live")
        .into_iter()
        .find(|b| b.node_id == 1)
        .expect("node 1");
    assert_eq!((row.port, row.epoch), (9095, 2));
}
