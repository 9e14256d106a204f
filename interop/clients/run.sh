#!/usr/bin/env bash
# Real Kafka clients against idem and against Apache Kafka 4.1.1, through a proxy that loses
# acknowledgements. See README.md in this folder.
#
#   run.sh [--broker idem|kafka|both] [--only CLIENTS] [--records N] [--report PATH]
#          [--idem PATH] [--no-seed] [--rule RULE] [--negative-control]
#
#   --broker            which broker(s) to test (default both)
#   --only              comma-separated matrix clients (default all): java,franz-go,
#                       confluent-kafka,kcat,kafka-python,kafkajs,platformatic,idem
#   --records           records per matrix client (default 20000)
#   --report            markdown report (default target/clients-report.md)
#   --idem              idem binary to use (default: cargo build --bin idem, target/debug/idem)
#   --no-seed           skip the seed programs
#   --rule              the matrix's fault rule (default produce:drop-response:every=10); any
#                       `idem proxy --rule` works, e.g. produce:duplicate:every=7; a row still
#                       needs at least one injected fault to pass
#   --negative-control  start idem with idem.unsafe.disable.dedupe=true: the matrix must then FAIL
#                       with duplicates (shows the checks can fail); implies --broker idem
#
# Exit status 0 iff every row passed (rows listed in KNOWN_FAIL below are reported, not counted).
# Everything it starts (brokers, proxies) is stopped by pid on exit. Logs: target/clients-run/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export GOFLAGS=${GOFLAGS:--buildvcs=false} KAFKAJS_NO_PARTITIONER_WARNING=1

rule=produce:drop-response:every=10 brokers=both only="" records=20000 report=$ROOT/target/clients-report.md idem="" seed=1 negative=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --broker) brokers=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --idem) idem=$2; shift 2 ;;
    --no-seed) seed=0; shift ;;
    --rule) rule=$2; shift 2 ;;
    --negative-control) negative=1; brokers=idem; shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 2 ;;
  esac
done
case $brokers in idem) brokers=(idem) ;; kafka) brokers=(kafka) ;; both) brokers=(idem kafka) ;;
  *) echo "--broker idem|kafka|both" >&2; exit 2 ;; esac

# The matrix: each producer's output is read back by a different client (assign + offsets, no group).
CLIENTS=(java franz-go confluent-kafka kcat kafka-python kafkajs platformatic idem)
declare -A READER=([java]=kafka-python [franz-go]=java [confluent-kafka]=franz-go [kcat]=kafka-python
                   [kafka-python]=kcat [kafkajs]=idem [platformatic]=franz-go [idem]=kcat)
# Known failures, "broker:client" -> reason: the row is still run and reported, but does not fail
# the run. Empty: every client passes on both brokers (see README.md).
declare -A KNOWN_FAIL=()

if [[ -n $only ]]; then
  IFS=, read -ra CLIENTS <<< "$only"
  for c in "${CLIENTS[@]}"; do [[ -n ${READER[$c]:-} ]] || { echo "unknown client $c" >&2; exit 2; }; done
fi

work=$ROOT/target/clients-run
rm -rf "$work" && mkdir -p "$work"
rows=$work/rows.jsonl
: > "$rows"
PY=$HERE/.venv/bin/python
JAVA=(java -Xmx512M -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)

