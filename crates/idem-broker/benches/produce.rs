//! Micro benchmarks of the produce path. `bench/micro.sh` runs them; `bench/MICRO.md` has
//! the results and how to read them.
//!
//! - `log_append/*`: what the broker does per batch on the log alone, without fsync:
//!   `validate_client_batch` (CRC-32C over the batch), `Log::should_roll`, `Log::append`
//!   (index update, write). Bytes per second.
//! - `partition_produce/{plain,idempotent}/*`: `Partition::produce` with batches of the same
//!   size with and without a producer id, so the producer-state cost shows in isolation.
//! - `loopback/{always,never}/{produce,produce_fetch}/{plain,idempotent}`: a Produce v9
//!   request (acks=-1) of one batch, awaited (and then a Fetch of it), against an in-process
//!   broker over 127.0.0.1. Records per second. `loopback/baseline/echo` sends the same frames
//!   to a trivial echo server: the floor of a round trip on this machine.
//!
//! Where files go: the log and partition benches write to `$IDEM_BENCH_DIR`, else `/dev/shm`
//! when it is there (tmpfs: the CPU cost of the path, not the disk's), else the system temp
//! dir. The loopback broker lives in `$IDEM_BENCH_BROKER_DIR`, else the system temp dir: a
//! real file system, so that the `always` policy really waits for fdatasync.
//!
//! With `IDEM_BENCH_PAIRED_OUT=<file>`, plain and idempotent operations are also run
//! alternately, one by one, and the comparisons appended to the file (see [`Paired`]).
//!
//! Every bench checks outside its timed region that each batch was accepted, not taken for a
//! duplicate, and landed at the next offset: a benchmark of refused batches measures nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use idem_broker::config::{FlushPolicy, TopicConfig};
use idem_broker::metrics::Metrics;
use idem_broker::partition::{Dedupe, Partition, Setup};
use idem_broker::BrokerConfig;
use idem_log::{Log, StdStorage};
use idem_wire::batch::{
    compute_crc, encode_simple_records, increment_sequence, validate_client_batch, BatchHeader,
    RawBatch,
};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Kafka's rules, every producer id taken as issued (these tests make up their own ids).
const DEDUPE: Dedupe = Dedupe::On {
    issued_below: i64::MAX,
    max_decompressed_bytes: 1 << 27,
};

/// Kafka's default `max.message.bytes`, which the broker enforces: the "1 MiB" batch must fit.
const MAX_MESSAGE_BYTES: usize = 1_048_588;
/// The Produce version the handler validates for (zstd is allowed from v7; irrelevant here).
const PRODUCE_VERSION: i16 = 9;
/// Header offsets of a v2 batch, as documented in `idem_wire::batch` (private there).
const OFFSET_CRC: usize = 17;
const OFFSET_BASE_SEQUENCE: usize = 53;
/// Segments of the log and partition benches: small enough that tmpfs holds a few at once,
/// large enough that a roll (segment sync, index files, producer snapshot) is rare.
const SEGMENT_BYTES: u64 = 256 << 20;
/// Producer id of the in-memory idempotent producer (any non-negative id is a new producer).
const BENCH_PRODUCER_ID: i64 = 1000;

/// The records of a batch: `records` values of `value_len` bytes, no keys, no headers.
#[derive(Debug, Clone, Copy)]
struct Shape {
    name: &'static str,
    records: i32,
    value_len: usize,
}

/// About 1 MiB (1,033,997 bytes: 1000 × (1 KiB value + 9-10 bytes of record framing) + the
/// 61-byte header), under `max.message.bytes`.
const LARGE: Shape = Shape {
    name: "1MiB",
    records: 1000,
    value_len: 1024,
};
/// About 16 KiB (16,589 bytes): the same records, 16 of them (a typical client `batch.size`).
const SMALL: Shape = Shape {
    name: "16KiB",
    records: 16,
    value_len: 1024,
};
/// The loopback request: 100 records of 100 B.
const WIRE: Shape = Shape {
    name: "100x100B",
    records: 100,
    value_len: 100,
};

/// Milliseconds since the epoch, the broker's clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The producer fields of successive batches. An idempotent producer advances its base
/// sequence by the record count per batch (wrapping at `i32::MAX` like Kafka), so that every
/// batch is new to the producer state; a plain one has no producer id.
#[derive(Debug, Clone, Copy)]
struct Producer {
    id: i64,
    epoch: i16,
    next_sequence: i32,
    records: i32,
}

