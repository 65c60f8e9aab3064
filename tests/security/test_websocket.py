"""The read model's live-update WebSocket (/ws): only the web UI's pages (and non-browser
clients) may open it, a full hub refuses with 503 before the upgrade, idle clients that do
not answer pings are closed and free their slot, and whatever a client sends is dropped
unread: a gigabyte of frames leaves the service's size where it was."""
import base64
import os
import socket
import struct
import time

import requests
import websocket

from conftest import PORTS, WEB_URL, wait_until
from spare import PeakRss, rss_kb, spare_instance

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA
GROWTH_LIMIT_KB = 30 * 1024


def spare_read_model(**env):
    """A read model of its own (no Kafka: nothing to publish), for limits set per test."""
    return spare_instance("read-model", kafka_reachable=False,
                          EVENTIFY_WS_ALLOWED_ORIGINS=WEB_URL, **env)


def handshake(port, origin=None):
    """Opens /ws by hand; returns (status, socket, bytes read past the response head)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin:
        lines.append(f"Origin: {origin}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else None
    return status, sock, rest


def frame(opcode, payload):
    """A client frame with an all-zero mask (valid, and the payload goes out as it is)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


class FrameReader:
    """Reads the server's (unmasked) frames from a socket."""

    def __init__(self, sock, pending=b""):
        self.sock, self.buf = sock, pending

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def next(self):
        self._need(2)
        opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
        at = 2
        if n == 126:
            self._need(4)
            n, at = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(at + n)
        payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
        return opcode, payload


def next_ping(reader, timeout):
    """Reads frames until the server's first ping and returns True; live updates (text frames
    for events the stack is still projecting) may come before it. Raises socket.timeout when
    nothing arrives within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        reader.sock.settimeout(max(0.05, deadline - time.monotonic()))
        opcode, _ = reader.next()
        if opcode == OP_PING:
            return True
        assert opcode == OP_TEXT, f"frame {opcode:#x} before the first ping"
        assert time.monotonic() < deadline, "no ping within the timeout, only live updates"


def read_until_close(reader, timeout):
    """Frames until the server's close frame or end of stream; returns (opcodes, close code)."""
    reader.sock.settimeout(timeout)
    seen = []
    try:
        while True:
            opcode, payload = reader.next()
            seen.append(opcode)
            if opcode == OP_CLOSE:
                return seen, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    except EOFError:
        return seen, None


def test_only_the_web_ui_and_non_browser_clients_may_open_it():
    port = PORTS["read-model"]
    for origin in ("http://evil.example", "null", WEB_URL + ".evil.example"):
        status, sock, _ = handshake(port, origin)
        sock.close()
        assert status == 403, origin
    ui_origins = [WEB_URL, WEB_URL.replace("localhost", "127.0.0.1")]
    for origin in ui_origins + [None]:
        status, sock, _ = handshake(port, origin)
        sock.close()
        assert status == 101, origin


def test_a_full_hub_refuses_before_the_upgrade_and_idle_clients_free_their_slots():
    with spare_read_model(EVENTIFY_WS_MAX_CLIENTS=4,
                        EVENTIFY_WS_PING_INTERVAL_MS=500,
                        EVENTIFY_WS_IDLE_TIMEOUT_MS=2500) as (port, _):
        idle = []
        for _ in range(4):
            status, sock, rest = handshake(port)
            assert status == 101
            idle.append(FrameReader(sock, rest))
        for reader in idle:  # a first ping: each is being served, its slot taken
            assert next_ping(reader, timeout=5)
        status, sock, _ = handshake(port)
        sock.close()
        assert status == 503, "a fifth client while four slots are taken"
        # The four never answer a ping: each is pinged, then closed, within the idle timeout.
        start = time.monotonic()
        for reader in idle:
            opcodes, code = read_until_close(reader, timeout=10)
            assert OP_PING in opcodes, opcodes
            assert code in (1001, None)
            reader.sock.close()
        assert time.monotonic() - start < 6
        status, sock, _ = handshake(port)
        sock.close()
        assert status == 101, "slots of idle clients were never given back"


def test_a_client_that_answers_pings_stays_connected():
    with spare_read_model(EVENTIFY_WS_PING_INTERVAL_MS=300,
                        EVENTIFY_WS_IDLE_TIMEOUT_MS=1000) as (port, _):
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=0.5,
                                         origin=WEB_URL)
        try:
            until = time.monotonic() + 3
            while time.monotonic() < until:
                try:
                    ws.recv_data(control_frame=True)  # answers each ping as it reads it
                except websocket.WebSocketTimeoutException:
                    pass
            assert ws.connected
            ws.ping(b"still here?")
            ws.settimeout(5)
            opcode, data = ws.recv_data(control_frame=True)
            while opcode == websocket.ABNF.OPCODE_PING:
                opcode, data = ws.recv_data(control_frame=True)
            assert (opcode, data) == (websocket.ABNF.OPCODE_PONG, b"still here?")
        finally:
            ws.close()


def test_a_gigabyte_of_frames_is_dropped_unread():
    with spare_read_model() as (port, process):
        status, sock, rest = handshake(port, WEB_URL)
        assert status == 101
        baseline = rss_kb(process.pid)
        batch = frame(OP_TEXT, b"A" * 16384) * 64  # about 1 MB
        with PeakRss(process.pid) as rss:
            for _ in range(1_000_000_000 // len(batch) + 1):
                sock.sendall(batch)
            sock.sendall(frame(OP_PING, b"after 1 GB"))
            reader = FrameReader(sock, rest)
            sock.settimeout(30)
            opcode, payload = reader.next()
            while opcode != OP_PONG:
                opcode, payload = reader.next()
        assert payload == b"after 1 GB", "the connection did not survive the frames"
        growth = rss.peak_kb - baseline
        assert growth < GROWTH_LIMIT_KB, f"read model grew by {growth} kB"
        sock.close()


def test_one_huge_frame_closes_the_connection_unread():
    with spare_read_model() as (port, process):
        status, sock, rest = handshake(port, WEB_URL)
        assert status == 101
        baseline = rss_kb(process.pid)
        with PeakRss(process.pid) as rss:
            sock.sendall(struct.pack("!BBQ", 0x80 | OP_TEXT, 0x80 | 127, 1 << 30) + b"\0" * 4)
            try:
                for _ in range(64):
                    sock.sendall(b"A" * (1 << 20))
            except OSError:
                pass  # closed by the server: expected
            opcodes, code = read_until_close(FrameReader(sock, rest), timeout=10)
        assert code == 1009, (opcodes, code)
        assert rss.peak_kb - baseline < GROWTH_LIMIT_KB
        sock.close()
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, 10,
                   "the read model still answering")
