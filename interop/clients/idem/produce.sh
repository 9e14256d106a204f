#!/usr/bin/env bash
# idem's own Rust client (`idem produce`): produce.sh IDEM BOOTSTRAP TOPIC COUNT ACKLOG
# One `idem produce -p P` per partition, fed "idem-<i>" for i % 3 == P on stdin, in order; its
# --report writes exactly the ack-log lines check.py reads ({"value","partition","offset"} or
# {"value","error"}), in input order.
set -euo pipefail
idem=$1 bootstrap=$2 topic=$3 count=$4 acklog=$5
: > "$acklog"
for p in 0 1 2; do
  awk -v n="$count" -v p="$p" 'BEGIN { for (i = p; i < n; i += 3) print "idem-" i }' |
    "$idem" produce -b "$bootstrap" -t "$topic" -p "$p" --report "$acklog.$p" \
      -X batch.size=1024 -X linger.ms=1 -X retry.backoff.ms=10 -X retry.backoff.max.ms=100 ||
    true # a failed record is in the report as {"value","error"}: check.py judges
  cat "$acklog.$p" >> "$acklog" && rm -f "$acklog.$p"
done
