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

/// Decodes the request header; `frame` is advanced past it.
pub fn decode_header(
    frame: &mut Bytes,
    api_key: ApiKey,
    api_version: i16,
) -> Result<RequestHeader, DecodeError> {
    let header_version = api_key.request_header_version(api_version);
    RequestHeader::decode(frame, header_version).map_err(|e| DecodeError::Header(e.to_string()))
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
