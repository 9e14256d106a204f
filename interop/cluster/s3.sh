#!/usr/bin/env bash
# A throwaway S3-compatible server for idem's cluster-store tests: s3s-fs (Apache-2.0, from
# crates.io; installed with `cargo install` if missing), 127.0.0.1 only, a free port, SigV4
# with generated keys, objects under DIR/data, one bucket `idem`.
#
#   s3.sh start DIR   start; prints the object.store URL; DIR/s3.env holds the URL and the
#                     AWS_* variables a client needs
#   s3.sh stop DIR    stop the server started from DIR (pid in DIR/s3.pid)
set -euo pipefail
cmd=${1:?start|stop} dir=${2:?DIR}
VERSION=0.14.1   # the newest s3s-fs that builds with Rust 1.95 (0.17 needs 1.96)

case $cmd in
  start)
    if ! command -v s3s-fs >/dev/null; then
      echo "s3.sh: installing s3s-fs $VERSION (cargo install, about 3 minutes)" >&2
      cargo install -q "s3s-fs@$VERSION" --features binary --locked >&2
    fi
    mkdir -p "$dir/data/idem"
    dir=$(cd "$dir" && pwd)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    key=idem$RANDOM$RANDOM secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    s3s-fs --host 127.0.0.1 --port "$port" --access-key "$key" --secret-key "$secret" "$dir/data" \
      </dev/null >"$dir/s3.log" 2>&1 &
    echo $! > "$dir/s3.pid"
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.05
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$dir/s3.log" >&2; exit 1; }
    url="s3://idem?endpoint=http://127.0.0.1:$port&region=us-east-1"
    # Quoted: the URL holds & and ?, and the file is sourced by shells.
    printf "IDEM_TEST_S3_URL='%s'\nAWS_ACCESS_KEY_ID='%s'\nAWS_SECRET_ACCESS_KEY='%s'\n" "$url" "$key" "$secret" > "$dir/s3.env"
    echo "$url"
    ;;
  stop)
    dir=$(cd "$dir" && pwd)
    [[ -f $dir/s3.pid ]] || exit 0
    pid=$(cat "$dir/s3.pid")
    # Only our server: the pid must still be an s3s-fs serving our directory.
    if [[ -d /proc/$pid ]] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "s3s-fs.*$dir/data"; then
      kill "$pid"
      for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
      [[ -d /proc/$pid ]] && kill -9 "$pid"
    fi
    rm -f "$dir/s3.pid"
    ;;
  *) echo "usage: s3.sh start|stop DIR" >&2; exit 2 ;;
esac
