"""The HTTP edge of every service: a body is judged on its headers and refused before it is
read, whatever its media type; idle and half-sent connections neither starve a service nor
stay for ever; services listen on loopback only; /ready tells a reason code, not error
text."""
import http.client
import json
import re
import resource
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import PORTS, sql, supervisorctl
from spare import PeakRss, spare_instance

GB = 1_000_000_000
PIECE = b"A" * (1 << 20)
RSS_LIMIT_KB = 30 * 1024
BODY_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
              "application/json", "application/octet-stream", "text/plain", None]


def service_pid(service):
    return int(supervisorctl("pid", f"services:{service}").stdout.strip())


def read_status(sock, timeout):
    """The status code of the first response on sock, or None when none came in time."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(match.group(1)) if match else None


def stream_body(sock, chunked, stop):
    """Sends up to 1 GB of body until the server stops reading or stop is set."""
    sent = 0
    try:
        while sent < GB and not stop.is_set():
            piece = PIECE[: min(len(PIECE), GB - sent)]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked and not stop.is_set():
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: what a refusal looks like from here


def post_gigabyte(port, path, content_type, chunked):
    """POSTs a 1 GB body (announced or chunked) while measuring the order service; returns
    (status, seconds to the answer)."""
    headers = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    headers.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {GB}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    stop = threading.Event()
    sender = threading.Thread(target=stream_body, args=(sock, chunked, stop), daemon=True)
    try:
        start = time.monotonic()
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        sender.start()
        status = read_status(sock, timeout=10)
        return status, time.monotonic() - start
    finally:
        stop.set()
        sock.close()
        sender.join(timeout=30)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("content_type", BODY_TYPES, ids=lambda t: (t or "none").split(";")[0])
def test_a_gigabyte_body_is_refused_at_once_without_growing_the_service(content_type, chunked):
    with PeakRss(service_pid("order")) as rss:
        status, seconds = post_gigabyte(PORTS["order"], "/orders", content_type, chunked)
    too_large = not chunked or content_type == "application/json"
    assert status == (413 if too_large else 415), (content_type, chunked, status)
    assert seconds < 2, f"answered after {seconds:.1f}s"
    assert rss.peak_kb < RSS_LIMIT_KB, f"order service grew to {rss.peak_kb} kB"


def test_a_body_to_an_unknown_path_is_not_read():
    with PeakRss(service_pid("inventory")) as rss:
        status, seconds = post_gigabyte(PORTS["inventory"], "/no/such/path",
                                        "application/x-www-form-urlencoded", False)
    assert status == 404
    assert seconds < 2
    assert rss.peak_kb < RSS_LIMIT_KB


def test_a_small_json_body_within_the_limit_still_reaches_the_handler():
    resp = requests.post(f"http://127.0.0.1:{PORTS['order']}/orders", data=b"{",
                         headers={"Content-Type": "application/json; charset=utf-8"}, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"


def open_idle_sockets(port, count):
    """count connections to port: half of them stop in the middle of their headers, half never
    send a byte."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    sockets = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(s)
    return sockets


def timed_get(port, path):
    start = time.monotonic()
    resp = requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    return resp.status_code, time.monotonic() - start


def test_two_thousand_idle_sockets_do_not_starve_health_and_ready():
    port = PORTS["inventory"]
    sockets = open_idle_sockets(port, 2000)
    try:
        for _ in range(5):
            for path in ("/health", "/ready"):
                status, seconds = timed_get(port, path)
                assert status == 200, path
                assert seconds < 1, f"{path} took {seconds:.2f}s with 2000 idle sockets open"
    finally:
        for s in sockets:
            s.close()


