#!/usr/bin/env bash
# kcat (librdkafka 2.0.2 from Debian) producer: produce.sh BOOTSTRAP TOPIC COUNT ACKLOG
# One idempotent `kcat -P -p P` per partition, fed "kcat-<i>" for i % 3 == P on stdin, in order.
# kcat reports no offsets, and exits 1 if any delivery failed; so the ack log gets
# {"value","partition"} lines (no "offset") only for partitions whose kcat exited 0.
# -E: without it kcat exits on "All broker connections are down", which a dropped connection to a
# single broker is.
set -euo pipefail
bootstrap=$1 topic=$2 count=$3 acklog=$4
: > "$acklog"
for p in 0 1 2; do
  awk -v n="$count" -v p="$p" 'BEGIN { for (i = p; i < n; i += 3) print "kcat-" i }' |
    kcat -P -E -b "$bootstrap" -t "$topic" -p "$p" \
      -X enable.idempotence=true -X batch.num.messages=50 -X linger.ms=1 \
      -X reconnect.backoff.ms=10 -X reconnect.backoff.max.ms=100 -X retry.backoff.ms=10
  awk -v n="$count" -v p="$p" 'BEGIN { for (i = p; i < n; i += 3) printf "{\"value\":\"kcat-%d\",\"partition\":%d}\n", i, p }' >> "$acklog"
done
