# Shared by franz-go.sh, librdkafka.sh and run.sh (sourced, not run).
# Paths, free ports, and starting/stopping the brokers these scripts start themselves. Everything
# started here is remembered by pid and stopped by pid (cleanup, from the EXIT trap).

SUITES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SUITES_DIR/../.." && pwd)
KAFKA_SCRIPTS=$REPO/interop/kafka
# Downloads, builds, broker data and results: git-ignored (.cache/ is in .gitignore).
SUITES_CACHE=${IDEM_SUITES_CACHE:-$REPO/.cache/suites}

log() { printf '[%s %s] %s\n' "$(date -u +%H:%M:%S)" "${SCRIPT_NAME:-suites}" "$*" >&2; }
die() { log "error: $*"; exit 2; }

now_s() { date +%s; }

# A free TCP port on 127.0.0.1 (asked from the kernel: bind port 0).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Run a command in the background and wait for it, so that a TERM/INT to this script is handled
# (the trap runs) while the command is still running. Sets CHILD_PID while it runs.
#   run_child [--log FILE] CMD...   (--log: the command's stdout+stderr go to FILE)
CHILD_PID=""
run_child() {
  local logf=""
  if [[ $1 == --log ]]; then logf=$2; shift 2; fi
  if [[ -n $logf ]]; then "$@" >"$logf" 2>&1 & else "$@" & fi
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

# ---- idem -------------------------------------------------------------------------------------

IDEM_PID="" IDEM_DIR=""

# Sets IDEM_BIN: --idem-bin / $IDEM_BIN if given, else `cargo build --bin idem` in the repo.
ensure_idem_bin() {
  if [[ -n ${IDEM_BIN:-} ]]; then
    [[ -x $IDEM_BIN ]] || die "IDEM_BIN=$IDEM_BIN is not an executable"
    IDEM_BIN=$(cd "$(dirname "$IDEM_BIN")" && pwd)/$(basename "$IDEM_BIN")
    return
  fi
  log "cargo build --bin idem"
  (cd "$REPO" && cargo build --quiet --bin idem) || die "cargo build --bin idem failed"
  IDEM_BIN=$REPO/target/debug/idem
}

# start_idem PORT [--set k=v ...]: a fresh data dir under $SUITES_CACHE/run/idem-PORT.
start_idem() {
  local port=$1; shift
  IDEM_DIR=$SUITES_CACHE/run/idem-$port
  rm -rf "$IDEM_DIR" && mkdir -p "$IDEM_DIR"
  port_open "$port" && die "port $port is already in use"
  "$IDEM_BIN" serve --data-dir "$IDEM_DIR/data" --listen "127.0.0.1:$port" "$@" \
    </dev/null >"$IDEM_DIR/idem.log" 2>&1 &
  IDEM_PID=$!
  local i
  for i in $(seq 100); do
    port_open "$port" && { log "idem ready on 127.0.0.1:$port (pid $IDEM_PID, log $IDEM_DIR/idem.log)"; return; }
    kill -0 "$IDEM_PID" 2>/dev/null || { tail -n 20 "$IDEM_DIR/idem.log" >&2; IDEM_PID=""; die "idem exited at start-up"; }
    sleep 0.1
  done
  die "idem did not listen on $port within 10 s"
}

# After the tests: if we started idem, add the pseudo-test "idem-still-running" to the results
# file $1: PASS, or FAIL (and the log tail) when idem died during the run: a crash is a bug.
check_idem_alive() {
  [[ -n $IDEM_PID ]] || return 0
  if kill -0 "$IDEM_PID" 2>/dev/null; then echo "idem-still-running PASS -" >> "$1"; return 0; fi
  log "ERROR: idem (pid $IDEM_PID) exited during the run; last lines of $IDEM_DIR/idem.log:"
  tail -n 30 "$IDEM_DIR/idem.log" >&2
  echo "idem-still-running FAIL -" >> "$1"
  IDEM_PID=""
}

stop_idem() {
  [[ -n $IDEM_PID ]] || return 0
  local pid=$IDEM_PID i
  IDEM_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "idem pid $pid did not stop in 20 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  log "idem stopped (pid $pid)"
  drop_data "$IDEM_DIR/data"
}

# Broker data can reach hundreds of MB: removed after the broker stopped (logs stay), unless
# IDEM_SUITES_KEEP_DATA=1.
drop_data() {
  [[ ${IDEM_SUITES_KEEP_DATA:-0} == 1 || -z $1 ]] || rm -rf "$1"
}

# ---- Apache Kafka (interop/kafka/*.sh) --------------------------------------------------------

KAFKA_DIR=""

# start_kafka PORT [--set k=v ...]: controller on another free port, dir $SUITES_CACHE/run/kafka-PORT.
start_kafka() {
  local port=$1; shift
  local cport
  cport=$(free_port)
  [[ $cport == "$port" ]] && cport=$(free_port)
  KAFKA_DIR=$SUITES_CACHE/run/kafka-$port
  mkdir -p "$KAFKA_DIR"
  "$KAFKA_SCRIPTS/install.sh" >&2 || die "interop/kafka/install.sh failed"
  "$KAFKA_SCRIPTS/start.sh" --port "$port" --controller-port "$cport" --dir "$KAFKA_DIR" "$@" >&2 \
    || { KAFKA_DIR=""; die "interop/kafka/start.sh failed"; }
}

stop_kafka() {
  [[ -n $KAFKA_DIR ]] || return 0
  local d=$KAFKA_DIR
  KAFKA_DIR=""
  "$KAFKA_SCRIPTS/stop.sh" --dir "$d" >&2 || true
  [[ -f $d/kafka.pid ]] || drop_data "$d/data"
}

# start_broker KIND PORT [--set k=v ...]
start_broker() {
  local kind=$1; shift
  case $kind in
    idem)  start_idem "$@" ;;
    kafka) start_kafka "$@" ;;
    *) die "unknown broker '$kind' (idem or kafka)" ;;
  esac
}

cleanup() {
  local rc=$?
  if [[ -n $CHILD_PID ]]; then
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
    CHILD_PID=""
  fi
  stop_idem
  stop_kafka
  return "$rc"
}

install_traps() {
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
}
