#!/usr/bin/env bash
# Stop a Kafka started by start.sh: SIGTERM (controlled shutdown), up to 30 s, then SIGKILL.
#   stop.sh [--dir D | --port N]      (default: --port 9192)
# Only the pid in D/kafka.pid is signalled, and only if that process is still the kafka.Kafka
# started with D/server.properties (guards against a recycled pid). Data and logs are kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dir=""
case "${1:-}" in
  --dir)  dir=$2 ;;
  --port) dir=$KAFKA_CACHE/run-$2 ;;
  "")     dir=$KAFKA_CACHE/run-9192 ;;
  *)      die "usage: stop.sh [--dir D | --port N]" ;;
esac
pidfile=$dir/kafka.pid
[[ -f $pidfile ]] || { echo "kafka: no pid file in $dir, nothing to stop" >&2; exit 0; }
pid=$(cat "$pidfile")

ours() { tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $(cd "$dir" && pwd)/server.properties"; }

if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && ours; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "kafka: pid $pid still running after 30s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  fi
  echo "kafka: stopped pid $pid ($dir)" >&2
else
  echo "kafka: pid ${pid:-?} from $pidfile is not a running Kafka of $dir (stale pid file); not signalled" >&2
fi
# The pid file goes so a later stop can never signal a recycled pid.
rm -f "$pidfile"
