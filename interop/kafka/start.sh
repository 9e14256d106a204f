#!/usr/bin/env bash
# Start a fresh single-node Apache Kafka (KRaft, combined broker+controller) on loopback, in the
# background, and wait until it answers a metadata request.
#   start.sh [--port N] [--controller-port M] [--dir D] [--advertised HOST:PORT] [--set key=value ...]
# Defaults: 9192/9193 (idem owns 9092), dir .cache/kafka/run-<port>. Each run formats a NEW data
# dir, so every start is a clean cluster; a Kafka still running from the same dir is stopped first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

port=9192 cport=9193 dir="" advertised="" sets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port)            port=$2; shift 2 ;;
    --controller-port) cport=$2; shift 2 ;;
    --dir)             dir=$2; shift 2 ;;
    --advertised)      advertised=$2; shift 2 ;;
    --set)             [[ $2 == *=* ]] || die "--set wants key=value, got '$2'"; sets+=("$2"); shift 2 ;;
    *) die "usage: start.sh [--port N] [--controller-port M] [--dir D] [--advertised HOST:PORT] [--set k=v ...]" ;;
  esac
done
dir=${dir:-$KAFKA_CACHE/run-$port}
advertised=${advertised:-127.0.0.1:$port}
timeout_s=${KAFKA_START_TIMEOUT:-90}

ensure_installed
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[[ -f $dir/kafka.pid ]] && "$HERE/stop.sh" --dir "$dir"
for p in "$port" "$cport"; do
  port_open "$p" && die "port $p is already in use (another broker? idem?); pick --port/--controller-port"
done

# Only our own files are removed, never the directory itself (it may be a caller's dir).
rm -rf "$dir/data" "$dir/kafka.log"
{
  cat <<PROPS
# Written by interop/kafka/start.sh; later lines override earlier ones (java.util.Properties).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$advertised
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=8
PROPS
  for kv in "${sets[@]}"; do echo "$kv"; done
} > "$dir/server.properties"

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
t0=$(now_ms)
# Static voters (controller.quorum.voters) => format without --standalone.
# A cluster id is 16 random bytes in unpadded base64url, which is what `StorageTool random-uuid` prints.
# Never starting with '-': the storage tool would read it as an option (Kafka's own
# Uuid.randomUuid() regenerates such ids too).
cluster_id=-
while [[ $cluster_id == -* ]]; do
  cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
done
java -Xmx256M -Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" -cp "$KAFKA_CP" \
  kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
  || { cat "$dir/format.log" >&2; die "storage format failed"; }

# JVM flags of Kafka's kafka-run-class.sh / kafka-server-start.sh, heap 512M..1G.
jvm=(-Xms512M -Xmx1G -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
     -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
     -Dlog4j2.configurationFile="$HERE/log4j2-server.properties")
# setsid: own session, so a Ctrl-C or a dying caller does not take the broker down mid-test.
# The inner shell writes its own pid and then execs java, so the pid file names the JVM itself.
setsid bash -c 'echo $$ > "$1/kafka.pid"; shift; exec "$@"' _ "$dir" \
  java "${jvm[@]}" -cp "$KAFKA_CP" kafka.Kafka "$dir/server.properties" \
  </dev/null >"$dir/kafka.log" 2>&1 &
for _ in $(seq 50); do [[ -s $dir/kafka.pid ]] && break; sleep 0.1; done
pid=$(cat "$dir/kafka.pid" 2>/dev/null) || die "kafka did not start (no pid file in $dir)"

fail() {
  echo "---- last 40 lines of $dir/kafka.log ----" >&2; tail -n 40 "$dir/kafka.log" >&2
  "$HERE/stop.sh" --dir "$dir" 2>/dev/null || true   # never leave a half-started broker holding the ports
  die "$1"
}
left() { local l=$(( timeout_s - ($(now_ms) - t0) / 1000 )); echo $(( l > 0 ? l : 0 )); }

# 1) the listener accepts connections and the broker says it has started (cheap checks, polled;
#    the socket is bound well before requests are served, and a client that connects too early
#    sits in reconnect back-off for seconds);
until port_open "$port" && grep -q 'Kafka Server started' "$dir/kafka.log"; do
  alive "$pid" || fail "kafka (pid $pid) exited during start-up"
  (( $(left) > 0 )) || fail "port $port not open / broker not started after ${timeout_s}s"
  sleep 0.2
done
# 2) then a real Metadata request must succeed. The admin client follows advertised.listeners, so
#    with a custom --advertised (e.g. a proxy that is not up yet) only step 1 can be checked here.
if [[ $advertised == "127.0.0.1:$port" ]]; then
  until timeout "$(( $(left) + 1 ))" "$HERE/tool.sh" topics --bootstrap-server "127.0.0.1:$port" --list \
        >/dev/null 2>"$dir/ready-check.log"; do
    alive "$pid" || fail "kafka (pid $pid) exited during start-up"
    (( $(left) > 0 )) || { cat "$dir/ready-check.log" >&2; fail "no metadata answer after ${timeout_s}s"; }
    sleep 0.5
  done
fi
ms=$(( $(now_ms) - t0 ))
printf 'kafka %s ready on 127.0.0.1:%s (pid %s, dir %s) in %d.%01ds\n' \
  "$KAFKA_VERSION" "$port" "$pid" "$dir" $((ms / 1000)) $((ms % 1000 / 100))
