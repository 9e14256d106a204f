#!/usr/bin/env bash
# idem against Apache Kafka 4.1.1 on this machine, in one run, with the same three clients
# (Kafka's ProducerPerformance, librdkafka via confluent-kafka, `idem bench produce`).
#
#   bench/vs-kafka.sh --quick        # CI: 2 cells (100 B, 1 partition, idempotent, both durabilities), 1 repetition, <= 5 minutes (installs cached)
#   bench/vs-kafka.sh                # the full matrix of BENCHMARKS.md: 16 cells, 3 repetitions
#   bench/vs-kafka.sh [--reps N] [--clients idem,java,rdkafka] [--out DIR] [--min-ratio R]
#
# Builds the release idem, installs Kafka (interop/kafka/install.sh, .cache/kafka) and a venv with
# confluent-kafka and matplotlib (.cache/bench-venv), then runs bench/vs_kafka.py. Brokers run one
# at a time on CPU 0, clients on CPU 1, data in $BENCH_TMP (default /tmp). Output in DIR (default
# target/vs-kafka-quick or target/vs-kafka): results.jsonl, meta.json, report.md, vs-kafka.png.
# Exits non-zero when a broker does not start, a client fails or reports errors, or the geometric
# mean of idem/Kafka peak records/s falls below --min-ratio (default 0.5; see BENCHMARKS.md).
# Every broker it starts is stopped by pid on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
quick="" out="" pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; pass+=(--quick); shift ;;
    --out) out=$2; shift 2 ;;
    --reps|--clients|--min-ratio) pass+=("$1" "$2"); shift 2 ;;
    *) echo "usage: bench/vs-kafka.sh [--quick] [--reps N] [--clients LIST] [--out DIR] [--min-ratio R]" >&2; exit 2 ;;
  esac
done
out=${out:-target/vs-kafka${quick:+-quick}}
say() { printf '== %s\n' "$*" >&2; }

say "building idem (release)"
cargo build --release -q --bin idem
interop/kafka/install.sh >&2
venv=$ROOT/.cache/bench-venv
if ! "$venv/bin/python" -c 'import confluent_kafka, matplotlib' 2>/dev/null; then
  say "installing confluent-kafka and matplotlib into $venv (pip cache)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q confluent-kafka==2.16.1 matplotlib
fi
[[ $(nproc) -ge 2 ]] || say "warning: fewer than 2 CPUs; brokers and clients will share CPU 0"
idem="${CARGO_TARGET_DIR:-$ROOT/target}/release/idem"
exec "$venv/bin/python" bench/vs_kafka.py --idem "$idem" --python "$venv/bin/python" \
  --out "$out" "${pass[@]}"
