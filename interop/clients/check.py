"""Compare what a producer was told (its ack log) with what the topic holds (a reader's dump).

check.py --client NAME --count N --acks ACKLOG --log DUMP [--partitions 3] [--no-offsets] [--json OUT]

The producer sent values "<NAME>-<i>" for i in 0..N-1 to partition i % partitions, in order of i.
ACKLOG: one JSON line per acknowledged record: {"value", "partition", "offset"} or {"value", "error"}.
DUMP:   one JSON line per stored record: {"partition", "offset", "value"}.
Prints one summary line; exits 1 on any anomaly. Standard library only.
"""
import argparse
import json
import sys
from collections import Counter


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check(client, count, acks, log, partitions=3, offsets=True):
    prefix = f"{client}-"
    expected = {p: [f"{prefix}{i}" for i in range(p, count, partitions)] for p in range(partitions)}
    wanted = {v: p for p, vs in expected.items() for v in vs}

    stored = {}  # partition -> [(offset, value)] in offset order
    for r in log:
        stored.setdefault(r["partition"], []).append((r["offset"], r["value"]))
    for rs in stored.values():
        rs.sort()
    counts = Counter(r["value"] for r in log)
    where = {}  # value -> (partition, offset) of its first copy
    for p, rs in stored.items():
        for off, v in rs:
            where.setdefault(v, (p, off))

    res = {"client": client, "records": len(log), "expected": count}
    res["duplicates"] = sum(n - 1 for v, n in counts.items() if n > 1)
    res["missing"] = sum(1 for v in wanted if v not in counts)
    res["foreign"] = sum(n for v, n in counts.items() if v not in wanted)
    res["wrong_partition"] = sum(1 for v, (p, _) in where.items() if v in wanted and wanted[v] != p)
    # out of order: per partition, first copies whose index i is lower than an earlier one's
    ooo = 0
    for p, rs in stored.items():
        seen, last = set(), -1
        for _, v in rs:
            if v in seen or v not in wanted:
                continue
            seen.add(v)
            i = int(v[len(prefix):])
            if i < last:
                ooo += 1
            last = max(last, i)
    res["out_of_order"] = ooo
    gaps = 0  # offsets must be contiguous from 0 in a new topic
    for p, rs in stored.items():
        gaps += sum(1 for k, (off, _) in enumerate(rs) if off != k)
    res["offset_gaps"] = gaps

    ack_counts = Counter(a["value"] for a in acks)
    res["acks"] = len(acks)
    res["error_acks"] = sum(1 for a in acks if "error" in a)
    res["unacked"] = sum(1 for v in wanted if v not in ack_counts)
    res["double_acks"] = sum(n - 1 for n in ack_counts.values() if n > 1)
    wrong = 0
    if offsets:
        for a in acks:
            if "error" in a:
                continue
            got = where.get(a["value"])
            if got is None or got != (a["partition"], a["offset"]):
                wrong += 1
    res["wrong_offsets"] = wrong if offsets else None
    bad = [k for k in ("duplicates", "missing", "foreign", "wrong_partition", "out_of_order",
                       "offset_gaps", "error_acks", "unacked", "double_acks", "wrong_offsets") if res[k]]
    res["anomalies"] = bad
    res["ok"] = not bad and len(log) == count
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--acks", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--no-offsets", action="store_true", help="the client reports no offsets (kcat)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args()
    res = check(a.client, a.count, read_jsonl(a.acks), read_jsonl(a.log), a.partitions, not a.no_offsets)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)
    print(f"{a.client}: {'OK' if res['ok'] else 'FAIL'} stored={res['records']}/{a.count} acks={res['acks']} "
          f"dup={res['duplicates']} missing={res['missing']} ooo={res['out_of_order']} "
          f"wrong_offsets={'n/a' if res['wrong_offsets'] is None else res['wrong_offsets']}")
    if not res["ok"]:
        print("anomalies: " + (" ".join(f"{k}={res[k]}" for k in res["anomalies"]) or f"stored {res['records']} records"))
    sys.exit(0 if res["ok"] else 1)


if __name__ == "__main__":
    main()