# ---- processes we start, stopped on exit -------------------------------------------------------
pids=() kafka_dirs=()
cleanup() {
  local p d
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done   # children only: wait reaps them
  for d in "${kafka_dirs[@]}"; do "$ROOT/interop/kafka/stop.sh" --dir "$d" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
stop_pid() { # stop one of our children and forget it (a stale pid must never be signalled later)
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
forget() { local p keep=(); for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; pids=("${keep[@]}"); }

child() { # run a command as a tracked background child and wait for it, so that a signal to this
          # script is handled at once and the child is stopped with everything else
  "$@" &
  local p=$! rc=0
  pids+=("$p")
  wait "$p" || rc=$?
  forget "$p"
  return "$rc"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { local i; for i in $(seq 100); do port_open "$1" && return; sleep 0.1; done; echo "nothing on port $1" >&2; return 1; }
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

row() { # row key=value ... : append one JSON object to $rows (check=FILE embeds check.py's JSON)
  python3 - "$rows" "$@" <<'PY'
import json, sys
r = {}
for a in sys.argv[2:]:
    k, v = a.split("=", 1)
    if k == "check":
        try:
            r[k] = json.load(open(v))
        except (OSError, ValueError):
            r[k] = None
    elif k == "seconds":
        r[k] = float(v)
    else:
        r[k] = int(v) if v.lstrip("-").isdigit() else v
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(r) + "\n")
PY
}

# ---- install and build -------------------------------------------------------------------------
t_install=$EPOCHREALTIME
"$HERE/install.sh" $([[ ${brokers[*]} == idem ]] && echo --no-kafka)
if [[ -z $idem ]]; then
  (cd "$ROOT" && cargo build -q --bin idem)
  idem=$ROOT/target/debug/idem
fi
idem=$(realpath "$idem")
log "installed and built in $(secs_since "$t_install")s"

# ---- brokers and the proxy ---------------------------------------------------------------------
start_broker() { # start_broker idem|kafka -> sets $bootstrap
  local port; port=$(free_port)
  mkdir -p "$work/$1"
  if [[ $1 == idem ]]; then
    local extra=(--set "idem.http.listener=127.0.0.1:$(free_port)")
    (( negative )) && extra+=(--set idem.unsafe.disable.dedupe=true)
    "$idem" serve --data-dir "$work/idem/data" --listen "127.0.0.1:$port" "${extra[@]}" \
      </dev/null >"$work/idem/idem.log" 2>&1 &
    pids+=($!)
    broker_pid=$!
    idem_http=${extra[1]#idem.http.listener=}
    wait_port "$port"
    wait_port "${idem_http##*:}"
  else
    kafka_dirs+=("$work/kafka")
    "$ROOT/interop/kafka/start.sh" --port "$port" --controller-port "$(free_port)" --dir "$work/kafka" </dev/null
  fi
  bootstrap=127.0.0.1:$port
}
stop_broker() {
  if [[ $1 == idem ]]; then stop_pid "$broker_pid"; else "$ROOT/interop/kafka/stop.sh" --dir "$work/kafka" >/dev/null; fi
}

start_proxy() { # start_proxy RULE LOG -> sets $proxy, $proxy_ctl, $proxy_pid
  local port ctl; port=$(free_port) ctl=$(free_port)
  "$idem" proxy --upstream "$bootstrap" --listen "127.0.0.1:$port" --control "127.0.0.1:$ctl" \
    --rule "$1" --seed 1 </dev/null >"$2" 2>&1 &
  proxy_pid=$! proxy=127.0.0.1:$port proxy_ctl=127.0.0.1:$ctl
  pids+=("$proxy_pid")
  wait_port "$port"
  wait_port "$ctl"
}
dedupe_counts() { # dedupe_counts: "duplicates restamped refused" from idem's /metrics ("" on Kafka)
  [[ $1 == idem ]] || return 0
  python3 -c 'import sys, urllib.request as u
m = {}
for line in u.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode().splitlines():
    if line and not line.startswith("#"):
        k, _, v = line.rpartition(" ")
        m[k] = v
print(*(m.get(k, "0") for k in ("idem_duplicates_total", "idem_duplicate_restamped_total",
                                 "idem_duplicate_payload_mismatches_total")))' "$idem_http"
}
dropped() { # faults injected so far (lost acknowledgements with drop-response), from the proxy's /stats
  python3 -c 'import json, sys, urllib.request as u
print(sum(json.load(u.urlopen(f"http://{sys.argv[1]}/stats", timeout=5)).get("faults", {}).values()))' "$proxy_ctl"
}

# ---- the clients -------------------------------------------------------------------------------
# Both run as `child` (a subshell): exec, so that the tracked pid is timeout's, which passes a
# SIGTERM on to the client.
produce() { # produce CLIENT BOOTSTRAP TOPIC COUNT ACKLOG   (5 minutes at most)
  local c=$1 t=(timeout -k 10 300); shift
  case $c in
    java)            exec "${t[@]}" "${JAVA[@]}" -cp "$HERE/java/target/classes:$HERE/java/target/lib/*" Produce "$@" ;;
    franz-go)        exec "${t[@]}" "$HERE/.cache/bin/franz" produce "$@" ;;
    confluent-kafka) exec "${t[@]}" "$PY" "$HERE/python/produce_confluent.py" "$@" ;;
    kcat)            exec "${t[@]}" "$HERE/kcat/produce.sh" "$@" ;;
    kafka-python)    exec "${t[@]}" "$PY" "$HERE/python/produce_kafka_python.py" "$@" ;;
    kafkajs)         exec "${t[@]}" node "$HERE/js/produce_kafkajs.js" "$@" ;;
    platformatic)    exec "${t[@]}" node "$HERE/js/produce_platformatic.mjs" "$@" ;;
    idem)            exec "${t[@]}" "$HERE/idem/produce.sh" "$idem" "$@" ;;
  esac
}
read_topic() { # read_topic READER BOOTSTRAP TOPIC OUT   (3 minutes at most)
  local c=$1 t=(timeout -k 10 180); shift
  case $c in
    java)         exec "${t[@]}" "${JAVA[@]}" -cp "$HERE/java/target/classes:$HERE/java/target/lib/*" Read "$@" ;;
    franz-go)     exec "${t[@]}" "$HERE/.cache/bin/franz" read "$@" ;;
    kafka-python) exec "${t[@]}" "$PY" "$HERE/python/read_kafka_python.py" "$@" ;;
    kcat)         exec "${t[@]}" "$HERE/kcat/read.sh" "$@" ;;
    idem)         exec "${t[@]}" "$HERE/idem/read.sh" "$idem" "$@" ;;
  esac
}

