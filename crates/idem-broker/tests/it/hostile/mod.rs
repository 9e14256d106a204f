//! Hostile input: the reliability plan's table F (see `reliability.md` §6.2).
//!
//! Every case is sent on a fresh connection to one broker and must get exactly what is
//! expected: a clean close (EOF within a few seconds, nothing answered) or a response with the
//! expected Kafka error code, after which the same connection still answers a valid request.
//! Meanwhile a healthy client on its own connection produces acks=all batches without a pause;
//! it must make progress during every group of cases, and in the end its topic holds exactly
//! what it was acknowledged while the target topics hold nothing.
//!
//! Categories (groups, in order):
//! - `frames`: size prefix -1, 0, below a header, `i32::MIN`, `i32::MAX`, above
//!   `socket.request.max.bytes`.
//! - `headers`: truncated request header, client id longer than the frame or negative, flexible
//!   header tagged fields with impossible counts and sizes.
//! - `apis`: unknown api keys, versions above (and below) the advertised range, ApiVersions v5
//!   and v99 (answered in the v0 shape with UNSUPPORTED_VERSION), requests before ApiVersions, a
//!   valid request followed by garbage.
//! - `bodies`: an array count of `i32::MAX` over a 10-byte body (CVE-2022-34917), also in
//!   every group API (JoinGroup, SyncGroup, LeaveGroup, OffsetCommit/Fetch/Delete,
//!   DescribeGroups, DeleteGroups), 6-byte
//!   varints, compact-length overflow, tagged lengths of 2^32-1 and 2^32, truncated bodies.
//! - `produce-legacy`: Produce v0/v1/v2, answered UNSUPPORTED_VERSION per partition.
//! - `produce-routing`: unknown topic, topic id or partition, invalid acks, null or empty
//!   records, transactional batches, acks=0 failures (close).
//! - `batches`: bad CRC, magic 0/1/3/-1, last offset delta against the count, counts <= 0,
//!   batch length beyond or below the bytes, negative sequence with a producer id, control
//!   batches, two batches, base offset != 0, too large, timestamps, unknown codecs, zstd before
//!   Produce v7.
//! - `records`: record-level structure (header count beyond the bytes left, key length -2,
//!   record lengths, counts disagreeing with the records, per-record timestamps).
//! - `compression`: truncated gzip/snappy/lz4/zstd frames, garbage, zstd windows too large,
//!   snappy blocks too large or longer than the input.
//! - `bombs`: gzip, lz4 and zstd streams of 1 GiB from a small input, a snappy stream beyond
//!   the cap, snappy inputs declaring 1 GiB, all against the default 128 MiB cap.
//! - `slowloris` (concurrent with the groups above): a request sent 1 byte/s, and half a frame
//!   then silence (closed by `connections.max.idle.ms`).
//! - RSS (in a process of its own, see [`rss_stays_flat_while_frames_are_announced`]): 50
//!   connections announce 100 MiB frames and send 10 bytes; the broker's RSS stays within
//!   baseline + 64 MiB.
//!
//! Every expectation is Kafka's answer, except where a comment at the case says why idem's is
//! deliberately different.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use idem_broker::RunningBroker;
use idem_wire::batch::{self, BatchHeader, RawBatch};
use idem_wire::compression::{compress, Codec};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::support;

mod cases;
use cases::all_cases;

const HEALTHY: &str = "hostile-healthy";
/// Where hostile batches go: must stay empty.
const TARGET: &str = "hostile-target";
/// `max.message.bytes` = 1024: must stay empty.
const SMALL: &str = "hostile-small";
/// `max.message.bytes` = 16 MiB, for bombs: must stay empty.
const BOMBS: &str = "hostile-bombs";
/// Inputs Kafka accepts (a key length of -2 reads as a null key): one record per case.
const LENIENT: &str = "hostile-lenient";
/// Never created; hostile cases must not create it either.
const UNKNOWN: &str = "hostile-no-such-topic";

/// `connections.max.idle.ms` of the broker under test: bounds "half a frame then silence".
const IDLE_MS: u64 = 8_000;
/// A case expecting a close must see EOF within this.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);
/// A case expecting an answer must get it within this.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);
const RSS_CHILD_ENV: &str = "IDEM_HOSTILE_RSS_CHILD";
const MIB: usize = 1 << 20;

// ------------------------------------------------------------------------------------------
// The table.

type Check = fn(&[u8]) -> Result<(), String>;

