//! Record codecs with a cap on decompressed bytes.
//!
//! Kafka leaned on its codec libraries against decompression bombs (CVE-2023-34455). idem
//! never trusts a compressed size: [`crate::records`] walks a compressed section as a stream
//! and stops with [`RecordsError::TooLarge`] once more than the cap has come out;
//! [`decompress`] materialises the bytes under the same cap (the client needs them; the
//! broker does not).
//!
//! Snappy uses the xerial framing Kafka's Java client writes (a 16-byte magic, then blocks of
//! `[u32 length][raw snappy]`), falling back to raw snappy as Java's `SnappyInputStream` does.

use std::io::{self, Read};

/// A record batch codec, as numbered in the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// snappy, xerial framing or raw.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// zstd frame format.
    Zstd,
}

impl Codec {
    /// The codec with this attribute id, or the id back when Kafka defines none.
    pub fn from_id(id: u8) -> Result<Codec, u8> {
        Ok(match id {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => return Err(other),
        })
    }

    /// The attribute id.
    pub fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }

    /// Kafka's name (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// Why a records section could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// More than the cap came out of the codec.
    #[error("records decompress to more than {max} bytes")]
    TooLarge {
        /// The cap.
        max: u64,
    },
    /// The codec refused the input.
    #[error("{codec} stream is corrupt: {source}")]
    Codec {
        /// Codec name.
        codec: &'static str,
        /// What the codec said.
        source: io::Error,
    },
    /// The record framing inside is wrong.
    #[error("records are malformed: {0}")]
    Malformed(&'static str),
}

/// Largest snappy block idem accepts from xerial framing (Java writes 32 KiB blocks; librdkafka
/// up to 64 KiB). Bounds the allocation for one block before its length is verified.
const SNAPPY_MAX_BLOCK: usize = 4 << 20;
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;
/// zstd frames may ask for a window this large (32 MiB) and no larger: the window is allocated
/// up front, so it is a memory limit per concurrent request.
const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// Marks an I/O error raised because a codec announced more bytes than the cap allows.
#[derive(Debug)]
struct CapExceeded(u64);

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "decompressed size exceeds {} bytes", self.0)
    }
}

impl std::error::Error for CapExceeded {}

pub(crate) fn codec_err(codec: Codec) -> impl Fn(io::Error) -> RecordsError {
    move |source| match source
        .get_ref()
        .and_then(|e| e.downcast_ref::<CapExceeded>())
    {
        Some(CapExceeded(max)) => RecordsError::TooLarge { max: *max },
        None => RecordsError::Codec {
            codec: codec.name(),
            source,
        },
    }
}

/// A reader over the decompressed stream of `input`.
pub(crate) fn decoder<'a>(
    codec: Codec,
    input: &'a [u8],
    max_bytes: u64,
) -> Result<Box<dyn Read + 'a>, RecordsError> {
    Ok(match codec {
        Codec::None => Box::new(input),
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Codec::Snappy => Box::new(SnappyReader::new(input, max_bytes)),
        Codec::Lz4 => Box::new(lz4::Decoder::new(input).map_err(codec_err(codec))?),
        Codec::Zstd => {
            let mut d =
                zstd::stream::read::Decoder::with_buffer(input).map_err(codec_err(codec))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(codec_err(codec))?;
            Box::new(d)
        }
    })
}

/// Decompresses `input`, refusing to produce more than `max_bytes`.
pub fn decompress(codec: Codec, input: &[u8], max_bytes: u64) -> Result<Vec<u8>, RecordsError> {
    let reader = decoder(codec, input, max_bytes)?;
    let mut out = Vec::with_capacity(input.len().saturating_mul(2).min(max_bytes as usize));
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(codec_err(codec))?;
    if out.len() as u64 > max_bytes {
        return Err(RecordsError::TooLarge { max: max_bytes });
    }
    Ok(out)
}

/// Compresses `input` the way Kafka clients do (xerial framing for snappy).
pub fn compress(codec: Codec, input: &[u8]) -> io::Result<Vec<u8>> {
    use std::io::Write;
    match codec {
        Codec::None => Ok(input.to_vec()),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(input)?;
            e.finish()
        }
        Codec::Snappy => {
            let mut out = Vec::with_capacity(input.len() / 2 + 32);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes()); // version
            out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
            let mut encoder = snap::raw::Encoder::new();
            for chunk in input.chunks(32 * 1024) {
                let block = encoder.compress_vec(chunk).map_err(io::Error::other)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Codec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())?;
            e.write_all(input)?;
            let (out, result) = e.finish();
            result.map(|_| out)
        }
        Codec::Zstd => zstd::bulk::compress(input, 3),
    }
}

/// Streams the decompressed bytes of a snappy input, xerial-framed or raw.
struct SnappyReader<'a> {
    input: &'a [u8],
    raw: bool,
    max_bytes: u64,
    block: Vec<u8>,
    pos: usize,
    decoder: snap::raw::Decoder,
}

impl<'a> SnappyReader<'a> {
    fn new(input: &'a [u8], max_bytes: u64) -> SnappyReader<'a> {
        let framed = input.len() >= XERIAL_HEADER_LEN && input.starts_with(XERIAL_MAGIC);
        SnappyReader {
            input: if framed {
                &input[XERIAL_HEADER_LEN..]
            } else {
                input
            },
            raw: !framed,
            max_bytes,
            block: Vec::new(),
            pos: 0,
            decoder: snap::raw::Decoder::new(),
        }
    }

    fn next_block(&mut self) -> io::Result<bool> {
        if self.input.is_empty() {
            return Ok(false);
        }
        let compressed = if self.raw {
            std::mem::take(&mut self.input)
        } else {
            if self.input.len() < 4 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated snappy block length",
                ));
            }
            let len =
                u32::from_be_bytes([self.input[0], self.input[1], self.input[2], self.input[3]])
                    as usize;
            if len > self.input.len() - 4 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "snappy block longer than the input",
                ));
            }
            let (block, rest) = self.input[4..].split_at(len);
            self.input = rest;
            block
        };
        let size = snap::raw::decompress_len(compressed).map_err(io::Error::other)?;
        // The block is allocated before it is decompressed, so its announced size is checked
        // against the cap first: the whole input for raw snappy, one block for xerial.
        if size as u64 > self.max_bytes {
            return Err(io::Error::other(CapExceeded(self.max_bytes)));
        }
        if size > SNAPPY_MAX_BLOCK && !self.raw {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snappy block larger than 4 MiB",
            ));
        }
        self.block.resize(size, 0);
        let n = self
            .decoder
            .decompress(compressed, &mut self.block)
            .map_err(io::Error::other)?;
        self.block.truncate(n);
        self.pos = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::encode_simple_records;

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn every_codec_round_trips() {
        let values: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 100 + i]).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        let raw = encode_simple_records(&refs, 5);
        for codec in ALL {
            let c = compress(codec, &raw).expect("compress");
            assert_eq!(decompress(codec, &c, 1 << 20).expect("decompress"), raw);
        }
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let big = vec![0u8; 64 << 20];
        for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd, Codec::Snappy] {
            let c = compress(codec, &big).expect("compress");
            assert!(
                c.len() < big.len() / 20,
                "{codec:?} compressed to {}",
                c.len()
            );
            assert!(matches!(
                decompress(codec, &c, 1 << 20),
                Err(RecordsError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in ALL {
            for len in [0usize, 1, 7, 16, 64] {
                let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                let _ = decompress(codec, &junk, 1 << 20);
                let _ = crate::records::check(codec, &junk, 3, 1 << 20);
            }
        }
    }
}