impl Producer {
    fn plain(shape: Shape) -> Producer {
        Producer {
            id: -1,
            epoch: -1,
            next_sequence: -1,
            records: shape.records,
        }
    }

    fn idempotent(id: i64, epoch: i16, shape: Shape) -> Producer {
        Producer {
            id,
            epoch,
            next_sequence: 0,
            records: shape.records,
        }
    }

    fn new(idempotent: bool, id: i64, epoch: i16, shape: Shape) -> Producer {
        if idempotent {
            Producer::idempotent(id, epoch, shape)
        } else {
            Producer::plain(shape)
        }
    }

    fn variant(&self) -> &'static str {
        if self.id >= 0 {
            "idempotent"
        } else {
            "plain"
        }
    }

    /// A client batch (base offset 0) of `shape`, stamped now, with this producer's fields
    /// and its current sequence.
    fn build(&self, shape: Shape) -> Vec<u8> {
        let values: Vec<Vec<u8>> = (0..shape.records)
            .map(|i| vec![b'a' + (i % 26) as u8; shape.value_len])
            .collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let now = now_ms();
        RawBatch {
            header: BatchHeader {
                base_offset: 0,
                batch_length: 0,
                partition_leader_epoch: -1,
                magic: 2,
                crc: 0,
                attributes: 0,
                last_offset_delta: shape.records - 1,
                base_timestamp: now,
                max_timestamp: now,
                producer_id: self.id,
                producer_epoch: self.epoch,
                base_sequence: self.next_sequence,
                records_count: shape.records,
            },
            records: encode_simple_records(&refs, 0),
        }
        .to_bytes()
    }

    /// Turns `batch` into this producer's next batch: the next base sequence and a fresh CRC.
    /// Plain batches get their CRC recomputed too, so both variants do the same untimed work
    /// and leave the batch equally warm in the cache.
    fn stamp(&mut self, batch: &mut [u8]) {
        if self.id >= 0 {
            batch[OFFSET_BASE_SEQUENCE..OFFSET_BASE_SEQUENCE + 4]
                .copy_from_slice(&self.next_sequence.to_be_bytes());
            self.next_sequence = increment_sequence(self.next_sequence, self.records);
        }
        let crc = compute_crc(batch);
        batch[OFFSET_CRC..OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Root of the log and partition bench files (see the module docs).
fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("IDEM_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Root of the loopback broker's data directory (see the module docs).
fn broker_root() -> PathBuf {
    std::env::var_os("IDEM_BENCH_BROKER_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn temp_dir_in(root: &Path, what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("idem-bench-{what}-"))
        .tempdir_in(root)
        .unwrap_or_else(|e| panic!("temporary directory in {}: {e}", root.display()))
}

/// Topic settings as the broker's defaults, without fsync on the produce path, with
/// `SEGMENT_BYTES` segments. `retention.bytes=0` lets `apply_retention` drop every rolled
/// segment, so a long run does not fill tmpfs.
fn bench_topic_config() -> TopicConfig {
    let mut config = BrokerConfig::default().topic_defaults;
    config.flush_policy = FlushPolicy::Never;
    config.segment_bytes = SEGMENT_BYTES;
    config.retention_bytes = 0;
    config.retention_ms = -1;
    config
}

/// `log_append`: validate (CRC-32C), should_roll, append; rolls are done outside the timed
/// region (a roll syncs the segment, which is exactly what this bench leaves out).
fn log_append(c: &mut Criterion, scratch: &Path) {
    let mut group = c.benchmark_group("log_append");
    for shape in [LARGE, SMALL] {
        let batch = Producer::plain(shape).build(shape);
        let dir = temp_dir_in(scratch, "log");
        let log_config = bench_topic_config().log_config();
        let mut log = Log::create(
            Arc::new(StdStorage),
            &dir.path().join("bench-0"),
            log_config,
        )
        .expect("log");
        let mut batches = 0i64;
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(shape.name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let now = now_ms();
                    let mut start = Instant::now();
                    let header = validate_client_batch(
                        black_box(&batch),
                        MAX_MESSAGE_BYTES,
                        PRODUCE_VERSION,
                    )
                    .expect("a valid batch");
                    if log.should_roll(header.total_len(), header.max_timestamp, now) {
                        timed += start.elapsed();
                        log.roll().expect("roll");
                        let rolled = log.segment_bases().len() - 1;
                        log.delete_oldest_segments(rolled)
                            .expect("delete old segments");
                        start = Instant::now();
                    }
                    let appended = log.append(&batch, 0).expect("append");
                    timed += start.elapsed();
                    assert_eq!(appended.base_offset, batches * i64::from(shape.records));
                    batches += 1;
                }
                timed
            });
        });
        assert_eq!(
            log.log_end_offset(),
            batches * i64::from(shape.records),
            "every batch appended once"
        );
    }
    group.finish();
}

