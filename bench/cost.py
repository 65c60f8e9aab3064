"""Where the milliseconds go: counters of the running local stack, read before and after a
measured window, so that bench/bench.py can divide their deltas by the orders carried.

- CPU: user+system time of every process of the stack from /proc/<pid>/stat, grouped into
  components (PostgreSQL = the postmaster and all its children, each Kafka JVM, each service
  with all its instances, nginx, supervisord). Children that exit inside the window are
  still counted: their time moves into their parent's cutime/cstime when it reaps them.
- Kafka: messages appended (end offsets of every topic), consumer deliveries (committed
  offsets of every service's group), offset commits (__consumer_offsets) and bytes appended
  to the brokers' log segments.
- PostgreSQL: statements (pg_stat_statements, loaded by infra/scripts/stack.sh), commits and
  rollbacks (pg_stat_database), WAL records, bytes, writes and syncs (pg_stat_wal).
- Bytes on the wire: bytes sent on the stack's established TCP connections (`ss -ti`, both
  ends of a loopback connection each count what they send), so other users of the machine's
  loopback interface are not counted.

Nothing here asserts anything; a counter that cannot be read is reported as missing.
"""
import glob
import json
import os
import re
import subprocess

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


class Stack:
    """The running stack's shape, processes and ports, as infra/scripts/stack.sh made them."""

    def __init__(self, run, offset):
        self.run = run
        self.offset = offset
        self.pg_port = 5432 + offset
        self.supervisor = ["supervisorctl", "-c", os.path.join(run, "supervisor", "supervisord.conf")]
        with open(os.path.join(ROOT, "infra", "topology.json")) as f:
            topo = json.load(f)
        self.groups = {s["group"]: s["consumes"] for s in topo["services"]}
        self.http_ports = {s["name"]: s["httpPort"] + offset for s in topo["services"]}
        self.programs = self._programs()
        kafka = sorted(p for p in self.programs if component_of(p) == "kafka")
        self.kafka_nodes = len(kafka)
        self.kafka_ports = [9092 + offset + 10 * i for i in range(self.kafka_nodes)]
        self.brokers = ",".join(f"localhost:{p}" for p in self.kafka_ports)
        self.replicas = max(sum(1 for p in self.programs if component_of(p) == name)
                            for name in self.http_ports)

    def _programs(self):
        """program name -> pid of every running program (supervisorctl status)."""
        out = subprocess.run(self.supervisor + ["status"], capture_output=True, text=True).stdout
        progs = {}
        for line in out.splitlines():
            m = re.match(r"(\S+)\s+RUNNING\s+pid (\d+)", line)
            if m:
                progs[m.group(1)] = int(m.group(2))
        return progs

    def refresh(self):
        self.programs = self._programs()

    def shape(self):
        return {"kafkaNodes": self.kafka_nodes, "replicas": self.replicas,
                "programs": sorted(self.programs)}

    def stack_ports(self):
        """Every port the stack listens on: its TCP connections are the ones counted."""
        controllers = {p + 1 for p in self.kafka_ports}  # KRaft controllers: 9093 + 10 (i - 1)
        ports = (set(self.http_ports.values()) | set(self.kafka_ports) | controllers |
                 {self.pg_port, 3000 + self.offset})
        # instance k of a service listens 10 * (k - 1) above the first (docs/reliability.md)
        for base in list(self.http_ports.values()):
            ports |= {base + 10 * k for k in range(1, self.replicas)}
        return ports

    def supervisord_pid(self):
        try:
            with open(os.path.join(self.run, "supervisor", "supervisord.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None


def component_of(program):
    """supervisor program -> component: services:order-2 -> order, kafka:kafka-3 -> kafka."""
    name = program.split(":")[-1]
    if name.startswith("kafka"):
        return "kafka"
    if name == "web":
        return "nginx"
    return re.sub(r"-\d+$", "", name)


# ---- CPU from /proc ------------------------------------------------------------------------

def _stat(pid):
    """(ppid, own ticks, reaped children's ticks) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return int(fields[1]), utime + stime, cutime + cstime


def _process_table():
    table = {}
    for path in glob.glob("/proc/[0-9]*"):
        pid = int(path[6:])
        st = _stat(pid)
        if st:
            table[pid] = st
    return table


def cpu_ms(stack, extra=None):
    """component -> CPU-ms used so far by its processes and their descendants; `extra` adds
    named processes outside the stack (the load generator), each counted on its own."""
    table = _process_table()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid):
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            if p in table:
                _, own, reaped = table[p]
                total += own + reaped
                todo.extend(children.get(p, []))
        return total

    out = {}
    for program, pid in stack.programs.items():
        comp = component_of(program)
        out[comp] = out.get(comp, 0.0) + tree(pid) * TICK_MS
    sup = stack.supervisord_pid()
    if sup in table:  # its own time only: its children are the components above
        out["supervisord"] = table[sup][1] * TICK_MS
    for name, pid in (extra or {}).items():
        out[name] = tree(pid) * TICK_MS
    return out


def _title(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def is_client(host):
    """Whether a backend's title names a client's address (`[local]` or `host(port)`), not a
    helper's word."""
    return host == "[local]" or "(" in host


def postgres_split(stack, cpu):
    """Splits cpu["postgres"] (from cpu_ms) by database: "pg:<db>" is the time of the backends
    serving that database (a backend's process title names it: `postgres: role db host(port)
    state` over TCP, `postgres: role db [local] state` on the Unix socket, the services'
    path), "postgres (other)" the rest (the postmaster, its helpers, backends that exited).
    Returns a new dict; the other components are unchanged."""
    out = dict(cpu)
    total = out.pop("postgres", None)
    postmaster = stack.programs.get("postgres")
    if total is None or postmaster is None:
        return out
    table = _process_table()
    for pid, (ppid, own, _) in table.items():
        parts = _title(pid).split() if ppid == postmaster else []
        if len(parts) >= 4 and parts[0] == "postgres:" and is_client(parts[3]):
            key = f"pg:{parts[2]}"
            out[key] = out.get(key, 0.0) + own * TICK_MS
            total -= own * TICK_MS
    out["postgres (other)"] = total
    return out


# ---- Kafka ---------------------------------------------------------------------------------

def kafka_counts(stack):
    """Sum of end offsets per topic, committed offsets per group, and log bytes per broker."""
    from confluent_kafka import Consumer, TopicPartition
    probe = Consumer({"bootstrap.servers": stack.brokers, "group.id": "eventify-bench-probe",
                      "enable.auto.commit": False})
    try:
        meta = probe.list_topics(timeout=10)
        ends, lows = {}, {}
        for topic, tmeta in meta.topics.items():
            for part in tmeta.partitions:
                lo, hi = probe.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
                ends[(topic, part)] = hi
                lows[(topic, part)] = lo
    finally:
        probe.close()
    committed = {}
    for group, topics in stack.groups.items():
        c = Consumer({"bootstrap.servers": stack.brokers, "group.id": group,
                      "enable.auto.commit": False})
        try:
            tps = [TopicPartition(t, p) for (t, p) in ends if t in topics]
            for tp in c.committed(tps, timeout=10):
                # no commit yet: nothing consumed beyond the log's start
                committed[(group, tp.topic, tp.partition)] = (
                    tp.offset if tp.offset >= 0 else lows[(tp.topic, tp.partition)])
        finally:
            c.close()
    return {
        "produced": sum(v for (t, _), v in ends.items() if not t.startswith("__")),
        "offsetCommits": sum(v for (t, _), v in ends.items() if t == "__consumer_offsets"),
        "delivered": sum(committed.values()),
        "lag": sum(max(0, ends[(t, p)] - off) for (g, t, p), off in committed.items()),
        "logBytes": _kafka_log_bytes(stack),
    }


def _kafka_log_bytes(stack):
    """Bytes in the brokers' log segments (every replica of every partition, internal topics
    too); the data folders as infra/scripts/stack.sh lays them out."""
    if stack.kafka_nodes == 1:
        pattern = os.path.join(stack.run, "kafka", "data", "*", "*.log")
    else:
        pattern = os.path.join(stack.run, "kafka", f"cluster-{stack.kafka_nodes}", "node-*", "data", "*", "*.log")
    total = 0
    for path in glob.glob(pattern):
        try:
            total += os.path.getsize(path)
        except OSError:  # a segment deleted by retention meanwhile
            pass
    return total


# ---- PostgreSQL ----------------------------------------------------------------------------

def pg_admin(stack):
    """The postgres superuser over the run folder's socket (trusted for the owner only)."""
    return psycopg2.connect(host=os.path.join(stack.run, "pg-socket"), port=stack.pg_port,
                            dbname="postgres", user="postgres")


def ensure_pg_stat_statements(stack):
    """True if pg_stat_statements is loaded (the stack started with it) and created."""
    with pg_admin(stack) as c, c.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        if "pg_stat_statements" not in cur.fetchone()[0]:
            return False
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return True


def pg_counts(stack, with_statements):
    with pg_admin(stack) as c, c.cursor() as cur:
        cur.execute("SELECT sum(xact_commit), sum(xact_rollback) FROM pg_stat_database")
        commits, rollbacks = cur.fetchone()
        cur.execute("SELECT wal_records, wal_bytes, wal_write, wal_sync FROM pg_stat_wal")
        records, wal_bytes, writes, syncs = cur.fetchone()
        out = {"commits": int(commits), "rollbacks": int(rollbacks), "walRecords": int(records),
               "walBytes": int(wal_bytes), "walWrites": int(writes), "walSyncs": int(syncs)}
        if with_statements:
            # every statement, BEGIN and COMMIT included (pg_stat_statements.track_utility)
            cur.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements")
            out["statements"] = int(cur.fetchone()[0])
    return out


# pg_stat_statements keeps one entry per role, database, statement and nesting level: the same
# COMMIT run by the service's role and by the postgres role is two entries with one queryid.
STATEMENT_KEY = "d.datname, s.userid, s.queryid, s.toplevel"


def top_statements(stack, before, limit=12):
    """The statements with the most calls since `before` (a statement_snapshot), for the doc."""
    with pg_admin(stack) as c, c.cursor() as cur:
        cur.execute(f"SELECT {STATEMENT_KEY}, s.calls, s.total_exec_time,"
                    " left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110)"
                    " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid")
        rows = cur.fetchall()
    deltas = []
    for db, user, qid, toplevel, calls, ms, text in rows:
        prev = before.get((db, user, qid, toplevel), (0, 0.0))
        if calls - prev[0] > 0:
            deltas.append({"database": db, "calls": calls - prev[0], "ms": ms - prev[1], "query": text})
    return sorted(deltas, key=lambda d: -d["calls"])[:limit]


def statement_snapshot(stack):
    with pg_admin(stack) as c, c.cursor() as cur:
        cur.execute(f"SELECT {STATEMENT_KEY}, s.calls, s.total_exec_time"
                    " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid")
        return {tuple(row[:4]): (row[4], row[5]) for row in cur.fetchall()}


# ---- bytes on the wire ---------------------------------------------------------------------

def tcp_bytes(stack):
    """connection -> bytes sent, for every established TCP connection with one end on a
    port of the stack (ss -tin reports tcp_info's bytes_sent per socket)."""
    out = subprocess.run(["ss", "-tinH", "state", "established"], capture_output=True, text=True).stdout
    ports = stack.stack_ports()
    conns, key = {}, None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            cols = line.split()
            local, peer = cols[-2], cols[-1]
            lp, pp = int(local.rsplit(":", 1)[1]), int(peer.rsplit(":", 1)[1])
            key = (local, peer) if (lp in ports or pp in ports) else None
        elif key:
            m = re.search(r"bytes_sent:(\d+)", line)
            conns[key] = int(m.group(1)) if m else 0
    return conns


def tcp_delta(before, after):
    """Bytes sent between two tcp_bytes() readings; connections opened in between count from
    zero (those closed in between are lost: the stack's connections are long-lived)."""
    return sum(sent - before.get(k, 0) for k, sent in after.items() if sent >= before.get(k, 0))


# ---- a whole reading ---------------------------------------------------------------------

def counters(stack, with_statements):
    """Every count at one instant (CPU is read separately, at the window's edges)."""
    out = {}
    out.update(kafka_counts(stack))
    out.update(pg_counts(stack, with_statements))
    return out


def diff(before, after):
    return {k: after[k] - before[k] for k in after if k in before and isinstance(after[k], (int, float))}
