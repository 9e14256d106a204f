"""idem against Apache Kafka 4.1.1, same machine, same run, same clients. Run through
bench/vs-kafka.sh (which builds idem, installs Kafka and the Python venv). See BENCHMARKS.md.

One broker at a time, on the same disk, pinned to CPU 0; every load generator pinned to CPU 1.
A repetition is: broker A (fresh data dir) runs every cell unthrottled, then broker B does the
same; then B and A (in that order, ABBA) run every cell again at 50% of the slower broker's
peak of this repetition (same cell, same client) to measure latency. The next repetition starts
with the other broker. Topics are created before each run with the cell's durability as a topic
config: idem `flush.policy=always` against Kafka `flush.messages=1` ("fsync": every
acknowledged batch is on disk), idem `flush.policy=never` against Kafka's default ("page
cache")."""
import argparse
import base64
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAFKA_DIR = os.path.join(ROOT, "interop", "kafka")
# Brokers on one CPU, load generators on another (BENCH_BROKER_CPU / BENCH_CLIENT_CPU; with a
# single CPU both default to 0).
BROKER_CPU = os.environ.get("BENCH_BROKER_CPU", "0")
CLIENT_CPU = os.environ.get("BENCH_CLIENT_CPU", "1" if len(os.sched_getaffinity(0)) > 1 else "0")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def boottime():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def cpu_seconds(pid):
    """utime + stime of every thread of the process, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_boottime(pid):
    """When the process was spawned, on the CLOCK_BOOTTIME scale (10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / CLK_TCK


def runq_wait_seconds(pid):
    """{thread id: seconds it spent runnable but waiting for a CPU} (/proc/PID/task/*/schedstat,
    second field): on a shared machine, how much other processes held the broker back."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            pass
    return out


def runq_wait_delta(before, after):
    """Summed over the threads alive at both samples (a thread that exits takes its count along)."""
    return sum(after[t] - before[t] for t in after if t in before)


def psi():
    """CPU pressure (PSI): share of time some runnable task waited for a CPU, 10 s / 60 s / 300 s."""
    try:
        with open("/proc/pressure/cpu") as f:
            return f.readline().split()[1:4]
    except OSError:
        return []


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Broker:
    """One broker process: its pid, its bootstrap address and how it is stopped."""

    def __init__(self, kind, args, work, idem_bin):
        self.kind, self.args, self.idem_bin = kind, args, idem_bin
        self.dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=work)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = None
        self.pid = None
        self.startup = {}
        self.warmup_records = 100_000 if getattr(args, "quick", False) else 500_000

    def start(self):
        if self.kind == "idem":
            self._start_idem()
        else:
            self._start_kafka()
        self.startup["first_ack_s"] = self._probe_first_ack()
        log(f"{self.kind} pid {self.pid} on {self.addr}: first acknowledged record "
            f"{self.startup['first_ack_s'] * 1000:.0f} ms after the process started")
        # Warm-up, not measured: lets Kafka's JIT compile the produce path (and idem's page
        # cache and allocator settle) before the first measured run, on every start.
        self.create_topic("warm-up", 1, "pagecache")
        r = subprocess.run(["taskset", "-c", CLIENT_CPU, self.idem_bin, "bench", "produce", "-b", self.addr,
                            "-t", "warm-up", "-n", str(self.warmup_records), "-s", "100", "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{self.kind}: warm-up failed: {r.stderr[-500:]}")

    def _start_idem(self):
        data = os.path.join(self.dir, "data")
        cmd = ["taskset", "-c", BROKER_CPU, self.idem_bin, "serve", "--data-dir", data,
               "--listen", self.addr, "--log", "warn"]
        self.logf = open(os.path.join(self.dir, "broker.log"), "w")
        self.t0 = boottime()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid  # taskset execs the broker: same pid

    def _start_kafka(self):
        """As interop/kafka/start.sh does (same properties, same JVM flags), but the broker is
        spawned here, pinned, so the spawn time is known and nothing else runs on its CPU."""
        cport = free_port()
        data = os.path.join(self.dir, "data")
        props = os.path.join(self.dir, "server.properties")
        with open(props, "w") as f:
            f.write(f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{cport}
listeners=PLAINTEXT://{self.addr},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://{self.addr}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=8
""")
        cp = os.path.join(ROOT, ".cache", "kafka", "lib", "*")
        if os.environ.get("IDEM_KAFKA_CACHE"):
            cp = os.path.join(os.environ["IDEM_KAFKA_CACHE"], "lib", "*")
        # 16 random bytes in unpadded base64url, never starting with '-' (the storage tool
        # would read it as an option; Kafka's own Uuid.randomUuid() regenerates those too).
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        subprocess.run(["java", "-Xmx256M", f"-Dlog4j2.configurationFile={KAFKA_DIR}/log4j2-tools.properties",
                        "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", props],
                       check=True, capture_output=True)
        jvm = ["-Xms512M", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
               "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
               "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={KAFKA_DIR}/log4j2-server.properties"]
        self.logf = open(os.path.join(self.dir, "broker.log"), "w")
        self.t0 = boottime()
        self.proc = subprocess.Popen(["taskset", "-c", BROKER_CPU, "java", *jvm, "-cp", cp, "kafka.Kafka", props],
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def _probe_first_ack(self, timeout=120.0):
        """A tiny producer (`idem produce`, one record, acks=all, idempotent, auto-created
        topic) retried every 5 ms from the moment the broker was spawned; the time is from the
        spawn to the exit of the first producer whose record was acknowledged."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited during start-up; see {self.dir}/broker.log")
            r = subprocess.run(["taskset", "-c", CLIENT_CPU, self.idem_bin, "produce", "-b", self.addr,
                                "-t", "first-ack", "-X", "message.timeout.ms=2000",
                                "-X", "delivery.timeout.ms=2000", "-X", "request.timeout.ms=1000",
                                "-X", "max.block.ms=1000"],
                               input=b"x\n", capture_output=True)
            if r.returncode == 0:
                return boottime() - self.t0
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind}: no acknowledged record after {timeout}s: "
                                   f"{r.stderr.decode(errors='replace')[-500:]}")
            time.sleep(0.005)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)

    def create_topic(self, name, partitions, durability):
        if self.kind == "idem":
            cfg = "flush.policy=always" if durability == "fsync" else "flush.policy=never"
        else:
            cfg = "flush.messages=1" if durability == "fsync" else None
        cmd = [self.idem_bin, "topics", "create", "-b", self.addr, name, "-p", str(partitions)]
        if cfg:
            cmd += ["-c", cfg]
        subprocess.run(cmd, check=True, capture_output=True)


JAVA_RE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def run_client(client, opts, addr, topic, n, size, idem, rate):
    """One load-generator run pinned to CLIENT_CPU; returns records_per_sec, mb_per_sec,
    p50/p99/p999 (ms), records, errors."""
    pin = ["taskset", "-c", CLIENT_CPU]
    if client == "java":
        cmd = pin + [os.path.join(KAFKA_DIR, "tool.sh"), "producer-perf", "--topic", topic,
                     "--num-records", str(n), "--record-size", str(size),
                     "--throughput", str(int(rate) if rate else -1),
                     "--producer-props", f"bootstrap.servers={addr}", "acks=all",
                     f"enable.idempotence={'true' if idem else 'false'}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        m = None
        for line in r.stdout.splitlines():
            m = JAVA_RE.search(line) or m
        if r.returncode != 0 or m is None:
            raise RuntimeError(f"java ProducerPerformance failed (rc {r.returncode}): {r.stdout[-800:]} {r.stderr[-800:]}")
        errors = n - int(m.group(1))
        if "Exception" in r.stderr or "Error" in r.stdout:
            errors = max(errors, 1)
        return {"records": int(m.group(1)), "errors": errors, "records_per_sec": float(m.group(2)),
                "mb_per_sec": float(m.group(3)), "p50_ms": float(m.group(6)),
                "p99_ms": float(m.group(8)), "p999_ms": float(m.group(9))}
    if client == "rdkafka":
        cmd = pin + [opts.python, os.path.join(ROOT, "bench", "rdkafka_bench.py"), addr, topic,
                     str(n), str(size), "1" if idem else "0", str(rate or 0)]
    else:
        cmd = pin + [opts.idem, "bench", "produce", "-b", addr, "-t", topic, "-n", str(n),
                     "-s", str(size), "--idempotence", "true" if idem else "false",
                     "--throughput", str(int(rate or 0)), "-X", "acks=all", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    out = r.stdout.strip().splitlines()
    if r.returncode != 0 or not out:
        raise RuntimeError(f"{client} failed (rc {r.returncode}): {r.stdout[-800:]} {r.stderr[-800:]}")
    res = json.loads(out[-1])
    return {k: res[k] for k in ("records", "errors", "records_per_sec", "mb_per_sec", "p50_ms", "p99_ms", "p999_ms")}


def cell_name(c):
    return f"{c['size']}B-p{c['partitions']}-{'idem' if c['idempotence'] else 'plain'}-{c['durability']}"


def measure(opts, broker, cell, client, phase, rep, rate, records):
    topic = f"{cell_name(cell)}-{client}-{phase}-r{rep}".replace(".", "_")
    broker.create_topic(topic, cell["partitions"], cell["durability"])
    rss_reset = reset_peak_rss(broker.pid)
    cpu0, wait0 = cpu_seconds(broker.pid), runq_wait_seconds(broker.pid)
    t0, c0 = time.monotonic(), os.times()
    res = run_client(client, opts, broker.addr, topic, records, cell["size"], cell["idempotence"], rate)
    c1, wall = os.times(), time.monotonic() - t0
    cpu = cpu_seconds(broker.pid) - cpu0
    runq_wait = runq_wait_delta(wait0, runq_wait_seconds(broker.pid))
    # The load generator's CPU use over its whole run (JVM start included): near 1.0 means the
    # client, not the broker, set the pace.
    client_cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
    gb = res["records"] * cell["size"] / 1e9
    res.update(broker=broker.kind, client=client, phase=phase, rep=rep, cell=cell_name(cell), **cell,
               target_rate=rate, broker_cpu_s=round(cpu, 3), client_cpu_s=round(client_cpu, 3),
               client_wall_s=round(wall, 3), client_cpu_util=round(client_cpu / wall, 2),
               broker_cpu_util=round(cpu / wall, 2), broker_runq_wait_s=round(runq_wait, 3),
               cpu_s_per_gb=round(cpu / gb, 2) if gb else None,
               peak_rss_mib=round(status_kib(broker.pid, "VmHWM") / 1024, 1),
               peak_rss_scope="run" if rss_reset else "process",
               first_ack_s=round(broker.startup["first_ack_s"], 4))
    if res["errors"]:
        raise RuntimeError(f"{client} on {broker.kind} reported {res['errors']} errors in {topic}")
    log(f"  {broker.kind:5} {phase:4} {cell_name(cell):26} {client:7} {res['records_per_sec']:>11,.0f} rec/s "
        f"{res['mb_per_sec']:7.1f} MB/s p50 {res['p50_ms']:.1f} p99 {res['p99_ms']:.1f} ms "
        f"cpu {cpu:.2f}s ({cpu / wall:.0%}) runq wait {runq_wait:.2f}s client cpu {client_cpu / wall:.0%} rss {res['peak_rss_mib']} MiB")
    return res


def _sink(port, total):
    os.sched_setaffinity(0, {int(BROKER_CPU)})
    c = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(1 << 20)
    got = 0
    while got < total:
        k = c.recv_into(buf)
        if not k:
            break
        got += k
    c.close()


def machine_limits(work):
    """Raw limits of this machine: loopback TCP throughput (one connection, 1 MiB writes, the
    reader in another process on the brokers' CPU, the writer on the clients' CPU) and
    pwrite+fdatasync latency on the brokers' disk."""
    import multiprocessing
    out = {}
    total = 4 << 30
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    reader = multiprocessing.Process(target=_sink, args=(srv.getsockname()[1], total))
    reader.start()
    s, _ = srv.accept()
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    chunk = b"x" * (1 << 20)
    t0 = time.monotonic()
    for _ in range(total >> 20):
        s.sendall(chunk)
    s.close()
    reader.join()
    out["loopback_tcp_mb_per_sec"] = round(total / (time.monotonic() - t0) / 1048576, 0)
    os.sched_setaffinity(0, old)
    srv.close()
    for size in (4096, 65536):
        path = os.path.join(work, "fsync-probe")
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        buf = b"x" * size
        lat = []
        for i in range(500):
            t0 = time.monotonic()
            os.pwrite(fd, buf, i * size)
            os.fdatasync(fd)
            lat.append(time.monotonic() - t0)
        os.close(fd)
        os.unlink(path)
        lat.sort()
        out[f"fdatasync_{size // 1024}k_p50_ms"] = round(lat[len(lat) // 2] * 1000, 3)
        out[f"fdatasync_{size // 1024}k_p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000, 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--idem")
    ap.add_argument("--python")
    ap.add_argument("--render-only", action="store_true",
                    help="rebuild report.md and the chart from OUT/results.jsonl and OUT/meta.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--clients", default="idem,java,rdkafka")
    ap.add_argument("--min-ratio", type=float, default=0.5,
                    help="fail if the geometric mean of idem/Kafka peak records/s over all "
                         "cells and clients falls below this")
    opts = ap.parse_args()
    # SIGTERM/SIGHUP unwind through the finally below, which stops the broker by pid.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(128 + sig))
    if opts.render_only:
        return render_only(opts.out)
    reps = opts.reps or (1 if opts.quick else 3)
    clients = opts.clients.split(",")
    if opts.quick:
        cells = [dict(size=100, partitions=1, idempotence=True, durability=d)
                 for d in ("fsync", "pagecache")]
        # records per peak run, per client (the Java client is the slowest on one core)
        records = {"idem": {100: 300_000}, "rdkafka": {100: 200_000}, "java": {100: 60_000}}
        lat_seconds = 2.0
    else:
        cells = [dict(size=s, partitions=p, idempotence=i, durability=d)
                 for d in ("fsync", "pagecache") for s in (100, 1024) for p in (1, 8) for i in (True, False)]
        # sized for ~1-4 s per run on the 2-CPU machine of BENCHMARKS.md (~40 min in all)
        records = {"idem": {100: 600_000, 1024: 150_000}, "rdkafka": {100: 300_000, 1024: 100_000},
                   "java": {100: 60_000, 1024: 30_000}}
        lat_seconds = 2.5
    os.makedirs(opts.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="idem-vs-kafka.", dir=os.environ.get("BENCH_TMP", "/tmp"))
    results_path = os.path.join(opts.out, "results.jsonl")
    results = []
    started = time.monotonic()
    meta = {"date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            "mode": "quick" if opts.quick else "full", "reps": reps, "clients": clients,
            "records": records, "latency_seconds": lat_seconds, "work_dir": work,
            "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "cpu_pressure_start": psi()}
    log("measuring machine limits (loopback TCP, fdatasync)")
    meta["limits"] = machine_limits(work)
    log(f"  {meta['limits']}")
    with open(os.path.join(opts.out, "meta.json"), "w") as f:  # rewritten at the end
        json.dump(dict(meta, seconds=0.0, loadavg_end=["?"] * 3, partial=True), f, indent=1)
    current = None
    try:
        with open(results_path, "w") as out:
            def emit(r):
                results.append(r)
                out.write(json.dumps(r) + "\n")
                out.flush()

            for rep in range(1, reps + 1):
                order = ["idem", "kafka"] if rep % 2 else ["kafka", "idem"]
                peaks = {}
                brokers = {}
                for kind in order:
                    current = Broker(kind, opts, work, opts.idem)
                    brokers[kind] = current
                    log(f"rep {rep}: {kind} peak runs")
                    current.start()
                    emit({"kind": "startup", "broker": kind, "rep": rep, **current.startup,
                          "rss_after_start_mib": round(status_kib(current.pid, "VmRSS") / 1024, 1)})
                    for cell in cells:
                        for client in clients:
                            r = measure(opts, current, cell, client, "peak", rep, 0, records[client][cell["size"]])
                            peaks[(kind, cell_name(cell), client)] = r["records_per_sec"]
                            emit(r)
                    if kind != order[-1]:
                        current.cleanup()
                # latency at 50% of the slower broker's peak, ABBA: the second broker is still up
                for kind in reversed(order):
                    if kind != order[-1]:
                        current = Broker(kind, opts, work, opts.idem)
                        log(f"rep {rep}: {kind} latency runs")
                        current.start()
                    else:
                        log(f"rep {rep}: {kind} latency runs")
                    for cell in cells:
                        for client in clients:
                            rate = 0.5 * min(peaks[(k, cell_name(cell), client)] for k in order)
                            n = max(1000, int(rate * lat_seconds))
                            emit(measure(opts, current, cell, client, "lat", rep, round(rate), n))
                    current.cleanup()
                    current = None
    finally:
        if current is not None:
            current.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    meta["cpu_pressure_end"] = psi()
    with open(os.path.join(opts.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    report = render(meta, results, cells, clients)
    with open(os.path.join(opts.out, "report.md"), "w") as f:
        f.write(report)
    print(report)
    try:
        chart(results, cells, clients, os.path.join(opts.out, "vs-kafka.png"), meta)
    except Exception as e:  # the chart is a convenience; the numbers are in report.md
        log(f"chart failed: {e}")
    gm = geomean_ratio(results)
    log(f"geometric mean idem/Kafka peak records/s: {gm:.2f} (fail below {opts.min_ratio}); {meta['seconds']} s")
    if gm < opts.min_ratio:
        log("FAIL: idem's throughput fell below the regression threshold")
        sys.exit(1)


def render_only(out):
    meta = json.load(open(os.path.join(out, "meta.json")))
    results = [json.loads(line) for line in open(os.path.join(out, "results.jsonl"))]
    cells, seen = [], set()
    for r in results:
        if r.get("phase") == "peak" and r["cell"] not in seen:
            seen.add(r["cell"])
            cells.append({k: r[k] for k in ("size", "partitions", "idempotence", "durability")})
    clients = list(dict.fromkeys(r["client"] for r in results if "client" in r))
    report = render(meta, results, cells, clients)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(report)
    print(report)
    chart(results, cells, clients, os.path.join(out, "vs-kafka.png"), meta)


def pairs(results, phase, metric):
    """{(cell, client): [idem/kafka per repetition]}"""
    by = {}
    for r in results:
        if r.get("phase") == phase:
            by.setdefault((r["cell"], r["client"], r["rep"]), {})[r["broker"]] = r[metric]
    out = {}
    for (cell, client, rep), v in sorted(by.items()):
        if "idem" in v and "kafka" in v and v["kafka"]:
            out.setdefault((cell, client), []).append(v["idem"] / v["kafka"])
    return out


def geomean_ratio(results):
    ratios = [x for v in pairs(results, "peak", "records_per_sec").values() for x in v if x > 0]
    return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 0.0


def fmt_ratio(v):
    if not v:
        return "-"
    return f"**{statistics.median(v):.2f}** ({min(v):.2f}–{max(v):.2f})"


def med(results, broker, cell, client, phase, key):
    # (runq wait < 0 came from threads that exited mid-run in an earlier version: no value)
    v = [r[key] for r in results if r.get("phase") == phase and r["broker"] == broker
         and r["cell"] == cell and r["client"] == client and r.get(key) is not None
         and not (key == "broker_runq_wait_s" and r[key] < 0)]
    return statistics.median(v) if v else float("nan")


def render(meta, results, cells, clients):
    L = []
    L.append(f"## idem vs Apache Kafka 4.1.1 — {meta['mode']} run, {meta['date']}\n")
    L.append(f"{meta['reps']} repetition(s), brokers alternated; {meta['cpus']} × {meta['cpu_model']}, "
             f"{meta['mem_gib']} GiB, kernel {meta['kernel']}; load average {' '.join(meta['loadavg_start'])} at "
             f"start, {' '.join(meta['loadavg_end'])} at the end; {meta['seconds']:.0f} s. "
             f"Records per peak run: {'; '.join(cl + ' ' + ', '.join(f'{v:,} × {k} B' for k, v in d.items()) for cl, d in meta['records'].items())}; latency runs "
             f"{meta['latency_seconds']:g} s at 50% of the slower broker's peak.\n")
    lim = meta["limits"]
    L.append(f"Machine limits measured in the same run: loopback TCP {lim['loopback_tcp_mb_per_sec']:,.0f} MB/s "
             f"(one connection, 1 MiB writes, reader and writer in two processes on the two CPUs); pwrite+fdatasync 4 KiB p50 {lim['fdatasync_4k_p50_ms']} ms "
             f"(p99 {lim['fdatasync_4k_p99_ms']}), 64 KiB p50 {lim['fdatasync_64k_p50_ms']} ms "
             f"(p99 {lim['fdatasync_64k_p99_ms']}).\n")
    L.append("Ratios are idem ÷ Kafka per repetition: **median** (min–max). Throughput > 1 is better for idem; "
             "latency, CPU and RSS < 1 are better for idem.\n")
    thr = pairs(results, "peak", "records_per_sec")
    lat = pairs(results, "lat", "p99_ms")
    cpu = pairs(results, "peak", "cpu_s_per_gb")
    rss = pairs(results, "peak", "peak_rss_mib")
    L.append("### Ratios\n")
    L.append("| cell | client | records/s | p99 at 50% | CPU s/GB | peak RSS |")
    L.append("|---|---|---:|---:|---:|---:|")
    for c in cells:
        for cl in clients:
            k = (cell_name(c), cl)
            L.append(f"| {k[0]} | {cl} | {fmt_ratio(thr.get(k))} | {fmt_ratio(lat.get(k))} | "
                     f"{fmt_ratio(cpu.get(k))} | {fmt_ratio(rss.get(k))} |")
    L.append(f"\nGeometric mean of the idem/Kafka peak records/s ratios over all cells, clients and "
             f"repetitions: **{geomean_ratio(results):.2f}**.\n")
    L.append("### Against the targets\n")
    L.append("| target | measured (over cells × clients: median of the per-cell medians, and the worst cell) | met in |")
    L.append("|---|---|---|")

    def summary(d, goal, better_high):
        meds = {k: statistics.median(v) for k, v in d.items() if v}
        if not meds:
            return "-", "-"
        worst = min(meds, key=meds.get) if better_high else max(meds, key=meds.get)
        met = sum(1 for m in meds.values() if (m >= goal if better_high else m <= goal))
        return (f"median {statistics.median(meds.values()):.2f}, worst {meds[worst]:.2f} ({worst[0]}, {worst[1]})",
                f"{met} of {len(meds)} cells")
    for durability in ("fsync", "pagecache"):
        sub = {k: v for k, v in thr.items() if k[0].endswith(durability)}
        a, b = summary(sub, 2.0, True)
        L.append(f"| throughput ≥ 2× Kafka ({durability}) | {a} | {b} |")
    a, b = summary(lat, 0.5, False)
    L.append(f"| p99 at 50% load ≤ ½ Kafka's | {a} | {b} |")
    a, b = summary(rss, 0.1, False)
    L.append(f"| broker peak RSS ≤ 1/10 Kafka's | {a} | {b} |")
    L.append("### Medians per broker\n")
    L.append("| cell | client | broker | records/s | MB/s | p50 / p99 / p99.9 ms (peak) | p50 / p99 / p99.9 ms (50%) | CPU s/GB | peak RSS MiB | broker / client CPU use (peak) | broker run-queue wait s (peak) |")
    L.append("|---|---|---|---:|---:|---|---|---:|---:|---|---:|")
    for c in cells:
        for cl in clients:
            for b in ("idem", "kafka"):
                n = cell_name(c)
                g = lambda ph, key: med(results, b, n, cl, ph, key)
                L.append(f"| {n} | {cl} | {b} | {g('peak', 'records_per_sec'):,.0f} | {g('peak', 'mb_per_sec'):.1f} | "
                         f"{g('peak', 'p50_ms'):.1f} / {g('peak', 'p99_ms'):.1f} / {g('peak', 'p999_ms'):.1f} | "
                         f"{g('lat', 'p50_ms'):.1f} / {g('lat', 'p99_ms'):.1f} / {g('lat', 'p999_ms'):.1f} | "
                         f"{g('peak', 'cpu_s_per_gb'):.1f} | {g('peak', 'peak_rss_mib'):.0f} | "
                         f"{g('peak', 'broker_cpu_util'):.0%} / {g('peak', 'client_cpu_util'):.0%} | "
                         f"{g('peak', 'broker_runq_wait_s'):.2f} |")
    L.append("\n### Start-up: process spawn → first acknowledged record\n")
    L.append("| broker | runs (ms) | median ms | RSS right after, MiB |")
    L.append("|---|---|---:|---:|")
    st = {}
    for r in results:
        if r.get("kind") == "startup":
            st.setdefault(r["broker"], []).append(r)
    for b, rs in st.items():
        ms = [x["first_ack_s"] * 1000 for x in rs]
        L.append(f"| {b} | {', '.join(f'{m:.0f}' for m in ms)} | {statistics.median(ms):.0f} | "
                 f"{statistics.median(x['rss_after_start_mib'] for x in rs):.0f} |")
    if "idem" in st and "kafka" in st:
        a = statistics.median(x["first_ack_s"] for x in st["idem"])
        b = statistics.median(x["first_ack_s"] for x in st["kafka"])
        L.append(f"\nidem ÷ Kafka (medians): **{a / b:.3f}**.\n")
    # idempotence overhead: plain/idem throughput of the same broker, client, size, partitions, durability
    if not any(not c["idempotence"] for c in cells):
        return "\n".join(L) + "\n"
    L.append("### Idempotence overhead (1 − idempotent ÷ plain records/s, medians)\n")
    L.append("| cell (without idempotence) | client | idem | Kafka |")
    L.append("|---|---|---:|---:|")
    for c in cells:
        if c["idempotence"]:
            continue
        plain = cell_name(c)
        idem_cell = cell_name(dict(c, idempotence=True))
        for cl in clients:
            row = []
            for b in ("idem", "kafka"):
                p = med(results, b, plain, cl, "peak", "records_per_sec")
                i = med(results, b, idem_cell, cl, "peak", "records_per_sec")
                row.append(f"{(1 - i / p) * 100:+.1f}%" if p == p and i == i else "-")
            L.append(f"| {plain.replace('-plain', '')} | {cl} | {row[0]} | {row[1]} |")
    return "\n".join(L) + "\n"


def chart(results, cells, clients, path, meta):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [cell_name(c) for c in cells]
    fig, axes = plt.subplots(2, 1, figsize=(max(10, len(names) * 0.9), 9), sharex=True)
    width = 0.8 / len(clients)
    for ax, (phase, metric, title) in zip(axes, [
            ("peak", "records_per_sec", "peak records/s, idem ÷ Kafka (higher is better for idem)"),
            ("lat", "p99_ms", "p99 latency at 50% of the slower peak, idem ÷ Kafka (lower is better for idem)")]):
        pr = pairs(results, phase, metric)
        for j, cl in enumerate(clients):
            xs, ys, lo, hi = [], [], [], []
            for i, n in enumerate(names):
                v = pr.get((n, cl))
                if not v:
                    continue
                m = statistics.median(v)
                xs.append(i + (j - (len(clients) - 1) / 2) * width)
                ys.append(m)
                lo.append(m - min(v))
                hi.append(max(v) - m)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"client: {cl}")
        ax.axhline(1.0, color="black", lw=0.8)
        ax.axhline(2.0 if phase == "peak" else 0.5, color="green", lw=0.8, ls="--",
                   label="target" if phase == "peak" else "target (≤ 0.5)")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_xticks(range(len(names)))
    axes[1].set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    fig.suptitle(f"idem vs Apache Kafka 4.1.1 — {meta['mode']} run {meta['date']}, "
                 f"{meta['reps']} rep(s), bars: median, whiskers: min–max", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
