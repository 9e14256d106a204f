//! The records inside a batch, checked in place.
//!
//! Kafka's `LogValidator` reads every record of a client batch: its length, attributes,
//! timestamp and offset deltas, key, value and headers must fit together exactly, or the batch
//! is refused with INVALID_RECORD. idem does the same walk without copying or keeping
//! anything: an uncompressed batch is walked where it lies (the bytes are in cache from the CRC
//! pass), a compressed one is decompressed as a stream under a cap on decompressed bytes
//! (decompression bombs) and walked as it comes out. Memory use is constant either way.
//!
//! Lengths follow Kafka's `DefaultRecord`: the record size and the key, value and header sizes
//! are zig-zag varints, the timestamp delta a zig-zag varlong; a negative key or value size
//! means null (Kafka reads any negative size that way), a negative header key size is invalid.

use std::io::Read;

use crate::compression::{self, Codec, RecordsError};

/// What the walk reports of each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    /// Offset relative to the batch base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch base timestamp.
    pub timestamp_delta: i64,
}

/// Facts gathered by a full walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordsSummary {
    /// Records walked.
    pub count: i32,
    /// Bytes walked (decompressed).
    pub bytes: u64,
    /// Smallest and largest timestamp delta, if any record was walked.
    pub timestamp_deltas: Option<(i64, i64)>,
}

/// Checks every record of a batch section (the bytes after the 61-byte header).
pub fn check(
    codec: Codec,
    records: &[u8],
    expected_count: i32,
    max_decompressed_bytes: u64,
) -> Result<RecordsSummary, RecordsError> {
    walk(
        codec,
        records,
        expected_count,
        max_decompressed_bytes,
        |_| true,
    )
}

/// Walks the records, calling `visit` for each; `visit` returns `false` to stop early (the
/// rest is then not checked).
pub fn walk(
    codec: Codec,
    records: &[u8],
    expected_count: i32,
    max_decompressed_bytes: u64,
    visit: impl FnMut(RecordMeta) -> bool,
) -> Result<RecordsSummary, RecordsError> {
    if codec == Codec::None {
        return walk_source(
            &mut SliceSource {
                buf: records,
                pos: 0,
            },
            expected_count,
            visit,
        );
    }
    let reader = compression::decoder(codec, records, max_decompressed_bytes)?;
    let mut source = StreamSource {
        inner: reader.take(max_decompressed_bytes.saturating_add(1)),
        read: 0,
        max: max_decompressed_bytes,
        codec,
        buf: vec![0u8; 8 * 1024],
        start: 0,
        end: 0,
    };
    walk_source(&mut source, expected_count, visit)
}

/// Where record bytes come from.
trait Source {
    /// The next byte, `None` at the end.
    fn byte(&mut self) -> Result<Option<u8>, RecordsError>;
    /// Skips `n` bytes; an error if fewer remain.
    fn skip(&mut self, n: u64) -> Result<(), RecordsError>;
    /// Bytes consumed so far.
    fn consumed(&self) -> u64;
}

struct SliceSource<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Source for SliceSource<'_> {
    fn byte(&mut self) -> Result<Option<u8>, RecordsError> {
        let b = self.buf.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }
    fn skip(&mut self, n: u64) -> Result<(), RecordsError> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(RecordsError::Malformed(
                "record runs past the end of the batch",
            ));
        }
        self.pos += n as usize;
        Ok(())
    }
    fn consumed(&self) -> u64 {
        self.pos as u64
    }
}

