#!/usr/bin/env bash
# The cluster-store tests against a real PostgreSQL 15 and a real S3 server (s3s-fs): starts
# both (interop/cluster/postgres.sh, s3.sh) in a temporary directory, runs
# `cargo test -p idem-cluster-store --features s3 -- --ignored` with IDEM_TEST_POSTGRES_URL, IDEM_TEST_S3_URL
# and the AWS_* keys set, and stops the servers it started, by pid, whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$(mktemp -d /tmp/idem-cluster-store.XXXXXX)
chmod 755 "$dir"   # the postgres user must reach DIR/pg
cleanup() {
  "$ROOT/interop/cluster/postgres.sh" stop "$dir/pg" || true
  "$ROOT/interop/cluster/s3.sh" stop "$dir/s3" || true
  rm -rf "$dir"
}
trap cleanup EXIT
url=$("$ROOT/interop/cluster/postgres.sh" start "$dir/pg")
echo "PostgreSQL for the cluster-store tests: $url"
s3=$("$ROOT/interop/cluster/s3.sh" start "$dir/s3")
echo "S3 (s3s-fs) for the cluster-store tests: $s3"
set -a; . "$dir/s3/s3.env"; set +a
cd "$ROOT"
IDEM_TEST_POSTGRES_URL=$url cargo test -p idem-cluster-store --features s3 -- --ignored "$@"
