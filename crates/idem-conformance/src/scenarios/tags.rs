//! Tagged-field sections written by hand (issue 14 defect 7b): unknown, duplicated and
//! out-of-order tags, a tag whose size runs past the frame, and an impossible count; in the
//! request header (v2: client id, then tagged fields) and at the end of a flexible body
//! (ApiVersions v3, Metadata v12). Each step records what the broker answered, or that it
//! closed the connection.

use anyhow::{bail, Context as _};
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, MetadataResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use serde_json::json;

use super::{table, Scenario};
use crate::client::is_closed;
use crate::ctx::Ctx;

pub(super) fn all() -> Vec<Scenario> {
    table! { "protocol";
        "p-tags-header-api-versions" => header_api_versions, "ApiVersions v3 with odd tagged fields in the request header (v2)";
        "p-tags-header-metadata" => header_metadata, "Metadata v12 with odd tagged fields in the request header (v2)";
        "p-tags-body-api-versions" => body_api_versions, "ApiVersions v3 with odd tagged fields at the end of the body";
        "p-tags-body-metadata" => body_metadata, "Metadata v12 with odd tagged fields at the end of the body and in a topic";
    }
}

/// Tagged-field sections: `(name, bytes)`, count first.
const SECTIONS: [(&str, &[u8]); 7] = [
    ("none", &[0]),
    ("unknown-tag-100", &[1, 100, 3, b'a', b'b', b'c']),
    ("duplicate-tag-5", &[2, 5, 1, b'x', 5, 1, b'y']),
    ("out-of-order-7-then-3", &[2, 7, 1, b'x', 3, 1, b'y']),
    ("empty-values-0-0", &[2, 0, 0, 0, 0]),
    // Claims 16383 bytes: more than the whole frame holds.
    ("size-past-end", &[1, 9, 0xff, 0x7f]),
    // Claims 127 fields and holds none.
    ("count-127-none-there", &[0x7f]),
];

/// A request frame: header v2 with `header_tags` after the client id, then `body`.
fn frame(
    api_key: ApiKey,
    version: i16,
    correlation: i32,
    header_tags: &[u8],
    body: &[u8],
) -> Vec<u8> {
    let client = b"idem-conformance";
    let mut inner = Vec::new();
    inner.extend_from_slice(&(api_key as i16).to_be_bytes());
    inner.extend_from_slice(&version.to_be_bytes());
    inner.extend_from_slice(&correlation.to_be_bytes());
    inner.extend_from_slice(&(client.len() as i16).to_be_bytes());
    inner.extend_from_slice(client);
    inner.extend_from_slice(header_tags);
    inner.extend_from_slice(body);
    let mut out = (inner.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&inner);
    out
}

/// ApiVersions v3 body: client software name and version (compact strings), then `tags`.
fn api_versions_body(tags: &[u8]) -> Vec<u8> {
    let mut b = b"\x11idem-conformance\x041.0".to_vec();
    b.extend_from_slice(tags);
    b
}

/// Metadata v12 body for one topic by name (`name`, not auto-created), with `topic_tags`
/// closing the topic and `tags` closing the body.
fn metadata_body(name: &str, topic_tags: &[u8], tags: &[u8]) -> Vec<u8> {
    let mut b = vec![2]; // compact array of one topic
    b.extend_from_slice(&[0; 16]); // topic id: zero
    b.push(u8::try_from(name.len() + 1).unwrap_or(0));
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(topic_tags);
    b.push(0); // allow_auto_topic_creation
    b.push(0); // include_topic_authorized_operations
    b.extend_from_slice(tags);
    b
}

