#!/usr/bin/env bash
# librdkafka 2.0.2's own test suite (tests/test-runner, from Debian's source package) against idem
# or a real Apache Kafka 4.1.1.
#
#   librdkafka.sh [--broker idem|kafka] [--bootstrap HOST:PORT] [--out DIR] [--idem-bin PATH]
#                 [--tests 0001,0002,...] [--build-only]
#
# Build (once, cached in $SUITES_CACHE/librdkafka-2.0.2, ~2.5 min on 2 cores): adds a deb-src line
# for bookworm if apt has none, installs the build dependencies with apt-get (needs root), runs
# `apt-get source --download-only librdkafka=2.0.2-1`, builds the library and tests/test-runner.
# --build-only stops there.
# Run: starts a fresh broker on a free port with the librdkafka "default" test scenario
# (auto.create.topics.enable=true, num.partitions=4: tests/scenarios/default.json) unless
# --bootstrap names a running one, writes a test.conf pointing at it, and runs each test in its own
# test-runner process (TESTS=nnnn, so one failure or leaked thread cannot take the others down).
# TEST_KAFKA_VERSION=3.9.0: only gates tests by broker version (all of ours need >= 0.11, i.e.
# the Admin API, idempotence, MsgVersion 2), which both idem and Kafka 4.1.1 have.
# Writes DIR/librdkafka-<broker>.txt ("<test> <STATUS> <secs>" per test: PASS, FAIL, SKIP) and the
# test-runner output next to it. Exit: 0 all passed, 1 some test did not pass, 2 the run failed.
set -euo pipefail
SCRIPT_NAME=librdkafka
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=2.0.2 DEB_VERSION=2.0.2-1
# The produce / consume-without-group / idempotence tests that fit one node (0086 runs both
# 0086_purge_local and 0086_purge_remote; 0090 and 0094 read back with a group consumer).
DEFAULT_TESTS=0001,0002,0003,0005,0007,0008,0011,0012,0013,0017,0086,0090,0094
TEST_KAFKA_VERSION=${TEST_KAFKA_VERSION:-3.9.0}
PER_TEST_TIMEOUT=${LIBRDKAFKA_TEST_TIMEOUT:-600}

broker=idem bootstrap="" out="$SUITES_CACHE/results" tests=$DEFAULT_TESTS build_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --broker)     broker=$2; shift 2 ;;
    --bootstrap)  bootstrap=$2; shift 2 ;;
    --out)        out=$2; shift 2 ;;
    --idem-bin)   IDEM_BIN=$2; shift 2 ;;
    --tests)      tests=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help)    sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $broker == idem || $broker == kafka ]] || die "--broker idem|kafka"
install_traps

# ---- build (cached) ----------------------------------------------------------------------------
LR=$SUITES_CACHE/librdkafka-$VERSION
SRC=$LR/librdkafka-$VERSION
RUNNER=$SRC/tests/test-runner
BUILD_DEPS=(build-essential pkg-config python3 zlib1g-dev libssl-dev liblz4-dev libzstd-dev libsasl2-dev dpkg-dev)

have_deb_src() {
  grep -rqsE '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/
}

ensure_build() {
  [[ -x $RUNNER && $(cat "$LR/built.stamp" 2>/dev/null) == "librdkafka $DEB_VERSION" ]] && return 0
  local t0 missing=() p
  t0=$(now_s)
  for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  local need_update=0
  if ! have_deb_src; then
    [[ $(id -u) == 0 ]] || die "apt has no deb-src line and this is not root: add one for bookworm main"
    # Same archive as the deb line already configured (first URIs: of debian.sources, else Debian's).
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    uri=${uri:-http://deb.debian.org/debian}
    log "adding /etc/apt/sources.list.d/idem-debsrc.sources (deb-src $uri bookworm main)"
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" > /etc/apt/sources.list.d/idem-debsrc.sources
    need_update=1
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) == 0 ]] || die "missing build dependencies (${missing[*]}) and not root"
    need_update=1
  fi
  if [[ $need_update == 1 ]]; then
    log "apt-get update"
    apt-get update -q >"$SUITES_CACHE/apt.log" 2>&1 || { tail -n 20 "$SUITES_CACHE/apt.log" >&2; die "apt-get update failed"; }
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$SUITES_CACHE/apt.log" 2>&1 \
      || { tail -n 20 "$SUITES_CACHE/apt.log" >&2; die "apt-get install failed"; }
  fi
  rm -rf "$LR" && mkdir -p "$LR"
  log "apt-get source --download-only librdkafka=$DEB_VERSION"
  # apt checks the .dsc signature chain and the tarball checksums.
  (cd "$LR" && apt-get source -q --download-only "librdkafka=$DEB_VERSION") >"$LR/source.log" 2>&1 \
    || { cat "$LR/source.log" >&2; die "apt-get source failed"; }
  tar -xzf "$LR/librdkafka_$VERSION.orig.tar.gz" -C "$LR"
  [[ -f $SRC/tests/test.c ]] || die "no tests/ in the librdkafka source"
  log "building librdkafka $VERSION and tests/test-runner (logs in $LR/*.log)"
  (cd "$SRC" && ./configure --disable-gssapi >"$LR/configure.log" 2>&1) || { tail -n 30 "$LR/configure.log" >&2; die "configure failed"; }
  (cd "$SRC" && make -j2 libs >"$LR/make-libs.log" 2>&1) || { tail -n 30 "$LR/make-libs.log" >&2; die "make libs failed"; }
  (cd "$SRC/tests" && make -j2 build >"$LR/make-tests.log" 2>&1) || { tail -n 30 "$LR/make-tests.log" >&2; die "make tests failed"; }
  [[ -x $RUNNER ]] || die "no tests/test-runner after the build"
  echo "librdkafka $DEB_VERSION" > "$LR/built.stamp"
  log "librdkafka $VERSION built in $(( $(now_s) - t0 )) s"
}

