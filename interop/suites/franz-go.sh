#!/usr/bin/env bash
# franz-go's own pkg/kgo integration tests against idem or a real Apache Kafka 4.1.1.
#
#   franz-go.sh [--broker idem|kafka] [--seeds HOST:PORT] [--out DIR] [--idem-bin PATH]
#               [--no-groups] [--group-timeout SECS] [--run REGEX]
#
# Gets github.com/twmb/franz-go at $FRANZ_GO_VERSION through the Go module proxy
# (`go mod download -json`), copies it to $SUITES_CACHE/franz-go-<v>/src (writable) and compiles
# the pkg/kgo test binary once (`go test -c`). Then starts a fresh broker on a free port (unless
# --seeds names a running one) and runs two phases of tests:
#   core   : the tests that need no consumer groups and no transactions (-test.timeout 8m)
#   groups : the group/transaction tests, with a short -test.timeout (--group-timeout, default
#            120 s; Kafka runs them in ~55 s) so that a broker without groups costs bounded time.
#            --no-groups skips this phase.
# Writes DIR/franz-go-<broker>.txt ("<test> <STATUS> <phase>" per top-level test; STATUS is PASS,
# FAIL, SKIP, TIMEOUT, NORESULT or MISSING) and the raw `-test.v` output next to it.
# Exit: 0 all passed or skipped, 1 some test did not pass, 2 the run itself failed.
set -euo pipefail
SCRIPT_NAME=franz-go
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FRANZ_GO_VERSION=${FRANZ_GO_VERSION:-v1.22.3}
MODULE=github.com/twmb/franz-go

# Top-level tests of pkg/kgo at v1.22.3 that talk to a broker (they call newTestClient/adm();
# every other Test* in the package is a unit test or uses the in-process kfake), split by need.
CORE_TESTS=(
  # produce
  TestClient_Produce TestIssue769 TestIssueProduceSyncManualPartitionNegativeDoesNotPanic
  TestIssue831 TestClient_ProduceLargeMessages
  TestIssueProduceBrokerTooOldFailsRecords   # skips itself when the broker advertises Produce v0-2
  # consume without a group (direct partitions / topics, regex)
  TestIssue325 TestIssue337 TestDirectPartitionPurge TestIssue434 TestPauseIssue489
  TestPauseIssueOct2023 TestIssue810 TestIssue865 TestPooling TestHookPollStart
  TestConsumeTopicRetrieval TestConsumeTopicRetrieval_Many TestConsumeRegex TestIssue648
  TestIssueFetchLargerThanBrokerMaxReadBytes TestConsumeMaxDecompressBatchBytes
  TestAddRemovePartitions   # CreatePartitions
  # client plumbing; the last two send one group-API request and only check the client's handling
  TestPing TestIssue1034 TestUnknownGroupOffsetFetchPinned
)
# Need a group coordinator (JoinGroup/SyncGroup/OffsetCommit, KIP-848) or transactions.
GROUP_TESTS=(TestGroupETL TestGroupSimple TestIssue523 Test848RegexBrokerResolves TestTxnEtl)
# Not run at all: TestShareGroup* and TestConsumeRegexShareSkipsInternal (share groups, Kafka 4.2+;
# they skip themselves against 4.1.1 too).

broker=idem seeds="" out="$SUITES_CACHE/results" groups=1 group_timeout=120 run_re=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --broker)        broker=$2; shift 2 ;;
    --seeds)         seeds=$2; shift 2 ;;
    --out)           out=$2; shift 2 ;;
    --idem-bin)      IDEM_BIN=$2; shift 2 ;;
    --no-groups)     groups=0; shift ;;
    --group-timeout) group_timeout=$2; shift 2 ;;
    --run)           run_re=$2; shift 2 ;;
    -h|--help)       sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $broker == idem || $broker == kafka ]] || die "--broker idem|kafka"
command -v go >/dev/null || die "go is not installed"
mkdir -p "$out" && out=$(cd "$out" && pwd)
install_traps