struct StreamSource<R> {
    inner: R,
    /// Bytes read from the decoder so far.
    read: u64,
    max: u64,
    codec: Codec,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> StreamSource<R> {
    fn fill(&mut self) -> Result<bool, RecordsError> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(compression::codec_err(self.codec)(e)),
            }
        };
        self.read += n as u64;
        if self.read > self.max {
            return Err(RecordsError::TooLarge { max: self.max });
        }
        self.start = 0;
        self.end = n;
        Ok(n > 0)
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn byte(&mut self) -> Result<Option<u8>, RecordsError> {
        if self.start == self.end && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.start];
        self.start += 1;
        Ok(Some(b))
    }
    fn skip(&mut self, mut n: u64) -> Result<(), RecordsError> {
        while n > 0 {
            if self.start == self.end && !self.fill()? {
                return Err(RecordsError::Malformed(
                    "record runs past the end of the batch",
                ));
            }
            let take = ((self.end - self.start) as u64).min(n);
            self.start += take as usize;
            n -= take;
        }
        Ok(())
    }
    fn consumed(&self) -> u64 {
        self.read - (self.end - self.start) as u64
    }
}

fn varint_raw(src: &mut impl Source, max_bytes: usize) -> Result<Option<u64>, RecordsError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let Some(b) = src.byte()? else {
            return if i == 0 {
                Ok(None)
            } else {
                Err(RecordsError::Malformed("record truncated inside a varint"))
            };
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(RecordsError::Malformed("overlong varint"))
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A zig-zag varint (32 bits).
fn varint(src: &mut impl Source) -> Result<i32, RecordsError> {
    let v = varint_raw(src, 5)?.ok_or(RecordsError::Malformed("record truncated"))?;
    i32::try_from(zigzag(v)).map_err(|_| RecordsError::Malformed("varint out of range"))
}

/// A zig-zag varlong (64 bits).
fn varlong(src: &mut impl Source) -> Result<i64, RecordsError> {
    varint_raw(src, 10)?
        .map(zigzag)
        .ok_or(RecordsError::Malformed("record truncated"))
}

/// Skips a nullable byte field of the given size (negative: null).
fn skip_field(src: &mut impl Source, size: i32) -> Result<(), RecordsError> {
    if size > 0 {
        src.skip(size as u64)?;
    }
    Ok(())
}

fn walk_source(
    src: &mut impl Source,
    expected_count: i32,
    mut visit: impl FnMut(RecordMeta) -> bool,
) -> Result<RecordsSummary, RecordsError> {
    let mut deltas: Option<(i64, i64)> = None;
    for index in 0..expected_count.max(0) {
        let Some(raw) = varint_raw(src, 5)? else {
            return Err(RecordsError::Malformed(
                "fewer records than the header says",
            ));
        };
        let size = i32::try_from(zigzag(raw))
            .ok()
            .filter(|s| *s > 0)
            .ok_or(RecordsError::Malformed("record size is not positive"))?;
        let start = src.consumed();
        let _attributes = src
            .byte()?
            .ok_or(RecordsError::Malformed("record truncated"))?;
        let timestamp_delta = varlong(src)?;
        let offset_delta = varint(src)?;
        if offset_delta != index {
            return Err(RecordsError::Malformed(
                "record offset deltas are not 0, 1, 2, ...",
            ));
        }
        let meta = RecordMeta {
            offset_delta,
            timestamp_delta,
        };
        deltas = Some(match deltas {
            None => (timestamp_delta, timestamp_delta),
            Some((lo, hi)) => (lo.min(timestamp_delta), hi.max(timestamp_delta)),
        });
        if !visit(meta) {
            return Ok(RecordsSummary {
                count: index + 1,
                bytes: src.consumed(),
                timestamp_deltas: deltas,
            });
        }
        let key = varint(src)?;
        skip_field(src, key)?;
        let value = varint(src)?;
        skip_field(src, value)?;
        let headers = varint(src)?;
        if headers < 0 {
            return Err(RecordsError::Malformed("negative header count"));
        }
        for _ in 0..headers {
            let key = varint(src)?;
            if key < 0 {
                return Err(RecordsError::Malformed("negative header key size"));
            }
            skip_field(src, key)?;
            let value = varint(src)?;
            skip_field(src, value)?;
            // Every header consumes at least two bytes, so a huge count cannot loop long
            // past the end of the bytes.
        }
        if src.consumed() - start != size as u64 {
            return Err(RecordsError::Malformed(
                "record size does not match its fields",
            ));
        }
    }
    if src.byte()?.is_some() {
        return Err(RecordsError::Malformed("bytes after the last record"));
    }
    Ok(RecordsSummary {
        count: expected_count,
        bytes: src.consumed(),
        timestamp_deltas: deltas,
    })
}

/// One record to encode (the client side).
#[derive(Debug, Clone, Copy)]
pub struct RecordParts<'a> {
    /// Offset relative to the batch base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch base timestamp.
    pub timestamp_delta: i64,
    /// Key, or null.
    pub key: Option<&'a [u8]>,
    /// Value, or null.
    pub value: Option<&'a [u8]>,
    /// Headers: key and nullable value.
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => put_varlong(out, -1),
    }
}

fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    // 7 bits per byte; zero still takes one.
    (64 - (z | 1).leading_zeros() as usize).div_ceil(7)
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varlong_len(b.len() as i64) + b.len(),
        None => 1,
    }
}

/// Appends one record, length-prefixed, in Kafka's v2 record format. The length is computed
/// first, so the record is written straight into `out` (the producer calls this per record).
pub fn encode_record(out: &mut Vec<u8>, r: &RecordParts<'_>) {
    let body_len = 1
        + varlong_len(r.timestamp_delta)
        + varlong_len(i64::from(r.offset_delta))
        + bytes_len(r.key)
        + bytes_len(r.value)
        + varlong_len(r.headers.len() as i64)
        + r.headers
            .iter()
            .map(|(k, v)| bytes_len(Some(k.as_bytes())) + bytes_len(*v))
            .sum::<usize>();
    out.reserve(body_len + 5);
    put_varlong(out, body_len as i64);
    let start = out.len();
    out.push(0); // attributes: unused in v2
    put_varlong(out, r.timestamp_delta);
    put_varlong(out, i64::from(r.offset_delta));
    put_bytes(out, r.key);
    put_bytes(out, r.value);
    put_varlong(out, r.headers.len() as i64);
    for (k, v) in r.headers {
        put_bytes(out, Some(k.as_bytes()));
        put_bytes(out, *v);
    }
    debug_assert_eq!(out.len() - start, body_len);
}

/// A record read back from a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (the batch's max timestamp for LogAppendTime batches).
    pub timestamp: i64,
    /// Key, or null.
    pub key: Option<bytes::Bytes>,
    /// Value, or null.
    pub value: Option<bytes::Bytes>,
    /// Headers: key (lossy UTF-8) and nullable value.
    pub headers: Vec<(String, Option<bytes::Bytes>)>,
}

