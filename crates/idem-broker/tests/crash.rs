//! Simulated power loss: a partition runs its real produce, flush, roll, snapshot and close
//! paths on a simulated file system ([`idem_log::sim`]); between any two storage operations
//! a post-crash disk image is taken, recovered with the real start-up path, and checked:
//!
//! - the recovered log is a prefix of the batches appended, byte for byte;
//! - it holds every batch acknowledged (under `flush.policy=always`) before the crash;
//! - every batch it serves has a valid CRC, and reading at each batch's offset finds it;
//! - the recovered producer state equals a rebuild from the recovered log alone.
//!
//! The workload also crashes and continues on a recovered image, and retries acknowledged
//! batches afterwards: each must be answered as a duplicate with its original offset.
//!
//! `IDEM_CRASH_STATES` sets how many images are checked (default 1,500; CI runs 10,000),
//! `IDEM_CRASH_SEED` the seed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use idem_broker::config::{BrokerConfig, FlushPolicy, TopicConfig};
use idem_broker::metrics::Metrics;
use idem_broker::partition::{batch_info, Dedupe, Partition, Setup};
use idem_log::sim::{SimRng, SimStorage};
use idem_producer_state::ProducerStateTable;
use idem_test_support::batch;
use idem_wire::batch::BatchHeader;

/// Kafka's rules, every producer id taken as issued (these tests make up their own ids).
const DEDUPE: Dedupe = Dedupe::On {
    issued_below: i64::MAX,
    max_decompressed_bytes: 1 << 27,
};

const NOW: i64 = 1_700_000_000_000;
const NEVER_EXPIRE: i64 = i64::MAX / 4;

fn dir() -> PathBuf {
    PathBuf::from("/data/t-0")
}

fn topic_config() -> TopicConfig {
    TopicConfig {
        // Small segments: rolls (and the producer snapshots written at roll) happen often.
        segment_bytes: 3_000,
        index_interval_bytes: 256,
        flush_policy: FlushPolicy::Always,
        ..BrokerConfig::default().topic_defaults
    }
}

fn setup(storage: &SimStorage) -> Setup {
    Setup {
        storage: Arc::new(storage.clone()),
        dir: dir(),
        topic: Arc::from("t"),
        index: 0,
        config: topic_config(),
        metrics: Arc::new(Metrics::default()),
    }
}

/// What the workload has done, as the crash checks need it.
#[derive(Debug, Default)]
struct Expect {
    /// Batches in the log, in offset order: (base offset, bytes as the client sent them).
    appended: Vec<(i64, Vec<u8>)>,
    /// The batch being appended right now, if any: it may or may not be in an image.
    in_flight: Option<Vec<u8>>,
    /// How many of `appended` (a prefix) have been acknowledged.
    acked: usize,
}

#[derive(Debug, Default)]
struct Tally {
    states: usize,
    failures: Vec<String>,
    recovered_batches: usize,
    unacked_survivors: usize,
}

/// Every batch of a partition, read through its fetch path.
fn read_all(p: &Partition) -> Result<Vec<(i64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let r = p
            .read(offset, 1 << 20, true)
            .map_err(|e| format!("read at {offset}: {e:?}"))?;
        let bytes: Vec<u8> = r.records.to_vec();
        if bytes.is_empty() {
            if offset < r.high_watermark {
                return Err(format!(
                    "nothing read at {offset} below the high watermark {}",
                    r.high_watermark
                ));
            }
            return Ok(out);
        }
        let mut at = 0;
        while at < bytes.len() {
            let h = BatchHeader::parse(&bytes[at..])
                .map_err(|e| format!("batch at byte {at} from offset {offset}: {e}"))?;
            let one = &bytes[at..at + h.total_len()];
            idem_wire::batch::verify_crc(one, &h).map_err(|e| {
                format!(
                    "served a batch with a bad CRC at offset {}: {e}",
                    h.base_offset
                )
            })?;
            out.push((h.base_offset, one.to_vec()));
            offset = h.base_offset + i64::from(h.last_offset_delta) + 1;
            at += h.total_len();
        }
    }
}

/// A stored batch is the client's bytes with the base offset and leader epoch patched.
fn same_batch(stored: &[u8], sent: &[u8]) -> bool {
    stored.len() == sent.len() && stored[16..] == sent[16..]
}

fn producer_view(p: impl IntoIterator<Item = idem_producer_state::ProducerEntry>) -> Vec<String> {
    let mut v: Vec<String> = p
        .into_iter()
        .map(|e| {
            let batches: Vec<_> = e.batches().collect();
            format!(
                "{} e{} {:?} ts{}",
                e.producer_id, e.epoch, batches, e.last_timestamp
            )
        })
        .collect();
    v.sort();
    v
}

