"""The bench's results: one JSON file per run under bench/results/, their Markdown tables,
and the trend across runs, so that a regression is visible.

    python3 bench/results.py trend        # prints the trend table of every stored result
    python3 bench/results.py docs         # rewrites the generated parts of docs/benchmarks.md
                                          # and redraws docs/img/bench-*.png

`docs` takes the newest result of the default stack (one Kafka node, one instance each) as
the measured one and the newest three-node result, if any, beside it. The generated parts of
docs/benchmarks.md sit between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` lines;
everything else in that file is written by hand and left alone.
"""
import glob
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")

# How the per-order counts are named in the tables, in the order shown.
COUNT_LABELS = [
    ("produced", "Kafka messages produced"),
    ("delivered", "consumer deliveries (committed offsets)"),
    ("offsetCommits", "offset commits (__consumer_offsets records)"),
    ("statements", "SQL statements (pg_stat_statements, BEGIN/COMMIT included)"),
    ("commits", "transactions committed (pg_stat_database)"),
    ("rollbacks", "transactions rolled back"),
    ("walSyncs", "WAL syncs (pg_stat_wal.wal_sync)"),
    ("walWrites", "WAL writes (pg_stat_wal.wal_write)"),
    ("walBytes", "WAL bytes"),
    ("logBytes", "Kafka log bytes appended (all replicas)"),
    ("tcpBytes", "TCP bytes sent on the stack's connections"),
]


def describe_run(stack):
    """date, commit and machine of a run, and the stack's shape."""
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": {"cores": os.cpu_count(), "model": model,
                    "ramGiB": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
                    "kernel": os.uname().release},
        "shape": stack.shape(),
    }


def shape_name(result):
    s = result["shape"]
    return f"{s['kafkaNodes']} Kafka node{'s' if s['kafkaNodes'] > 1 else ''}, {s['replicas']} instance{'s' if s['replicas'] > 1 else ''} each"


