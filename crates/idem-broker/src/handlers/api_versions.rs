//! ApiVersions (18): the table of [`idem_wire::versions::ADVERTISED`].

use std::sync::Arc;

use idem_wire::request;
use idem_wire::versions::ADVERTISED;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{Ctx, Dispatch, Response};
use crate::broker::Broker;
use crate::error_codes as ec;

fn api_keys() -> Vec<ApiVersion> {
    ADVERTISED
        .iter()
        .map(|r| {
            ApiVersion::default()
                .with_api_key(r.key as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect()
}

/// Kafka's client software name and version rule (KIP-511): letters, digits, `-` and `.`,
/// starting and ending with a letter or digit.
fn valid_software_token(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

pub(super) fn handle(_broker: &Arc<Broker>, ctx: Ctx, req: ApiVersionsRequest) -> Dispatch {
    let error_code = if ctx.version >= 3
        && !(valid_software_token(&req.client_software_name)
            && valid_software_token(&req.client_software_version))
    {
        ec::INVALID_REQUEST
    } else {
        ec::NONE
    };
    let response = ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys());
    Dispatch::Now(ctx.respond(&response))
}

/// The answer to an ApiVersions version idem does not know: Kafka's v0 shape with
/// UNSUPPORTED_VERSION and only the ApiVersions row, so the client retries with a version it
/// finds there.
pub(super) fn unsupported(ctx: &Ctx) -> Response {
    let response = ApiVersionsResponse::default()
        .with_error_code(ec::UNSUPPORTED_VERSION)
        .with_api_keys(
            api_keys()
                .into_iter()
                .filter(|k| k.api_key == ApiKey::ApiVersions as i16)
                .collect(),
        );
    match request::encode_response(ctx.correlation_id, ApiKey::ApiVersions, 0, &response) {
        Ok(frame) => Response::Frame(frame),
        Err(e) => Response::Close(format!("cannot encode ApiVersions v0: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kip_511() {
        assert!(valid_software_token("apache-kafka-java"));
        assert!(valid_software_token("4.1.1"));
        assert!(!valid_software_token(""));
        assert!(!valid_software_token("-x"));
        assert!(!valid_software_token("a b"));
    }
}
