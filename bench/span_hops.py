"""Where an order's milliseconds go, span by span, from the traces Jaeger keeps (run it right
after or during a load; not a test).

For the last N orders that reached shipping (Jaeger's query API), every span of a service is
grouped by service and operation; for each group it prints the wait before the span (from the
end of the span it is a child of: a consumer's wait after the producer's acknowledged publish,
a relay's wait after the writing transaction) and the span's own duration, at p50 and p90.

    /usr/bin/python3 bench/span_hops.py [N]        (N orders, default 300)
    EVENTIFY_PORT_OFFSET=100 ... for a stack started with a port offset
"""
import collections
import json
import os
import sys
import urllib.request

QUERY_PORT = 16686 + int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    url = (f"http://localhost:{QUERY_PORT}/api/traces?service=shipping&limit={n}"
           "&lookback=10m")
    with urllib.request.urlopen(url, timeout=60) as r:
        traces = json.load(r)["data"]
    if not traces:
        raise SystemExit("no trace of the last 10 minutes reached shipping: place orders first")
    waits, durations = collections.defaultdict(list), collections.defaultdict(list)
    for t in traces:
        spans = {s["spanID"]: s for s in t["spans"]}
        for s in t["spans"]:
            key = (t["processes"][s["processID"]]["serviceName"], s["operationName"])
            durations[key].append(s["duration"] / 1000)
            parents = [r["spanID"] for r in s.get("references", []) if r["refType"] == "CHILD_OF"]
            parent = spans.get(parents[0]) if parents else None
            if parent and s["operationName"].split(" ")[0] in ("process", "publish"):
                parent_end = parent["startTime"] + parent["duration"]
                waits[key].append((s["startTime"] - parent_end) / 1000)
    print(f"{len(traces)} orders; milliseconds, p50 / p90")
    print(f"{'service':13} {'span':42} {'wait after parent':>19} {'duration':>15}  spans")
    for key in sorted(durations):
        w = waits.get(key)
        wait = f"{quantile(w, .5):7.1f} / {quantile(w, .9):7.1f}" if w else " " * 17
        d = durations[key]
        print(f"{key[0]:13} {key[1][:42]:42} {wait:>19} {quantile(d, .5):6.1f} / "
              f"{quantile(d, .9):6.1f}  {len(d)}")


if __name__ == "__main__":
    main()
