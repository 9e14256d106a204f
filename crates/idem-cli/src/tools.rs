//! The client commands of `idem`: produce, consume, topics, producers, bench. They run on
//! idem's own Rust client, against idem or any Kafka broker.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use idem_client::{Admin, ClientConfig, Consumer, NewTopic, Producer, ProducerRecord, Seek};

/// Options every client command takes.
#[derive(Debug, Args)]
pub(crate) struct Connect {
    /// Broker addresses, host:port, comma separated.
    #[arg(
        short,
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092",
        env = "IDEM_BOOTSTRAP"
    )]
    bootstrap: String,
    /// Any client setting by its Kafka name (repeatable), e.g. -X linger.ms=10.
    #[arg(short = 'X', value_name = "NAME=VALUE")]
    settings: Vec<String>,
}

impl Connect {
    fn config(&self) -> anyhow::Result<ClientConfig> {
        let mut c = ClientConfig::new().set("bootstrap.servers", &self.bootstrap);
        for kv in &self.settings {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("-X {kv:?}: expected NAME=VALUE"))?;
            c = c.set(k.trim(), v);
        }
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    #[command(flatten)]
    connect: Connect,
    /// Topic to write to.
    #[arg(short, long)]
    topic: String,
    /// Read lines from this file instead of standard input.
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Split each line into key and value at the first occurrence of this separator.
    #[arg(short = 'K', long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header added to every record, key=value (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Partition for every record (default: by key, or sticky).
    #[arg(short, long)]
    partition: Option<i32>,
    /// all, 1 or 0.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Idempotent writes (on by default, as in Kafka's clients).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    idempotence: bool,
    /// Compression: none, gzip, snappy, lz4, zstd.
    #[arg(short = 'z', long, default_value = "none")]
    compression: String,
    /// Write one JSON line per record to FILE, in input order: {"value","partition","offset"}
    /// when acknowledged, {"value","error"} when not.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    connect: Connect,
    /// Topic to read.
    #[arg(short, long)]
    topic: String,
    /// Partitions to read (repeatable; default: all).
    #[arg(short, long)]
    partition: Vec<i32>,
    /// Where to start: beginning, end, an offset, or @timestamp-in-ms.
    #[arg(short = 'o', long, default_value = "beginning")]
    from: String,
    /// Output format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp,
    /// %h headers, \n newline, \t tab, %% percent.
    #[arg(short = 'f', long, default_value = "%s\\n")]
    format: String,
    /// Stop after this many records.
    #[arg(short = 'c', long)]
    count: Option<usize>,
    /// Keep waiting for new records instead of stopping at the end.
    #[arg(long)]
    follow: bool,
    /// Consume as a member of this consumer group: partitions come from the group, reading
    /// starts at its committed offsets (else --from beginning/end) and positions are committed.
    #[arg(short = 'G', long, conflicts_with = "partition")]
    group: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCommand {
    /// Create a topic.
    Create {
        #[command(flatten)]
        connect: Connect,
        /// Topic name.
        name: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(short, long, default_value_t = -1)]
        partitions: i32,
        /// A topic config, key=value (repeatable).
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topics.
    List {
        #[command(flatten)]
        connect: Connect,
    },
    /// Describe a topic: partitions, leaders, configs that differ from the defaults.
    Describe {
        #[command(flatten)]
        connect: Connect,
        /// Topic name.
        name: String,
    },
    /// Delete a topic.
    Delete {
        #[command(flatten)]
        connect: Connect,
        /// Topic name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ProducersArgs {
    #[command(flatten)]
    connect: Connect,
    /// Topic.
    topic: String,
    /// Partitions (default: all).
    #[arg(short, long)]
    partition: Vec<i32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Produce fixed-size records and report records/s, MB/s and latency percentiles (from
    /// send to acknowledgement), like kafka-producer-perf-test.
    Produce(BenchArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    connect: Connect,
    /// Topic (created with --partitions if missing).
    #[arg(short, long, default_value = "idem-bench")]
    topic: String,
    /// Partitions of a created topic.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Records to send.
    #[arg(short = 'n', long, default_value_t = 1_000_000)]
    records: usize,
    /// Bytes per record value.
    #[arg(short = 's', long, default_value_t = 100)]
    record_size: usize,
    /// Records per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    throughput: u64,
    /// Idempotent writes.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    idempotence: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Reads input lines as records and sends them; waits for every acknowledgement.
pub(crate) async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let config = args
        .connect
        .config()?
        .set("acks", &args.acks)
        .set("enable.idempotence", args.idempotence)
        .set("compression.type", &args.compression);
    // Fail in milliseconds, not after max.block.ms, when no broker answers at all.
    Admin::new(&config)?
        .list_topics()
        .await
        .context("reach the cluster")?;
    let producer = Producer::new(&config)?;
    let headers: Vec<(String, Option<Bytes>)> = args
        .headers
        .iter()
        .map(|h| {
            let (k, v) = h.split_once('=').unwrap_or((h, ""));
            (k.to_string(), Some(Bytes::from(v.to_string())))
        })
        .collect();
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut pending = Vec::new();
    let mut sent = 0usize;
    for line in input.lines() {
        let line = line.context("read input")?;
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(Bytes::from(k.to_string())), v.to_string()),
                None => (None, line),
            },
            None => (None, line),
        };
        let record = ProducerRecord {
            topic: args.topic.clone(),
            partition: args.partition,
            key,
            value: Some(Bytes::from(value)),
            headers: headers.clone(),
            timestamp: None,
        };
        let value = record.value.clone();
        pending.push((value, producer.send(record).await?));
        sent += 1;
        if progress && last_report.elapsed() > Duration::from_secs(1) {
            eprint!("\r{sent} records queued");
            last_report = Instant::now();
        }
    }
    let mut failures = 0usize;
    let mut by_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let mut first_error = None;
    let mut report = match &args.report {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => None,
    };
    for (value, f) in pending {
        let value = String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned();
        let line = match f.await {
            Ok(m) => {
                *by_partition.entry(m.partition).or_default() += 1;
                serde_json::json!({"value": value, "partition": m.partition, "offset": m.offset})
            }
            Err(e) => {
                failures += 1;
                let line = serde_json::json!({"value": value, "error": e.to_string()});
                first_error.get_or_insert(e);
                line
            }
        };
        if let Some(w) = report.as_mut() {
            writeln!(w, "{line}").context("write report")?;
        }
    }
    if let Some(mut w) = report {
        w.flush().context("write report")?;
    }
    producer.close(Duration::from_secs(10)).await.ok();
    if progress {
        eprint!("\r");
    }
    let spread: Vec<String> = by_partition
        .iter()
        .map(|(p, n)| format!("{p}:{n}"))
        .collect();
    eprintln!(
        "produced {} of {sent} records to {} in {:.2?} (partition:count {})",
        sent - failures,
        args.topic,
        started.elapsed(),
        spread.join(" ")
    );
    if let Some(e) = first_error {
        bail!("{failures} records were not delivered; the first: {e}");
    }
    Ok(())
}

fn render(format: &str, r: &idem_client::ConsumerRecord, out: &mut Vec<u8>) {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('%', Some(k)) => {
                chars.next();
                match k {
                    't' => out.extend_from_slice(r.topic.as_bytes()),
                    'p' => out.extend_from_slice(r.partition.to_string().as_bytes()),
                    'o' => out.extend_from_slice(r.offset.to_string().as_bytes()),
                    'T' => out.extend_from_slice(r.timestamp.to_string().as_bytes()),
                    'k' => out.extend_from_slice(r.key.as_deref().unwrap_or_default()),
                    's' => out.extend_from_slice(r.value.as_deref().unwrap_or_default()),
                    'h' => {
                        let hs: Vec<String> = r
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                format!(
                                    "{k}={}",
                                    v.as_deref()
                                        .map(String::from_utf8_lossy)
                                        .unwrap_or_default()
                                )
                            })
                            .collect();
                        out.extend_from_slice(hs.join(",").as_bytes());
                    }
                    '%' => out.push(b'%'),
                    other => {
                        out.push(b'%');
                        out.extend_from_slice(other.to_string().as_bytes());
                    }
                }
            }
            ('\\', Some('n')) => {
                chars.next();
                out.push(b'\n');
            }
            ('\\', Some('t')) => {
                chars.next();
                out.push(b'\t');
            }
            (c, _) => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// Reads records and prints them with the format; stops at the end unless following.
