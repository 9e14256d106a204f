"""kafka-python reader (assign + seek, no consumer group): read_kafka_python.py BOOTSTRAP TOPIC OUT"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, outpath = sys.argv[1], sys.argv[2], sys.argv[3]
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
c.assign(tps)
c.seek_to_beginning(*tps)
end = c.end_offsets(tps)
deadline = time.monotonic() + 120
with open(outpath, "w") as out:
    while any(c.position(tp) < end[tp] for tp in tps):
        if time.monotonic() > deadline:
            sys.exit("timed out before the end offsets")
        for tp, records in c.poll(timeout_ms=1000).items():
            for r in records:
                if r.offset < end[tp]:
                    out.write(json.dumps({"partition": r.partition, "offset": r.offset, "value": r.value.decode()}) + "\n")
c.close()
