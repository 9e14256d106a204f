"""confluent-kafka (librdkafka) producer: produce_confluent.py BOOTSTRAP TOPIC COUNT ACKLOG"""
import json
import sys

from confluent_kafka import Producer

bootstrap, topic, count, acklog = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,       # implies acks=all, retries=inf, max.in.flight<=5
    "batch.num.messages": 50,         # small batches: many Produce requests, many lost acks
    "linger.ms": 1,
    "reconnect.backoff.ms": 10,
    "reconnect.backoff.max.ms": 100,  # 1 in 10 connections dropped: keep the back-off short
    "retry.backoff.ms": 10,
    "retry.backoff.max.ms": 100,
})

with open(acklog, "w") as out:
    def report(err, msg):
        line = {"value": msg.value().decode(), "partition": msg.partition()}
        if err is not None:
            line["error"] = str(err)
        else:
            line["offset"] = msg.offset()
        out.write(json.dumps(line) + "\n")

    for i in range(count):
        while True:
            try:
                p.produce(topic, value=f"confluent-kafka-{i}".encode(), partition=i % 3, on_delivery=report)
                break
            except BufferError:  # local queue full: serve delivery reports and retry
                p.poll(0.1)
        p.poll(0)
    left = p.flush(120)
    if left:
        sys.exit(f"{left} records not delivered after 120 s")
