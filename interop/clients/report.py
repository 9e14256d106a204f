"""Rows of a run.sh run (one JSON object per line) to a markdown report. Standard library only.

report.py ROWS.jsonl OUT.md [TITLE]     exits 1 if any row FAILed (known failures do not count)
"""
import json
import sys


def verdict(r):
    return r["verdict"] + (f": {r['why']}" if r.get("why") else "")


def main():
    rows_path, out_path = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "idem client interop"
    rows = [json.loads(l) for l in open(rows_path) if l.strip()]
    seeds = [r for r in rows if r["kind"] == "seed"]
    matrix = [r for r in rows if r["kind"] == "matrix"]
    out = [f"# {title}", ""]
    notes = [r for r in rows if r["kind"] == "note"]
    if seeds:
        out += ["## Seed programs", "",
                "| program | broker | connection | dropped acks | client said | records in `orders` (want) | verdict | time |",
                "|---|---|---|---:|---|---:|---|---:|"]
        for r in seeds:
            out.append(f"| {r['client']} | {r['broker']} | {r['mode']} | {r['dropped']} | {r['said']} | "
                       f"{r['records']} ({r['want']}) | {verdict(r)} | {r['seconds']:.1f}s |")
        out.append("")
    for r in notes:
        out.append(f"- {'FAIL: ' if r['verdict'] == 'FAIL' else ''}{r['text']}")
    if notes:
        out.append("")
    if matrix:
        out += ["## Client matrix", "",
                "| client | broker | read back by | records (sent) | dropped acks | broker dedupe (retries answered as duplicates, of them re-stamped; refused as reused ranges) | duplicates | missing | out of order | wrong offsets | verdict | time |",
                "|---|---|---|---:|---:|---|---:|---:|---:|---:|---|---:|"]
        for r in matrix:
            c = r.get("check") or {}
            g = lambda k: "-" if c.get(k) is None else c[k]
            wo = "n/a (kcat reports no offsets)" if c and c.get("wrong_offsets") is None else g("wrong_offsets")
            out.append(f"| {r['client']} | {r['broker']} | {r.get('reader', '-')} | {g('records')} ({r.get('sent', '-')}) | "
                       f"{r.get('dropped', '-')} | {r.get('dedupe') or '-'} | {g('duplicates')} | {g('missing')} | {g('out_of_order')} | {wo} | "
                       f"{verdict(r)} | {r.get('seconds', 0):.1f}s |")
        out.append("")
    failed = [r for r in rows if r["verdict"] == "FAIL"]
    known = [r for r in rows if r["verdict"] == "KNOWN FAILURE"]
    passed = [r for r in rows if r["verdict"] == "PASS"]
    out.append(f"**{'FAIL' if failed else 'PASS'}**: {len(passed)} passed, "
               f"{len(failed)} failed, {len(known)} known failures.")
    text = "\n".join(out) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    print(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
