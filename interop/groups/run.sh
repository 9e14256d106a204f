#!/usr/bin/env bash
# Real group consumers against idem: confluent-kafka Consumer.subscribe (one and two members,
# and a static member restarting), kcat -G, Java's
# KafkaConsumer.subscribe (kafka-console-consumer --group), Kafka's VerifiableConsumer and
# EndToEndLatency, and kafka-consumer-groups (list, describe, reset offsets, delete).
#
#   run.sh [--idem-bin PATH] [--keep]
#
# Starts its own `idem serve` on a free 127.0.0.1 port with a fresh data directory (Kafka's
# default group.initial.rebalance.delay.ms of 3 s), runs each check under timeout(1), prints
# PASS/FAIL per check with its numbers, stops the broker by pid and exits 1 if any check
# failed. Installs what it needs first: Kafka 4.1.1's jars (interop/kafka/install.sh, cache in
# .cache/kafka) and confluent-kafka in interop/groups/.venv (PyPI); kcat from Debian. No input
# needed. --keep leaves the data directory and logs for inspection.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
idem_bin=${IDEM_BIN:-}
keep=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --idem-bin) idem_bin=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf '[groups] %s\n' "$*" >&2; }

# ---- install ----------------------------------------------------------------------------------
if [[ -z $idem_bin ]]; then
  (cd "$ROOT" && cargo build -q --release --bin idem)
  idem_bin=${CARGO_TARGET_DIR:-$ROOT/target}/release/idem
fi
[[ -x $idem_bin ]] || { echo "no idem binary at $idem_bin" >&2; exit 2; }
"$ROOT/interop/kafka/install.sh" >&2
if ! command -v kcat >/dev/null; then
  apt-get update -qq </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat </dev/null >/dev/null
fi
if [[ ! -x $HERE/.venv/bin/python ]] || ! "$HERE/.venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/pip" install -q --disable-pip-version-check confluent-kafka==2.16.1 </dev/null
fi
PY=$HERE/.venv/bin/python
TOOL=$ROOT/interop/kafka/tool.sh

