#!/usr/bin/env bash
# idem's Rust client against librdkafka, producing to the same idem broker in the same run:
# `idem bench produce` vs librdkafka 2.16 (confluent-kafka, from PyPI) and librdkafka 2.0.2 (kcat,
# from Debian), 100 B and 1 KiB records, idempotence on, each client's defaults otherwise.
# Each (client, size) is run ROUNDS times, alternating clients; the table gives the median.
#
# Usage: bench/client.sh [RECORDS (default 1000000)] [ROUNDS (default 3)]
# Writes target/bench-client.md and prints it. Starts one release `idem serve` on a free loopback
# port with a temporary data directory (log.flush.policy=always, idem's default: every
# acknowledgement is fsynced), and stops it by pid on any exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
records=${1:-1000000} rounds=${2:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/idem-bench-client.XXXXXX")
broker_pid=""
cleanup() {
  [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '== %s\n' "$*" >&2; }
cd "$ROOT"
say "building idem (release)"
cargo build --release -q --bin idem
idem=$ROOT/target/release/idem

venv=$ROOT/.cache/bench-venv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
  say "installing confluent-kafka into $venv (pip cache)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q confluent-kafka==2.16.1
fi
if ! command -v kcat >/dev/null; then
  say "installing kcat (Debian)"
  if [[ $(id -u) == 0 ]]; then apt-get install -y -q kcat >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q kcat >/dev/null; }; fi
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
bootstrap=127.0.0.1:$port
"$idem" serve --data-dir "$work/data" --listen "$bootstrap" --log warn </dev/null >"$work/idem.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done

results=$work/results.jsonl
: > "$results"
run() { # run CLIENT SIZE ROUND
  local client=$1 size=$2 round=$3 topic="b-$1-$2-$3" out
  case $client in
    idem)
      out=$("$idem" bench produce -b "$bootstrap" -t "$topic" -n "$records" -s "$size" --json) ;;
    confluent-kafka)
      out=$("$venv/bin/python" "$ROOT/bench/librdkafka_perf.py" "$bootstrap" "$topic" "$records" "$size") ;;
    kcat)
      [[ -f $work/lines$size ]] || python3 -c "import sys; sys.stdout.buffer.write((b'x' * $size + b'\n') * $records)" > "$work/lines$size"
      local t0=$EPOCHREALTIME rc=0
      kcat -P -b "$bootstrap" -t "$topic" -X enable.idempotence=true -l "$work/lines$size" || rc=$?
      out=$(python3 -c "import json; print(json.dumps({'records': $records if $rc == 0 else 0, 'errors': $rc, 'seconds': round($EPOCHREALTIME - $t0, 3)}))") ;;
  esac
  python3 -c "import json, sys; r = json.loads(sys.argv[1]); r.update(client='$client', size=$size, round=$round); print(json.dumps(r))" "$out" >> "$results"
  say "$(tail -1 "$results")"
}
clients=(idem confluent-kafka)
command -v kcat >/dev/null && clients+=(kcat)
for size in 100 1024; do
  for round in $(seq "$rounds"); do
    for client in "${clients[@]}"; do run "$client" "$size" "$round"; done
  done
done

report=$ROOT/target/bench-client.md
python3 - "$results" "$records" "$rounds" > "$report" <<'PY'
import json, statistics, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1])]
records, rounds = int(sys.argv[2]), int(sys.argv[3])
print(f"# idem client vs librdkafka ({datetime.datetime.utcnow():%Y-%m-%d %H:%M}Z, {records} records x {rounds} rounds, one idem broker, fsync on ack)\n")
print("| record size | client | records/s (median) | MB/s | runs (records/s) | errors | vs confluent-kafka |")
print("|---:|---|---:|---:|---|---:|---:|")
for size in sorted({r["size"] for r in rows}):
    med = {}
    for client in dict.fromkeys(r["client"] for r in rows):
        rs = [r for r in rows if r["client"] == client and r["size"] == size]
        rates = [r["records"] / r["seconds"] if r["seconds"] else 0 for r in rs]
        med[client] = (statistics.median(rates), rates, sum(r["errors"] for r in rs))
    base = med.get("confluent-kafka", (0,))[0]
    for client, (m, rates, errs) in med.items():
        ratio = f"{m / base:.2f}x" if base else "-"
        print(f"| {size} B | {client} | {m:,.0f} | {m * size / 1048576:,.1f} | {', '.join(f'{x:,.0f}' for x in rates)} | {errs} | {ratio} |")
print("\nidem: `idem bench produce` (idem-client defaults: batch.size 1,000,000, linger.ms 5). "
      "confluent-kafka: librdkafka 2.16 via Python, a delivery callback per record. "
      "kcat: librdkafka 2.0.2, lines from a file, no per-record callback. All idempotent.")
PY
cat "$report"
