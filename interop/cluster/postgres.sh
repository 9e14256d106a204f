#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for idem's cluster-store tests: 127.0.0.1 only, a free port, data
# in DIR, run as the unprivileged `postgres` user (initdb refuses root). Installs Debian's
# postgresql-15 if it is missing. DIR's parent directories must be traversable by `postgres`.
#
#   postgres.sh start DIR   initdb (first time) and start; prints the URL, also in DIR/postgres.url
#   postgres.sh stop DIR    fast shutdown of the server started from DIR (pid in DIR/postgres.pid)
set -euo pipefail
cmd=${1:?start|stop} dir=${2:?DIR}
PGBIN=${IDEM_PGBIN:-/usr/lib/postgresql/15/bin}

install_pg() {
  [[ -x $PGBIN/initdb ]] && return
  echo "postgres.sh: installing postgresql-15 (Debian)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql-15 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql-15 >/dev/null; }
  [[ -x $PGBIN/initdb ]] || { echo "postgres.sh: no $PGBIN/initdb after installing postgresql-15" >&2; exit 1; }
}

as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case $cmd in
  start)
    install_pg
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ $(id -u) == 0 ]] && chown postgres:postgres "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-instructions >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # fsync stays on: the cluster store's durability is what is under test.
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
      || { tail -20 "$dir/postgres.log" >&2; exit 1; }
    head -1 "$dir/data/postmaster.pid" > "$dir/postgres.pid"
    url="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "$url" > "$dir/postgres.url"
    echo "$url"
    ;;
  stop)
    dir=$(cd "$dir" && pwd)
    [[ -f $dir/postgres.pid ]] || exit 0
    pid=$(cat "$dir/postgres.pid")
    # Only our server: the pid must still be a postgres whose data directory is ours.
    if [[ -d /proc/$pid ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$dir/data"; then
      as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || kill "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/postgres.pid"
    ;;
  *) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