# ---- broker -----------------------------------------------------------------------------------
work=$(mktemp -d /tmp/idem-groups.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
B=127.0.0.1:$port
"$idem_bin" serve --data-dir "$work/data" --listen "$B" --log info >"$work/idem.log" 2>&1 &
idem_pid=$!
cleanup() {
  if kill -0 "$idem_pid" 2>/dev/null; then kill -TERM "$idem_pid"; wait "$idem_pid" 2>/dev/null || true; fi
  if [[ $keep == 0 ]]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT
for _ in $(seq 100); do
  (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done
log "idem $("$idem_bin" --version 2>/dev/null || true) on $B (pid $idem_pid, $work)"

declare -a RESULTS
failed=0
check() { # check NAME STATUS DETAIL
  RESULTS+=("$(printf '%-38s %-4s %s' "$1" "$2" "$3")")
  [[ $2 == PASS ]] || failed=1
  log "$1: $2 $3"
}
t() { timeout -k 5 "$@"; }

"$idem_bin" topics create grp -p 3 --bootstrap "$B" >/dev/null
seq 1 300 | sed 's/^/m/' | t 60 kcat -P -b "$B" -t grp -K: -X enable.idempotence=true
seq 1 300 | awk '{print "k" $1 ":m" $1}' | t 60 kcat -P -b "$B" -t grp -K: -X enable.idempotence=true
# 600 records in 3 partitions.

# ---- confluent-kafka (librdkafka 2.x) Consumer.subscribe -----------------------------------------
cat >"$work/cf.py" <<'EOF'
import json, sys, time
from confluent_kafka import Consumer, TopicPartition
b, group, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({"bootstrap.servers": b, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe(["grp"])
seen, deadline = set(), time.time() + 40
while time.time() < deadline and len(seen) < want:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    seen.add((m.partition(), m.offset()))
c.commit(asynchronous=False)
parts = [TopicPartition("grp", p) for p in range(3)]
committed = sum(max(tp.offset, 0) for tp in c.committed(parts, timeout=10))
assigned = len(c.assignment())
c.close()
print(json.dumps({"consumed": len(seen), "committed": committed, "assigned": assigned}))
EOF
if out=$(t 90 "$PY" "$work/cf.py" "$B" cf 600 2>>"$work/cf.err"); then
  consumed=$(jq -r .consumed <<<"$out"); committed=$(jq -r .committed <<<"$out")
  if [[ $consumed == 600 && $committed == 600 ]]; then
    check "confluent-kafka subscribe" PASS "600/600 consumed, committed offsets sum 600, $(jq -r .assigned <<<"$out") partitions assigned"
  else
    check "confluent-kafka subscribe" FAIL "$out"
  fi
else
  check "confluent-kafka subscribe" FAIL "exit $? ($(tail -1 "$work/cf.err" 2>/dev/null))"
fi
# Two members share the partitions: each gets a part, together all of them.
cat >"$work/cf2.py" <<'EOF'
import json, sys, time, threading
from confluent_kafka import Consumer
b = sys.argv[1]
res = {}
def run(name):
    c = Consumer({"bootstrap.servers": b, "group.id": "cf-two", "auto.offset.reset": "earliest",
                  "client.id": name})
    c.subscribe(["grp"])
    seen, deadline = set(), time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            seen.add((m.partition(), m.offset()))
        if len(res.get("all", set())) >= 600 and time.time() > deadline - 25:
            break
    res[name] = (len(seen), sorted(p.partition for p in c.assignment()))
    res.setdefault("all", set()).update(seen)
    c.close()
ts = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"a": res["a"], "b": res["b"], "union": len(res["all"])}))
EOF
if out=$(t 90 "$PY" "$work/cf2.py" "$B" 2>>"$work/cf.err"); then
  union=$(jq -r .union <<<"$out")
  pa=$(jq -r '.a[1] | length' <<<"$out"); pb=$(jq -r '.b[1] | length' <<<"$out")
  if [[ $union == 600 && $((pa + pb)) == 3 && $pa -ge 1 && $pb -ge 1 ]]; then
    check "confluent-kafka two members" PASS "partitions split $pa+$pb, 600 distinct records between them"
  else
    check "confluent-kafka two members" FAIL "$out"
  fi
else
  check "confluent-kafka two members" FAIL "exit $?"
fi

# Static membership: a member with group.instance.id restarts (librdkafka does not send
# LeaveGroup for static members) and takes its place back under a new member id, the group
# stays Stable and keeps its assignment.
cat >"$work/static.py" <<'EOF2'
import json, sys, time
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
b = sys.argv[1]
admin = AdminClient({"bootstrap.servers": b})
def member():
    c = Consumer({"bootstrap.servers": b, "group.id": "static", "group.instance.id": "i1",
                  "session.timeout.ms": 10000, "auto.offset.reset": "earliest"})
    c.subscribe(["grp"])
    deadline = time.time() + 30
    while time.time() < deadline and not c.assignment():
        c.poll(0.2)
    return c
def describe():
    d = admin.describe_consumer_groups(["static"])["static"].result()
    return [str(d.state).split(".")[-1], [(m.member_id, m.group_instance_id) for m in d.members]]
a = member()
first = describe() + [sorted(p.partition for p in a.assignment())]
a.close()
b2 = member()
second = describe() + [sorted(p.partition for p in b2.assignment())]
b2.close()
print(json.dumps({"first": first, "second": second}))
EOF2
if out=$(t 90 "$PY" "$work/static.py" "$B" 2>>"$work/cf.err"); then
  ok=$(jq -r '(.first[0] == "STABLE") and (.second[0] == "STABLE")
      and (.first[1] | length) == 1 and (.second[1] | length) == 1
      and .first[1][0][1] == "i1" and .second[1][0][1] == "i1"
      and .first[1][0][0] != .second[1][0][0] and .first[2] == [0,1,2] and .second[2] == [0,1,2]' <<<"$out")
  if [[ $ok == true ]]; then
    check "static membership (group.instance.id)" PASS "restarted member i1 replaced its old member id, group Stable, same 3 partitions"
  else
    check "static membership (group.instance.id)" FAIL "$out"
  fi
else
  check "static membership (group.instance.id)" FAIL "exit $?"
fi

# ---- kcat -G ----------------------------------------------------------------------------------
n=$(t 60 kcat -b "$B" -G kg grp -o beginning -e -q -f '%p %o\n' 2>>"$work/kcat.err" | wc -l) || true
n2=$(t 60 kcat -b "$B" -G kg grp -e -q -f '%p %o\n' 2>>"$work/kcat.err" | wc -l) || true
if [[ $n == 600 && $n2 == 0 ]]; then
  check "kcat -G" PASS "600 records, then 0 on a second run (offsets committed)"
else
  check "kcat -G" FAIL "first run $n records, second run $n2 (want 600, 0)"
fi

# ---- Java KafkaConsumer.subscribe (console consumer with --group) -------------------------------
n=$(t 120 "$TOOL" console-consumer --bootstrap-server "$B" --topic grp --group jcc --from-beginning \
      --max-messages 600 --timeout-ms 30000 2>"$work/jcc.err" | wc -l) || true
if [[ $n == 600 ]]; then
  check "Java KafkaConsumer subscribe" PASS "600 records through kafka-console-consumer --group"
else
  check "Java KafkaConsumer subscribe" FAIL "$n records ($(grep -m1 -i 'error\|exception' "$work/jcc.err" || true))"
fi

# ---- kafka-consumer-groups --------------------------------------------------------------------
list=$(t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --list 2>>"$work/cg.err" | sort | tr '\n' ' ')
desc=$(t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --describe --group jcc 2>>"$work/cg.err" | awk '$1=="jcc" && $2=="grp" {s+=$4} END {print s+0}')
t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --group jcc --topic grp --reset-offsets --to-earliest --execute >/dev/null 2>>"$work/cg.err" || true
after=$(t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --describe --group jcc 2>>"$work/cg.err" | awk '$1=="jcc" && $2=="grp" {s+=$4} END {print s+0}')
t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --group jcc --topic grp --reset-offsets --to-offset 100 --execute >/dev/null 2>>"$work/cg.err" || true
to100=$(t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --describe --group jcc 2>>"$work/cg.err" | awk '$1=="jcc" && $2=="grp" {s+=$4} END {print s+0}')
t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --delete --group jcc >"$work/cg-delete.out" 2>>"$work/cg.err" || true
left=$(t 90 "$TOOL" consumer-groups --bootstrap-server "$B" --list 2>>"$work/cg.err" | grep -cx jcc || true)
if [[ $list == *"cf "* && $list == *"jcc "* && $list == *"kg "* && $desc == 600 && $after == 0 && $to100 == 300 && $left == 0 ]]; then
  check "kafka-consumer-groups" PASS "list [$list], describe sum 600, --to-earliest 0, --to-offset 100 x3 = 300, --delete gone"
else
  check "kafka-consumer-groups" FAIL "list [$list] describe=$desc to-earliest=$after to-offset=$to100 left=$left"
fi

# ---- VerifiableConsumer -----------------------------------------------------------------------
"$idem_bin" topics create vc -p 3 --bootstrap "$B" >/dev/null
t 120 "$TOOL" verifiable-producer --bootstrap-server "$B" --topic vc --max-messages 1000 >"$work/vp.out" 2>"$work/vp.err" || true
acked=$(grep -c '"name":"producer_send_success"' "$work/vp.out" || true)
t 120 "$TOOL" verifiable-consumer --bootstrap-server "$B" --topic vc --group-id vcg --max-messages 1000 \
  >"$work/vc.out" 2>"$work/vc.err" || true
consumed=$(jq -s '[.[] | select(.name=="records_consumed") | .count] | add // 0' "$work/vc.out")
commits_ok=$(jq -s '[.[] | select(.name=="offsets_committed" and .success==true)] | length' "$work/vc.out")
commits_bad=$(jq -s '[.[] | select(.name=="offsets_committed" and .success==false)] | length' "$work/vc.out")
assigned=$(jq -s '[.[] | select(.name=="partitions_assigned") | .partitions | length] | add // 0' "$work/vc.out")
if [[ $acked == 1000 && $consumed == 1000 && $commits_ok -ge 1 && $commits_bad == 0 && $assigned == 3 ]]; then
  check "VerifiableConsumer" PASS "1000 acked, 1000 consumed, $commits_ok commits ok, 0 failed, 3 partitions assigned"
else
  check "VerifiableConsumer" FAIL "acked=$acked consumed=$consumed commits ok=$commits_ok failed=$commits_bad assigned=$assigned"
fi

# ---- EndToEndLatency --------------------------------------------------------------------------
if t 120 "$TOOL" e2e-latency "$B" e2e 1000 all 100 >"$work/e2e.out" 2>"$work/e2e.err" && grep -q 'Avg latency' "$work/e2e.out"; then
  check "EndToEndLatency" PASS "1000 messages: $(grep 'Avg latency' "$work/e2e.out"), $(grep Percentiles "$work/e2e.out")"
else
  check "EndToEndLatency" FAIL "$(tail -2 "$work/e2e.err" "$work/e2e.out" | tr '\n' ' ')"
fi

# ---- summary ----------------------------------------------------------------------------------
errors=$(grep -c ' ERROR ' "$work/idem.log" || true)
panics=$(grep -c 'panicked' "$work/idem.log" || true)
if [[ $panics != 0 ]]; then check "broker log" FAIL "$panics panics"; fi
echo
echo "groups interop against idem ($B), $(date -u +%FT%TZ):"
printf '  %s\n' "${RESULTS[@]}"
echo "  broker log: $errors ERROR lines, $panics panics"
exit $failed