#[derive(Clone, Copy)]
enum Expect {
    /// The broker closes the connection without answering.
    Close,
    /// A Produce response where every partition has this code (0: accepted, as Kafka does).
    Code(i16),
    /// Likewise, and each partition's error message contains the text.
    CodeWith(i16, &'static str),
    /// A Produce response with exactly these (partition, code) pairs.
    Codes(&'static [(i32, i16)]),
    /// Some other response, checked on the frame (response header included).
    Frame(Check),
    /// A response checked like `Frame`, then a close.
    FrameThenClose(Check),
}

struct Case {
    group: &'static str,
    name: &'static str,
    /// Everything written, size prefixes included.
    bytes: Vec<u8>,
    /// The Produce version, to decode the answer of `Code`, `CodeWith` and `Codes`.
    version: i16,
    expect: Expect,
}

fn case(group: &'static str, name: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        group,
        name,
        bytes,
        version: -1,
        expect,
    }
}

/// What case builders need to know about the broker.
struct Env {
    now: i64,
    ids: HashMap<&'static str, Uuid>,
}

impl Env {
    fn id(&self, topic: &str) -> Uuid {
        self.ids.get(topic).copied().unwrap_or_else(Uuid::new_v4)
    }

    /// A Produce case (acks=-1) with one partition.
    fn produce(
        &self,
        group: &'static str,
        name: &'static str,
        version: i16,
        (topic, partition): (&str, i32),
        records: Option<Vec<u8>>,
        expect: Expect,
    ) -> Case {
        Case {
            version,
            ..case(
                group,
                name,
                produce_frame(version, -1, topic, self.id(topic), &[(partition, records)]),
                expect,
            )
        }
    }

    /// The common shape: Produce v9 to partition 0 of `topic`.
    fn p9(
        &self,
        group: &'static str,
        name: &'static str,
        topic: &str,
        records: Vec<u8>,
        expect: Expect,
    ) -> Case {
        self.produce(group, name, 9, (topic, 0), Some(records), expect)
    }

    fn header(&self, count: i32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: self.now,
            max_timestamp: self.now,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        }
    }

    /// A valid uncompressed batch of `count` records.
    fn batch(&self, count: i32) -> Vec<u8> {
        build(self.header(count), simple_records(count as usize, 8))
    }

    /// A valid batch after `edit` changed its header; the CRC is computed afterwards.
    fn batch_with(&self, count: i32, edit: impl FnOnce(&mut BatchHeader)) -> Vec<u8> {
        let mut h = self.header(count);
        edit(&mut h);
        build(h, simple_records(count as usize, 8))
    }

    /// A batch whose records section is `section`, compressed (or not) with `codec`.
    fn with_section(&self, codec: Codec, count: i32, section: Vec<u8>) -> Vec<u8> {
        let mut h = self.header(count);
        h.attributes = i16::from(codec.id());
        build(h, section)
    }
}

fn build(header: BatchHeader, records: Vec<u8>) -> Vec<u8> {
    RawBatch { header, records }.to_bytes()
}

/// `count` records with values of `value_len` bytes, no key, no headers.
fn simple_records(count: usize, value_len: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut v = format!("value-{i}-").into_bytes();
            v.resize(value_len.max(v.len()), b'x');
            v
        })
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
    batch::encode_simple_records(&refs, 0)
}

fn recrc(b: &mut [u8]) {
    let crc = batch::compute_crc(b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Overwrites `bytes` at `at`; with `fix_crc` the CRC is recomputed so that only the edited
/// rule is broken.
fn patch(mut b: Vec<u8>, at: usize, bytes: &[u8], fix_crc: bool) -> Vec<u8> {
    b[at..at + bytes.len()].copy_from_slice(bytes);
    if fix_crc {
        recrc(&mut b);
    }
    b
}

fn varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// One v2 record, fields as given (`length_extra` is added to the true body length).
struct Rec<'a> {
    ts_delta: i64,
    offset_delta: i64,
    key_len: i64,
    value: &'a [u8],
    header_count: i64,
    header_bytes: &'a [u8],
    length_extra: i64,
}

impl Default for Rec<'_> {
    fn default() -> Self {
        Rec {
            ts_delta: 0,
            offset_delta: 0,
            key_len: -1,
            value: b"value",
            header_count: 0,
            header_bytes: &[],
            length_extra: 0,
        }
    }
}

