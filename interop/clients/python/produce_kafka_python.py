"""kafka-python producer: produce_kafka_python.py BOOTSTRAP TOPIC COUNT ACKLOG"""
import json
import sys

from kafka import KafkaProducer

bootstrap, topic, count, acklog = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
p = KafkaProducer(
    bootstrap_servers=bootstrap,
    enable_idempotence=True,          # explicit: a conflicting setting then raises instead of silently disabling it
    acks="all",
    batch_size=1024,                  # small batches: many Produce requests, many lost acks
    linger_ms=1,
    reconnect_backoff_ms=10,
    reconnect_backoff_max_ms=100,
    retry_backoff_ms=10,
)

with open(acklog, "w") as out:
    def ok(i, md):
        out.write(json.dumps({"value": f"kafka-python-{i}", "partition": md.partition, "offset": md.offset}) + "\n")

    def failed(i, exc):
        out.write(json.dumps({"value": f"kafka-python-{i}", "partition": i % 3, "error": repr(exc)}) + "\n")

    for i in range(count):
        f = p.send(topic, value=f"kafka-python-{i}".encode(), partition=i % 3)
        f.add_callback(lambda md, i=i: ok(i, md))
        f.add_errback(lambda exc, i=i: failed(i, exc))
    p.flush(timeout=120)
    p.close(timeout=10)
