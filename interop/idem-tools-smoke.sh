#!/usr/bin/env bash
# A new user's first minutes, scripted: Kafka's own tools (4.1.1, from Maven Central) and kcat
# (Debian) create, list, describe, produce to and consume from `idem serve`; then SIGTERM must
# stop idem with exit 0 and a clean-shutdown marker, and a restart must serve the same data.
#
# Usage: interop/idem-tools-smoke.sh [path/to/idem]   (default: target/debug/idem)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
idem=${1:-$root/target/debug/idem}
tool=$root/interop/kafka/tool.sh

command -v kcat >/dev/null || { apt-get update -qq && apt-get install -y -qq kcat >/dev/null; }
"$root/interop/kafka/install.sh" >/dev/null

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bootstrap=127.0.0.1:$port
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {
  "$idem" serve --data-dir "$work/data" --listen "$bootstrap" --log warn >>"$work/idem.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
  echo "idem did not start"; cat "$work/idem.log"; exit 1
}
fail() { echo "FAIL: $*"; echo "--- idem log"; cat "$work/idem.log"; exit 1; }
expect() { # expect NAME WANT GOT
  [ "$2" = "$3" ] || fail "$1: expected [$2], got [$3]"
  echo "ok: $1"
}

start
"$tool" topics --bootstrap-server "$bootstrap" --create --topic orders --partitions 3 --replication-factor 1 >/dev/null
expect "kafka-topics --list" "orders" "$("$tool" topics --bootstrap-server "$bootstrap" --list)"
described=$("$tool" topics --bootstrap-server "$bootstrap" --describe --topic orders)
expect "kafka-topics --describe (partitions)" "3" "$(grep -c 'Leader: 1' <<<"$described")"

printf 'alpha\nbeta\ngamma\n' | "$tool" console-producer --bootstrap-server "$bootstrap" --topic orders \
  --property parse.key=false --producer-property enable.idempotence=true --producer-property partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner >/dev/null
printf 'k1:one\nk2:two\n' | kcat -P -b "$bootstrap" -t orders -p 0 -K: -X enable.idempotence=true
java_count=0
for p in 0 1 2; do
  n=$("$tool" console-consumer --bootstrap-server "$bootstrap" --topic orders --partition $p \
      --offset earliest --timeout-ms 5000 2>/dev/null | grep -c . || true)
  java_count=$((java_count + n))
done
expect "kafka-console-consumer reads every record" "5" "$java_count"
kcat_values=$(kcat -C -b "$bootstrap" -t orders -o beginning -e -q -f '%s\n' | sort | tr '\n' ' ')
expect "kcat reads every record" "alpha beta gamma one two " "$kcat_values"
offsets=$("$tool" get-offsets --bootstrap-server "$bootstrap" --topic orders | awk -F: '{s+=$3} END {print s}')
expect "GetOffsetShell end offsets sum" "5" "$offsets"

kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=
expect "SIGTERM exits 0" "0" "$status"
[ -e "$work/data/.idem-clean-shutdown" ] || fail "no clean-shutdown marker"
echo "ok: clean-shutdown marker written"

start
kcat_values=$(kcat -C -b "$bootstrap" -t orders -o beginning -e -q -f '%s\n' | sort | tr '\n' ' ')
expect "same records after restart" "alpha beta gamma one two " "$kcat_values"
kill -TERM "$pid"; wait "$pid"; pid=
echo "idem tools smoke: all passed"