def save(result, directory):
    """Writes the result as <date>-<commit>[-k<nodes>r<replicas>].json; the suffix names a
    stack other than the default one. Returns the path."""
    os.makedirs(directory, exist_ok=True)
    s = result["shape"]
    suffix = "" if (s["kafkaNodes"], s["replicas"]) == (1, 1) else f"-k{s['kafkaNodes']}r{s['replicas']}"
    path = os.path.join(directory, f"{result['date'][:10]}-{result['commit']}{suffix}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    return path


def load_all(directory=RESULTS):
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        if r.get("rates"):
            r["_file"] = os.path.basename(path)
            out.append(r)
    return sorted(out, key=lambda r: r["date"])


# ---- tables --------------------------------------------------------------------------------

def _num(v, digits=2):
    return f"{v:,.{digits}f}"


def latency_table(result):
    rows = ["| offered/s | accepted/s | shipped | cancelled by deadline | shipped/s (incl. drain) | drain after | carried/s in steady window | p50 | p95 | p99 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rates"]:
        rows.append(f"| {r['offered']} | {r['acceptedPerSecond']:.0f} | {r['shipped']}/{r['placed']} | {r['cancelled']} |"
                    f" {r['shippedPerSecond']:.0f} | {r['drainSeconds']:.1f} s | {r['carriedPerSecond']:.0f} |"
                    f" {r['p50']:.0f} ms | {r['p95']:.0f} ms | {r['p99']:.0f} ms |")
    return "\n".join(rows)


def cpu_table(columns):
    """columns: [(heading, rate result, idle ms/s or None)] -> component rows of CPU-ms per
    order and share of the total, the total, and the load generator apart."""
    comps = sorted({c for _, r, _ in columns for c in r["cpuMsPerOrder"]},
                   key=lambda c: -max(r["cpuMsPerOrder"].get(c, 0) for _, r, _ in columns))
    head = "| component | " + " | ".join(
        h + (" (whole run)" if r.get("cpuBasis") == "run" else "") for h, r, _ in columns) + " |"
    rows = [head, "| --- |" + " --- |" * len(columns)]
    for c in comps:
        cells = []
        for _, r, _ in columns:
            v, total = r["cpuMsPerOrder"].get(c, 0.0), r["cpuTotalMsPerOrder"]
            cells.append(f"{v:.2f} ({100 * v / total:.0f} %)" if total else "-")
        rows.append(f"| {c} | " + " | ".join(cells) + " |")
    rows.append("| **total** | " + " | ".join(f"**{r['cpuTotalMsPerOrder']:.2f}**" for _, r, _ in columns) + " |")
    rows.append("| load generator (hey, apart) | " +
                " | ".join(f"{r['loadGeneratorMsPerOrder']:.2f}" for _, r, _ in columns) + " |")
    rows.append("| orders carried in the window | " + " | ".join(
        f"{r['carried']} in {r['windowSeconds']:.1f} s: behind, whole run used ({r['placed']} orders)"
        if r.get("cpuBasis") == "run"
        else f"{r['carried']} in {r['windowSeconds']:.1f} s" for _, r, _ in columns) + " |")
    return "\n".join(rows)


def counts_table(columns):
    rows = ["| per order | " + " | ".join(h for h, _ in columns) + " |",
            "| --- |" + " --- |" * len(columns)]
    for key, label in COUNT_LABELS:
        if any(key in r["perOrder"] for _, r in columns):
            digits = 0 if "Bytes" in key else 2
            rows.append(f"| {label} | " + " | ".join(
                _num(r["perOrder"][key], digits) if key in r["perOrder"] else "-" for _, r in columns) + " |")
    rows.append("| orders counted (placed, start to settled) | " + " | ".join(str(r["placed"]) for _, r in columns) + " |")
    return "\n".join(rows)


def idle_table(result):
    idle = result.get("idleCpuMsPerSecond", {})
    cells = ", ".join(f"{k} {v:.0f}" for k, v in sorted(idle.items(), key=lambda kv: -kv[1]) if v >= 0.5)
    return f"Idle floor (no orders offered), CPU-ms per second: {cells or 'none'}; total {sum(idle.values()):.0f}."


def perf_table(perf):
    if not perf:
        return ""
    if perf.get("error"):
        return f"perf: {perf['error']}"
    lines = [f"`perf record -e cpu-clock -F {perf['frequency']} -g` on the stack's processes for "
             f"{perf['seconds']} s at {perf['rate']} orders/s: {perf['samples']} samples. Self time of the "
             "hottest symbols of each component (share of that component's samples):", "",
             "| component | share of all samples | in the kernel | top symbols (self) |", "| --- | --- | --- | --- |"]
    for comp in perf["components"]:
        syms = "; ".join(f"`{s['symbol'][:60]}` {s['share']:.0f} %" for s in comp["top"])
        lines.append(f"| {comp['component']} | {comp['share']:.0f} % | {comp.get('kernelShare', 0):.0f} % | {syms} |")
    return "\n".join(lines)


def statements_table(rate_result, limit=10):
    stmts = rate_result.get("topStatements") or []
    if not stmts:
        return ""
    orders = max(1, rate_result["placed"])
    lines = [f"The most frequent statements at {rate_result['offered']}/s (calls per order, execution ms per order):", "",
             "| database | calls/order | ms/order | statement |", "| --- | --- | --- | --- |"]
    for s in stmts[:limit]:
        q = s["query"].replace("|", "\\|")
        lines.append(f"| {s['database']} | {s['calls'] / orders:.2f} | {s['ms'] / orders:.3f} | `{q}` |")
    return "\n".join(lines)


def saga_markdown(result):
    cols = [(f"{r['offered']}/s", r, None) for r in result["rates"]]
    parts = ["## The whole saga, everything on this machine\n",
             f"Stack: {shape_name(result)}. Latency from the order's insert to its shipment visible in the read model.\n",
             latency_table(result), "",
             "### CPU-ms per order by component (steady window, /proc utime+stime)\n",
             cpu_table(cols), "", idle_table(result), "",
             "### Counts per order (start of the run to everything settled)\n",
             counts_table([(h, r) for h, r, _ in cols]), ""]
    if result["rates"]:
        parts += [statements_table(result["rates"][0]), ""]
    if result.get("perf"):
        parts += [perf_table(result["perf"]), ""]
    return "\n".join(parts)


# ---- the trend across runs -----------------------------------------------------------------

def trend_table(all_results):
    """One row per run and rate: a regression shows as a rising CPU-ms or count per order
    (* = whole-run CPU: the stack fell behind at that rate)."""
    rows = ["| date (UTC) | commit | machine | stack | offered/s | CPU-ms/order | messages/order | deliveries/order | statements/order | WAL syncs/order | carried/s | p99 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for res in all_results:
        run = (f"| {res['date'][:16].replace('T', ' ')} | {res['commit']}{'+' if res.get('dirty') else ''} |"
               f" {res['machine']['cores']} cores | k{res['shape']['kafkaNodes']} r{res['shape']['replicas']} |")
        for r in res["rates"]:
            po = r["perOrder"]
            statements = f"{po['statements']:.1f}" if "statements" in po else "-"
            star = " *" if r.get("cpuBasis") == "run" else ""
            rows.append(f"{run} {r['offered']} | {r['cpuTotalMsPerOrder']:.2f}{star} | {po.get('produced', 0):.1f} |"
                        f" {po.get('delivered', 0):.1f} | {statements} | {po.get('walSyncs', 0):.2f} |"
                        f" {r['carriedPerSecond']:.0f} | {r['p99']:.0f} ms |")
    return "\n".join(rows)


def _newest(all_results, nodes):
    candidates = [r for r in all_results if r["shape"]["kafkaNodes"] == nodes]
    if nodes == 1:
        candidates = [r for r in candidates if r["shape"]["replicas"] == 1]
    return candidates[-1] if candidates else None


def doc_sections(all_results):
    """name -> Markdown of each generated part of docs/benchmarks.md."""
    one, three = _newest(all_results, 1), _newest(all_results, 3)
    main = one or three
    m = main["machine"]
    def label(run, r):  # the shape is named only when two shapes stand side by side
        nodes = run["shape"]["kafkaNodes"]
        return f"{nodes} node{'s' if nodes > 1 else ''}, {r['offered']}/s" if one and three else f"{r['offered']}/s"
    cols = [(label(main, r), r, None) for r in main["rates"]]
    if one and three:
        cols += [(label(three, r), r, None) for r in three["rates"]]
    head = (f"Run {main['date'][:16].replace('T', ' ')} UTC at commit {main['commit']}"
            f"{' (with uncommitted changes)' if main.get('dirty') else ''} on {m['cores']} cores ({m['model']}),"
            f" {m['ramGiB']:.0f} GiB, {main['settings']['seconds']} s per rate"
            f" (steady window: the offered period less {main['settings']['rampSeconds']:g} s at the start"
            f" and {main['settings']['tailSeconds']:g} s at the end).")
    cost = [head, "", cpu_table(cols), "", idle_table(main)]
    if one and three:
        cost += ["", f"The three-node cluster ({three['_file']}): " + idle_table(three)]
    return {
        "latency": "\n".join([f"{shape_name(main)}:", "", latency_table(main)] +
                             (["", f"{shape_name(three)}:", "", latency_table(three)] if one and three else [])),
        "cost": "\n".join(cost),
        "counts": "\n".join([counts_table([(h, r) for h, r, _ in cols]), "",
                             statements_table(main["rates"][0])]),
        "perf": perf_table(main.get("perf") or (three or {}).get("perf")) or
                "No profile in the newest result (BENCH_PERF_SECONDS=0 or perf unavailable).",
        "trend": trend_table(all_results),
    }


def update_doc(doc_path=DOC, directory=RESULTS):
    """Rewrites every generated part of the doc from the stored results; draws the pictures."""
    import plots
    all_results = load_all(directory)
    if not all_results:
        raise SystemExit(f"no results in {directory}: run make bench first")
    with open(doc_path) as f:
        text = f.read()
    for name, body in doc_sections(all_results).items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{doc_path} has no <!-- bench:{name} --> section")
        text = pattern.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)
    with open(doc_path, "w") as f:
        f.write(text)
    one, three = _newest(all_results, 1), _newest(all_results, 3)
    plots.draw([r for r in (one, three) if r], os.path.join(ROOT, "docs", "img"))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    what = sys.argv[1] if len(sys.argv) > 1 else "trend"
    if what == "trend":
        print(trend_table(load_all()))
    elif what == "docs":
        update_doc()
        print(f"rewrote the generated parts of {DOC} and docs/img/bench-*.png")
    else:
        raise SystemExit(__doc__)
