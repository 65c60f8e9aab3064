"""The fault scheduler: two lanes, each a seeded sequence of faults run one after another
while the load runs. The Kafka lane kills partition leaders, the active controller and whole
nodes, and restarts every broker in turn; the process lane kills service replicas (one, or
every instance of a service at once), restarts PostgreSQL and pauses a process for longer
than the consumer session timeout. Each fault waits for its recovery (supervisor brings a
killed process back) before the lane goes on, so at most one Kafka node is away at a time
and min.insync.replicas=2 keeps accepting writes. The seed fixes which faults run in which
order and which target each picks; when they happen depends on how fast the stack recovers."""
import os
import random
import signal
import subprocess
import threading
import time

from confluent_kafka.admin import AdminClient

import topology as t

SESSION_TIMEOUT_S = 6  # session.timeout.ms of every consumer (libs/src/kafka.c)
KAFKA_FAULTS = ["leader:" + topic for topic in t.SAGA_TOPICS] + \
    ["controller", "node", "rolling-restart"]
PROCESS_FAULTS = ["replica", "service", "postgres", "pause"]


class Scheduler:
    def __init__(self, seed, log):
        self.seed = seed
        self.log = log
        self.counts = {}
        self.problems = []  # recoveries that did not happen in time
        self.stop = threading.Event()
        self.admin = AdminClient({"bootstrap.servers": t.brokers()})
        self.lock = threading.Lock()

    # --- lanes ----------------------------------------------------------------------------

    def run(self, seconds):
        """Runs both lanes for `seconds` (the fault in progress finishes); returns when done."""
        lanes = [threading.Thread(target=self._lane, args=(name, faults, seconds), daemon=True)
                 for name, faults in (("kafka", KAFKA_FAULTS if t.KAFKA_NODES > 1 else []),
                                      ("process", PROCESS_FAULTS))]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()

    def _lane(self, name, faults, seconds):
        if not faults:
            return
        rng = random.Random(f"{self.seed}:{name}")
        end = time.monotonic() + seconds
        plan = []
        time.sleep(rng.uniform(2, 5))
        while time.monotonic() < end and not self.stop.is_set():
            if not plan:  # every fault once per round, in a seeded order
                plan = faults[:]
                rng.shuffle(plan)
            fault = plan.pop()
            started = time.monotonic()
            self.log(f"fault {fault} ...")
            try:
                detail = getattr(self, "_" + fault.split(":")[0].replace("-", "_"))(rng, fault)
            except Exception as exc:  # a fault that could not be injected is a finding too
                detail = f"could not inject: {exc!r}"
                with self.lock:
                    self.problems.append(f"{fault}: {detail}")
            with self.lock:
                self.counts[fault.split(":")[0]] = self.counts.get(fault.split(":")[0], 0) + 1
            self.log(f"fault {fault} done in {time.monotonic() - started:.1f}s: {detail}")
            time.sleep(rng.uniform(1, 4))

    def total(self):
        return sum(self.counts.values())

    # --- Kafka ----------------------------------------------------------------------------

    def _leader(self, rng, fault):
        topic = fault.split(":", 1)[1]
        partitions = self.admin.list_topics(topic, timeout=10).topics[topic].partitions
        p = rng.choice(sorted(partitions))
        node = partitions[p].leader
        if node < 1:
            return f"{topic}[{p}] has no leader right now"
        self._kill_node(node)
        return f"SIGKILL node {node}, leader of {topic}[{p}]"

    def _controller(self, rng, fault):
        node = self._active_controller()
        self._kill_node(node)
        return f"SIGKILL node {node}, the active controller"

    def _node(self, rng, fault):
        node = rng.randint(1, t.KAFKA_NODES)
        self._kill_node(node)
        return f"SIGKILL node {node}"

    def _rolling_restart(self, rng, fault):
        for node in range(1, t.KAFKA_NODES + 1):
            t.supervisorctl("restart", t.node_program(node))
            self._await_cluster(node)
        return f"restarted nodes 1..{t.KAFKA_NODES} one by one"

    def _kill_node(self, node):
        pid = t.pid_of(t.node_program(node))
        if pid:
            os.kill(pid, signal.SIGKILL)
        # supervisor restarts it; wait for a new process, then for the cluster to heal
        t.wait(lambda: t.pid_of(t.node_program(node)) not in (None, pid), 60)
        self._await_cluster(node)

    def _await_cluster(self, node):
        """The cluster noticed the node was away (its replicas left some ISR, or it left the
        broker list; a node back within the broker session timeout may never show it), then
        the node answers on its own port and every partition's ISR is full again."""
        def noticed():
            md = self.admin.list_topics(timeout=5)
            return node not in md.brokers or any(
                node not in p.isrs for topic in md.topics.values()
                for p in topic.partitions.values() if node in p.replicas)
        t.wait(noticed, 15, interval=0.5)
        own = AdminClient({"bootstrap.servers": f"localhost:{t.node_port(node)}"})

        def healthy():
            own.list_topics(timeout=5)  # raises while the node does not answer
            md = self.admin.list_topics(timeout=5)
            if node not in md.brokers:
                return False
            return all(len(p.isrs) == len(p.replicas) for topic in md.topics.values()
                       for p in topic.partitions.values())
        if not t.wait(healthy, 180, interval=1):
            with self.lock:
                self.problems.append(f"node {node}: cluster not fully in sync 180 s after a fault")

    def _active_controller(self):
        """The KRaft leader, from kafka-metadata-quorum (the client API names a random broker)."""
        out = subprocess.run(
            ["java", "-Xmx64m", "-cp", os.path.join(os.environ.get("EVENTIFY_KAFKA_LIB", os.path.join(t.RUN, "kafka", "lib")), "*"),
             "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-controller",
             f"localhost:{t.node_controller_port(1)}", "describe", "--status"],
            capture_output=True, text=True, timeout=60).stdout
        for line in out.splitlines():
            if line.startswith("LeaderId:"):
                return int(line.split(":")[1])
        raise RuntimeError(f"no LeaderId in kafka-metadata-quorum output: {out[:200]!r}")

    # --- processes ------------------------------------------------------------------------

    def _replica(self, rng, fault):
        service, k = rng.choice(t.instances())
        self._kill([(service, k)])
        return f"SIGKILL {t.program(service, k)}"

    def _service(self, rng, fault):
        service = rng.choice(sorted(t.SERVICES))
        targets = [(service, k) for k in range(1, t.REPLICAS + 1)]
        self._kill(targets)
        return f"SIGKILL every instance of {service} at once"

    def _kill(self, targets):
        pids = {}
        for service, k in targets:
            pids[(service, k)] = t.pid_of(t.program(service, k))
        for pid in pids.values():
            if pid:
                os.kill(pid, signal.SIGKILL)
        for (service, k), pid in pids.items():
            ok = t.wait(lambda: t.pid_of(t.program(service, k)) not in (None, pid)
                        and t.ready(service, k), 90)
            if not ok:
                with self.lock:
                    self.problems.append(f"{t.program(service, k)} not ready 90 s after SIGKILL")

    def _postgres(self, rng, fault):
        t.supervisorctl("restart", "postgres")
        if not t.wait(lambda: t.sql("order", "SELECT 1"), 60):
            with self.lock:
                self.problems.append("PostgreSQL not back 60 s after its restart")
        return "restarted PostgreSQL"

    def _pause(self, rng, fault):
        # A consumer (every service is one): its group rebalances its partitions away while it
        # sleeps, and it must notice it lost them when it wakes.
        what, k = rng.choice(t.instances())
        prog = t.program(what, k)
        pid = t.pid_of(prog)
        seconds = SESSION_TIMEOUT_S + rng.uniform(1, 4)
        if not pid:
            return f"{prog} not running"
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"SIGSTOP {prog} for {seconds:.1f}s, then SIGCONT"
