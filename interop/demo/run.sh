#!/usr/bin/env bash
# End-to-end browser test of `idem demo` (Duplicate Fighter) in Debian's headless Chromium.
#
#   run.sh --idem PATH_TO_IDEM [--out DIR]
#
# Installs what it needs (Debian's chromium with apt-get when `chromium` is missing; playwright-core
# with `npm ci` into interop/demo/node_modules, never Playwright's own browsers), starts
# `idem demo --http 127.0.0.1:<free port>`, waits for the page, runs e2e.mjs (the seed's story
# clicked through), then stops the demo with SIGINT and checks that it exits 0 and removes its
# temporary data directory. Screenshots and logs go to DIR (default target/demo-e2e).
# No input needed (CI=true friendly); every step is bounded in time; exits non-zero on any failure.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

idem='' out="$ROOT/target/demo-e2e"
while [[ $# -gt 0 ]]; do
  case $1 in
    --idem) idem=$2; shift 2 ;;
    --out)  out=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $idem ]] || { echo "run.sh: --idem PATH_TO_IDEM is required" >&2; exit 2; }
[[ -x $idem ]] || { echo "run.sh: $idem is not an executable" >&2; exit 2; }
idem=$(cd "$(dirname "$idem")" && pwd)/$(basename "$idem")
mkdir -p "$out" && out=$(cd "$out" && pwd)
rm -f "$out"/[0-9][0-9]-*.png "$out"/[0-9][0-9]-state-FAILED.json "$out"/{e2e,demo,apt,npm}.log "$out"/events.txt

log() { printf '[demo-e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "FAILED: $*"; exit 1; }
t_all=$SECONDS

# ---- installs (bounded; the first run downloads, later ones find everything in place) -----------
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null; then
  log "installing Debian's chromium (apt-get)"
  timeout 300 apt-get update -qq </dev/null >"$out/apt.log" 2>&1 || { cat "$out/apt.log"; die "apt-get update"; }
  timeout 600 apt-get install -y -qq chromium </dev/null >>"$out/apt.log" 2>&1 \
    || { tail -30 "$out/apt.log"; die "apt-get install chromium"; }
fi
# The Debian wrapper /usr/bin/chromium only adds flags; drive the browser binary itself.
browser=/usr/lib/chromium/chromium
[[ -x $browser ]] || browser=$(command -v chromium)
log "browser: $("$browser" --version 2>/dev/null | head -1)"

command -v node >/dev/null || die "node is missing (Node.js 20 or newer is needed)"
(( $(node -p 'process.versions.node.split(".")[0]') >= 20 )) || die "Node.js 20 or newer is needed, not $(node --version)"
stamp=$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-16)
if [[ ! -f $HERE/node_modules/idem.stamp || $(cat "$HERE/node_modules/idem.stamp") != "$stamp" ]]; then
  log "installing playwright-core (npm ci)"
  (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --loglevel=error </dev/null >"$out/npm.log" 2>&1) \
    || { cat "$out/npm.log"; die "npm ci"; }
  echo "$stamp" > "$HERE/node_modules/idem.stamp"
fi
log "playwright-core $(node -p "require('$HERE/node_modules/playwright-core/package.json').version")"

# ---- the demo ------------------------------------------------------------------------------------
t_test=$SECONDS
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url=http://127.0.0.1:$port
demo_pid='' curl_pid=''
cleanup() {   # only what this script started, by pid
  for p in $demo_pid $curl_pid; do
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
log "starting: $idem demo --http 127.0.0.1:$port (log: $out/demo.log)"
"$idem" demo --http "127.0.0.1:$port" </dev/null >"$out/demo.log" 2>&1 &
demo_pid=$!
ready_by=$((SECONDS + 20))
for ((i = 0; ; i++)); do
  curl -fsS --max-time 2 -o /dev/null "$url/" 2>/dev/null && curl -fsS --max-time 2 -o /dev/null "$url/api/state" 2>/dev/null && break
  kill -0 "$demo_pid" 2>/dev/null || { cat "$out/demo.log"; demo_pid=''; die "idem demo exited before its page answered"; }
  ((SECONDS < ready_by)) || { cat "$out/demo.log"; die "the page did not answer at $url within 20 s"; }
  sleep 0.1
done
log "the page answers at $url after $((SECONDS - t_test)) s"

# ---- the browser test ----------------------------------------------------------------------------
set +e
timeout -k 10 120 node "$HERE/e2e.mjs" --url "$url" --out "$out" --chromium "$browser" </dev/null \
  2>&1 | tee "$out/e2e.log"
rc=${PIPESTATUS[0]}
set -e
case $rc in
  0) ;;
  124|137) log "e2e.mjs did not finish within 120 s" ;;
  *) log "e2e.mjs failed (exit $rc)" ;;
esac

# ---- stop the demo: SIGINT, exit 0, its temporary data directory removed ------------------------
if ! kill -0 "$demo_pid" 2>/dev/null; then
  demo_rc=0; wait "$demo_pid" || demo_rc=$?
  demo_pid=''
  tail -20 "$out/demo.log"
  die "idem demo died during the test (exit $demo_rc); its log is above"
fi
# The demo names its data directory in its log: "data: DIR (removed on exit); ...".
datadir=$(sed -n 's|^data: \(/[^ ]*\).*|\1|p' "$out/demo.log" | head -1)
[[ -n $datadir && -d $datadir ]] || datadir=''
# As if the page were still open in a browser tab: an event stream stays connected through Ctrl-C.
timeout 30 curl -sN "$url/events" >"$out/events.txt" 2>/dev/null &
curl_pid=$!
for ((i = 0; i < 50; i++)); do grep -q '^data: {' "$out/events.txt" && break; sleep 0.1; done
stop_rc=0
grep -q '^data: {' "$out/events.txt" || { log "FAIL: GET /events sent no state"; stop_rc=1; }
kill -INT "$demo_pid"
for ((i = 0; i < 150; i++)); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$demo_pid" 2>/dev/null; then
  log "FAIL: idem demo still running 15 s after SIGINT; killing it"
  kill -KILL "$demo_pid"; stop_rc=1
fi
demo_rc=0; wait "$demo_pid" || demo_rc=$?
demo_pid=''
curl_rc=0; wait "$curl_pid" || curl_rc=$?
curl_pid=''
if [[ $curl_rc == 124 ]]; then log "FAIL: the event stream stayed open after the demo stopped"; stop_rc=1; fi
if [[ $stop_rc == 0 && $demo_rc != 0 ]]; then
  log "FAIL: idem demo exited $demo_rc after SIGINT (want 0); its log:"; tail -20 "$out/demo.log"; stop_rc=1
fi
if [[ -n $datadir ]]; then
  if [[ -e $datadir ]]; then log "FAIL: the demo left its data directory $datadir"; stop_rc=1
  else log "the demo removed its data directory $datadir (exit $demo_rc after SIGINT)"; fi
else
  log "note: the demo's log names no data directory to check (exit $demo_rc after SIGINT)"
fi

log "time: $((SECONDS - t_test)) s for the test, $((SECONDS - t_all)) s in all; artifacts in $out"
if [[ $rc != 0 || $stop_rc != 0 ]]; then die "see $out/e2e.log and $out/demo.log"; fi
log "passed"
