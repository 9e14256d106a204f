"""Create topics (confluent-kafka AdminClient): create_topics.py BOOTSTRAP PARTITIONS TOPIC..."""
import sys

from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, partitions, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
admin = AdminClient({"bootstrap.servers": bootstrap})
futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics], operation_timeout=30)
for topic, f in futures.items():
    f.result()  # raises on error
    print(f"created {topic} ({partitions} partitions)")