pub(crate) async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    if let Some(group) = args.group.clone() {
        return consume_group(args, &group).await;
    }
    let config = args.connect.config()?;
    let admin = Admin::new(&config)?;
    let topic = admin.describe_topic(&args.topic).await?;
    let partitions: Vec<i32> = if args.partition.is_empty() {
        topic.partitions.iter().map(|p| p.index).collect()
    } else {
        args.partition.clone()
    };
    let mut consumer = Consumer::new(&config)?;
    let assignment: Vec<(&str, i32)> = partitions
        .iter()
        .map(|p| (args.topic.as_str(), *p))
        .collect();
    consumer.assign(&assignment);
    let seek = match args.from.as_str() {
        "beginning" => Seek::Earliest,
        "end" => Seek::Latest,
        s if s.starts_with('@') => Seek::Timestamp(s[1..].parse().context("--from @timestamp")?),
        s => {
            Seek::Offset(s.parse().with_context(|| {
                format!("--from {s:?}: beginning, end, an offset or @timestamp")
            })?)
        }
    };
    let mut ends = BTreeMap::new();
    for p in &partitions {
        consumer.seek(&args.topic, *p, seek).await?;
        let end = admin
            .list_offset(&args.topic, *p, idem_client::OffsetSpec::Latest)
            .await?
            .offset;
        ends.insert(*p, end);
    }
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let done_by_end = !args.follow
            && partitions
                .iter()
                .all(|p| consumer.position(&args.topic, *p).unwrap_or(0) >= ends[p]);
        if done_by_end || args.count.is_some_and(|c| printed >= c) {
            break;
        }
        let records = consumer.poll(Duration::from_millis(500), 10_000).await?;
        for r in records {
            if args.count.is_some_and(|c| printed >= c) {
                break;
            }
            render(&args.format, &r, &mut out);
            printed += 1;
        }
        let mut lock = stdout.lock();
        lock.write_all(&out).context("write output")?;
        lock.flush().ok();
        out.clear();
    }
    Ok(())
}

