//! The object store: write-once objects and byte ranges, on a directory (always) and on a
//! real S3 server (s3s-fs, started by `interop/cluster/test-store.sh`; ignored otherwise).

use bytes::Bytes;
use idem_cluster_store::{open_object_store, put_new, read_range, StoreError};

async fn write_once_and_read_ranges(url: &str) {
    let store = open_object_store(url).expect("open");
    let key = format!(
        "objects/{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    put_new(store.as_ref(), &key, Bytes::from(bytes.clone()))
        .await
        .expect("put");
    let part = read_range(store.as_ref(), &key, 1_000..1_061)
        .await
        .expect("range");
    assert_eq!(&part[..], &bytes[1_000..1_061], "{url}: the exact range");
    match put_new(store.as_ref(), &key, Bytes::from_static(b"other")).await {
        Err(StoreError::ObjectExists(k)) => assert_eq!(k, key),
        other => panic!("{url}: a second write under a key must be refused, got {other:?}"),
    }
    let whole = read_range(store.as_ref(), &key, 0..bytes.len() as u64)
        .await
        .expect("whole");
    assert_eq!(&whole[..], &bytes[..], "{url}: the first write is intact");
}

#[tokio::test]
async fn a_directory_keeps_objects_written_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = format!("file://{}/objects-root", tmp.path().display());
    write_once_and_read_ranges(&url).await;
}

#[cfg(feature = "s3")]
#[tokio::test]
#[ignore = "needs an S3 server: interop/cluster/test-store.sh"]
async fn s3_keeps_objects_written_once() {
    let url = std::env::var("IDEM_TEST_S3_URL")
        .expect("IDEM_TEST_S3_URL (run interop/cluster/test-store.sh)");
    write_once_and_read_ranges(&url).await;
}
