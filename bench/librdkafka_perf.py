"""librdkafka through confluent-kafka, producing as fast as it can:
librdkafka_perf.py BOOTSTRAP TOPIC RECORDS SIZE -> one JSON line (records, seconds, errors).

Idempotent (acks=all implied), librdkafka's defaults otherwise, as a user would run it. Delivery
reports are counted in a callback, as kafka-producer-perf-test does."""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
value = b"x" * size
errors = 0
delivered = 0


def report(err, _msg):
    global errors, delivered
    if err is not None:
        errors += 1
    else:
        delivered += 1


start = time.monotonic()
for _ in range(n):
    while True:
        try:
            p.produce(topic, value, on_delivery=report)
            break
        except BufferError:  # local queue full: serve delivery reports, then retry
            p.poll(0.01)
    p.poll(0)
left = p.flush(120)
seconds = time.monotonic() - start
print(json.dumps({"records": delivered, "errors": errors + left, "seconds": round(seconds, 3)}))
