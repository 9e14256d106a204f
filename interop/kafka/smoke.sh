#!/usr/bin/env bash
# End-to-end check of the Kafka interop scripts against a real Kafka: install, start, topic,
# produce/consume, API-version table, a small perf run, stop. Refreshes kafka-<ver>-api-versions.txt.
#   smoke.sh [PORT]     (default 9192; the controller gets PORT+1)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port=${1:-9192} b=127.0.0.1:${1:-9192} dir=$KAFKA_CACHE/run-${1:-9192}
k=$HERE
trap '"$k/stop.sh" --dir "$dir" 2>/dev/null || true' EXIT   # never leave the broker behind
step() { echo; echo "\$ $*"; }

step install.sh;  "$k/install.sh"
step start.sh --port "$port"; "$k/start.sh" --port "$port" --controller-port $((port + 1))
pid=$(cat "$dir/kafka.pid")
step tool.sh topics --create; "$k/tool.sh" topics --bootstrap-server "$b" --create --topic smoke --partitions 3 --replication-factor 1
step tool.sh topics --describe; "$k/tool.sh" topics --bootstrap-server "$b" --describe --topic smoke
step tool.sh console-producer; printf 'one\ntwo\nthree\nfour\nfive\n' | "$k/tool.sh" console-producer --bootstrap-server "$b" --topic smoke
step tool.sh console-consumer --from-beginning --max-messages 5
out=$("$k/tool.sh" console-consumer --bootstrap-server "$b" --topic smoke --from-beginning \
        --max-messages 5 --timeout-ms 20000 --property print.partition=true --property print.offset=true 2>&1)
echo "$out"
[[ $(grep -c 'Offset:' <<<"$out") == 5 ]] || { echo "smoke: expected 5 records back" >&2; exit 1; }
step tool.sh api-versions '>' "kafka-$KAFKA_VERSION-api-versions.txt"
"$k/tool.sh" api-versions --bootstrap-server "$b" > "$k/kafka-$KAFKA_VERSION-api-versions.txt"
grep -E 'Produce\(0\)|InitProducerId\(22\)|ApiVersions\(18\)' "$k/kafka-$KAFKA_VERSION-api-versions.txt"
step tool.sh producer-perf --num-records 100000 --record-size 100 acks=all
"$k/tool.sh" topics --bootstrap-server "$b" --create --topic perf --partitions 1 --replication-factor 1 >/dev/null
"$k/tool.sh" producer-perf --topic perf --num-records 100000 --record-size 100 --throughput -1 \
  --producer-props bootstrap.servers="$b" acks=all
step stop.sh --port "$port"; "$k/stop.sh" --port "$port"
if alive "$pid"; then echo "smoke: kafka pid $pid still alive after stop" >&2; exit 1; fi
echo "kafka pid $pid is gone"
echo; echo "smoke: OK"