/// Sends `frame` and records the answer as step `label`: the error codes, or the closed
/// connection (after which the scenario continues on a new one).
async fn call(
    c: &mut Ctx,
    label: &str,
    api_key: ApiKey,
    frame: &[u8],
    correlation: i32,
) -> anyhow::Result<()> {
    let answer = async {
        c.conn().write(frame).await?;
        c.conn().read_frame().await
    }
    .await;
    let body = match answer {
        Ok(body) => body,
        Err(e) if is_closed(&e) => None,
        Err(e) => return Err(e.context(format!("step {label}"))),
    };
    let Some(mut body) = body else {
        c.step(label, vec![("outcome", json!("connection closed"))]);
        c.reconnect().await?;
        return Ok(());
    };
    let fields = match api_key {
        ApiKey::ApiVersions => {
            // ApiVersions answers with response header v0 at every version.
            check_correlation(&mut body, 0, correlation, label)?;
            let resp = ApiVersionsResponse::decode(&mut body, 3).context("ApiVersions v3 body")?;
            vec![
                ("outcome", json!("answered")),
                ("error_code", json!(resp.error_code)),
                ("has_rows", json!(!resp.api_keys.is_empty())),
            ]
        }
        _ => {
            check_correlation(&mut body, 1, correlation, label)?;
            let resp = MetadataResponse::decode(&mut body, 12).context("Metadata v12 body")?;
            vec![
                ("outcome", json!("answered")),
                (
                    "topic_errors",
                    json!(resp.topics.iter().map(|t| t.error_code).collect::<Vec<_>>()),
                ),
            ]
        }
    };
    c.step(label, fields);
    Ok(())
}

fn check_correlation(
    body: &mut Bytes,
    header_version: i16,
    correlation: i32,
    label: &str,
) -> anyhow::Result<()> {
    let header = ResponseHeader::decode(body, header_version).context("response header")?;
    if header.correlation_id != correlation {
        bail!(
            "step {label}: correlation id {} in the response, {correlation} expected",
            header.correlation_id
        );
    }
    Ok(())
}

async fn header_api_versions(c: &mut Ctx) -> anyhow::Result<()> {
    for (name, tags) in SECTIONS {
        let correlation = c.conn().next_correlation();
        let f = frame(
            ApiKey::ApiVersions,
            3,
            correlation,
            tags,
            &api_versions_body(&[0]),
        );
        call(
            c,
            &format!("header-{name}"),
            ApiKey::ApiVersions,
            &f,
            correlation,
        )
        .await?;
    }
    Ok(())
}

async fn header_metadata(c: &mut Ctx) -> anyhow::Result<()> {
    let missing = c.name("missing");
    for (name, tags) in SECTIONS {
        let correlation = c.conn().next_correlation();
        let f = frame(
            ApiKey::Metadata,
            12,
            correlation,
            tags,
            &metadata_body(&missing, &[0], &[0]),
        );
        call(
            c,
            &format!("header-{name}"),
            ApiKey::Metadata,
            &f,
            correlation,
        )
        .await?;
    }
    Ok(())
}

async fn body_api_versions(c: &mut Ctx) -> anyhow::Result<()> {
    for (name, tags) in SECTIONS {
        let correlation = c.conn().next_correlation();
        let f = frame(
            ApiKey::ApiVersions,
            3,
            correlation,
            &[0],
            &api_versions_body(tags),
        );
        call(
            c,
            &format!("body-{name}"),
            ApiKey::ApiVersions,
            &f,
            correlation,
        )
        .await?;
    }
    Ok(())
}

async fn body_metadata(c: &mut Ctx) -> anyhow::Result<()> {
    let missing = c.name("missing");
    for (name, tags) in SECTIONS {
        let correlation = c.conn().next_correlation();
        let f = frame(
            ApiKey::Metadata,
            12,
            correlation,
            &[0],
            &metadata_body(&missing, &[0], tags),
        );
        call(
            c,
            &format!("body-{name}"),
            ApiKey::Metadata,
            &f,
            correlation,
        )
        .await?;
    }
    for (name, tags) in SECTIONS {
        let correlation = c.conn().next_correlation();
        let f = frame(
            ApiKey::Metadata,
            12,
            correlation,
            &[0],
            &metadata_body(&missing, tags, &[0]),
        );
        call(
            c,
            &format!("topic-{name}"),
            ApiKey::Metadata,
            &f,
            correlation,
        )
        .await?;
    }
    Ok(())
}