/// Decodes every record of one whole batch (header included), decompressing under a cap.
/// Keys, values and header values of an uncompressed batch share `batch`'s memory.
pub fn decode_batch(
    batch: &bytes::Bytes,
    max_decompressed_bytes: u64,
) -> Result<(crate::batch::BatchHeader, Vec<Record>), RecordsError> {
    use crate::batch::{BatchHeader, HEADER_LEN};
    let header =
        BatchHeader::parse(batch).map_err(|_| RecordsError::Malformed("not a record batch"))?;
    let codec = header
        .codec()
        .map_err(|_| RecordsError::Malformed("unknown compression codec"))?;
    let section = batch.slice(HEADER_LEN..header.total_len());
    let data = if codec == Codec::None {
        section
    } else {
        bytes::Bytes::from(compression::decompress(
            codec,
            &section,
            max_decompressed_bytes,
        )?)
    };
    // Each record takes at least 7 bytes: the capacity cannot exceed what the bytes hold.
    let capacity = usize::try_from(header.records_count.max(0))
        .unwrap_or(0)
        .min(data.len() / 7);
    let mut records = Vec::with_capacity(capacity);
    let mut src = SliceSource { buf: &data, pos: 0 };
    let slice =
        |src: &mut SliceSource<'_>, size: i32| -> Result<Option<bytes::Bytes>, RecordsError> {
            if size < 0 {
                return Ok(None);
            }
            let start = src.pos;
            src.skip(size as u64)?;
            Ok(Some(data.slice(start..src.pos)))
        };
    for index in 0..header.records_count.max(0) {
        let Some(raw) = varint_raw(&mut src, 5)? else {
            return Err(RecordsError::Malformed(
                "fewer records than the header says",
            ));
        };
        let size = i32::try_from(zigzag(raw))
            .ok()
            .filter(|s| *s > 0)
            .ok_or(RecordsError::Malformed("record size is not positive"))?;
        let start = src.consumed();
        src.byte()?
            .ok_or(RecordsError::Malformed("record truncated"))?;
        let timestamp_delta = varlong(&mut src)?;
        let offset_delta = varint(&mut src)?;
        if offset_delta != index {
            return Err(RecordsError::Malformed(
                "record offset deltas are not 0, 1, 2, ...",
            ));
        }
        let key_size = varint(&mut src)?;
        let key = slice(&mut src, key_size)?;
        let value_size = varint(&mut src)?;
        let value = slice(&mut src, value_size)?;
        let count = varint(&mut src)?;
        if count < 0 {
            return Err(RecordsError::Malformed("negative header count"));
        }
        let mut headers = Vec::with_capacity((count as usize).min(64));
        for _ in 0..count {
            let key_size = varint(&mut src)?;
            if key_size < 0 {
                return Err(RecordsError::Malformed("negative header key size"));
            }
            let key = slice(&mut src, key_size)?.unwrap_or_default();
            let value_size = varint(&mut src)?;
            let value = slice(&mut src, value_size)?;
            headers.push((String::from_utf8_lossy(&key).into_owned(), value));
        }
        if src.consumed() - start != size as u64 {
            return Err(RecordsError::Malformed(
                "record size does not match its fields",
            ));
        }
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(timestamp_delta)
        };
        records.push(Record {
            offset: header.base_offset + i64::from(offset_delta),
            timestamp,
            key,
            value,
            headers,
        });
    }
    Ok((header, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::encode_simple_records;
    use crate::compression::compress;

    #[test]
    fn varlong_len_matches_what_is_written() {
        let mut edges = vec![0i64, 1, -1, i64::MAX, i64::MIN];
        for shift in 0..63 {
            let p = 1i64 << shift;
            edges.extend([p - 1, p, p + 1, -p, -p - 1, -p + 1]);
        }
        for v in edges {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(varlong_len(v), out.len(), "{v}");
        }
    }

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    fn raw_record(fields: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, fields.len() as i64);
        out.extend_from_slice(fields);
        out
    }

    fn put(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    #[test]
    fn every_codec_walks_and_counts() {
        let values: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 100 + i]).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let raw = encode_simple_records(&refs, 5);
        for codec in ALL {
            let c = compress(codec, &raw).expect("compress");
            let s = check(codec, &c, 100, 1 << 20).expect("walk");
            assert_eq!((s.count, s.bytes), (100, raw.len() as u64));
            assert_eq!(s.timestamp_deltas, Some((0, 99 * 5)));
            assert!(matches!(
                check(codec, &c, 101, 1 << 20),
                Err(RecordsError::Malformed(_))
            ));
            assert!(matches!(
                check(codec, &c, 99, 1 << 20),
                Err(RecordsError::Malformed(_))
            ));
        }
    }

    #[test]
    fn broken_fields_are_refused_in_every_codec() {
        // attributes, ts delta 0, offset delta 0, then the variable part.
        let head = [0u8, 0, 0];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("header count beyond the bytes", {
                let mut f = head.to_vec();
                f.extend_from_slice(&[1, 0, 1, 0]); // null key, empty value... then:
                f.truncate(3);
                put(&mut f, -1); // null key
                put(&mut f, 0); // empty value
                put(&mut f, 100); // 100 headers, none present
                f
            }),
            ("negative header key", {
                let mut f = head.to_vec();
                put(&mut f, -1);
                put(&mut f, 0);
                put(&mut f, 1);
                put(&mut f, -1);
                put(&mut f, 0);
                f
            }),
            ("value longer than the record", {
                let mut f = head.to_vec();
                put(&mut f, -1);
                put(&mut f, 50);
                f
            }),
        ];
        for (name, fields) in cases {
            let section = raw_record(&fields);
            for codec in ALL {
                let c = compress(codec, &section).expect("compress");
                assert!(check(codec, &c, 1, 1 << 20).is_err(), "{name} {codec:?}");
            }
        }
        // A negative key size is a null key, as Kafka reads it.
        let mut f = head.to_vec();
        put(&mut f, -2);
        put(&mut f, 0);
        put(&mut f, 0);
        assert!(check(Codec::None, &raw_record(&f), 1, 1 << 20).is_ok());
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let big = vec![0u8; 64 << 20];
        let raw = encode_simple_records(&[&big], 0);
        for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd, Codec::Snappy] {
            let c = compress(codec, &raw).expect("compress");
            assert!(matches!(
                check(codec, &c, 1, 1 << 20),
                Err(RecordsError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn encode_then_decode_round_trips_in_every_codec() {
        let mut section = Vec::new();
        let headers: [(&str, Option<&[u8]>); 2] = [("h1", Some(b"x")), ("h2", None)];
        for i in 0..50i32 {
            let value = format!("value-{i}");
            encode_record(
                &mut section,
                &RecordParts {
                    offset_delta: i,
                    timestamp_delta: i64::from(i) * 3,
                    key: (i % 2 == 0).then_some(b"k".as_slice()),
                    value: Some(value.as_bytes()),
                    headers: &headers,
                },
            );
        }
        for codec in ALL {
            let records = compress(codec, &section).expect("compress");
            let batch = crate::batch::RawBatch {
                header: crate::batch::BatchHeader {
                    base_offset: 100,
                    batch_length: 0,
                    partition_leader_epoch: 0,
                    magic: 2,
                    crc: 0,
                    attributes: i16::from(codec.id()),
                    last_offset_delta: 49,
                    base_timestamp: 1_000,
                    max_timestamp: 1_147,
                    producer_id: 7,
                    producer_epoch: 0,
                    base_sequence: 0,
                    records_count: 50,
                },
                records,
            }
            .to_bytes();
            let (h, decoded) = decode_batch(&bytes::Bytes::from(batch), 1 << 20).expect("decode");
            assert_eq!(h.records_count, 50);
            assert_eq!(decoded.len(), 50);
            assert_eq!(decoded[3].offset, 103);
            assert_eq!(decoded[3].timestamp, 1_009);
            assert_eq!(decoded[3].key, None);
            assert_eq!(decoded[4].key.as_deref(), Some(b"k".as_slice()));
            assert_eq!(decoded[49].value.as_deref(), Some(b"value-49".as_slice()));
            assert_eq!(decoded[0].headers[0].0, "h1");
            assert_eq!(decoded[0].headers[1].1, None);
            assert!(check(codec, &compress(codec, &section).expect("c"), 50, 1 << 20).is_ok());
        }
    }

    #[test]
    fn early_stop_reports_the_record() {
        let raw = encode_simple_records(&[b"a", b"b", b"c"], 10);
        let mut seen = Vec::new();
        let s = walk(Codec::None, &raw, 3, 1 << 20, |m| {
            seen.push(m.timestamp_delta);
            m.offset_delta < 1
        })
        .expect("walk");
        assert_eq!((s.count, seen), (2, vec![0, 10]));
    }
}
