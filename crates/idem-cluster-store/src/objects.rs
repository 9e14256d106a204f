//! The object store: where cluster mode keeps record bytes, as immutable objects.
//!
//! Objects are written once under a fresh key and never overwritten (`PutMode::Create`: a key
//! that exists is an error, not a silent replacement), and nothing is coordinated through the
//! object store itself: which objects count is decided in PostgreSQL. Two kinds of URL
//! (`object.store`):
//! - `s3://BUCKET?endpoint=http://HOST:PORT&region=R`: any S3-compatible server; credentials
//!   from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`);
//!   without `endpoint`, AWS itself.
//! - `file:///DIR`: a directory every broker sees (one laptop, or a shared file system).
//!
//! S3 needs the crate's `s3` feature (an HTTP client with TLS); the directory store does not.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
#[cfg(feature = "s3")]
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use crate::StoreError;

/// Opens the object store an `object.store` URL names.
pub fn open_object_store(url: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let bad = |why: &str| StoreError::BadObjectStoreUrl(format!("{url}: {why}"));
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    match parsed.scheme() {
        #[cfg(not(feature = "s3"))]
        "s3" => Err(bad("this idem was built without the `s3` feature")),
        #[cfg(feature = "s3")]
        "s3" => {
            let bucket = parsed.host_str().ok_or_else(|| bad("no bucket"))?;
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            let mut region = None;
            for (k, v) in parsed.query_pairs() {
                match &*k {
                    "endpoint" => {
                        builder = builder
                            .with_allow_http(v.starts_with("http://"))
                            .with_endpoint(v.to_string());
                    }
                    "region" => region = Some(v.to_string()),
                    other => return Err(bad(&format!("unknown parameter {other:?}"))),
                }
            }
            if let Some(region) = region {
                builder = builder.with_region(region);
            }
            Ok(Arc::new(builder.build()?))
        }
        "file" => {
            let dir = parsed
                .to_file_path()
                .map_err(|()| bad("not a local path"))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| bad(&format!("create {}: {e}", dir.display())))?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
        }
        other => Err(bad(&format!("scheme {other:?} is not s3 or file"))),
    }
}

/// Writes a new object under `key`; an existing key is [`StoreError::ObjectExists`], never
/// overwritten.
pub async fn put_new(store: &dyn ObjectStore, key: &str, bytes: Bytes) -> Result<(), StoreError> {
    let path = Path::from(key);
    match store
        .put_opts(&path, PutPayload::from(bytes), PutMode::Create.into())
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            Err(StoreError::ObjectExists(key.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The bytes `range` of the object `key`.
pub async fn read_range(
    store: &dyn ObjectStore,
    key: &str,
    range: Range<u64>,
) -> Result<Bytes, StoreError> {
    Ok(store.get_range(&Path::from(key), range).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let mut bad_urls = vec!["ftp://x", "not a url"];
        if cfg!(feature = "s3") {
            bad_urls.extend(["s3://?endpoint=http://127.0.0.1:1", "s3://b?colour=red"]);
        } else {
            bad_urls.push("s3://bucket");
        }
        for bad in bad_urls {
            assert!(
                matches!(
                    open_object_store(bad),
                    Err(StoreError::BadObjectStoreUrl(_))
                ),
                "{bad}"
            );
        }
    }
}