/// One partition fed by one producer, for `partition_produce` and its paired comparison.
struct PartitionFeed {
    partition: Partition,
    producer: Producer,
    batch: Vec<u8>,
    next_offset: i64,
    records: i64,
    _dir: TempDir,
}

impl PartitionFeed {
    fn new(scratch: &Path, shape: Shape, idempotent: bool) -> PartitionFeed {
        let producer = Producer::new(idempotent, BENCH_PRODUCER_ID, 0, shape);
        let dir = temp_dir_in(scratch, "partition");
        let partition = Partition::create(Setup {
            storage: Arc::new(StdStorage),
            dir: dir.path().join("bench-0"),
            topic: Arc::from("bench"),
            index: 0,
            config: bench_topic_config(),
            metrics: Arc::new(Metrics::default()),
        })
        .expect("partition");
        PartitionFeed {
            partition,
            batch: producer.build(shape),
            producer,
            next_offset: 0,
            records: i64::from(shape.records),
            _dir: dir,
        }
    }

    /// Produces the next batch; returns the time `Partition::produce` took. The batch is
    /// stamped and validated before (as the handler does), checked and the rolled segments
    /// dropped after, all outside the timed region.
    fn produce(&mut self) -> Duration {
        self.producer.stamp(&mut self.batch);
        let header = validate_client_batch(&self.batch, MAX_MESSAGE_BYTES, PRODUCE_VERSION)
            .expect("a valid batch");
        let now = now_ms();
        let start = Instant::now();
        let result = self
            .partition
            .produce(black_box(&self.batch), &header, now, DEDUPE);
        let elapsed = start.elapsed();
        let produced = result.expect("the batch is accepted");
        assert!(!produced.duplicate, "a new batch taken for a duplicate");
        assert_eq!(produced.base_offset, self.next_offset);
        self.next_offset += self.records;
        self.partition.apply_retention(now).expect("retention");
        elapsed
    }

    /// Every batch landed exactly once, and the idempotent producer is the only one known.
    fn check(&self) {
        assert_eq!(
            self.partition.offsets().1,
            self.next_offset,
            "every batch once"
        );
        let producers = self.partition.producers();
        // (Nothing ran when criterion only lists or filters the benches.)
        if self.producer.id >= 0 && self.next_offset > 0 {
            assert_eq!(producers.len(), 1, "one producer");
            assert_eq!(producers[0].producer_id, BENCH_PRODUCER_ID);
        } else {
            assert!(
                producers.is_empty(),
                "plain batches leave no producer state"
            );
        }
    }
}

/// `partition_produce`: `Partition::produce` alone. Rolls happen inside produce, as in the
/// broker (one per 256 MiB); retention of the rolled segments runs outside the timed region.
fn partition_produce(c: &mut Criterion, scratch: &Path, paired: Option<&Path>) {
    let mut group = c.benchmark_group("partition_produce");
    for shape in [SMALL, LARGE] {
        for idempotent in [false, true] {
            let mut feed = PartitionFeed::new(scratch, shape, idempotent);
            group.throughput(Throughput::Bytes(feed.batch.len() as u64));
            let id = BenchmarkId::new(feed.producer.variant(), shape.name);
            group.bench_function(id, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| feed.produce()).sum())
            });
            feed.check();
        }
    }
    group.finish();
    if let Some(out) = paired {
        for (shape, pairs) in [(SMALL, 20_000), (LARGE, 1_000)] {
            let mut plain = PartitionFeed::new(scratch, shape, false);
            let mut idempotent = PartitionFeed::new(scratch, shape, true);
            let comparison = Paired::run(pairs, || plain.produce(), || idempotent.produce());
            comparison.report(out, &format!("partition_produce/{}", shape.name));
            plain.check();
            idempotent.check();
        }
    }
}

/// Plain and idempotent operations alternated one by one (ABBA order, after a warm-up of a
/// tenth as many), so that drift of a shared machine (other load, CPU frequency, disk
/// writeback) hits both alike. Criterion runs the variants one after the other, a minute
/// apart, which on a busy 2-core VM can move a latency by more than the effect measured.
struct Paired {
    plain: Vec<Duration>,
    idempotent: Vec<Duration>,
}