fn record(r: Rec<'_>) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    varlong(&mut body, r.ts_delta);
    varlong(&mut body, r.offset_delta);
    varlong(&mut body, r.key_len);
    varlong(&mut body, r.value.len() as i64);
    body.extend_from_slice(r.value);
    varlong(&mut body, r.header_count);
    body.extend_from_slice(r.header_bytes);
    let mut out = Vec::new();
    varlong(&mut out, body.len() as i64 + r.length_extra);
    out.extend_from_slice(&body);
    out
}

fn zc(codec: Codec, raw: &[u8]) -> Vec<u8> {
    compress(codec, raw).expect("compress")
}

// ------------------------------------------------------------------------------------------
// Requests by hand.

/// A size prefix, then the parts.
fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(4 + len);
    out.put_i32(len as i32);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// A request header: api key, version, correlation id 7, client id `idem-hostile`, and the
/// empty tagged-field section when `flexible`.
fn raw_header(api_key: i16, version: i16, flexible: bool) -> Vec<u8> {
    let mut h = Vec::new();
    h.put_i16(api_key);
    h.put_i16(version);
    h.put_i32(7);
    put_str(&mut h, "idem-hostile");
    if flexible {
        h.push(0);
    }
    h
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.put_i16(s.len() as i16);
    out.extend_from_slice(s.as_bytes());
}

/// A whole request frame encoded by `kafka-protocol`.
fn encode<T: Encodable>(api: ApiKey, version: i16, body: &T) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("idem-hostile")));
    idem_wire::request::encode_request(&header, api, body)
        .expect("encode request")
        .to_vec()
}

fn produce_frame(
    version: i16,
    acks: i16,
    topic: &str,
    id: Uuid,
    partitions: &[(i32, Option<Vec<u8>>)],
) -> Vec<u8> {
    let mut t = TopicProduceData::default().with_partition_data(
        partitions
            .iter()
            .map(|(index, records)| {
                PartitionProduceData::default()
                    .with_index(*index)
                    .with_records(records.clone().map(Bytes::from))
            })
            .collect(),
    );
    if version >= 13 {
        t = t.with_topic_id(id);
    } else {
        t = t.with_name(TopicName(StrBytes::from_string(topic.to_string())));
    }
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![t]);
    encode(ApiKey::Produce, version, &req)
}

fn api_versions_v3() -> Vec<u8> {
    encode(
        ApiKey::ApiVersions,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("idem-hostile"))
            .with_client_software_version(StrBytes::from_static_str("1.0")),
    )
}

/// A Produce v0-2 request (`kafka-protocol` has no types for them): one topic, the given
/// partitions, each with a one-message legacy message set.
fn legacy_produce(version: i16, topic: &str, partitions: &[i32]) -> Vec<u8> {
    let mut b = raw_header(0, version, false);
    b.put_i16(1); // acks
    b.put_i32(5_000);
    b.put_i32(1);
    put_str(&mut b, topic);
    b.put_i32(partitions.len() as i32);
    for p in partitions {
        b.put_i32(*p);
        let set = legacy_message_set(if version == 2 { 1 } else { 0 });
        b.put_i32(set.len() as i32);
        b.extend_from_slice(&set);
    }
    framed(&[&b])
}

/// A v0 or v1 message set of one message (offset, size, crc, magic, attributes, [timestamp],
/// key, value).
fn legacy_message_set(magic: u8) -> Vec<u8> {
    let mut m = Vec::new();
    m.push(magic);
    m.push(0); // attributes
    if magic == 1 {
        m.put_i64(1_700_000_000_000);
    }
    m.put_i32(-1); // null key
    m.put_i32(5);
    m.extend_from_slice(b"value");
    let crc = crc32c::crc32c(&m); // Kafka uses CRC-32 here; the magic is refused first anyway
    let mut out = Vec::new();
    out.put_i64(0);
    out.put_i32(4 + m.len() as i32);
    out.put_u32(crc);
    out.extend_from_slice(&m);
    out
}

// ------------------------------------------------------------------------------------------
// Checks on answers.

fn produce_answers(frame: &[u8], version: i16) -> Result<Vec<(i32, i16, Option<String>)>, String> {
    let mut b = Bytes::copy_from_slice(frame);
    ResponseHeader::decode(&mut b, ApiKey::Produce.response_header_version(version))
        .map_err(|e| format!("produce response header does not decode: {e}"))?;
    let resp = ProduceResponse::decode(&mut b, version)
        .map_err(|e| format!("produce response does not decode: {e}"))?;
    Ok(resp
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| {
            (
                p.index,
                p.error_code,
                p.error_message.as_ref().map(|m| m.to_string()),
            )
        })
        .collect())
}

