//! Produce v0-2: advertised (old librdkafka enables compression only when Produce v0 is in
//! the table, KAFKA-18659) but answered UNSUPPORTED_VERSION for every partition, since these
//! versions carry the v0/v1 message formats idem does not store.
//!
//! `kafka-protocol` has no v0-2 types, so the request is walked and the response written by
//! hand. Every count is checked against the bytes left; anything malformed closes the
//! connection.

use bytes::{BufMut, BytesMut};

use super::{Ctx, Response};
use crate::error_codes as ec;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.i16()?;
        if len < 0 {
            return None;
        }
        self.take(len as usize)
    }
    fn bytes(&mut self) -> Option<()> {
        let len = self.i32()?;
        if len >= 0 {
            self.take(len as usize)?;
        }
        Some(())
    }
    /// An array count that cannot claim more elements than bytes left.
    fn count(&mut self, min_element: usize) -> Option<usize> {
        let n = self.i32()?;
        if n < 0 || (n as usize).saturating_mul(min_element) > self.buf.len() {
            return None;
        }
        Some(n as usize)
    }
}

/// Parses `(topic, [partition])` out of a v0-2 request frame (header included).
fn parse(frame: &[u8]) -> Option<Vec<(Vec<u8>, Vec<i32>)>> {
    let mut r = Reader { buf: frame };
    r.take(8)?; // api key, version, correlation id
                // Client id (header v1): a nullable string.
    let client_id_len = r.i16()?;
    if client_id_len > 0 {
        r.take(client_id_len as usize)?;
    }
    r.i16()?; // acks
    r.i32()?; // timeout
    let topics = r.count(2 + 4)?;
    let mut out = Vec::with_capacity(topics);
    for _ in 0..topics {
        let name = r.string()?.to_vec();
        let partitions = r.count(4 + 4)?;
        let mut indexes = Vec::with_capacity(partitions);
        for _ in 0..partitions {
            indexes.push(r.i32()?);
            r.bytes()?;
        }
        out.push((name, indexes));
    }
    Some(out)
}

pub(super) fn unsupported(ctx: &Ctx, frame: &[u8]) -> Response {
    let Some(topics) = parse(frame) else {
        return Response::Close(format!("malformed Produce v{} request", ctx.version));
    };
    let mut body = BytesMut::new();
    body.put_i32(ctx.correlation_id);
    body.put_i32(topics.len() as i32);
    for (name, partitions) in &topics {
        body.put_i16(name.len() as i16);
        body.put_slice(name);
        body.put_i32(partitions.len() as i32);
        for index in partitions {
            body.put_i32(*index);
            body.put_i16(ec::UNSUPPORTED_VERSION);
            body.put_i64(-1); // base offset
            if ctx.version >= 2 {
                body.put_i64(-1); // log append time
            }
        }
    }
    if ctx.version >= 1 {
        body.put_i32(0); // throttle time
    }
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    Response::Frame(frame.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;

    #[test]
    fn answers_each_partition_and_refuses_hostile_counts() {
        let mut req = BytesMut::new();
        req.put_i16(0);
        req.put_i16(2);
        req.put_i32(77);
        req.put_i16(-1); // null client id
        req.put_i16(1);
        req.put_i32(1000);
        req.put_i32(1);
        req.put_i16(1);
        req.put_slice(b"t");
        req.put_i32(2);
        for i in 0..2 {
            req.put_i32(i);
            req.put_i32(0);
        }
        let ctx = Ctx {
            api_key: ApiKey::Produce,
            version: 2,
            correlation_id: 77,
        };
        let Response::Frame(f) = unsupported(&ctx, &req) else {
            panic!("expected a frame")
        };
        // size, correlation, 1 topic "t", 2 partitions x (index, code, offset, time), throttle
        assert_eq!(f.len(), 4 + 4 + 4 + 3 + 4 + 2 * (4 + 2 + 8 + 8) + 4);
        assert_eq!(&f[4..8], &77i32.to_be_bytes());
        let mut hostile = req.clone();
        hostile[16..20].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(unsupported(&ctx, &hostile), Response::Close(_)));
    }
}
