"""librdkafka (through confluent-kafka) as a load generator for bench/vs_kafka.py:

    rdkafka_bench.py BOOTSTRAP TOPIC RECORDS SIZE IDEMPOTENCE(0|1) RATE(0 = unthrottled)

prints one JSON line: records, errors, seconds, records_per_sec, mb_per_sec, p50_ms, p99_ms,
p999_ms. acks=all, librdkafka's defaults otherwise (linger.ms 5, batch.size 1 MB, sticky
partitioning of keyless records). Latency is librdkafka's own per-message latency, from
produce() to the acknowledgement (Message.latency()), as kafka-producer-perf-test measures it.
With RATE > 0 records are released on a schedule of RATE per second (checked every 100
records), like ProducerPerformance's throttler."""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, topic = sys.argv[1], sys.argv[2]
n, size, idem, rate = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", float(sys.argv[6])
p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": idem,
    "acks": "all",
    "queue.buffering.max.messages": 1_000_000,
})
value = b"x" * size
errors = 0
latencies = []


def report(err, msg):
    global errors
    if err is not None:
        errors += 1
    else:
        latencies.append(msg.latency())


# One record first, outside the timed run: connection, metadata and the producer id are not
# part of the steady state (idem bench and ProducerPerformance pay them once too, but their
# first batch is sent within milliseconds; librdkafka's first ones waited ~0.5 s here).
p.produce(topic, value)
p.flush(30)
start = time.monotonic()
for i in range(n):
    if rate > 0 and i % 100 == 0:
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
    while True:
        try:
            p.produce(topic, value, on_delivery=report)
            break
        except BufferError:  # local queue full: serve delivery reports, then retry
            p.poll(0.001)
    p.poll(0)
left = p.flush(120)
seconds = time.monotonic() - start
latencies.sort()


def pct(q):
    if not latencies:
        return 0.0
    return round(latencies[min(int(len(latencies) * q), len(latencies) - 1)] * 1000.0, 2)


done = len(latencies)
print(json.dumps({
    "records": done,
    "errors": errors + left,
    "seconds": round(seconds, 3),
    "records_per_sec": round(done / seconds, 1),
    "mb_per_sec": round(done * size / seconds / 1048576, 2),
    "p50_ms": pct(0.5),
    "p99_ms": pct(0.99),
    "p999_ms": pct(0.999),
}))