/// `consume --group`: a group member that prints what it is given and commits as it goes;
/// without --follow it stops once every partition it owns is read to its end.
async fn consume_group(args: ConsumeArgs, group: &str) -> anyhow::Result<()> {
    let reset = match args.from.as_str() {
        "beginning" => "earliest",
        "end" => "latest",
        other => anyhow::bail!(
            "--from {other:?}: with --group, reading starts at the group's committed offsets; only beginning or end may be given for partitions without one"
        ),
    };
    let mut config = args.connect.config()?;
    if config.get("auto.offset.reset").is_none() {
        config = config.set("auto.offset.reset", reset);
    }
    let config = config.set("group.id", group);
    let admin = Admin::new(&config)?;
    let mut consumer = idem_client::GroupConsumer::new(&config)?;
    consumer.subscribe(&[args.topic.as_str()]);
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let left = args.count.map_or(10_000, |c| c.saturating_sub(printed));
        if left == 0 {
            break;
        }
        let records = consumer
            .poll(Duration::from_millis(500), left.min(10_000))
            .await?;
        let empty = records.is_empty();
        for r in records {
            render(&args.format, &r, &mut out);
            printed += 1;
        }
        let mut lock = stdout.lock();
        lock.write_all(&out).context("write output")?;
        lock.flush().ok();
        out.clear();
        drop(lock);
        if empty && !args.follow && !consumer.assignment().is_empty() {
            let mut at_end = true;
            for (t, p) in consumer.assignment().to_vec() {
                let end = admin
                    .list_offset(&t, p, idem_client::OffsetSpec::Latest)
                    .await?
                    .offset;
                if consumer.position(&t, p).is_none_or(|pos| pos < end) {
                    at_end = false;
                    break;
                }
            }
            if at_end {
                break;
            }
        }
    }
    consumer
        .commit_sync()
        .await
        .context("commit the group's offsets")?;
    consumer.close().await.context("leave the group")?;
    Ok(())
}

/// Topic administration.
pub(crate) async fn topics(command: TopicsCommand) -> anyhow::Result<()> {
    match command {
        TopicsCommand::Create {
            connect,
            name,
            partitions,
            configs,
        } => {
            let mut topic = NewTopic::new(&name, partitions);
            for c in &configs {
                let (k, v) = c
                    .split_once('=')
                    .with_context(|| format!("--config {c:?}: expected KEY=VALUE"))?;
                topic = topic.config(k, v);
            }
            let admin = Admin::new(&connect.config()?)?;
            admin.create_topics(&[topic]).await?.remove(0)?;
            println!("created topic {name}");
        }
        TopicsCommand::List { connect } => {
            for t in Admin::new(&connect.config()?)?.list_topics().await? {
                println!("{}", t.name);
            }
        }
        TopicsCommand::Describe { connect, name } => {
            let admin = Admin::new(&connect.config()?)?;
            let t = admin.describe_topic(&name).await?;
            let configs = admin.describe_topic_configs(&name).await?;
            let set: Vec<String> = configs
                .iter()
                .filter(|c| !c.is_default)
                .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("")))
                .collect();
            println!(
                "topic {}  id {}  partitions {}  configs {}",
                t.name,
                t.id,
                t.partitions.len(),
                if set.is_empty() {
                    "-".to_string()
                } else {
                    set.join(",")
                }
            );
            for p in &t.partitions {
                let end = admin
                    .list_offset(&name, p.index, idem_client::OffsetSpec::Latest)
                    .await
                    .map_or(-1, |o| o.offset);
                let start = admin
                    .list_offset(&name, p.index, idem_client::OffsetSpec::Earliest)
                    .await
                    .map_or(-1, |o| o.offset);
                println!(
                    "  partition {}  leader {}  offsets {start}..{end}",
                    p.index, p.leader
                );
            }
        }
        TopicsCommand::Delete { connect, name } => {
            Admin::new(&connect.config()?)?
                .delete_topics(&[&name])
                .await?
                .remove(0)?;
            println!("deleted topic {name}");
        }
    }
    Ok(())
}