# ---- the seed programs -------------------------------------------------------------------------
seed_source_note() { # is seed-go/main.go the seed's text minus the one line that does not compile?
  local f
  f=$(ls "$ROOT"/../shared/seed/000_*.txt 2>/dev/null | head -1) || true
  if [[ -z $f ]]; then
    row kind=note verdict=NOTE text="seed-go/main.go not compared: the seed document (shared/seed/) is not beside this clone"
  elif diff <(sed -n '/^package main$/,/^}$/p' "$f" | grep -vF 'kgo.ProducerIdempotent(),') "$HERE/seed-go/main.go" >/dev/null; then
    row kind=note verdict=NOTE text="seed-go/main.go is the seed's Go program byte for byte except the deleted line \`kgo.ProducerIdempotent(),\` (no such option in franz-go; idempotence is its default)"
  else
    row kind=note verdict=FAIL text="seed-go/main.go differs from the seed's Go program by more than the deleted \`kgo.ProducerIdempotent(),\` line"
  fi
}

orders_count=0
seed_run() { # seed_run BROKER go|java direct|lost-ack
  local b=$1 prog=$2 mode=$3 dir=$work/$1/seed-$2-$3 t0=$EPOCHREALTIME addr=$bootstrap drops=0 rc=0
  mkdir -p "$dir"
  if [[ $mode == lost-ack ]]; then
    start_proxy produce:drop-response:first=1 "$dir/proxy.log"
    addr=$proxy
  fi
  if [[ $prog == go ]]; then
    # The seed's Go program, unmodified but for the address (the seed hard-codes localhost:9092).
    cp "$HERE/seed-go/go.mod" "$HERE/seed-go/go.sum" "$dir/"
    sed "s/\"localhost:9092\"/\"localhost:${addr##*:}\"/" "$HERE/seed-go/main.go" > "$dir/main.go"
    child bash -c 'cd "$1" && go build -o seed-go . && exec timeout 120 ./seed-go' _ "$dir" </dev/null >"$dir/out.log" 2>&1 || rc=$?
  else
    BOOTSTRAP=localhost:${addr##*:} child timeout 120 "${JAVA[@]}" \
      -cp "$HERE/seed-java/target/classes:$HERE/seed-java/target/lib/*" SeedProducer </dev/null >"$dir/out.log" 2>&1 || rc=$?
  fi
  if [[ $mode == lost-ack ]]; then drops=$(dropped || echo 0); stop_pid "$proxy_pid"; fi
  # read `orders` back with a third client (kcat): every record must be the seed's, one more per run
  local want=$((orders_count + 1)) n others last said why="" verdict=PASS
  kcat -C -b "$bootstrap" -t orders -o beginning -e -q -f '%o %s\n' </dev/null >"$dir/orders.txt" 2>"$dir/kcat.err" || true
  n=$(grep -c . "$dir/orders.txt" || true)
  others=$(grep -vc ' Order-123$' "$dir/orders.txt" || true)
  last=$(tail -1 "$dir/orders.txt" | cut -d' ' -f1)
  orders_count=$n
  said=$(grep -o 'Produced successfully!.*\|Failed to produce.*' "$dir/out.log" | head -1 | sed 's/ topic=.*//')
  [[ -n $said ]] || said="(nothing; exit $rc)"
  if [[ $rc != 0 || $said != "Produced successfully!"* ]]; then verdict=FAIL why="client: $(tail -1 "$dir/out.log")"
  elif [[ $n != "$want" || $others != 0 ]]; then verdict=FAIL why="orders holds $n records ($others not Order-123), want $want"
  elif [[ $mode == lost-ack && $drops != 1 ]]; then verdict=FAIL why="the proxy dropped $drops responses, want 1"
  elif [[ $prog == java ]] && ! grep -q "offset=$last\$" "$dir/out.log"; then
    verdict=FAIL why="Java was told another offset than $last, where the record is"
  fi
  [[ $mode == lost-ack ]] && mode="first Produce response lost" || mode=direct
  row kind=seed broker="$b" client="seed-$prog" mode="$mode" dropped="$drops" said="$said" \
      records="$n" want="$want" verdict="$verdict" why="$why" seconds="$(secs_since "$t0")"
  log "  seed-$prog ($mode): $verdict $why"
}

# ---- one matrix row ----------------------------------------------------------------------------
matrix_run() { # matrix_run BROKER CLIENT
  local b=$1 c=$2 reader=${READER[$2]} dir=$work/$1/$2 t0=$EPOCHREALTIME prc=0 rrc=0 drops why="" verdict=PASS
  mkdir -p "$dir"
  start_proxy "$rule" "$dir/proxy.log"
  # The broker's dedupe counters around the producer: how many retries were duplicates, how
  # many of those carried new timestamps (re-encoded by the client), how many reused a
  # sequence range with other records (refused with INVALID_RECORD).
  local before after dedupe="" d0 t0r r0 d1 t1r r1
  before=$(dedupe_counts "$b" || true)
  child produce "$c" "$proxy" "m-$c" "$records" "$dir/acks.jsonl" </dev/null >"$dir/produce.log" 2>&1 || prc=$?
  drops=$(dropped || echo 0)
  after=$(dedupe_counts "$b" || true)
  if [[ -n $before && -n $after ]]; then
    read -r d0 t0r r0 <<< "$before"; read -r d1 t1r r1 <<< "$after"
    dedupe="$((d1 - d0)) dup, $((t1r - t0r)) re-stamped, $((r1 - r0)) refused"
  fi
  stop_pid "$proxy_pid"
  child read_topic "$reader" "$bootstrap" "m-$c" "$dir/log.jsonl" </dev/null >"$dir/read.log" 2>&1 || rrc=$?
  local offsets=()
  [[ $c == kcat ]] && offsets=(--no-offsets)
  touch "$dir/acks.jsonl" "$dir/log.jsonl"
  python3 "$HERE/check.py" --client "$c" --count "$records" --acks "$dir/acks.jsonl" --log "$dir/log.jsonl" \
    "${offsets[@]}" --json "$dir/check.json" > "$dir/check.txt" 2>&1 || verdict=FAIL
  if (( prc != 0 )); then verdict=FAIL why="producer exit $prc: $(tail -1 "$dir/produce.log")"
  elif (( rrc != 0 )); then verdict=FAIL why="reader $reader exit $rrc: $(tail -1 "$dir/read.log")"
  elif [[ $verdict == FAIL ]]; then why=$(tail -1 "$dir/check.txt")
  elif (( drops == 0 )); then verdict=FAIL why="the proxy injected no fault: nothing was tested"
  fi
  local known=${KNOWN_FAIL[$b:$c]:-}
  if [[ -n $known ]]; then
    if [[ $verdict == FAIL ]]; then verdict="KNOWN FAILURE" why="$known (this run: $why)"
    else why="passed, but listed as a known failure: $known"; fi
  fi
  row kind=matrix broker="$b" client="$c" reader="$reader" sent="$records" dropped="$drops" \
      dedupe="$dedupe" check="$dir/check.json" verdict="$verdict" why="$why" seconds="$(secs_since "$t0")"
  log "  $c -> $reader: $verdict, dropped acks=$drops${dedupe:+, broker: $dedupe}, $(head -1 "$dir/check.txt") $why"
}

# ---- run ---------------------------------------------------------------------------------------
versions_note() { # the client versions this run actually used
  local v
  v="kafka-clients $(ls "$HERE/java/target/lib" | sed -n 's/^kafka-clients-\(.*\)\.jar$/\1/p')"
  v+=", franz-go $(cd "$HERE/go" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)"
  v+=", $("$PY" -c 'import confluent_kafka as c, kafka; print(f"confluent-kafka {c.__version__} (librdkafka {c.libversion()[0]}), kafka-python {kafka.__version__}")')"
  v+=", kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/\1 (librdkafka \2)/p')"
  v+=", $(cd "$HERE/node_modules" && node -p '["kafkajs", "@platformatic/kafka"].map(n =>
    n + " " + JSON.parse(require("fs").readFileSync(n + "/package.json")).version).join(", ")')"
  v+="; node $(node --version), $(go version | cut -d' ' -f3), java $(java -version 2>&1 | head -1 | cut -d'"' -f2), python $("$PY" -c 'import platform; print(platform.python_version())')"
  row kind=note verdict=NOTE text="Clients: $v"
}

