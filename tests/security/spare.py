"""A second instance of a service binary beside the running stack, on a spare port and with
settings of the test's choice (short timeouts, few slots, an unreachable Kafka), and what the
HTTP and WebSocket tests measure on a process: its resident size."""
import contextlib
import os
import socket
import subprocess
import threading
import time

import requests

from conftest import BROKERS, DATABASES, PG_PORT, ROOT, RUN, pg_password, wait_until

# The build whose binaries run as spare instances; EVENTIFY_BIN_DIR=build/asan/bin runs them
# under ASan+UBSan.
BIN_DIR = os.environ.get("EVENTIFY_BIN_DIR", os.path.join(ROOT, "build", "release", "bin"))


def free_port():
    """A TCP port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """Samples a process's resident size every 20 ms in the background; .peak_kb is the
    largest seen."""

    def __init__(self, pid):
        self.pid, self.peak_kb, self._stop = pid, rss_kb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, rss_kb(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, rss_kb(self.pid))


@contextlib.contextmanager
def spare_instance(service, kafka_reachable=False, wrapper=(), **env):
    """Runs build/release/bin/eventify-<service> on a free port against the stack's database,
    under the command `wrapper` when one is given (valgrind, say: {service} and {port} in its
    arguments become the service's name and port). Its brokers are a closed port unless
    kafka_reachable: then it joins the service's consumer group and takes partitions from the
    stack's instance while it runs; otherwise it joins nothing and is never ready. Its output
    goes to .run/logs/spare-<service>-<port>.log. Yields (port, process); stops it at the end
    (SIGTERM, then SIGKILL after 60 s)."""
    port = free_port()
    database = DATABASES[service]
    brokers = BROKERS if kafka_reachable else f"127.0.0.1:{free_port()}"
    full_env = dict(os.environ, EVENTIFY_HTTP_PORT=str(port), EVENTIFY_PG_PORT=str(PG_PORT),
                    EVENTIFY_PG_DATABASE=database, EVENTIFY_PG_USER=database,
                    EVENTIFY_PG_PASSWORD=pg_password(database), EVENTIFY_KAFKA_BROKERS=brokers,
                    EVENTIFY_LOG_LEVEL="warn", **{k: str(v) for k, v in env.items()})
    full_env.pop("EVENTIFY_LOG_FILE", None)
    log = open(os.path.join(RUN, "logs", f"spare-{service}-{port}.log"), "w")
    command = [a.format(service=service, port=port) for a in wrapper]
    command.append(os.path.join(BIN_DIR, f"eventify-{service}"))
    process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)

    def answering():
        assert process.poll() is None, f"spare {service} exited with {process.returncode}"
        try:
            return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(answering, 40, f"spare {service} answering on :{port}")
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