impl Paired {
    /// `pairs` pairs after a warm-up of a tenth as many; `plain_first(i)` tells the order.
    fn run(
        pairs: usize,
        mut plain: impl FnMut() -> Duration,
        mut idempotent: impl FnMut() -> Duration,
    ) -> Paired {
        for _ in 0..pairs / 10 {
            plain();
            idempotent();
        }
        let mut result = Paired::with_capacity(pairs);
        for i in 0..pairs {
            if Paired::plain_first(i) {
                let a = plain();
                result.push(a, idempotent());
            } else {
                let b = idempotent();
                result.push(plain(), b);
            }
        }
        result
    }

    fn with_capacity(pairs: usize) -> Paired {
        Paired {
            plain: Vec::with_capacity(pairs),
            idempotent: Vec::with_capacity(pairs),
        }
    }

    /// ABBA: the plain operation goes first in even pairs, second in odd ones.
    fn plain_first(i: usize) -> bool {
        i & 1 == 0
    }

    fn push(&mut self, plain: Duration, idempotent: Duration) {
        self.plain.push(plain);
        self.idempotent.push(idempotent);
    }

    /// Prints the comparison and appends it as one JSON line to `out`.
    fn report(mut self, out: &Path, name: &str) {
        let (plain, idempotent) = (summary(&mut self.plain), summary(&mut self.idempotent));
        let line = format!(
            "{{\"name\":\"{name}\",\"pairs\":{},\"plain_median_ns\":{},\"idempotent_median_ns\":{},\"plain_mean_ns\":{},\"idempotent_mean_ns\":{}}}\n",
            self.plain.len(),
            plain.0,
            idempotent.0,
            plain.1,
            idempotent.1
        );
        eprintln!(
            "paired {name}: plain median {:.1} µs, idempotent median {:.1} µs, ratio {:.3}",
            plain.0 as f64 / 1e3,
            idempotent.0 as f64 / 1e3,
            idempotent.0 as f64 / plain.0 as f64
        );
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .unwrap_or_else(|e| panic!("append to {}: {e}", out.display()));
    }
}

/// `(median, mean)` in nanoseconds.
fn summary(times: &mut [Duration]) -> (u128, u128) {
    times.sort_unstable();
    let total: Duration = times.iter().sum();
    (
        times[times.len() / 2].as_nanos(),
        total.as_nanos() / times.len() as u128,
    )
}

/// A raw Kafka client on one connection: requests encoded and responses decoded with
/// `kafka-protocol`, no timeouts or retries in the way of the measurement.
struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        // As every Kafka client does: no Nagle delay on small requests.
        stream.set_nodelay(true).expect("nodelay");
        Client {
            stream,
            correlation: 0,
        }
    }

    async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &Req,
    ) -> Resp {
        let frame = self.encode(api_key, version, body);
        let mut response = self.round_trip(&frame).await;
        let header =
            ResponseHeader::decode(&mut response, api_key.response_header_version(version))
                .expect("response header");
        assert_eq!(header.correlation_id, self.correlation);
        Resp::decode(&mut response, version).expect("response")
    }

    /// A request frame with the next correlation id.
    fn encode<Req: Encodable>(&mut self, api_key: ApiKey, version: i16, body: &Req) -> Bytes {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("idem-bench")));
        idem_wire::request::encode_request(&header, api_key, body).expect("encode")
    }

    /// Writes a frame and reads one response frame (without its size prefix).
    async fn round_trip(&mut self, frame: &[u8]) -> Bytes {
        self.stream.write_all(frame).await.expect("write request");
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .await
            .expect("response size");
        let mut response = BytesMut::zeroed(i32::from_be_bytes(size) as usize);
        self.stream
            .read_exact(&mut response)
            .await
            .expect("response body");
        response.freeze()
    }

    /// CreateTopics v7, one partition, with a `flush.policy` override.
    async fn create_topic(&mut self, name: &StrBytes, policy: FlushPolicy) {
        let topic = CreatableTopic::default()
            .with_name(TopicName(name.clone()))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("flush.policy"))
                .with_value(Some(StrBytes::from_static_str(policy.name())))]);
        let req = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000);
        let resp: CreateTopicsResponse = self.call(ApiKey::CreateTopics, 7, &req).await;
        assert_eq!(resp.topics[0].error_code, 0, "create topic {name}");
    }

    /// InitProducerId v4 without a transactional id: `(producer id, epoch)`.
    async fn init_producer_id(&mut self) -> (i64, i16) {
        let req = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX);
        let resp: InitProducerIdResponse = self.call(ApiKey::InitProducerId, 4, &req).await;
        assert_eq!(resp.error_code, 0, "init producer id");
        (resp.producer_id.0, resp.producer_epoch)
    }

    /// Produce v9, acks=-1, one batch to partition 0: `(error code, base offset)`.
    async fn produce(&mut self, topic: &StrBytes, records: Bytes) -> (i16, i64) {
        let resp: ProduceResponse = self
            .call(ApiKey::Produce, 9, &produce_request(topic, records))
            .await;
        let p = &resp.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    /// Fetch v12 of partition 0 from `offset`: `(error code, record bytes)`. The batch was
    /// acknowledged with acks=-1, so it is below the high watermark and no wait happens.
    async fn fetch(&mut self, topic: &StrBytes, offset: i64) -> (i16, Bytes) {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(topic.clone()))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20)])]);
        let resp: FetchResponse = self.call(ApiKey::Fetch, 12, &req).await;
        let p = &resp.responses[0].partitions[0];
        (p.error_code, p.records.clone().unwrap_or_default())
    }
}