versions_note
(( seed )) && seed_source_note
for b in "${brokers[@]}"; do
  t0=$EPOCHREALTIME
  log "$b: starting"
  start_broker "$b"
  "$PY" "$HERE/python/create_topics.py" "$bootstrap" 1 orders </dev/null >"$work/$b/topics.log" 2>&1
  topic_args=()
  for c in "${CLIENTS[@]}"; do topic_args+=("m-$c"); done
  "$PY" "$HERE/python/create_topics.py" "$bootstrap" 3 "${topic_args[@]}" </dev/null >>"$work/$b/topics.log" 2>&1
  log "$b: ready on $bootstrap in $(secs_since "$t0")s"
  orders_count=0
  if (( seed )); then
    for prog in go java; do for mode in direct lost-ack; do seed_run "$b" "$prog" "$mode"; done; done
  fi
  for c in "${CLIENTS[@]}"; do matrix_run "$b" "$c"; done
  stop_broker "$b"
  log "$b: done in $(secs_since "$t0")s"
done

mkdir -p "$(dirname "$report")"
title="idem client interop ($(date -u +%Y-%m-%dT%H:%MZ), $records records per client, matrix rule $rule)"
(( negative )) && title+=" - NEGATIVE CONTROL: idem.unsafe.disable.dedupe=true, failures expected"
python3 "$HERE/report.py" "$rows" "$report" "$title"