# ---- fetch + compile (cached) ------------------------------------------------------------------
FG=$SUITES_CACHE/franz-go-$FRANZ_GO_VERSION
TESTBIN=$FG/kgo.test
stamp_want="franz-go $FRANZ_GO_VERSION $(go env GOVERSION)"
if [[ ! -x $TESTBIN || $(cat "$FG/built.stamp" 2>/dev/null) != "$stamp_want" ]]; then
  t0=$(now_s)
  log "fetching $MODULE@$FRANZ_GO_VERSION from the Go module proxy"
  mkdir -p "$SUITES_CACHE/tmp"
  # Outside any module (cwd without go.mod), so nothing of the repo is touched.
  json=$(cd "$SUITES_CACHE/tmp" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$FRANZ_GO_VERSION") \
    || die "go mod download $MODULE@$FRANZ_GO_VERSION failed"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")
  [[ -d $dir/pkg/kgo ]] || die "no pkg/kgo in the downloaded module ($dir)"
  rm -rf "$FG" && mkdir -p "$FG"
  cp -r "$dir" "$FG/src" && chmod -R u+w "$FG/src"
  log "compiling the pkg/kgo test binary (go test -c)"
  (cd "$FG/src/pkg/kgo" && GOFLAGS=-mod=mod go test -c -o "$TESTBIN" .) || die "go test -c failed"
  echo "$stamp_want" > "$FG/built.stamp"
  log "franz-go $FRANZ_GO_VERSION ready in $(( $(now_s) - t0 )) s"
fi

# ---- broker ------------------------------------------------------------------------------------
if [[ -z $seeds ]]; then
  [[ $broker == idem ]] && ensure_idem_bin
  port=$(free_port)
  start_broker "$broker" "$port"
  seeds=127.0.0.1:$port
fi
log "franz-go $FRANZ_GO_VERSION pkg/kgo integration tests against $broker at $seeds"

results=$out/franz-go-$broker.txt
rawlog=$out/franz-go-$broker.log
: > "$rawlog"
tmp=$SUITES_CACHE/run/franz-go-$broker
rm -rf "$tmp" && mkdir -p "$tmp"

export KGO_SEEDS=$seeds KGO_TEST_RF=1 KGO_TEST_RECORDS=${KGO_TEST_RECORDS:-20000} KGO_TEST_MAX_TOPIC_PARTS=3

# run_phase NAME TIMEOUT_SECS TEST...: one test binary run; appends "<test> <STATUS> <phase>".
run_phase() {
  local phase=$1 secs=$2; shift 2
  local re
  re="^($(IFS='|'; echo "$*"))\$"
  [[ -n $run_re ]] && re=$run_re
  local plog=$tmp/$phase.log t0 rc=0
  t0=$(now_s)
  log "phase $phase: $# tests, -test.timeout ${secs}s"
  # go test's own timeout panics (listing the running tests); timeout(1) is only a backstop.
  # cwd is the package directory, as under `go test`.
  run_child --log "$plog" timeout -k 10 $((secs + 60)) "$TESTBIN" -test.v -test.count=1 \
    -test.timeout "${secs}s" -test.run "$re" || rc=$?
  { echo "===== phase $phase (exit $rc, $(( $(now_s) - t0 )) s)"; cat "$plog"; } >> "$rawlog"
  # Top-level results; a timeout panic lists the tests still running; a test that started and has
  # no result died with the binary; a listed test that never started does not exist here.
  awk -v phase="$phase" -v want="$*" -v custom="${run_re:+1}" '
    BEGIN { n = split(want, w, " ") }
    /^=== RUN   / { name = $3; if (name !~ /\//) { started[name] = 1; if (!(name in order)) { order[name] = ++k; names[k] = name } } }
    /^--- (PASS|FAIL|SKIP): / { st = $2; sub(":", "", st); res[$3] = st }
    /^panic: test timed out/ { intimeout = 1; next }
    intimeout && /^\t\t[^ ]+ \(/ { t = $1; sub(/\/.*/, "", t); if (!(t in res)) res[t] = "TIMEOUT"; next }
    intimeout && !/^\t/ { intimeout = 0 }
    END {
      if (!custom) for (i = 1; i <= n; i++) if (!(w[i] in started)) { res[w[i]] = "MISSING"; names[++k] = w[i] }
      for (i = 1; i <= k; i++) { t = names[i]; s = (t in res) ? res[t] : "NORESULT"; print t, s, phase }
    }' "$plog" >> "$results"
  log "phase $phase done in $(( $(now_s) - t0 )) s (binary exit $rc)"
}

: > "$results"
cd "$FG/src/pkg/kgo"
run_phase core 480 "${CORE_TESTS[@]}"
if [[ $groups == 1 && -z $run_re ]]; then
  run_phase groups "$group_timeout" "${GROUP_TESTS[@]}"
fi

check_idem_alive "$results"
printf '\nfranz-go %s on %s:\n' "$FRANZ_GO_VERSION" "$broker"
sort -k3,3 -k1,1 "$results" | awk '{ printf "  %-58s %-8s (%s)\n", $1, $2, $3 }'
read -r pass fail skip < <(awk '$2=="PASS"{p++} $2=="SKIP"{s++} $2!="PASS"&&$2!="SKIP"{f++} END{print p+0, f+0, s+0}' "$results")
echo "results: $results; go test -v output: $rawlog"
echo "franz-go/$broker: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]] || exit 1
