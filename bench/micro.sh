#!/usr/bin/env bash
# Micro benchmarks of idem: the criterion benches of the produce path
# (crates/idem-broker/benches/produce.rs), then, with the release `idem` binary, the time from
# process start until the port accepts a connection and the idle RSS. Prints a summary table
# (Markdown) at the end. Results and how to read them: bench/MICRO.md.
#
# Usage: bench/micro.sh
# Environment:
#   CARGO_TARGET_DIR   build directory (default /work/target-bench, shared with nobody's build)
#   WARMUP_S           criterion --warm-up-time per bench, seconds (default 2)
#   MEASURE_S          criterion --measurement-time per bench, seconds (default 6)
#   STARTS             start-up repetitions (default 10)
#   MICRO_TMP          where the brokers' data directories go (default /tmp: a real disk)
#   IDEM_BENCH_DIR, IDEM_BENCH_BROKER_DIR: see the bench's module docs.
#
# 15 benches x (WARMUP_S + MEASURE_S) plus analysis and the paired comparisons is about
# 3 minutes with the defaults; the start-up and RSS part takes about 20 s. Builds come on top when nothing is cached.
#
# Everything the script starts is stopped by pid, and its temporary directory is removed, on
# success, failure or Ctrl-C.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
WARMUP_S="${WARMUP_S:-2}"
MEASURE_S="${MEASURE_S:-6}"
STARTS="${STARTS:-10}"
MICRO_TMP="${MICRO_TMP:-/tmp}"

WORK="$(mktemp -d "$MICRO_TMP/idem-micro.XXXXXX")"
PIDS_FILE="$WORK/pids"
: >"$PIDS_FILE"

cleanup() {
    # Brokers the Python helpers started and may not have stopped (on an error or Ctrl-C):
    # each pid was recorded when it was spawned.
    local pid
    while read -r pid; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$PIDS_FILE"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$ROOT"
echo "## idem micro benchmarks"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "- $(rustc --version)"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the loopback numbers most)"
echo "- bench files: ${IDEM_BENCH_DIR:-/dev/shm if present} (log, partition); broker data: ${IDEM_BENCH_BROKER_DIR:-${TMPDIR:-/tmp}} (loopback), $MICRO_TMP (start-up, RSS)"
echo

echo "### Build" >&2
cargo build --release --bin idem
cargo bench -p idem-broker --bench produce --no-run
IDEM="$CARGO_TARGET_DIR/release/idem"

echo "### Criterion (warm-up ${WARMUP_S}s, measurement ${MEASURE_S}s per bench)" >&2
STAMP="$WORK/criterion-start"
touch "$STAMP"
# The bench also alternates plain and idempotent operations one by one and appends those
# paired comparisons here (see `Paired` in the bench).
export IDEM_BENCH_PAIRED_OUT="$WORK/paired.jsonl"
cargo bench -p idem-broker --bench produce -- \
    --warm-up-time "$WARMUP_S" --measurement-time "$MEASURE_S" | tee "$WORK/criterion.txt" >&2

echo "### Start-up time and idle RSS of $IDEM" >&2
python3 - "$IDEM" "$WORK" "$PIDS_FILE" "$STARTS" >"$WORK/process.json" <<'PY'
# Start-up: from just before the fork until a TCP connect to the port succeeds (polled every
# 0.2 ms), on an empty data directory, repeated. RSS: VmRSS from /proc/<pid>/status after the
# broker has been idle for 2 s.
import json, os, signal, socket, statistics, struct, subprocess, sys, time

idem, work, pids_file, starts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def spawn(data_dir, port, log):
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [idem, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log)
    with open(pids_file, "a") as f:
        f.write(f"{p.pid}\n")
    while True:
        if p.poll() is not None:
            raise SystemExit(f"idem exited with {p.returncode} before accepting connections")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, time.perf_counter() - t0
        except ConnectionRefusedError:
            time.sleep(0.0002)

def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise SystemExit("idem did not stop within 30 s of SIGTERM")
    # -SIGTERM: the signal came before idem installed its handler (right after the port
    # opened), so it died without a clean shutdown. Counted and reported, not fatal.
    if p.returncode not in (0, -signal.SIGTERM):
        raise SystemExit(f"idem exited with {p.returncode} after SIGTERM")
    return p.returncode