/// Recovers an image and checks it against what was appended and acknowledged.
fn check(image: &SimStorage, expect: &Expect) -> Result<usize, String> {
    let p = Partition::open(setup(image), false, NOW, NEVER_EXPIRE)
        .map_err(|e| format!("recovery failed: {e}"))?;
    let got = read_all(&p)?;
    let candidates = expect.appended.len() + usize::from(expect.in_flight.is_some());
    if got.len() > candidates {
        return Err(format!(
            "{} batches recovered, only {candidates} were ever written",
            got.len()
        ));
    }
    for (i, (offset, stored)) in got.iter().enumerate() {
        let (want_offset, sent) = match expect.appended.get(i) {
            Some((o, b)) => (*o, b.as_slice()),
            None => {
                let next = expect.appended.last().map_or(0, |(o, b)| {
                    o + i64::from(BatchHeader::parse(b).map_or(0, |h| h.last_offset_delta)) + 1
                });
                (next, expect.in_flight.as_deref().unwrap_or_default())
            }
        };
        if *offset != want_offset || !same_batch(stored, sent) {
            return Err(format!("batch {i} at offset {offset} is not what was appended there (offset {want_offset}): not a prefix"));
        }
        // The index finds each batch.
        let first = p
            .read(*offset, 1, true)
            .map_err(|e| format!("read at {offset}: {e:?}"))?;
        let h = BatchHeader::parse(&first.records).ok();
        if h.map(|h| h.base_offset) != Some(*offset) {
            return Err(format!("reading at {offset} does not start with its batch"));
        }
    }
    if got.len() < expect.acked {
        return Err(format!(
            "{} acknowledged batches, {} recovered: acknowledged data lost",
            expect.acked,
            got.len()
        ));
    }
    let mut rebuilt = ProducerStateTable::new();
    for (offset, bytes) in &got {
        let h = BatchHeader::parse(bytes).map_err(|e| e.to_string())?;
        rebuilt.replay(&batch_info(&h), *offset, NOW);
    }
    let (live, fresh) = (
        producer_view(p.producers()),
        producer_view(rebuilt.entries().cloned()),
    );
    if live != fresh {
        return Err(format!("recovered producer state differs from a rebuild from the log:\n  recovered {live:?}\n  rebuilt   {fresh:?}"));
    }
    Ok(got.len())
}

struct Producer {
    pid: i64,
    epoch: i16,
    next_seq: i32,
    /// Its acknowledged batches of the current epoch, newest last (at most 5 kept).
    acked: Vec<(i64, Vec<u8>)>,
}