/// Produce v9, acks=-1, one batch for partition 0.
fn produce_request(topic: &StrBytes, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(topic.clone()))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

/// Bytes of the echo server's answer: about a Produce v9 response for one partition.
const ECHO_REPLY_BYTES: usize = 64;

/// The reference point for the loopback numbers: a server that reads a request frame and
/// answers with a frame of a Produce response's size, in one task per connection, on the
/// broker's runtime. What the broker adds to a round trip is the difference.
async fn echo_server(listener: TcpListener) {
    while let Ok((mut socket, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = socket.set_nodelay(true);
            let mut reply = vec![0u8; 4 + ECHO_REPLY_BYTES];
            reply[..4].copy_from_slice(&(ECHO_REPLY_BYTES as u32).to_be_bytes());
            let mut size = [0u8; 4];
            let mut request = Vec::new();
            while socket.read_exact(&mut size).await.is_ok() {
                request.resize(u32::from_be_bytes(size) as usize, 0);
                if socket.read_exact(&mut request).await.is_err()
                    || socket.write_all(&reply).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// `loopback/baseline/echo`: the same Produce frames as the broker benches, encoded the same
/// way, answered by [`echo_server`].
fn loopback_baseline(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
) {
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = runtime.spawn(echo_server(listener));
    let mut client = runtime.block_on(Client::connect(addr));
    let topic = StrBytes::from_static_str("echo");
    let mut producer = Producer::plain(WIRE);
    let mut batch = producer.build(WIRE);
    group.bench_function(BenchmarkId::new("baseline", "echo"), |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    producer.stamp(&mut batch);
                    let records = Bytes::copy_from_slice(&batch);
                    let start = Instant::now();
                    let request = produce_request(&topic, records);
                    let frame = client.encode(ApiKey::Produce, 9, &request);
                    let response = client.round_trip(&frame).await;
                    timed += start.elapsed();
                    assert_eq!(response.len(), ECHO_REPLY_BYTES, "echo reply");
                }
                timed
            })
        });
    });
    drop(client);
    server.abort();
}

/// One topic fed by one producer over the shared connection, for `loopback`.
struct TopicFeed {
    topic: StrBytes,
    producer: Producer,
    batch: Vec<u8>,
    next_offset: i64,
}

impl TopicFeed {
    async fn create(client: &mut Client, producer: Producer, policy: FlushPolicy) -> TopicFeed {
        let topic = StrBytes::from_string(format!("{}-{}", producer.variant(), policy.name()));
        client.create_topic(&topic, policy).await;
        TopicFeed {
            topic,
            batch: producer.build(WIRE),
            producer,
            next_offset: 0,
        }
    }

    /// Produces the next batch (and fetches it back with `with_fetch`); returns the time from
    /// building the request to the decoded response. Stamping the batch before and checking
    /// the answers after are outside the timed region.
    async fn send(&mut self, client: &mut Client, with_fetch: bool) -> Duration {
        self.producer.stamp(&mut self.batch);
        let records = Bytes::copy_from_slice(&self.batch);
        let start = Instant::now();
        let (error, base_offset) = client.produce(&self.topic, records).await;
        let fetched = if with_fetch {
            Some(client.fetch(&self.topic, base_offset).await)
        } else {
            None
        };
        let elapsed = start.elapsed();
        assert_eq!((error, base_offset), (0, self.next_offset), "produce");
        if let Some((error, records)) = fetched {
            assert_eq!(error, 0, "fetch");
            assert_eq!(records.len(), self.batch.len(), "fetched the batch");
        }
        self.next_offset += i64::from(WIRE.records);
        elapsed
    }
}

