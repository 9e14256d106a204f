#!/usr/bin/env bash
# Install and build everything the client matrix needs; idempotent (stamps), no input needed.
#   install.sh [--no-kafka]
# kcat (Debian), Python clients into .venv (PyPI), Node clients into node_modules (npm),
# the two Maven projects (Maven Central), the franz-go programs (Go module proxy) into .cache/bin,
# and Apache Kafka 4.1.1 (interop/kafka/install.sh). Downloads go to the usual caches
# (~/.m2, the Go module cache, pip's and npm's caches) and to git-ignored folders here.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"
export GOFLAGS=${GOFLAGS:--buildvcs=false}
kafka=1
[[ ${1:-} == --no-kafka ]] && kafka=0

step() { # step NAME COMMAND...: run, print the time it took
  local t0=$EPOCHREALTIME
  "${@:2}"
  awk -v n="$1" -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "  %-22s %6.1fs\n", n, b - a }'
}
stamp_ok() { [[ -f $1 ]] && [[ $(cat "$1") == "$2" ]]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

install_kcat() {
  command -v kcat >/dev/null && return
  apt-get update -qq </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat </dev/null >/dev/null
}
install_python() {
  local h; h=$(hash_of python/requirements.txt)
  stamp_ok .venv/idem.stamp "$h" && return
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r python/requirements.txt </dev/null
  echo "$h" > .venv/idem.stamp
}
install_node() {
  local h; h=$(hash_of package.json package-lock.json)
  stamp_ok node_modules/idem.stamp "$h" && return
  npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null
  echo "$h" > node_modules/idem.stamp
}
build_maven() { # build_maven DIR: compile, copy the runtime jars to DIR/target/lib
  local h; h=$(hash_of "$1/pom.xml" "$1"/src/main/java/*.java)
  stamp_ok "$1/target/idem.stamp" "$h" && return
  mvn -q -B -f "$1/pom.xml" compile </dev/null > "$1/mvn.log" 2>&1 || { cat "$1/mvn.log"; return 1; }
  rm -f "$1/mvn.log"
  echo "$h" > "$1/target/idem.stamp"
}
build_go() {
  mkdir -p .cache/bin
  (cd go && go build -o ../.cache/bin/franz .)
  # the seed program itself is built per broker address by run.sh; fetch its module now
  (cd seed-go && go mod download)
}

echo "install (interop/clients):"
step kcat install_kcat
step "python (.venv)" install_python
step "node (node_modules)" install_node
step "maven seed-java" build_maven seed-java
step "maven java" build_maven java
step "go (franz-go)" build_go
install_kafka() { local out; out=$("$ROOT/interop/kafka/install.sh" 2>&1) || { echo "$out"; return 1; }; }
if (( kafka )); then step "kafka 4.1.1" install_kafka; fi