ensure_build
[[ $build_only == 1 ]] && exit 0

# ---- broker ------------------------------------------------------------------------------------
if [[ -z $bootstrap ]]; then
  [[ $broker == idem ]] && ensure_idem_bin
  port=$(free_port)
  start_broker "$broker" "$port" --set num.partitions=4 --set auto.create.topics.enable=true
  bootstrap=127.0.0.1:$port
fi
log "librdkafka $VERSION tests ($tests) against $broker at $bootstrap"

mkdir -p "$out" && out=$(cd "$out" && pwd)
results=$out/librdkafka-$broker.txt
rawlog=$out/librdkafka-$broker.log
: > "$results" ; : > "$rawlog"
work=$SUITES_CACHE/run/librdkafka-$broker
rm -rf "$work" && mkdir -p "$work"
# test.timeout.multiplier 3 (the runner adds 2 more when CI is set).
printf 'bootstrap.servers=%s\ntest.timeout.multiplier=3\n' "$bootstrap" > "$work/test.conf"

export LD_LIBRARY_PATH=$SRC/src:$SRC/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export RDKAFKA_TEST_CONF=$work/test.conf TEST_KAFKA_VERSION
cd "$work"   # the runner writes stats_*.json into its cwd

IFS=, read -r -a list <<<"$tests"
for t in "${list[@]}"; do
  tlog=$work/$t.log t0=$(now_s) rc=0 n0=$(grep -c '' "$results" || true)
  log "test $t"
  TESTS=$t run_child --log "$tlog" timeout -k 10 "$PER_TEST_TIMEOUT" "$RUNNER" -p1 || rc=$?
  secs=$(( $(now_s) - t0 ))
  sed 's/\x1b\[[0-9;]*m//g' "$tlog" > "$tlog.txt"
  { echo "===== TESTS=$t (exit $rc, $secs s)"; cat "$tlog.txt"; } >> "$rawlog"
  # Each full test name (0086 is two: purge_local, purge_remote) from the runner's own markers.
  # A test that passed in a runner that then failed (<MAIN>: leaked threads, abort) is a FAIL;
  # MISSING: the runner ran nothing for this number (no such test, or not for this scenario).
  awk -v rc="$rc" -v secs="$secs" -v num="$t" '
    function add(n) { if (!(n in st)) { st[n] = "NORESULT"; names[++k] = n } }
    match($0, /================= Running test [^ ]+/) { add(substr($0, RSTART + 31, RLENGTH - 31)) }
    match($0, /================= Test [^ ]+ (PASSED|FAILED|SKIPPED) /) {
      split(substr($0, RSTART + 23), a, " "); n = a[1]; add(n)
      if (st[n] != "FAIL") st[n] = (a[2] == "PASSED") ? "PASS" : (a[2] == "FAILED") ? "FAIL" : "SKIP"
    }
    match($0, /### Test "[^" ]+/) { n = substr($0, RSTART + 10, RLENGTH - 10); if (n != "<MAIN>") { add(n); st[n] = "FAIL" } }
    match($0, /================= Skipping test [^ ]+ /) { n = substr($0, RSTART + 32, RLENGTH - 33); add(n); if (st[n] == "NORESULT") st[n] = "SKIP" }
    END {
      if (k == 0) { print num, (rc == 124 || rc == 137) ? "TIMEOUT" : (rc == 0 ? "MISSING" : "NORESULT"), secs; exit }
      for (i = 1; i <= k; i++) {
        s = st[names[i]]
        if (s == "PASS" && rc != 0) s = "FAIL"
        if (s == "NORESULT" && (rc == 124 || rc == 137)) s = "TIMEOUT"
        print names[i], s, secs
      }
    }' "$tlog.txt" >> "$results"
  tail -n "+$((n0 + 1))" "$results" | sed 's/^/  => /' >&2
done

check_idem_alive "$results"
printf '\nlibrdkafka %s on %s:\n' "$VERSION" "$broker"
awk '{ printf "  %-40s %-8s %5s s\n", $1, $2, $3 }' "$results"
read -r pass fail skip < <(awk '$2=="PASS"{p++} $2=="SKIP"{s++} $2!="PASS"&&$2!="SKIP"{f++} END{print p+0, f+0, s+0}' "$results")
echo "results: $results; test-runner output: $rawlog"
echo "librdkafka/$broker: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]] || exit 1