async fn run(seed: u64, states_wanted: usize) -> Tally {
    let live = SimStorage::new(Path::new("/data"));
    let expect = Arc::new(Mutex::new(Expect::default()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Images are checked at random mutations, about `states_wanted` of them over the run.
    let install_hook = |storage: &SimStorage, every: u64| {
        let expect = Arc::clone(&expect);
        let tally = Arc::clone(&tally);
        let mut rng = SimRng::new(seed ^ 0x5eed);
        storage.set_hook(move |fs| {
            if rng.below(every) != 0 {
                return;
            }
            let image = fs.crash_image(&mut rng);
            let e = expect.lock().expect("lock");
            let result = check(&image, &e);
            let mut t = tally.lock().expect("lock");
            t.states += 1;
            match result {
                Ok(n) => {
                    t.recovered_batches += n;
                    t.unacked_survivors += n - e.acked.min(n);
                }
                Err(msg) if t.failures.len() < 5 => {
                    let line = format!(
                        "state {} (seed {seed}, {} mutations): {msg}",
                        t.states,
                        fs.mutations()
                    );
                    t.failures.push(line);
                }
                Err(_) => t.failures.push(String::new()),
            }
        });
    };
    // About 2.8 storage mutations per step (a write and a sync; rolls, snapshots and
    // closes add more): enough steps that sampling every `every`-th mutation yields the
    // states wanted.
    let steps = (states_wanted / 2).max(700);
    let every = ((steps as u64 * 28) / (states_wanted.max(1) as u64 * 10)).max(1);
    let mut rng = SimRng::new(seed);
    install_hook(&live, every);
    let mut storage = live;
    let mut partition = Arc::new(Partition::create(setup(&storage)).expect("create"));
    let mut flusher = tokio::spawn(Arc::clone(&partition).run_flusher());
    let mut producers: Vec<Producer> = (0..3)
        .map(|i| Producer {
            pid: 1000 + i,
            epoch: 0,
            next_seq: 0,
            acked: Vec::new(),
        })
        .collect();
    let mut ts = NOW;
    for step in 0..steps {
        let who = rng.below(producers.len() as u64) as usize;
        let roll = rng.below(100);
        if roll < 8 && !producers[who].acked.is_empty() {
            // Retry an acknowledged batch still in the window: the original offset, nothing new.
            let pr = &producers[who];
            let (offset, bytes) = pr.acked[rng.below(pr.acked.len() as u64) as usize].clone();
            let h = BatchHeader::parse(&bytes).expect("header");
            let r = partition
                .produce(&bytes, &h, ts, DEDUPE)
                .expect("retry answered");
            assert!(
                r.duplicate && r.base_offset == offset,
                "step {step}: retry of the batch at {offset} answered {r:?}"
            );
            continue;
        }
        if roll < 10 {
            producers[who].epoch += 1;
            producers[who].next_seq = 0;
            producers[who].acked.clear();
        }
        if roll == 99 {
            // A clean stop and start: the close writes a snapshot.
            partition.close_flusher();
            let _ = flusher.await;
            partition.close().expect("close");
            partition =
                Arc::new(Partition::open(setup(&storage), true, ts, NEVER_EXPIRE).expect("reopen"));
            flusher = tokio::spawn(Arc::clone(&partition).run_flusher());
            continue;
        }
        if roll == 98 {
            // A crash, then life goes on from a recovered image.
            partition.close_flusher();
            let _ = flusher.await;
            storage.clear_hook();
            let image = storage.crash_image(&mut rng);
            install_hook(&image, every);
            storage = image;
            partition = Arc::new(
                Partition::open(setup(&storage), false, ts, NEVER_EXPIRE).expect("recover"),
            );
            flusher = tokio::spawn(Arc::clone(&partition).run_flusher());
            let got = read_all(&partition).expect("read recovered");
            let mut e = expect.lock().expect("lock");
            assert!(
                got.len() >= e.acked,
                "step {step}: acknowledged batches lost in a crash"
            );
            e.appended.truncate(got.len());
            e.acked = got.len();
            drop(e);
            // The producers learn where their sequences stand from the recovered log.
            for pr in &mut producers {
                let mine: Vec<&(i64, Vec<u8>)> = got
                    .iter()
                    .filter(|(_, b)| {
                        BatchHeader::parse(b)
                            .is_ok_and(|h| h.producer_id == pr.pid && h.producer_epoch == pr.epoch)
                    })
                    .collect();
                pr.next_seq = mine.last().map_or(0, |(_, b)| {
                    let h = BatchHeader::parse(b).expect("header");
                    h.base_sequence + h.last_offset_delta + 1
                });
                pr.acked.retain(|(o, _)| got.iter().any(|(g, _)| g == o));
            }
            continue;
        }
        let pr = &mut producers[who];
        let n = 1 + rng.below(6) as i32;
        ts += 1 + rng.below(50) as i64;
        let bytes = batch::build(
            pr.pid,
            pr.epoch,
            pr.next_seq,
            n,
            &format!("{}-{}-{step}", pr.pid, pr.epoch),
            ts,
        );
        let h = BatchHeader::parse(&bytes).expect("header");
        expect.lock().expect("lock").in_flight = Some(bytes.clone());
        let r = partition.produce(&bytes, &h, ts, DEDUPE).expect("append");
        {
            let mut e = expect.lock().expect("lock");
            e.in_flight = None;
            e.appended.push((r.base_offset, bytes.clone()));
        }
        pr.next_seq += n;
        partition
            .wait_for(
                r.required_high_watermark,
                tokio::time::Instant::now() + std::time::Duration::from_secs(10),
            )
            .await
            .expect("acknowledged");
        {
            let mut e = expect.lock().expect("lock");
            e.acked = e.appended.len();
        }
        pr.acked.push((r.base_offset, bytes));
        if pr.acked.len() > 5 {
            pr.acked.remove(0);
        }
    }
    partition.close_flusher();
    let _ = flusher.await;
    storage.clear_hook();
    Arc::try_unwrap(tally)
        .expect("hook dropped")
        .into_inner()
        .expect("lock")
}

#[tokio::test(flavor = "current_thread")]
async fn every_crash_image_recovers_to_an_acknowledged_prefix() {
    let wanted: usize = std::env::var("IDEM_CRASH_STATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500);
    let seed: u64 = std::env::var("IDEM_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut total = Tally::default();
    // Several independent workloads, so one unlucky run does not shape every image.
    let runs = 4;
    for r in 0..runs {
        let t = run(
            seed.wrapping_mul(1_000_003).wrapping_add(r),
            wanted / runs as usize,
        )
        .await;
        total.states += t.states;
        total.recovered_batches += t.recovered_batches;
        total.unacked_survivors += t.unacked_survivors;
        total.failures.extend(t.failures);
    }
    println!(
        "crash states checked: {} (recovered {} batches in all, {} of them appended but not yet acknowledged)",
        total.states, total.recovered_batches, total.unacked_survivors
    );
    let shown: Vec<&String> = total.failures.iter().filter(|f| !f.is_empty()).collect();
    assert!(
        total.failures.is_empty(),
        "{} of {} crash states failed; the first:\n{}",
        total.failures.len(),
        total.states,
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        total.states * 10 >= wanted * 7,
        "only {} crash states checked of {wanted} wanted",
        total.states
    );
    assert!(
        total.unacked_survivors > 0,
        "no image ever kept an unacknowledged batch: the images are too tame"
    );
}
