"""How long the outbox relay takes to choose one batch when a big backlog waits.

With the order service (and so its relay) stopped, commits BACKLOG rows into its outbox
(default 50,000, five events per order, the shape of a backlog in a saga, for a topic that
does not exist) plus half as many that are then drained (marked published as the relay did
before, or deleted as it does now), and times the batch
selection of the relay as it was (NOT EXISTS over every unpublished row) and as it is now
(the per-aggregate check within the window of the oldest 500 rows, libs/src/outbox.c,
select_batch_sql), each in a transaction rolled back. Three runs each; the best is shown.
The index by aggregate the old query walked is gone (runtime migration 001): the old query's
figures in docs/benchmarks.md were taken with it.
The rows are deleted again and the order service started at the end.

    EVENTIFY_PORT_OFFSET=200 /usr/bin/python3 bench/outbox_backlog.py [BACKLOG ...]
"""
import sys
import time

import bench as b

BATCH = 500  # RELAY_BATCH in libs/src/service.c

OLD_SQL = """
SELECT id, topic, aggregate_id, message, causation_id, traceparent, event_type
  FROM outbox o
 WHERE published_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM outbox e
                    WHERE e.aggregate_id = o.aggregate_id AND e.id < o.id
                      AND e.published_at IS NULL)
 ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"""

# The same text as select_batch_sql in libs/src/outbox.c.
NEW_SQL = """
WITH head AS MATERIALIZED (
  SELECT id, aggregate_id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT %s),
 first AS (
  SELECT min(id) AS id FROM head GROUP BY aggregate_id)
SELECT o.id, o.topic, o.aggregate_id, o.message, o.causation_id, o.traceparent,
       o.event_type, (SELECT count(*) FROM head) AS window_rows
  FROM outbox o JOIN first f ON f.id = o.id
 WHERE o.published_at IS NULL
 ORDER BY o.id FOR UPDATE OF o SKIP LOCKED"""

# Rows for a topic that does not exist: were one ever published it would fail, never reach a
# consumer. Each run deletes its rows again (try/finally).
FILL_SQL = """
INSERT INTO outbox (aggregate_id, topic, event_id, event_type, message, traceparent)
SELECT 'backlog-' || (g %% %(orders)s), 'bench.backlog', gen_random_uuid(), 'OrderPlaced',
       repeat('x', 600), '00-00000000000000000000000000000001-0000000000000001-01'
  FROM generate_series(1, %(rows)s) g"""
CLEAN_SQL = "DELETE FROM outbox WHERE topic = 'bench.backlog'"

# What publishing did to the rows already drained, before and now: marked, or deleted.
OLD_DRAIN_SQL = ("UPDATE outbox SET published_at = now() WHERE id IN"
                 " (SELECT id FROM outbox WHERE topic = 'bench.backlog' ORDER BY id LIMIT %s)")
NEW_DRAIN_SQL = ("DELETE FROM outbox WHERE id IN"
                 " (SELECT id FROM outbox WHERE topic = 'bench.backlog' ORDER BY id LIMIT %s)")


def best_ms(conn, sql, runs=3):
    """The selection in a transaction that is rolled back (it only takes row locks)."""
    best, rows = float("inf"), []
    for _ in range(runs):
        with conn.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(sql, (BATCH,))
            rows = cur.fetchall()
            best = min(best, 1000 * (time.perf_counter() - t0))
        conn.rollback()
    return best, len(rows)


def backlog(conn, waiting, drained, drain_sql, select_sql):
    """Commits waiting + drained rows, drains the oldest the given way, times a selection."""
    with conn.cursor() as cur:
        cur.execute(CLEAN_SQL)
        cur.execute(FILL_SQL, {"orders": max(1, (waiting + drained) // 5),
                               "rows": waiting + drained})
        conn.commit()
        cur.execute(drain_sql, (drained,))
        conn.commit()
        cur.execute("ANALYZE outbox")
        conn.commit()
    return best_ms(conn, select_sql)


def main():
    """Arguments: backlog sizes, each WAITING or WAITING:DRAINED (rows drained first, marked
    or deleted, as in a backlog being worked through; half the backlog by default); the order
    service is stopped meanwhile so its relay leaves the rows alone."""
    sizes = [tuple(int(x) for x in (a + ":" + str(int(a) // 2)).split(":")[:2]) if ":" not in a
             else tuple(int(x) for x in a.split(":")) for a in sys.argv[1:]] or [(50_000, 25_000)]
    print("| rows waiting | rows drained before | old query | rows chosen | new query | rows chosen |")
    print("| --- | --- | --- | --- | --- | --- |")
    b.supervise("stop", ["order"])
    conn = b.db(b.ORDERS_DB)
    try:
        for waiting, drained in sizes:
            old, old_rows = backlog(conn, waiting, drained, OLD_DRAIN_SQL, OLD_SQL)
            new, new_rows = backlog(conn, waiting, drained, NEW_DRAIN_SQL, NEW_SQL)
            print(f"| {waiting} | {drained} | {old:.1f} ms | {old_rows} | {new:.1f} ms |"
                  f" {new_rows} |")
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(CLEAN_SQL)
        conn.commit()
        conn.close()
        b.supervise("start", ["order"])


if __name__ == "__main__":
    main()
