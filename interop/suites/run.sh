#!/usr/bin/env bash
# Peer test suites against idem, checked against allow.txt.
#
#   run.sh [--baseline] [--suites franz-go,librdkafka] [--idem-bin PATH] [--out DIR]
#          [--allow FILE] [--compare-only]
#
# Builds idem once (cargo build --bin idem, unless --idem-bin or $IDEM_BIN), then for each suite
# runs its script against a fresh idem (each script starts and stops its own broker on free ports)
# and compares every test result with allow.txt. --baseline first runs the same suite against a
# fresh Apache Kafka 4.1.1 (interop/kafka) and shows both columns.
# Fails (exit 1) when
#   - a test fails on idem and is not in allow.txt,
#   - a test in allow.txt passes on idem (the list must stay honest: remove the line),
#   - a test in allow.txt did not run at all (stale line),
# and exits 2 when a suite could not run. No input needed (CI=true friendly); every suite is
# bounded by timeout(1); whatever was started is stopped by pid on exit. --compare-only runs
# nothing and compares the results already in DIR (e.g. after editing allow.txt).
set -euo pipefail
SCRIPT_NAME=run
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

baseline=0 suites=franz-go,librdkafka out="$SUITES_CACHE/results" compare_only=0
ALLOW=$SUITES_DIR/allow.txt
while [[ $# -gt 0 ]]; do
  case $1 in
    --baseline) baseline=1; shift ;;
    --suites)   suites=$2; shift 2 ;;
    --idem-bin) IDEM_BIN=$2; shift 2 ;;
    --out)      out=$2; shift 2 ;;
    --allow)    ALLOW=$2; shift 2 ;;
    --compare-only) compare_only=1; shift ;;
    -h|--help)  sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
mkdir -p "$out" && out=$(cd "$out" && pwd)
install_traps
[[ -f $ALLOW ]] || die "no $ALLOW"

# Upper bounds per suite run (including first-time downloads/builds).
declare -A LIMIT=([franz-go]=900 [librdkafka]=1500)

t_all=$(now_s)
IFS=, read -r -a suite_list <<<"$suites"
for s in "${suite_list[@]}"; do
  [[ -n ${LIMIT[$s]:-} ]] || die "unknown suite '$s' (franz-go, librdkafka)"
done
[[ $compare_only == 1 ]] || ensure_idem_bin

declare -A TOOK
run_suite() {   # run_suite SUITE BROKER
  local s=$1 b=$2 rc=0 t0
  t0=$(now_s)
  rm -f "$out/$s-$b.txt"
  log "=== $s against $b"
  run_child timeout -k 30 "${LIMIT[$s]}" "$SUITES_DIR/$s.sh" --broker "$b" --out "$out" \
    ${IDEM_BIN:+--idem-bin "$IDEM_BIN"} </dev/null || rc=$?
  TOOK[$s-$b]=$(( $(now_s) - t0 ))
  case $rc in
    0|1) ;;
    124|137) die "$s against $b did not finish within ${LIMIT[$s]} s" ;;
    *) die "$s against $b could not run (exit $rc)" ;;
  esac
  [[ -s $out/$s-$b.txt ]] || die "$s against $b wrote no results"
}

for s in "${suite_list[@]}"; do
  if [[ $compare_only == 1 ]]; then
    [[ -s $out/$s-idem.txt ]] || die "no results $out/$s-idem.txt to compare"
    [[ $baseline == 0 || -s $out/$s-kafka.txt ]] || die "no results $out/$s-kafka.txt to compare"
    continue
  fi
  if [[ $baseline == 1 ]]; then run_suite "$s" kafka; fi
  run_suite "$s" idem
done

# ---- compare with allow.txt --------------------------------------------------------------------
# allow.txt: "<suite> <test> <reason...>", '#' comments. Statuses other than PASS and SKIP are
# failures (FAIL, TIMEOUT, NORESULT, MISSING).
report=$out/report.txt
awk -v suites=",$suites," -v baseline="$baseline" -v dir="$out" '
  function kstatus(s, t,   f, line, a) {
    if (!baseline) return ""
    f = dir "/" s "-kafka.txt"
    if (!((s) in kloaded)) {
      kloaded[s] = 1
      while ((getline line < f) > 0) { split(line, a, " "); kafka[s SUBSEP a[1]] = a[2] }
      close(f)
    }
    return ((s SUBSEP t) in kafka) ? kafka[s SUBSEP t] : "-"
  }
  FILENAME == ARGV[1] {   # allow.txt
    if ($0 ~ /^[[:space:]]*(#|$)/) next
    if (NF < 3) { printf "%s:%d: wants <suite> <test> <reason>\n", FILENAME, FNR; bad++; next }
    r = $0; sub(/^[[:space:]]*[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+/, "", r)
    allow[$1 SUBSEP $2] = r; asuite[$1 SUBSEP $2] = $1; atest[$1 SUBSEP $2] = $2
    next
  }
  {             # <suite>-idem.txt
    s = FILENAME; sub(/.*\//, "", s); sub(/-idem\.txt$/, "", s)
    t = $1; st = $2; key = s SUBSEP t; seen[key] = 1
    k = kstatus(s, t)
    if (st == "PASS") {
      if (key in allow) { verdict = "UNEXPECTED PASS: remove it from allow.txt"; bad++ } else { verdict = "ok"; pass++ }
    } else if (st == "SKIP") {
      verdict = "skipped by the test"; skip++
    } else if (key in allow) {
      verdict = "allowed: " allow[key]; allowed++
    } else {
      verdict = "UNEXPECTED FAILURE" (k == "PASS" ? " (passes on Kafka: a bug to fix)" : ""); bad++
    }
    if (baseline) printf "%-10s %-56s kafka=%-8s idem=%-8s %s\n", s, t, k, st, verdict
    else          printf "%-10s %-56s idem=%-8s %s\n", s, t, st, verdict
  }
  END {
    for (key in allow) if (index(suites, "," asuite[key] ",") && !(key in seen)) {
      printf "%-10s %-56s allow-listed but did not run: stale allow.txt line\n", asuite[key], atest[key]; bad++
    }
    printf "\n%d expected failures (allow.txt), %d skipped by the tests themselves\n", allowed, skip
    printf "suites: %d passed, %d failed, %d skipped\n", pass, bad, allowed + skip
    exit (bad > 0 ? 1 : 0)
  }' "$ALLOW" $(for s in "${suite_list[@]}"; do echo "$out/$s-idem.txt"; done) > "$report" || cmp_rc=$?

echo
echo "==== peer suites vs allow.txt (report: $report)"
for k in "${!TOOK[@]}"; do echo "time $k: ${TOOK[$k]} s"; done | sort
echo "time total: $(( $(now_s) - t_all )) s"
cat "$report"
if [[ ${cmp_rc:-0} -ne 0 ]]; then
  echo "FAILED: see the UNEXPECTED/stale lines above (full table in $report)"
  exit 1
fi