def status(p):
    fields = {}
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return {"rss_kib": int(fields["VmRSS"].split()[0]),
            "hwm_kib": int(fields["VmHWM"].split()[0]),
            "threads": int(fields["Threads"])}

def create_topics(port, count, partitions):
    """CreateTopics v2 (non-flexible) for `count` topics, encoded by hand."""
    def string(s):
        b = s.encode()
        return struct.pack(">h", len(b)) + b
    body = struct.pack(">i", count)
    for i in range(count):
        body += string(f"micro-{i:03}") + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">ib", 60_000, 0)
    header = struct.pack(">hhi", 19, 2, 1) + string("idem-micro")
    frame = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        def read(n):
            out = b""
            while len(out) < n:
                chunk = s.recv(n - len(out))
                if not chunk:
                    raise SystemExit("broker closed the connection")
                out += chunk
            return out
        (size,) = struct.unpack(">i", read(4))
        resp = read(size)
    correlation, _throttle, n = struct.unpack_from(">iii", resp, 0)
    pos, errors = 12, []
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", resp, pos)
        name = resp[pos + 2:pos + 2 + ln].decode()
        pos += 2 + ln
        (code, mlen) = struct.unpack_from(">hh", resp, pos)
        pos += 4 + max(mlen, 0)
        if code != 0:
            errors.append((name, code))
    if correlation != 1 or n != count or errors:
        raise SystemExit(f"CreateTopics failed: correlation {correlation}, {n} topics, errors {errors}")

log = open(os.path.join(work, "idem.log"), "ab")
times, killed = [], 0
for i in range(starts):
    data = os.path.join(work, f"start-{i}")
    os.mkdir(data)
    p, t = spawn(data, free_port(), log)
    times.append(t)
    if stop(p) != 0:
        killed += 1

rss = {}
data = os.path.join(work, "rss")
os.mkdir(data)
port = free_port()
p, _ = spawn(data, port, log)
time.sleep(2)
rss["empty"] = status(p)
t0 = time.perf_counter()
create_topics(port, 50, 3)
create_s = time.perf_counter() - t0
time.sleep(2)
rss["after_create_150"] = status(p)
if stop(p) != 0:
    raise SystemExit("idem died of SIGTERM after 2 s idle")
dirs = [d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d))]
if len(dirs) != 150:
    raise SystemExit(f"expected 150 partition directories, found {len(dirs)}")
port = free_port()
p, restart_s = spawn(data, port, log)
time.sleep(2)
rss["restart_150"] = status(p)
if stop(p) != 0:
    raise SystemExit("idem died of SIGTERM after 2 s idle")

json.dump({"start_s": times, "killed_by_early_sigterm": killed, "rss": rss, "create_150_s": create_s,
           "restart_150_s": restart_s}, sys.stdout)
PY

echo "### Summary" >&2
python3 - "$CARGO_TARGET_DIR/criterion" "$STAMP" "$WORK/process.json" "$IDEM_BENCH_PAIRED_OUT" <<'PY'
import json, os, statistics, sys

root, stamp, process, paired = sys.argv[1], os.path.getmtime(sys.argv[2]), sys.argv[3], sys.argv[4]

results = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    est_path = os.path.join(dirpath, "estimates.json")
    if os.path.getmtime(est_path) < stamp:
        continue  # left over from an earlier run
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        meta = json.load(f)
    with open(est_path) as f:
        est = json.load(f)
    if not meta["full_id"].startswith(("log_append/", "partition_produce/", "loopback/")):
        continue
    m = est["mean"]
    results[meta["full_id"]] = {
        "mean": m["point_estimate"], "lo": m["confidence_interval"]["lower_bound"],
        "hi": m["confidence_interval"]["upper_bound"],
        "median": est["median"]["point_estimate"], "throughput": meta.get("throughput") or {}}

def fmt_time(ns):
    return f"{ns / 1000:.1f} µs" if ns >= 1000 else f"{ns:.0f} ns"