/// The dedupe state of a topic's partitions (DescribeProducers).
pub(crate) async fn producers(args: ProducersArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args.connect.config()?)?;
    let partitions: Vec<i32> = if args.partition.is_empty() {
        admin
            .describe_topic(&args.topic)
            .await?
            .partitions
            .iter()
            .map(|p| p.index)
            .collect()
    } else {
        args.partition
    };
    // Columns after LAST_TIMESTAMP come from idem's DescribeProducers extension; other
    // brokers leave them "-".
    let row = |cells: [String; 7]| {
        println!(
            "{:<9} {:>12} {:>5} {:>13} {:>14} {:>11} {:>14}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    let dash = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    row([
        "PARTITION",
        "PRODUCER_ID",
        "EPOCH",
        "LAST_SEQUENCE",
        "LAST_TIMESTAMP",
        "LAST_OFFSET",
        "LAST_APPEND_MS",
    ]
    .map(String::from));
    for p in partitions {
        for s in admin.describe_producers(&args.topic, p).await? {
            row([
                p.to_string(),
                s.producer_id.to_string(),
                s.epoch.to_string(),
                s.last_sequence.to_string(),
                s.last_timestamp.to_string(),
                dash(s.last_offset),
                dash(s.last_append_ms),
            ]);
        }
    }
    Ok(())
}

/// Benchmarks.
pub(crate) async fn bench(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Produce(args) => bench_produce(args).await,
    }
}

/// Produces fixed-size records as fast as allowed and reports throughput and latency.
async fn bench_produce(args: BenchArgs) -> anyhow::Result<()> {
    let config = args
        .connect
        .config()?
        .set("enable.idempotence", args.idempotence);
    let admin = Admin::new(&config)?;
    if admin.describe_topic(&args.topic).await.is_err() {
        let created = admin
            .create_topics(&[NewTopic::new(&args.topic, args.partitions)])
            .await?
            .remove(0);
        if let Err(e) = created {
            if e.code().map(|c| c.0) != Some(36) {
                return Err(e.into());
            }
        }
    }
    let producer = Producer::new(&config)?;
    let value = Bytes::from(vec![b'x'; args.record_size]);
    let started = Instant::now();
    let (tx, mut rx) =
        tokio::sync::mpsc::unbounded_channel::<(Instant, idem_client::producer::DeliveryFuture)>();
    let collector = tokio::spawn(async move {
        let mut latencies = Vec::new();
        let mut errors = 0usize;
        while let Some((sent, f)) = rx.recv().await {
            match f.await {
                Ok(_) => latencies.push(sent.elapsed()),
                Err(_) => errors += 1,
            }
        }
        (latencies, errors)
    });
    for i in 0..args.records {
        if args.throughput > 0 {
            let due = started + Duration::from_secs_f64(i as f64 / args.throughput as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let record = ProducerRecord {
            topic: args.topic.clone(),
            value: Some(value.clone()),
            ..ProducerRecord::default()
        };
        let f = producer.send(record).await?;
        let _ = tx.send((Instant::now(), f));
    }
    drop(tx);
    let (mut latencies, errors) = collector.await.context("collector")?;
    let elapsed = started.elapsed();
    producer.close(Duration::from_secs(10)).await.ok();
    latencies.sort_unstable();
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let mb = rate * args.record_size as f64 / 1_048_576.0;
    if args.json {
        println!(
            "{{\"records\":{},\"errors\":{errors},\"seconds\":{:.3},\"records_per_sec\":{rate:.1},\"mb_per_sec\":{mb:.2},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"p999_ms\":{:.2}}}",
            latencies.len(),
            elapsed.as_secs_f64(),
            pct(0.5),
            pct(0.99),
            pct(0.999)
        );
    } else {
        println!(
            "{} records sent, {rate:.1} records/sec ({mb:.2} MB/sec), latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {errors} errors",
            latencies.len(),
            pct(0.5),
            pct(0.99),
            pct(0.999)
        );
    }
    if errors > 0 {
        bail!("{errors} records were not delivered");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_kcat() {
        let r = idem_client::ConsumerRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp: 99,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
        };
        let mut out = Vec::new();
        render("%t/%p@%o %k=%s %T [%h] 100%%\\n", &r, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "t/2@7 k=v 99 [h=x] 100%\n"
        );
    }
}
