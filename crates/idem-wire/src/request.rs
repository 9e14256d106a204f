//! Request headers and bodies: peeked, checked, then decoded with `kafka-protocol`.
//!
//! The flow for every frame is: [`peek`] the api key, version and correlation id (8 fixed
//! bytes, always present in a frame that passed [`crate::frame::request_size`]); decode the
//! header; run [`crate::schema::check_request`] over the body; only then decode the body. A
//! body that fails the check never reaches `kafka-protocol`.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::schema::{self, BodyError};

/// The fixed start of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    /// Raw api key; may be one idem does not know.
    pub api_key: i16,
    /// Requested version.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
}

/// Reads api key, version and correlation id from the first 8 bytes of a request.
pub fn peek(frame: &[u8]) -> Option<Peek> {
    if frame.len() < 8 {
        return None;
    }
    Some(Peek {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// Why a request could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header did not decode.
    #[error("malformed request header: {0}")]
    Header(String),
    /// The body failed the structural check.
    #[error("malformed request body: {0}")]
    Body(#[from] BodyError),
    /// The body passed the check but `kafka-protocol` refused it.
    #[error("request body does not decode: {0}")]
    Decode(String),
}

/// The parts of a request header idem uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The client id; Kafka reads any negative length as null and bytes lossily as UTF-8.
    pub client_id: Option<String>,
}

/// Reads the request header by hand (as Kafka does: a negative client id length is null, the
/// client id is decoded lossily) and advances `frame` past it, tagged fields included.
pub fn decode_header(
    frame: &mut Bytes,
    api_key: ApiKey,
    api_version: i16,
) -> Result<Header, DecodeError> {
    let short = || DecodeError::Header("request header truncated".into());
    if frame.len() < 10 {
        return Err(short());
    }
    let len = i16::from_be_bytes([frame[8], frame[9]]);
    let mut pos = 10;
    let client_id = if len < 0 {
        None
    } else {
        let end = pos + len as usize;
        let bytes = frame.get(pos..end).ok_or_else(short)?;
        pos = end;
        Some(String::from_utf8_lossy(bytes).into_owned())
    };
    if api_key.request_header_version(api_version) >= 2 {
        let (count, n) = unsigned_varint(frame.get(pos..).ok_or_else(short)?)?;
        pos += n;
        for _ in 0..count {
            let (_tag, n) = unsigned_varint(frame.get(pos..).ok_or_else(short)?)?;
            pos += n;
            let (size, n) = unsigned_varint(frame.get(pos..).ok_or_else(short)?)?;
            pos += n;
            pos = pos
                .checked_add(size as usize)
                .filter(|end| *end <= frame.len())
                .ok_or_else(short)?;
        }
    }
    let _ = frame.split_to(pos);
    Ok(Header { client_id })
}

fn unsigned_varint(buf: &[u8]) -> Result<(u32, usize), DecodeError> {
    let mut value = 0u32;
    for (i, b) in buf.iter().take(5).enumerate() {
        value |= u32::from(b & 0x7f)
            .checked_shl(7 * i as u32)
            .ok_or_else(|| DecodeError::Header("varint overflow".into()))?;
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(DecodeError::Header(
        "malformed varint in the request header".into(),
    ))
}

/// Checks then decodes a request body.
pub fn decode_body<T: Decodable>(
    body: &mut Bytes,
    api_key: ApiKey,
    api_version: i16,
) -> Result<T, DecodeError> {
    schema::check_request(api_key, api_version, body)?;
    T::decode(body, api_version).map_err(|e| DecodeError::Decode(e.to_string()))
}

/// Checks then decodes a response body (the client side).
pub fn decode_response_body<T: Decodable>(
    body: &mut Bytes,
    api_key: ApiKey,
    api_version: i16,
) -> Result<T, DecodeError> {
    schema::check_response(api_key, api_version, body)?;
    T::decode(body, api_version).map_err(|e| DecodeError::Decode(e.to_string()))
}

/// Encodes a whole response frame: size prefix, header, body.
pub fn encode_response<T: Encodable>(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &T,
) -> Result<Bytes, String> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    encode_frame(
        &header,
        api_key.response_header_version(api_version),
        body,
        api_version,
    )
}

/// Encodes a whole request frame (the client side).
pub fn encode_request<T: Encodable>(
    header: &RequestHeader,
    api_key: ApiKey,
    body: &T,
) -> Result<Bytes, String> {
    let api_version = header.request_api_version;
    encode_frame(
        header,
        api_key.request_header_version(api_version),
        body,
        api_version,
    )
}

fn encode_frame<H: Encodable, T: Encodable>(
    header: &H,
    header_version: i16,
    body: &T,
    api_version: i16,
) -> Result<Bytes, String> {
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| e.to_string())?;
    let body_size = body.compute_size(api_version).map_err(|e| e.to_string())?;
    let size = i32::try_from(header_size + body_size)
        .map_err(|_| format!("frame of {} bytes is too large", header_size + body_size))?;
    let mut buf = BytesMut::with_capacity(4 + header_size + body_size);
    buf.extend_from_slice(&size.to_be_bytes());
    header
        .encode(&mut buf, header_version)
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, api_version)
        .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn headers_decode_like_kafka() {
        for version in [0i16, 4, 9, 12] {
            let header = RequestHeader::default()
                .with_request_api_key(ApiKey::Metadata as i16)
                .with_request_api_version(version)
                .with_correlation_id(3)
                .with_client_id(Some(StrBytes::from_static_str("c1")));
            let body = kafka_protocol::messages::MetadataRequest::default();
            let frame = encode_request(&header, ApiKey::Metadata, &body).expect("encode");
            let mut rest = frame.slice(4..);
            let h = decode_header(&mut rest, ApiKey::Metadata, version).expect("header");
            assert_eq!(h.client_id.as_deref(), Some("c1"));
            let decoded: kafka_protocol::messages::MetadataRequest =
                decode_body(&mut rest, ApiKey::Metadata, version).expect("body");
            assert_eq!(decoded, body);
        }
        // Negative lengths other than -1 are null; invalid UTF-8 is read lossily.
        let mut odd = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe]);
        assert_eq!(
            decode_header(&mut odd, ApiKey::Metadata, 1)
                .expect("null")
                .client_id,
            None
        );
        let mut lossy = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0, 2, 0xff, 0xfe]);
        assert!(decode_header(&mut lossy, ApiKey::Metadata, 1)
            .expect("lossy")
            .client_id
            .is_some());
        let mut short = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0, 9, b'a']);
        assert!(decode_header(&mut short, ApiKey::Metadata, 1).is_err());
    }

    /// Kafka 4.1.1 (generated RequestHeaderData.read) keeps unknown tags whatever their order
    /// or repetition and only fails when a size runs past the frame (it then closes the
    /// connection): conformance scenarios p-tags-header-*.
    #[test]
    fn header_tags_are_read_like_kafka() {
        // Metadata v12 (header v2), client id "c", then the tagged-field section, then "B".
        let with = |tags: &[u8]| {
            let mut f = vec![0, 3, 0, 12, 0, 0, 0, 1, 0, 1, b'c'];
            f.extend_from_slice(tags);
            f.push(b'B');
            Bytes::from(f)
        };
        for tags in [
            &[0][..],
            &[1, 100, 3, b'a', b'b', b'c'],
            &[2, 5, 1, b'x', 5, 1, b'y'],
            &[2, 7, 1, b'x', 3, 1, b'y'],
            &[2, 0, 0, 0, 0],
        ] {
            let mut frame = with(tags);
            let h = decode_header(&mut frame, ApiKey::Metadata, 12).expect("accepted");
            assert_eq!(h.client_id.as_deref(), Some("c"));
            assert_eq!(&frame[..], b"B", "the body starts after the tags");
        }
        for tags in [&[1, 9, 0xff, 0x7f][..], &[0x7f]] {
            assert!(decode_header(&mut with(tags), ApiKey::Metadata, 12).is_err());
        }
    }
}
