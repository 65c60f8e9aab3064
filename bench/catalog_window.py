"""How long a new product is unknown to the order service: PUT /products/{sku} on the
inventory service, then poll the order service's projection (its `products` table) until the
product is there. Prints p50, p90 and max over N products (default 30). Each run adds N
products named "window probe" to the running stack.
    /usr/bin/python3 bench/catalog_window.py [N]
"""
import json
import os
import statistics
import sys
import time
import urllib.request
import uuid

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(ROOT, ".run"))
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
with open(os.path.join(ROOT, "infra", "topology.json")) as _f:
    SERVICES = {s["name"]: s for s in json.load(_f)["services"]}


def put_product(token, sku):
    req = urllib.request.Request(
        f"http://localhost:{SERVICES['inventory']['httpPort'] + OFFSET}/products/{sku}", method="PUT",
        data=b'{"name": "window probe", "priceCents": 100}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()


def main(n):
    with open(os.path.join(RUN, "secrets", "admin-token")) as f:
        token = f.read().strip()
    db = SERVICES["order"]["database"]  # the order service's projection of the catalog
    with open(os.path.join(RUN, "secrets", f"pg-{db}")) as f:
        password = f.read().strip()
    conn = psycopg2.connect(host="localhost", port=5432 + OFFSET, dbname=db, user=db,
                            password=password)
    conn.autocommit = True
    cur = conn.cursor()
    ms = []
    for _ in range(n):
        sku = f"SKU-WINDOW-{uuid.uuid4().hex[:8].upper()}"
        start = time.monotonic()
        put_product(token, sku)
        deadline = start + 30
        while True:
            cur.execute("SELECT 1 FROM products WHERE sku = %s", (sku,))
            if cur.fetchone():
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{sku} did not reach the order service within 30 s")
            time.sleep(0.001)
        ms.append((time.monotonic() - start) * 1000)
        time.sleep(0.2)
    ms.sort()
    print(f"PUT /products -> known to the order service, n={n}: p50 {statistics.median(ms):.1f} ms,"
          f" p90 {ms[max(0, int(n * 0.9) - 1)]:.1f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