fn check_produce(
    frame: &[u8],
    version: i16,
    want: i16,
    message: Option<&str>,
) -> Result<(), String> {
    let answers = produce_answers(frame, version)?;
    if answers.is_empty() {
        return Err("the response has no partition".into());
    }
    for (index, code, text) in answers {
        if code != want {
            return Err(format!(
                "partition {index} answered {code} instead of {want} ({})",
                short(text.as_deref().unwrap_or(""))
            ));
        }
        if let Some(needle) = message {
            let text = text.unwrap_or_default();
            if !text.contains(needle) {
                return Err(format!("message {:?} lacks {needle:?}", short(&text)));
            }
        }
    }
    Ok(())
}

fn check_codes(frame: &[u8], version: i16, want: &[(i32, i16)]) -> Result<(), String> {
    let mut got: Vec<(i32, i16)> = produce_answers(frame, version)?
        .into_iter()
        .map(|(i, c, _)| (i, c))
        .collect();
    got.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    if got != want {
        return Err(format!("answered {got:?} instead of {want:?}"));
    }
    Ok(())
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

fn api_versions_answer(frame: &[u8], version: i16) -> Result<ApiVersionsResponse, String> {
    let mut b = Bytes::copy_from_slice(frame);
    // ApiVersions responses always use header v0.
    ResponseHeader::decode(&mut b, 0).map_err(|e| format!("header: {e}"))?;
    ApiVersionsResponse::decode(&mut b, version).map_err(|e| format!("body: {e}"))
}

fn check_api_versions_ok(frame: &[u8]) -> Result<(), String> {
    let r = api_versions_answer(frame, 3)?;
    if r.error_code != 0 || r.api_keys.is_empty() {
        return Err(format!("ApiVersions answered error {}", r.error_code));
    }
    Ok(())
}

fn check_api_versions_v0_ok(frame: &[u8]) -> Result<(), String> {
    let r = api_versions_answer(frame, 0)?;
    if r.error_code != 0 || r.api_keys.is_empty() {
        return Err(format!("ApiVersions answered error {}", r.error_code));
    }
    Ok(())
}

/// Kafka's answer to an ApiVersions version it does not know: the v0 shape, error 35, and the
/// ApiVersions row only, so that the client can pick a version.
fn check_api_versions_unsupported(frame: &[u8]) -> Result<(), String> {
    let r = api_versions_answer(frame, 0)?;
    if r.error_code != 35 {
        return Err(format!("error {} instead of 35", r.error_code));
    }
    if r.api_keys.len() != 1 || r.api_keys[0].api_key != ApiKey::ApiVersions as i16 {
        return Err("the api_keys list is not just the ApiVersions row".into());
    }
    Ok(())
}

fn check_api_versions_invalid_request(frame: &[u8]) -> Result<(), String> {
    let r = api_versions_answer(frame, 3)?;
    if r.error_code != 42 {
        return Err(format!(
            "error {} instead of INVALID_REQUEST (42)",
            r.error_code
        ));
    }
    Ok(())
}

fn metadata_answer(frame: &[u8], version: i16) -> Result<(), String> {
    let mut b = Bytes::copy_from_slice(frame);
    ResponseHeader::decode(&mut b, ApiKey::Metadata.response_header_version(version))
        .map_err(|e| format!("header: {e}"))?;
    let r = MetadataResponse::decode(&mut b, version).map_err(|e| format!("body: {e}"))?;
    if r.brokers.len() != 1 {
        return Err(format!("{} brokers in the metadata", r.brokers.len()));
    }
    Ok(())
}

fn check_metadata_v1(frame: &[u8]) -> Result<(), String> {
    metadata_answer(frame, 1)
}

fn check_metadata_v12(frame: &[u8]) -> Result<(), String> {
    metadata_answer(frame, 12)
}

/// A Produce v0-2 answer by hand: correlation id, one topic, two partitions with
/// UNSUPPORTED_VERSION (35), base offset -1, [log append time], [throttle time].
fn check_legacy_produce<const V: i16>(frame: &[u8]) -> Result<(), String> {
    let mut r = Cursor { b: frame };
    let bad = || format!("Produce v{V} answer is malformed");
    r.take(4).ok_or_else(bad)?; // correlation id
    if r.i32().ok_or_else(bad)? != 1 {
        return Err(bad());
    }
    let name_len = r.i16().ok_or_else(bad)?;
    r.take(usize::try_from(name_len).map_err(|_| bad())?)
        .ok_or_else(bad)?;
    let partitions = r.i32().ok_or_else(bad)?;
    if partitions != 2 {
        return Err(format!("{partitions} partitions answered instead of 2"));
    }
    for _ in 0..partitions {
        r.i32().ok_or_else(bad)?;
        let code = r.i16().ok_or_else(bad)?;
        if code != 35 {
            return Err(format!("partition answered {code} instead of 35"));
        }
        r.take(8).ok_or_else(bad)?;
        if V >= 2 {
            r.take(8).ok_or_else(bad)?;
        }
    }
    if V >= 1 {
        r.take(4).ok_or_else(bad)?;
    }
    if !r.b.is_empty() {
        return Err(bad());
    }
    Ok(())
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

// ------------------------------------------------------------------------------------------
// Running a case.

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    Ok(s)
}

/// One response frame (without its size prefix).
async fn read_frame(s: &mut TcpStream, within: Duration) -> Result<Bytes, String> {
    let read = async {
        let mut size = [0u8; 4];
        s.read_exact(&mut size)
            .await
            .map_err(|_| "closed instead of answering".to_string())?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|n| *n <= 64 * MIB)
            .ok_or_else(|| format!("response size {size}"))?;
        let mut body = vec![0u8; size];
        s.read_exact(&mut body)
            .await
            .map_err(|_| "closed inside a response".to_string())?;
        Ok(Bytes::from(body))
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
}

/// EOF (or a reset) within `within`, with nothing answered before it.
async fn expect_close(s: &mut TcpStream, within: Duration) -> Result<(), String> {
    let mut b = [0u8; 64];
    match tokio::time::timeout(within, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Ok(()),
        Ok(Ok(_)) => Err("answered instead of closing".into()),
        Err(_) => Err(format!("still open after {within:?}")),
    }
}

/// The connection still answers a valid request.
async fn follow_up(s: &mut TcpStream) -> Result<(), String> {
    s.write_all(&api_versions_v3())
        .await
        .map_err(|e| format!("follow-up write: {e}"))?;
    let f = read_frame(s, ANSWER_WITHIN)
        .await
        .map_err(|e| format!("follow-up: {e}"))?;
    check_api_versions_ok(&f).map_err(|e| format!("follow-up: {e}"))
}

async fn run_case(addr: SocketAddr, case: &Case) -> Result<(), String> {
    let mut s = connect(addr).await?;
    // The broker may close before reading everything: a write error is not a failure by
    // itself, the expectation decides.
    let written = s.write_all(&case.bytes).await;
    let answered = |w: std::io::Result<()>| w.map_err(|e| format!("write: {e}"));
    match case.expect {
        Expect::Close => expect_close(&mut s, CLOSE_WITHIN).await,
        Expect::Code(code) => {
            answered(written)?;
            let f = read_frame(&mut s, ANSWER_WITHIN).await?;
            check_produce(&f, case.version, code, None)?;
            follow_up(&mut s).await
        }
        Expect::CodeWith(code, text) => {
            answered(written)?;
            let f = read_frame(&mut s, ANSWER_WITHIN).await?;
            check_produce(&f, case.version, code, Some(text))?;
            follow_up(&mut s).await
        }
        Expect::Codes(codes) => {
            answered(written)?;
            let f = read_frame(&mut s, ANSWER_WITHIN).await?;
            check_codes(&f, case.version, codes)?;
            follow_up(&mut s).await
        }
        Expect::Frame(check) => {
            answered(written)?;
            let f = read_frame(&mut s, ANSWER_WITHIN).await?;
            check(&f)?;
            follow_up(&mut s).await
        }
        Expect::FrameThenClose(check) => {
            let f = read_frame(&mut s, ANSWER_WITHIN).await?;
            check(&f)?;
            expect_close(&mut s, CLOSE_WITHIN).await
        }
    }
}

// ------------------------------------------------------------------------------------------
// The healthy client.

struct Healthy {
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<u64, String>>,
}

impl Healthy {
    fn start(addr: SocketAddr, topic: &'static str) -> Healthy {
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(healthy_loop(
            addr,
            topic,
            Arc::clone(&acked),
            Arc::clone(&stop),
        ));
        Healthy { acked, stop, task }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Waits until the healthy client has more than `since` acknowledgements.
    async fn progressed_since(&self, since: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.acked() <= since {
            assert!(
                !self.task.is_finished(),
                "the healthy producer stopped during {what}"
            );
            assert!(
                Instant::now() < deadline,
                "the healthy producer made no progress during {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        match self.task.await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => panic!("healthy producer: {e}"),
            Err(e) => panic!("healthy producer task: {e}"),
        }
    }
}

/// Produces one-record batches with acks=all, one at a time; each must be acknowledged at the
/// next offset (nothing else may land in its topic).
async fn healthy_loop(
    addr: SocketAddr,
    topic: &'static str,
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<u64, String> {
    let mut s = connect(addr).await?;
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let now = now_ms();
        let value = format!("healthy-{n}");
        let records = batch::encode_simple_records(&[value.as_bytes()], 0);
        let header = BatchHeader {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 0,
            base_timestamp: now,
            max_timestamp: now,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: 1,
        };
        let frame = produce_frame(
            9,
            -1,
            topic,
            Uuid::nil(),
            &[(0, Some(build(header, records)))],
        );
        s.write_all(&frame)
            .await
            .map_err(|e| format!("write after {n} acks: {e}"))?;
        let f = read_frame(&mut s, ANSWER_WITHIN)
            .await
            .map_err(|e| format!("after {n} acks: {e}"))?;
        let answers = produce_answers(&f, 9)?;
        let ok = answers.len() == 1 && answers[0].1 == 0;
        if !ok {
            return Err(format!("batch {n} answered {:?}", answers.first()));
        }
        let base = produce_base_offset(&f)?;
        if base != n as i64 {
            return Err(format!("batch {n} stored at offset {base}"));
        }
        n += 1;
        acked.store(n, Ordering::SeqCst);
    }
    Ok(n)
}

fn produce_base_offset(frame: &[u8]) -> Result<i64, String> {
    let mut b = Bytes::copy_from_slice(frame);
    ResponseHeader::decode(&mut b, 1).map_err(|e| e.to_string())?;
    let r = ProduceResponse::decode(&mut b, 9).map_err(|e| e.to_string())?;
    r.responses
        .first()
        .and_then(|t| t.partition_responses.first())
        .map(|p| p.base_offset)
        .ok_or_else(|| "no partition".into())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

// ------------------------------------------------------------------------------------------
// Panics anywhere outside test code count as broker failures.

static PANICS: AtomicU64 = AtomicU64::new(0);
static PANIC_WHERE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn count_broker_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if !location.contains("tests/it/") && !location.contains("idem-test-support") {
                PANICS.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut w) = PANIC_WHERE.lock() {
                    *w = location;
                }
            }
            previous(info);
        }));
    });
}