/// `loopback`: one in-process broker, one connection, a topic per (policy, variant) so both
/// variants run against the same broker in the same run. The `always` topics run first, so
/// the kernel's writeback of the `never` topics' data does not compete with their fdatasyncs.
/// The client runs on the bench thread (`block_on`), the broker on the runtime's workers: as
/// for a client in another process, every response wakes a thread.
fn loopback(c: &mut Criterion, root: &Path, paired: Option<&Path>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = temp_dir_in(root, "broker");
    let mut config = BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        listener: "127.0.0.1:0".into(),
        ..BrokerConfig::default()
    };
    config.topic_defaults.flush_policy = FlushPolicy::Never;
    let running = runtime
        .block_on(idem_broker::start(config))
        .expect("broker starts");
    let mut client = runtime.block_on(Client::connect(running.addr));
    let (producer_id, epoch) = runtime.block_on(client.init_producer_id());

    let mut group = c.benchmark_group("loopback");
    // An `always` produce waits for a disk flush (milliseconds on some disks): flat sampling
    // keeps the run time bounded whatever one iteration costs.
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(WIRE.records as u64));
    loopback_baseline(&mut group, &runtime);
    for (policy, pairs) in [(FlushPolicy::Always, 500), (FlushPolicy::Never, 3_000)] {
        let mut feeds = Vec::new();
        for idempotent in [false, true] {
            let producer = Producer::new(idempotent, producer_id, epoch, WIRE);
            let mut feed = runtime.block_on(TopicFeed::create(&mut client, producer, policy));
            for with_fetch in [false, true] {
                let name = if with_fetch {
                    "produce_fetch"
                } else {
                    "produce"
                };
                let id =
                    BenchmarkId::new(format!("{}/{name}", policy.name()), feed.producer.variant());
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let mut timed = Duration::ZERO;
                            for _ in 0..iters {
                                timed += feed.send(&mut client, with_fetch).await;
                            }
                            timed
                        })
                    });
                });
            }
            feeds.push(feed);
        }
        if let (Some(out), [plain, idempotent]) = (paired, feeds.as_mut_slice()) {
            for with_fetch in [false, true] {
                // The same shape as `Paired::run`, inside one `block_on` like the criterion
                // loop (entering the runtime per request would let its workers park between).
                let comparison = runtime.block_on(async {
                    for _ in 0..pairs / 10 {
                        plain.send(&mut client, with_fetch).await;
                        idempotent.send(&mut client, with_fetch).await;
                    }
                    let mut result = Paired::with_capacity(pairs);
                    for i in 0..pairs {
                        if Paired::plain_first(i) {
                            let a = plain.send(&mut client, with_fetch).await;
                            result.push(a, idempotent.send(&mut client, with_fetch).await);
                        } else {
                            let b = idempotent.send(&mut client, with_fetch).await;
                            result.push(plain.send(&mut client, with_fetch).await, b);
                        }
                    }
                    result
                });
                let name = if with_fetch {
                    "produce_fetch"
                } else {
                    "produce"
                };
                comparison.report(out, &format!("loopback/{}/{name}", policy.name()));
            }
        }
    }
    group.finish();
    drop(client);
    runtime
        .block_on(running.shutdown())
        .expect("clean shutdown");
}

/// Where the paired comparisons go (JSON lines), when asked for with
/// `IDEM_BENCH_PAIRED_OUT=<file>` (bench/micro.sh does): they add about 20 s to a run.
fn paired_out() -> Option<PathBuf> {
    std::env::var_os("IDEM_BENCH_PAIRED_OUT").map(PathBuf::from)
}

fn benches(c: &mut Criterion) {
    let scratch = scratch_root();
    let broker = broker_root();
    let paired = paired_out();
    eprintln!(
        "idem bench: log and partition files in {}, loopback broker data in {}",
        scratch.display(),
        broker.display()
    );
    log_append(c, &scratch);
    partition_produce(c, &scratch, paired.as_deref());
    loopback(c, &broker, paired.as_deref());
}

criterion_group!(produce, benches);
criterion_main!(produce);