def rate(r):
    t = r["throughput"]
    if "Bytes" in t:
        gbps = t["Bytes"] / r["mean"]  # bytes per ns = GB/s
        return f"{gbps:.2f} GB/s ({gbps * 1e9 / 2**30:.2f} GiB/s)"
    if "Elements" in t:
        return f"{t['Elements'] / r['mean'] * 1e9 / 1e3:.0f} k records/s"
    return ""

print("| bench | mean [95% CI] | median | throughput (at the mean) |")
print("|---|---|---|---|")
for name in sorted(results, key=lambda n: (n.split("/")[0] != "log_append",
                                           n.split("/")[0] != "partition_produce", n)):
    r = results[name]
    print(f"| `{name}` | {fmt_time(r['mean'])} [{fmt_time(r['lo'])}, {fmt_time(r['hi'])}] "
          f"| {fmt_time(r['median'])} | {rate(r)} |")
print()

print("Idempotent ÷ plain from the criterion benches above (means; range from the 95% CIs;")
print("the two variants ran one after the other):")
print()
print("| pair | ratio | range |")
print("|---|---|---|")
pairs = []
for size in ("16KiB", "1MiB"):
    pairs.append((f"partition_produce/{size}", f"partition_produce/idempotent/{size}",
                  f"partition_produce/plain/{size}"))
for policy in ("never", "always"):
    for what in ("produce", "produce_fetch"):
        pairs.append((f"loopback/{policy}/{what}", f"loopback/{policy}/{what}/idempotent",
                      f"loopback/{policy}/{what}/plain"))
for label, idem, plain in pairs:
    if idem in results and plain in results:
        a, b = results[idem], results[plain]
        print(f"| {label} | {a['mean'] / b['mean']:.3f} | {a['lo'] / b['hi']:.3f} – {a['hi'] / b['lo']:.3f} |")
print()
print("Idempotent ÷ plain, paired (operations alternated one by one in the same run):")
print()
print("| pair | n | plain median | idempotent median | ratio of medians | ratio of means |")
print("|---|---|---|---|---|---|")
with open(paired) as f:
    for line in f:
        p = json.loads(line)
        print(f"| {p['name']} | {p['pairs']} | {fmt_time(p['plain_median_ns'])} "
              f"| {fmt_time(p['idempotent_median_ns'])} "
              f"| {p['idempotent_median_ns'] / p['plain_median_ns']:.3f} "
              f"| {p['idempotent_mean_ns'] / p['plain_mean_ns']:.3f} |")
print()
echo = results.get("loopback/baseline/echo")
plain = results.get("loopback/never/produce/plain")
if echo and plain:
    print(f"Broker produce (never, plain) ÷ echo round trip: {plain['mean'] / echo['mean']:.2f} "
          f"({fmt_time(plain['mean'] - echo['mean'])} more per request)")
    print()

with open(process) as f:
    proc = json.load(f)
times = sorted(proc["start_s"])
print(f"| process | value |")
print("|---|---|")
print(f"| start → port accepts, empty data dir (n={len(times)}) | median {statistics.median(times) * 1000:.1f} ms "
      f"(min {times[0] * 1000:.1f}, max {times[-1] * 1000:.1f}) |")
print(f"| of those, killed by the SIGTERM sent right after the port opened (no handler yet) "
      f"| {proc['killed_by_early_sigterm']} of {len(times)} |")
labels = {"empty": "idle RSS, empty data dir",
          "after_create_150": "idle RSS after creating 50 topics × 3 partitions",
          "restart_150": "idle RSS after a restart with those 150 partitions"}
for key, label in labels.items():
    s = proc["rss"][key]
    print(f"| {label} | {s['rss_kib'] / 1024:.1f} MiB (peak {s['hwm_kib'] / 1024:.1f} MiB, {s['threads']} threads) |")
print(f"| CreateTopics of 50 × 3 partitions | {proc['create_150_s'] * 1000:.0f} ms |")
print(f"| start → port accepts, 150 partitions (clean shutdown before) | {proc['restart_150_s'] * 1000:.1f} ms |")
PY
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