// ------------------------------------------------------------------------------------------
// The test.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_an_error_or_a_close() {
    count_broker_panics();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config(dir.path());
    config.connections_max_idle_ms = IDLE_MS;
    let running = support::start_with(config).await;
    let addr = running.addr;
    let env = create_topics(&running).await;
    let panics_before = PANICS.load(Ordering::SeqCst);

    let healthy = Healthy::start(addr, HEALTHY);
    healthy.progressed_since(0, "start-up").await;

    let trickle = tokio::spawn(slow_request(addr));
    let half = tokio::spawn(half_frame_then_silence(addr));

    let cases = all_cases(&env);
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let total = names.len();
    names.dedup();
    assert_eq!(names.len(), total, "case names must be distinct");
    assert!(total >= 60, "only {total} cases");

    let mut failures = Vec::new();
    let mut accepted_lenient = 0;
    let mut group = cases[0].group;
    let mut acked_at_group_start = healthy.acked();
    for c in &cases {
        if c.group != group {
            healthy
                .progressed_since(acked_at_group_start, &format!("group {group}"))
                .await;
            group = c.group;
            acked_at_group_start = healthy.acked();
        }
        match run_case(addr, c).await {
            Ok(()) => {
                if matches!(c.expect, Expect::Code(0)) {
                    accepted_lenient += 1;
                }
            }
            Err(e) => failures.push(format!("{}/{}: {e}", c.group, c.name)),
        }
    }
    healthy
        .progressed_since(acked_at_group_start, &format!("group {group}"))
        .await;

    // Slowloris, concurrent with all of the above.
    let before = healthy.acked();
    match trickle.await.expect("slow request task") {
        Ok(()) => {}
        Err(e) => failures.push(format!("slowloris/1 byte per second: {e}")),
    }
    match half.await.expect("half frame task") {
        Ok(()) => {}
        Err(e) => failures.push(format!("slowloris/half a frame then silence: {e}")),
    }
    healthy.progressed_since(before, "slowloris").await;

    let acked = healthy.finish().await;
    assert!(
        failures.is_empty(),
        "{} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing hostile was stored; everything acknowledged was.
    let stored = fetch_batches(addr, HEALTHY).await;
    assert_eq!(
        stored.len() as u64,
        acked,
        "healthy batches stored vs acked"
    );
    for (i, h) in stored.iter().enumerate() {
        assert!(
            h.base_offset == i as i64 && h.records_count == 1,
            "healthy topic holds an unexpected batch at offset {}",
            h.base_offset
        );
    }
    assert_eq!(log_end(&running, HEALTHY), acked as i64);
    for topic in [TARGET, SMALL, BOMBS] {
        assert_eq!(log_end(&running, topic), 0, "{topic} must stay empty");
        assert!(fetch_batches(addr, topic).await.is_empty(), "{topic} fetch");
    }
    assert_eq!(log_end(&running, LENIENT), accepted_lenient);
    assert!(
        running.broker.topic(UNKNOWN).is_none(),
        "a produce created a topic"
    );
    let panics = PANICS.load(Ordering::SeqCst) - panics_before;
    assert_eq!(
        panics,
        0,
        "broker code panicked (last at {})",
        PANIC_WHERE.lock().map(|w| w.clone()).unwrap_or_default()
    );
    running.shutdown().await.expect("clean shutdown");
}

