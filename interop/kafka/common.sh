# Sourced by the interop/kafka/*.sh scripts: paths, version and JVM settings in one place.
KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Everything downloaded lives here (git-ignored); override to share one install between clones.
KAFKA_CACHE="${IDEM_KAFKA_CACHE:-$ROOT/.cache/kafka}"
KAFKA_LIB="$KAFKA_CACHE/lib"
KAFKA_STAMP="$KAFKA_CACHE/installed.stamp"
KAFKA_CP="$KAFKA_LIB/*"

die() { echo "kafka: $*" >&2; exit 1; }

# The stamp is written last by install.sh, so its presence means lib/ is complete.
kafka_installed() { [[ -f "$KAFKA_STAMP" ]] && grep -qx "kafka $KAFKA_VERSION" "$KAFKA_STAMP"; }
ensure_installed() { kafka_installed || "$HERE/install.sh" >&2; }

# True if something accepts TCP connections on 127.0.0.1:$1 (bash built-in, no nc needed).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True while process $1 exists and is not a zombie (an exited child not yet reaped still passes kill -0).
alive() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }            # state is the first field after "(comm) "
  [[ ${s%% *} != Z ]]
}
