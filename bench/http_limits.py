"""Measures the HTTP and WebSocket edge of a build (docs/security-http.md). Not a test.

    EVENTIFY_PORT_OFFSET=... python3 bench/http_limits.py [BIN_DIR]

BIN_DIR (default build/release/bin) holds the eventify-* binaries to measure; each figure
comes from an instance of its own on a free port, against the running stack's PostgreSQL
and with Kafka unreachable (nothing else disturbs it):

1. order: peak RSS and time to the answer while a 1 GB x-www-form-urlencoded body is sent,
   announced by Content-Length and chunked (like `curl -T -`); sending stops at the answer
   or after 60 s.
2. order: GET /health latency with 2,000 idle sockets open (half of them stopped in the
   middle of their headers), and RSS meanwhile and after.
3. read-model: peak RSS growth while one client sends 1 GB of 16 KiB WebSocket frames.
"""
import base64
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFSET = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
PG_PORT = 5432 + OFFSET
GB = 1_000_000_000
WEB_ORIGIN = f"http://localhost:{3000 + OFFSET}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


class Peak(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, rss_kb(pid), threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.02)

    def done(self):
        self.stop.set()
        self.join()
        return self.peak


def start(bin_dir, service, database, **env):
    port = free_port()
    full = dict(os.environ, EVENTIFY_HTTP_PORT=str(port), EVENTIFY_PG_PORT=str(PG_PORT),
                EVENTIFY_PG_DATABASE=database, EVENTIFY_PG_USER=database,
                EVENTIFY_PG_PASSWORD=database, EVENTIFY_LOG_LEVEL="error",
                EVENTIFY_KAFKA_BROKERS=f"127.0.0.1:{free_port()}", **env)
    p = subprocess.Popen([os.path.join(bin_dir, f"eventify-{service}")], env=full,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return p, port
        except OSError:
            time.sleep(0.2)
    p.kill()
    sys.exit(f"{service} did not start")


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


def gigabyte_form(port, pid, chunked):
    sock = socket.create_connection(("127.0.0.1", port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {GB}"
    sock.sendall(f"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                 f"x-www-form-urlencoded\r\n{framing}\r\n\r\n".encode())
    answered = threading.Event()
    peak = Peak(pid)
    t0 = time.monotonic()

    def send():
        piece, sent = b"a=" + b"A" * ((1 << 20) - 2), 0
        try:
            while sent < GB and not answered.is_set() and time.monotonic() - t0 < 60:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                piece = b"A" * (1 << 20)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sock.settimeout(90)
    try:
        head = sock.recv(200)
    except OSError:
        head = b""
    seconds = time.monotonic() - t0
    answered.set()
    sock.close()
    sender.join()
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (m.group(1).decode() if m else "no answer"), seconds, peak.done()


def health_with_idle_sockets(port, count=2000):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    idle = []
    for i in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if i % 2:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            idle.append(s)
        except OSError:
            break
    times = []
    for _ in range(20):
        t0 = time.monotonic()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
            times.append(time.monotonic() - t0)
        except OSError:
            times.append(None)
    for s in idle:
        s.close()
    ok = sorted(t for t in times if t is not None)
    return len(idle), len(ok), (ok[len(ok) // 2] if ok else None), (ok[-1] if ok else None)


def gigabyte_of_frames(port, pid):
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                 f"Origin: {WEB_ORIGIN}\r\n\r\n".encode())
    head = sock.recv(4096)
    if b" 101 " not in head.split(b"\r\n")[0]:
        return "no upgrade", 0
    time.sleep(1)  # the service settles after the handshake
    base = rss_kb(pid)
    frame = struct.pack("!BBH", 0x81, 0x80 | 126, 16384) + b"\0" * 4 + b"A" * 16384
    batch = frame * 64
    peak = Peak(pid)
    t0 = time.monotonic()
    try:
        for _ in range(GB // len(batch) + 1):
            sock.sendall(batch)
    except OSError:
        pass
    seconds = time.monotonic() - t0
    grown = peak.done() - base
    sock.close()
    return f"{grown / 1024:.1f} MB over a baseline of {base / 1024:.1f} MB", seconds


def main():
    bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                              os.path.join(ROOT, "build", "release", "bin"))
    print(f"binaries: {bin_dir}")
    p, port = start(bin_dir, "order", "orders")
    try:
        print(f"order baseline RSS: {rss_kb(p.pid) / 1024:.1f} MB")
        for chunked in (False, True):
            status, seconds, peak = gigabyte_form(port, p.pid, chunked)
            how = "chunked" if chunked else "Content-Length"
            print(f"1 GB form body ({how}): answer {status} after {seconds:.2f} s, "
                  f"peak RSS {peak / 1024:.1f} MB")
        peak = Peak(p.pid)
        opened, answered, p50, worst = health_with_idle_sockets(port)
        fmt = lambda t: "-" if t is None else f"{t * 1000:.1f} ms"
        print(f"/health with {opened} idle sockets: {answered}/20 answered, p50 {fmt(p50)}, "
              f"max {fmt(worst)}; peak RSS {peak.done() / 1024:.1f} MB, "
              f"{rss_kb(p.pid) / 1024:.1f} MB once they closed")
    finally:
        stop(p)
    p, port = start(bin_dir, "read-model", "readmodel", EVENTIFY_WS_ALLOWED_ORIGINS=WEB_ORIGIN)
    try:
        growth, seconds = gigabyte_of_frames(port, p.pid)
        print(f"read model, 1 GB of WebSocket frames in {seconds:.1f} s: RSS grew {growth}")
    finally:
        stop(p)


if __name__ == "__main__":
    main()