async fn create_topics(running: &RunningBroker) -> Env {
    let broker = Arc::clone(&running.broker);
    tokio::task::spawn_blocking(move || {
        let mut ids = HashMap::new();
        let topics: [(&'static str, Option<&str>); 5] = [
            (HEALTHY, None),
            (TARGET, None),
            (SMALL, Some("1024")),
            (BOMBS, Some("16777216")),
            (LENIENT, None),
        ];
        for (name, max) in topics {
            let mut configs = BTreeMap::new();
            if let Some(max) = max {
                configs.insert("max.message.bytes".to_string(), max.to_string());
            }
            let t = broker
                .create_topic(name, 1, 1, configs)
                .expect("create topic");
            ids.insert(name, t.id);
        }
        Env { now: now_ms(), ids }
    })
    .await
    .expect("create topics")
}

fn log_end(running: &RunningBroker, topic: &str) -> i64 {
    running
        .broker
        .partition(topic, 0)
        .expect("partition")
        .offsets()
        .1
}

/// Every batch of partition 0, fetched over the wire (Fetch v4), CRCs checked.
async fn fetch_batches(addr: SocketAddr, topic: &str) -> Vec<BatchHeader> {
    let mut s = connect(addr).await.expect("connect");
    let mut out = Vec::new();
    let mut offset = 0i64;
    loop {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(8 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(4 << 20)])]);
        s.write_all(&encode(ApiKey::Fetch, 4, &req))
            .await
            .expect("fetch write");
        let mut f = read_frame(&mut s, ANSWER_WITHIN).await.expect("fetch");
        ResponseHeader::decode(&mut f, 0).expect("fetch header");
        let r = FetchResponse::decode(&mut f, 4).expect("fetch response");
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}");
        let records = p.records.clone().unwrap_or_default();
        let mut rest: &[u8] = &records;
        let mut progressed = false;
        while let Some(Ok(size)) = batch::batch_size(rest) {
            if size > rest.len() {
                break;
            }
            let h = BatchHeader::parse(&rest[..size]).expect("stored batch parses");
            batch::verify_crc(&rest[..size], &h).expect("stored batch CRC");
            offset = h.last_offset() + 1;
            out.push(h);
            rest = &rest[size..];
            progressed = true;
        }
        if offset >= p.high_watermark || !progressed {
            break;
        }
    }
    out
}

