#!/usr/bin/env bash
# Differential conformance run: the same raw-protocol scenarios against Apache Kafka 4.1.1 and
# `idem serve`, compared field by field (crates/idem-conformance).
#   run.sh [OUT_DIR] [idem-conformance args...]     e.g. run.sh target/conformance --only s0
# OUT_DIR (default target/conformance) receives conformance.md, observations.json and the two
# brokers' logs. Exit status: the runner's (0 = no difference outside allow.txt, 1 = a
# difference or a scenario error, 2 = the run could not be made); anything else = set-up failed.
# Both brokers run on free loopback ports in a temporary directory and are stopped (by pid) on
# any exit. Needs what interop/kafka needs (java 17+, mvn for the first install) and python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KAFKA="$ROOT/interop/kafka"

out=${1:-$ROOT/target/conformance}
[[ $# -gt 0 ]] && shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
target=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $target == /* ]] || target=$ROOT/$target

say() { printf '== %s\n' "$*" >&2; }
now_s() { date +%s; }
t0=$(now_s)

work=$(mktemp -d "${TMPDIR:-/tmp}/idem-conformance.XXXXXX")
idem_pid="" runner_pid=""
cleanup() {
  local rc=$?
  [[ -n $runner_pid ]] && kill -TERM "$runner_pid" 2>/dev/null || true
  if [[ -n $idem_pid ]] && kill -0 "$idem_pid" 2>/dev/null; then
    kill -TERM "$idem_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$idem_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$idem_pid" 2>/dev/null || true
    wait "$idem_pid" 2>/dev/null || true
  fi
  [[ -f $work/kafka/kafka.pid ]] && "$KAFKA/stop.sh" --dir "$work/kafka" >/dev/null 2>&1 || true
  mkdir -p "$out/logs"
  cp "$work/kafka/kafka.log" "$out/logs/kafka.log" 2>/dev/null || true
  cp "$work/idem.log" "$out/logs/idem.log" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "build: idem and idem-conformance (debug)"
(cd "$ROOT" && cargo build -q -p idem-cli -p idem-conformance --bin idem --bin idem-conformance)

say "install Kafka (cached after the first time)"
"$KAFKA/install.sh"

# Three free loopback ports (Kafka client, Kafka controller, idem), chosen by the kernel.
read -r kafka_port controller_port idem_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')

# Both brokers check producer expiry every 500 ms (default 10 min) so that scenario
# s31-backdated-producer-expiry sees a check within its wait; expiry itself stays at 1 day.
say "start Kafka on 127.0.0.1:$kafka_port"
"$KAFKA/start.sh" --port "$kafka_port" --controller-port "$controller_port" --dir "$work/kafka" \
  --set producer.id.expiration.check.interval.ms=500 </dev/null

say "start idem on 127.0.0.1:$idem_port"
"$target/debug/idem" serve --data-dir "$work/idem" --listen "127.0.0.1:$idem_port" \
  --set producer.id.expiration.check.interval.ms=500 \
  --set group.initial.rebalance.delay.ms=0 </dev/null >"$work/idem.log" 2>&1 &
idem_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$idem_port") 2>/dev/null && break
  kill -0 "$idem_pid" 2>/dev/null || { cat "$work/idem.log" >&2; say "idem exited at start-up"; exit 3; }
  sleep 0.1
done

say "run the scenarios"
# In the background + wait, so that a signal to this script is handled at once.
timeout 300 "$target/debug/idem-conformance" \
  --broker "kafka=127.0.0.1:$kafka_port" --broker "idem=127.0.0.1:$idem_port" \
  --out "$out" --allow "$HERE/allow.txt" "$@" </dev/null &
runner_pid=$!
rc=0
wait "$runner_pid" || rc=$?
runner_pid=""
say "done in $(( $(now_s) - t0 )) s: exit $rc; report $out/conformance.md"
exit "$rc"
