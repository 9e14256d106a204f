//! Consumer groups against the real `idem serve` binary: three group consumers join and leave
//! a 6-partition topic while an idempotent producer writes, and the broker is killed with
//! SIGKILL and restarted mid-run. Checked: every acknowledged record is consumed at least
//! once, committed offsets never move backwards (also across the kill), every rebalance
//! completes within the session timeout, and the committed offsets after the run cover what
//! the consumers committed last.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use idem_client::{Admin, ClientConfig, GroupConsumer, NewTopic, Producer, ProducerRecord};
use idem_verify::broker::BrokerProcess;

const TOPIC: &str = "rebalance";
const PARTITIONS: i32 = 6;
const GROUP: &str = "g3";
const SESSION_MS: u64 = 6_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn consumer_config(addr: &str, name: &str) -> ClientConfig {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("client.id", name)
        .set("group.id", GROUP)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION_MS)
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 10_000)
        .set("auto.commit.interval.ms", 300)
        .set("request.timeout.ms", 5_000)
        .set("fetch.max.wait.ms", 200)
}

type Consumed = Arc<Mutex<BTreeSet<(i32, i64)>>>;

/// One member for `run_for`: polls, records what it got, closes (commit + LeaveGroup).
async fn member(
    addr: String,
    name: String,
    run_for: Duration,
    consumed: Consumed,
) -> Vec<Duration> {
    let mut c = GroupConsumer::new(&consumer_config(&addr, &name)).expect("consumer");
    c.subscribe(&[TOPIC]);
    let until = Instant::now() + run_for;
    while Instant::now() < until {
        match c.poll(Duration::from_millis(200), 1000).await {
            Ok(records) => {
                let mut set = consumed.lock().unwrap();
                for r in records {
                    set.insert((r.partition, r.offset));
                }
            }
            // The broker is being killed and restarted: try again.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let durations = c.rebalance_durations().to_vec();
    let _ = c.close().await;
    durations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_consumers_rebalance_through_a_kill_9() {
    let tmp = tempfile::tempdir().expect("tmp");
    let addr = format!("127.0.0.1:{}", free_port());
    let http = format!("127.0.0.1:{}", free_port());
    let mut broker = BrokerProcess::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_idem")),
        &tmp.path().join("data"),
        &tmp.path().join("broker.log"),
        addr.clone(),
        http,
        vec![
            "group.initial.rebalance.delay.ms=0".into(),
            "log.flush.policy=always".into(),
        ],
    );
    broker.start().await.expect("broker starts");
    let base = ClientConfig::new().set("bootstrap.servers", &addr);
    Admin::new(&base)
        .expect("admin")
        .create_topics(&[NewTopic::new(TOPIC, PARTITIONS)])
        .await
        .expect("create topic");

    // The producer: idempotent, keyed over all partitions, until told to stop.
    let acked: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (acked, stop, addr) = (Arc::clone(&acked), Arc::clone(&stop), addr.clone());
        tokio::spawn(async move {
            let p = Producer::new(
                &ClientConfig::new()
                    .set("bootstrap.servers", &addr)
                    .set("linger.ms", 5)
                    .set("request.timeout.ms", 5_000),
            )
            .expect("producer");
            let mut i = 0u64;
            let mut pending = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let rec = ProducerRecord::new(TOPIC, format!("v{i}")).key(format!("k{i}"));
                if let Ok(f) = p.send(rec).await {
                    pending.push(f);
                }
                i += 1;
                if i.is_multiple_of(20) {
                    for f in pending.drain(..) {
                        if let Ok(md) = f.await {
                            acked.lock().unwrap().insert((md.partition, md.offset));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            for f in pending.drain(..) {
                if let Ok(md) = f.await {
                    acked.lock().unwrap().insert((md.partition, md.offset));
                }
            }
            let _ = p.close(Duration::from_secs(10)).await;
        })
    };

    // A monitor: committed offsets, read every 100 ms, must never go down.
    let history: Arc<Mutex<BTreeMap<i32, i64>>> = Arc::default();
    let backwards: Arc<Mutex<Vec<String>>> = Arc::default();
    let monitor_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let (history, backwards, stop, addr) = (
            Arc::clone(&history),
            Arc::clone(&backwards),
            Arc::clone(&monitor_stop),
            addr.clone(),
        );
        tokio::spawn(async move {
            let mut m = GroupConsumer::new(&consumer_config(&addr, "monitor")).expect("monitor");
            let parts: Vec<(String, i32)> =
                (0..PARTITIONS).map(|p| (TOPIC.to_string(), p)).collect();
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(list) = m.committed(&parts).await {
                    reads += 1;
                    let mut h = history.lock().unwrap();
                    for (p, c) in (0..PARTITIONS).zip(list) {
                        let now = c.unwrap_or(-1);
                        let before = h.get(&p).copied().unwrap_or(-1);
                        if now < before {
                            backwards
                                .lock()
                                .unwrap()
                                .push(format!("partition {p}: {before} -> {now}"));
                        }
                        h.insert(p, now.max(before));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            reads
        })
    };

    let consumed: Consumed = Arc::default();
    let spawn_member = |name: &str, delay_ms: u64, run_ms: u64| {
        let (addr, name, consumed) = (addr.clone(), name.to_string(), Arc::clone(&consumed));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            member(addr, name, Duration::from_millis(run_ms), consumed).await
        })
    };
    // c0 stays throughout; c1 joins, leaves, and comes back after the kill; c2 joins late
    // and leaves before the end.
    let c0 = spawn_member("c0", 0, 16_000);
    let c1a = spawn_member("c1", 1_500, 3_500);
    let c2 = spawn_member("c2", 3_000, 7_000);

    tokio::time::sleep(Duration::from_millis(6_000)).await;
    let before_kill: BTreeMap<i32, i64> = history.lock().unwrap().clone();
    broker.kill().await.expect("kill -9");
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.start().await.expect("restart");
    let c1b = spawn_member("c1-again", 2_000, 8_000);

    tokio::time::sleep(Duration::from_millis(7_000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.await.expect("producer task");

    let mut durations = Vec::new();
    for h in [c0, c1a, c2, c1b] {
        durations.extend(h.await.expect("member task"));
    }
    // Whatever is left is read by a last member, from the committed offsets.
    let all_acked = acked.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    {
        let mut last = GroupConsumer::new(&consumer_config(&addr, "last")).expect("last");
        last.subscribe(&[TOPIC]);
        while Instant::now() < deadline {
            if all_acked.is_subset(&consumed.lock().unwrap()) {
                break;
            }
            if let Ok(records) = last.poll(Duration::from_millis(200), 1000).await {
                let mut set = consumed.lock().unwrap();
                for r in records {
                    set.insert((r.partition, r.offset));
                }
            }
        }
        durations.extend(last.rebalance_durations().iter().copied());
        let _ = last.close().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    monitor_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = monitor.await.expect("monitor");

    let consumed = consumed.lock().unwrap().clone();
    eprintln!(
        "acked {} records, consumed {} distinct, monitor read committed offsets {reads} times; \
         committed before the kill {before_kill:?}, at the end {:?}; {} rebalances, longest {:?}",
        all_acked.len(),
        consumed.len(),
        history.lock().unwrap(),
        durations.len(),
        durations.iter().max()
    );
    let missing: Vec<&(i32, i64)> = all_acked.difference(&consumed).collect();
    assert!(
        all_acked.len() > 500,
        "the producer wrote too little: {}",
        all_acked.len()
    );
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records never consumed, e.g. {:?}",
        missing.len(),
        all_acked.len(),
        &missing[..missing.len().min(5)]
    );
    let backwards = backwards.lock().unwrap().clone();
    assert!(
        reads > 50,
        "the monitor read committed offsets only {reads} times"
    );
    assert!(
        backwards.is_empty(),
        "committed offsets moved backwards: {backwards:?}"
    );
    let after: BTreeMap<i32, i64> = history.lock().unwrap().clone();
    for (p, c) in &before_kill {
        assert!(
            after.get(p).copied().unwrap_or(-1) >= *c,
            "partition {p} lost its commit {c}"
        );
    }
    assert!(
        before_kill.values().any(|c| *c > 0),
        "nothing was committed before the kill: {before_kill:?}"
    );
    assert!(
        durations.len() >= 6,
        "too few rebalances seen: {durations:?}"
    );
    for d in &durations {
        assert!(
            *d < Duration::from_millis(SESSION_MS),
            "a rebalance took {d:?}, more than the session timeout: {durations:?}"
        );
    }
    broker.stop().await.expect("stop");
}
