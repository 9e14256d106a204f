#!/usr/bin/env bash
# The cluster-store tests against a real PostgreSQL 15: starts one (interop/cluster/postgres.sh)
# in a temporary directory, runs `cargo test -p idem-cluster-store -- --ignored` with
# IDEM_TEST_POSTGRES_URL, and stops the server it started, by pid, whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=$(mktemp -d /tmp/idem-pg.XXXXXX)
cleanup() { "$ROOT/interop/cluster/postgres.sh" stop "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT
url=$("$ROOT/interop/cluster/postgres.sh" start "$dir")
echo "PostgreSQL for the cluster-store tests: $url"
cd "$ROOT"
IDEM_TEST_POSTGRES_URL=$url cargo test -p idem-cluster-store -- --ignored "$@"
