//! Reading just enough of a frame: the acks of a Produce, and broker addresses to rewrite.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterResponse, FindCoordinatorResponse, MetadataResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

/// Whether a Produce request (the frame after its size) expects a response: false only for
/// acks=0. A frame too short or odd to read is assumed to expect one.
pub(crate) fn produce_expects_response(frame: &[u8]) -> bool {
    acks(frame).is_none_or(|acks| acks != 0)
}

fn acks(frame: &[u8]) -> Option<i16> {
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    let mut pos = 8;
    let client_id = i16::from_be_bytes([*frame.get(pos)?, *frame.get(pos + 1)?]);
    pos += 2 + usize::try_from(client_id).unwrap_or(0);
    let flexible = version >= 9;
    if flexible {
        // Header tagged fields.
        let (count, n) = varint(frame.get(pos..)?)?;
        pos += n;
        for _ in 0..count {
            let (_, n) = varint(frame.get(pos..)?)?;
            pos += n;
            let (size, n) = varint(frame.get(pos..)?)?;
            pos += n + size as usize;
        }
    }
    if version >= 3 {
        // Transactional id: nullable string.
        if flexible {
            let (len_plus_one, n) = varint(frame.get(pos..)?)?;
            pos += n + (len_plus_one as usize).saturating_sub(1);
        } else {
            let len = i16::from_be_bytes([*frame.get(pos)?, *frame.get(pos + 1)?]);
            pos += 2 + usize::try_from(len).unwrap_or(0);
        }
    }
    Some(i16::from_be_bytes([*frame.get(pos)?, *frame.get(pos + 1)?]))
}

fn varint(buf: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, b) in buf.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The response with every broker address replaced by the proxy's, for the APIs that carry
/// addresses (Metadata, FindCoordinator, DescribeCluster); `None` for other APIs or when the
/// response does not decode (then it passes unchanged).
pub(crate) fn maybe_rewrite(
    frame: &[u8],
    api_key: i16,
    version: i16,
    advertise: &(String, i32),
) -> Option<Vec<u8>> {
    let key = ApiKey::try_from(api_key).ok()?;
    if !matches!(
        key,
        ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DescribeCluster
    ) {
        return None;
    }
    let mut body = Bytes::copy_from_slice(frame);
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version)).ok()?;
    let host = StrBytes::from_string(advertise.0.clone());
    let port = advertise.1;
    let encoded = match key {
        ApiKey::Metadata => {
            let mut r: MetadataResponse =
                idem_wire::request::decode_response_body(&mut body, key, version).ok()?;
            for b in &mut r.brokers {
                b.host = host.clone();
                b.port = port;
            }
            idem_wire::request::encode_response(header.correlation_id, key, version, &r)
        }
        ApiKey::FindCoordinator => {
            let mut r: FindCoordinatorResponse =
                idem_wire::request::decode_response_body(&mut body, key, version).ok()?;
            if version < 4 {
                if r.node_id.0 >= 0 {
                    r.host = host.clone();
                    r.port = port;
                }
            } else {
                for c in &mut r.coordinators {
                    if c.node_id.0 >= 0 {
                        c.host = host.clone();
                        c.port = port;
                    }
                }
            }
            idem_wire::request::encode_response(header.correlation_id, key, version, &r)
        }
        _ => {
            let mut r: DescribeClusterResponse =
                idem_wire::request::decode_response_body(&mut body, key, version).ok()?;
            for b in &mut r.brokers {
                b.host = host.clone();
                b.port = port;
            }
            idem_wire::request::encode_response(header.correlation_id, key, version, &r)
        }
    }
    .ok()?;
    // encode_response includes the size prefix; the caller writes its own.
    Some(encoded[4..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_acks_from_produce_requests() {
        use kafka_protocol::messages::{ProduceRequest, RequestHeader};
        for version in [3i16, 7, 9, 11] {
            for wanted in [-1i16, 0, 1] {
                let header = RequestHeader::default()
                    .with_request_api_key(0)
                    .with_request_api_version(version)
                    .with_correlation_id(5)
                    .with_client_id(Some(StrBytes::from_static_str("c")));
                let req = ProduceRequest::default()
                    .with_acks(wanted)
                    .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(
                        StrBytes::from_static_str("tx"),
                    )));
                let frame = idem_wire::request::encode_request(&header, ApiKey::Produce, &req)
                    .expect("encode");
                assert_eq!(acks(&frame[4..]), Some(wanted), "v{version}");
            }
        }
        assert!(
            produce_expects_response(&[0, 0, 0, 9]),
            "short frames expect a response"
        );
    }
}