/// An ApiVersions v0 request written 1 byte per second for its first 5 bytes, then the rest:
/// answered.
async fn slow_request(addr: SocketAddr) -> Result<(), String> {
    let req = encode(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    let mut s = connect(addr).await?;
    for i in 0..5 {
        s.write_all(&req[i..=i])
            .await
            .map_err(|e| format!("write: {e}"))?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    s.write_all(&req[5..])
        .await
        .map_err(|e| format!("write: {e}"))?;
    let f = read_frame(&mut s, ANSWER_WITHIN).await?;
    check_api_versions_v0_ok(&f)
}

/// A 64-byte frame of which 32 bytes arrive: the broker keeps it open (others are served
/// meanwhile) until `connections.max.idle.ms`, then closes it.
async fn half_frame_then_silence(addr: SocketAddr) -> Result<(), String> {
    let mut s = connect(addr).await?;
    let start = Instant::now();
    let mut bytes = Vec::new();
    bytes.put_i32(64);
    bytes.extend_from_slice(&raw_header(18, 0, false));
    bytes.resize(4 + 32, 0);
    s.write_all(&bytes)
        .await
        .map_err(|e| format!("write: {e}"))?;
    expect_close(
        &mut s,
        Duration::from_millis(IDLE_MS) + Duration::from_secs(15),
    )
    .await?;
    let waited = start.elapsed();
    if waited < Duration::from_millis(IDLE_MS - 2_000) {
        return Err(format!("closed after {waited:?}, before the idle timeout"));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// RSS under announced frames, in a process of its own so that other tests' memory does not
// count.

/// Runs [`rss_probe`] in a child process (this test binary) and checks that it passed.
#[test]
fn rss_stays_flat_while_frames_are_announced() {
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "hostile::rss_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RSS_CHILD_ENV, "1")
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The probe's own lines and its panic message, not a backtrace.
    let output = format!("{stdout}\n{stderr}");
    let lines: Vec<&str> = output.lines().collect();
    let mut report = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("rss-probe:") {
            report.push(*line);
        } else if line.contains("panicked at") {
            report.extend(lines[i..lines.len().min(i + 3)].iter().copied());
        }
    }
    assert!(
        out.status.success() && stdout.contains("rss-probe: ok"),
        "RSS probe failed ({}):\n{}",
        out.status,
        report.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a process of its own by rss_stays_flat_while_frames_are_announced"]
async fn rss_probe() {
    if std::env::var_os(RSS_CHILD_ENV).is_none() {
        return;
    }
    const CONNECTIONS: usize = 50;
    const LIMIT: u64 = 64 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let running = support::start(dir.path()).await;
    let addr = running.addr;
    create_topics(&running).await;
    let healthy = Healthy::start(addr, HEALTHY);
    healthy.progressed_since(20, "warm-up").await;

    let baseline = support::vm_rss_bytes().expect("VmRSS");
    // Address space too: an untouched `Vec::with_capacity(announced)` is invisible in RSS.
    let data_baseline = vm_data_bytes();
    let acked = healthy.acked();
    let announce = idem_wire::frame::DEFAULT_MAX_REQUEST_BYTES as i32;
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut s = connect(addr).await.expect("connect");
        let mut b = announce.to_be_bytes().to_vec();
        b.extend_from_slice(&raw_header(0, 9, false)[..10]);
        s.write_all(&b).await.expect("write");
        conns.push(s);
    }
    let mut peak = baseline;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        peak = peak.max(support::vm_rss_bytes().expect("VmRSS"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The healthy client's connection and the 50.
    let accepted = running.broker.metrics().connections_accepted.get();
    assert!(
        accepted > CONNECTIONS as u64,
        "only {accepted} connections accepted"
    );
    for s in &conns {
        let mut b = [0u8; 1];
        assert!(
            matches!(s.try_read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the broker closed or answered a connection waiting for its frame"
        );
    }
    healthy
        .progressed_since(acked, "the announced frames")
        .await;
    let mut fresh = connect(addr).await.expect("connect");
    follow_up(&mut fresh)
        .await
        .expect("a fresh connection is served");
    let growth = peak.saturating_sub(baseline);
    let data_growth = vm_data_bytes().saturating_sub(data_baseline);
    println!(
        "rss-probe: baseline {} MiB, peak {} MiB, growth {} KiB, address space growth {} MiB \
         with {CONNECTIONS} frames of {} MiB announced",
        baseline >> 20,
        peak >> 20,
        growth >> 10,
        data_growth >> 20,
        announce >> 20
    );
    assert!(
        growth <= LIMIT,
        "RSS grew by {} MiB (limit 64 MiB)",
        growth >> 20
    );
    let announced_total = CONNECTIONS as u64 * announce as u64;
    assert!(
        data_growth <= announced_total / 2,
        "address space grew by {} MiB: the announced frames were allocated up front",
        data_growth >> 20
    );
    drop(conns);
    healthy.finish().await;
    running.shutdown().await.expect("clean shutdown");
    println!("rss-probe: ok");
}

/// `VmData` of /proc/self/status: heap and anonymous mappings, touched or not.
fn vm_data_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmData:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .expect("VmData")
        * 1024
}