def test_half_sent_requests_and_slow_bodies_are_cut_off():
    with spare_instance("notification", kafka_reachable=False, EVENTIFY_HTTP_READ_TIMEOUT_S=1,
                        EVENTIFY_HTTP_BODY_TIMEOUT_MS=1500) as (port, _):
        # A body trickling in, a byte at a time under the silence timeout, still has a deadline.
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET /notifications HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            status, start = None, time.monotonic()
            while status is None and time.monotonic() - start < 6:
                try:
                    slow.sendall(b" ")
                except OSError:
                    break
                status = read_status(slow, timeout=0.3)
            assert status == 408, "a body trickling in was never cut off"
            assert time.monotonic() - start < 3
        # Headers that stop half-way: the connection is closed after the silence timeout.
        with socket.create_connection(("127.0.0.1", port)) as half:
            half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            start = time.monotonic()
            half.settimeout(5)
            assert half.recv(4096) == b"", "a half-sent request was answered"
            assert time.monotonic() - start < 3, "a half-sent request outlived the read timeout"


def non_loopback_addresses():
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    return [a for a in out if not a.startswith("127.") and a != "::1"]


def test_services_listen_on_loopback_only():
    addresses = non_loopback_addresses()
    if addresses:
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            for service, port in PORTS.items():
                with socket.socket(family) as s:
                    s.settimeout(2)
                    assert s.connect_ex((address, port)) != 0, \
                        f"{service} answers on {address}:{port}"
    else:
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        for service, port in PORTS.items():
            locals_ = [line.split()[3] for line in listening.splitlines()
                       if line.split()[3].endswith(f":{port}")]
            assert locals_ == [f"127.0.0.1:{port}"], (service, locals_)


def test_ready_tells_a_reason_code_and_keeps_the_error_text_in_the_log():
    with spare_instance("notification", kafka_reachable=False) as (port, _):
        resp = requests.get(f"http://127.0.0.1:{port}/ready", timeout=10)
    assert resp.status_code == 503
    body = resp.json()
    assert set(body) == {"status", "reason"}
    assert body["status"] == "not ready"
    assert re.fullmatch(r"[a-z_]{1,40}", body["reason"]), json.dumps(body)
    assert body["reason"] == "kafka_unavailable"


def raw_request(service, method, path, headers, body=None):
    """One request with headers exactly as given (repeated ones too, which requests merges)."""
    conn = http.client.HTTPConnection("localhost", PORTS[service], timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def test_a_query_parameter_given_twice_is_refused_not_half_read():
    """The services keep one value per name: a second status filter, or a second page, would
    be dropped without a word, so the request is refused and names what repeats."""
    for path in ("/api/orders?status=PENDING&status=CANCELLED", "/api/orders?page=1&page=2"):
        status, body = raw_request("read-model", "GET", path, [])
        assert status == 400, path
        assert body["error"]["code"] == "repeated_parameter"
        assert "query parameter" in body["error"]["message"]
    status, _ = raw_request("read-model", "GET", "/api/orders?status=PENDING&page=1", [])
    assert status == 200


def test_a_single_valued_header_given_twice_is_refused(sku):
    """Two idempotency keys or correlation ids (in any case) cannot both be honoured: the
    order is refused, and none is placed. A header that is a list may repeat."""
    customer = f"c-twice-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"customerId": customer, "items": [{"sku": sku, "quantity": 1}]}).encode()
    for twice in ([("Idempotency-Key", "k-1"), ("Idempotency-Key", "k-2")],
                  [("X-Correlation-Id", str(uuid.uuid4())), ("x-correlation-id", str(uuid.uuid4()))]):
        status, answer = raw_request("order", "POST", "/orders",
                                     [("Content-Type", "application/json"), *twice], body)
        assert status == 400, twice
        assert answer["error"]["code"] == "repeated_parameter"
        assert twice[0][0].lower() in answer["error"]["message"].lower()
    assert sql("order", "SELECT count(*) FROM orders WHERE customer_id = %s", customer) == [(0,)]
    status, _ = raw_request("read-model", "GET", "/api/orders?pageSize=1",
                            [("Accept", "application/json"), ("Accept", "text/plain")])
    assert status == 200


def test_an_error_that_quotes_bytes_which_are_not_utf8_still_has_its_body():
    """A 404 names the path it did not find; a path of bytes that are not UTF-8 (%ff) once
    made the JSON error body fail to build, and the answer came with an empty {}."""
    status, body = raw_request("read-model", "GET", "/no-such-%ff-path", [])
    assert status == 404
    assert body["error"]["code"] == "not_found" and "no-such-?-path" in body["error"]["message"]
