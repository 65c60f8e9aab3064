"""Issue 11: distributed tracing. Every HTTP request answers a W3C traceparent (continuing the
caller's trace); an order is one trace in the stack's trace backend (Jaeger, read through
its query API) whose spans come from every service in one tree: the order request, its
database statement, each relay's publish and one consumer span per consuming group, with
the OpenTelemetry attributes; retries and dead-lettering show as span events, a DLQ replay
joins the letter's trace, and log lines carry the trace id."""
import glob
import json
import os
import re
import uuid

import pytest
import requests

from conftest import (CONSUMERS, DLQ, PORT_OFFSET, RUN, SERVICES, admin_headers, end_offsets,
                      read_since, url, wait_final, wait_until)

TRACE_API = f"http://localhost:{16686 + PORT_OFFSET}/api"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")
# The topics a confirmed and shipped order's events travel on.
ORDER_TOPICS = ["orders.events", "inventory.events", "payments.events", "order.lifecycle.events",
                "shipping.events"]


def order_traces(order_id):
    """The traces holding the order service's span for order_id."""
    tags = json.dumps({"eventify.order.id": order_id})
    r = requests.get(f"{TRACE_API}/traces", params={"service": "order", "tags": tags,
                                                     "lookback": "1h", "limit": 20}, timeout=10)
    r.raise_for_status()
    return r.json()["data"] or []


def trace(trace_id):
    r = requests.get(f"{TRACE_API}/traces/{trace_id}", timeout=10)
    return r.json()["data"][0] if r.status_code == 200 else None


def tags(span):
    return {t["key"]: t["value"] for t in span.get("tags") or []}


def service_of(t, span):
    return t["processes"][span["processID"]]["serviceName"]


def consumer_spans(t):
    """(topic, group) of every consumer span of the trace."""
    return {(tags(s).get("messaging.destination.name"), tags(s).get("messaging.consumer.group.name"))
            for s in t["spans"] if tags(s).get("span.kind") == "consumer"}


def expected_consumers():
    return {(topic, group) for topic in ORDER_TOPICS for group in CONSUMERS[topic]}


def parent_of(span):
    refs = [r for r in span.get("references") or [] if r["refType"] == "CHILD_OF"]
    return refs[0]["spanID"] if refs else None


def test_every_request_answers_a_traceparent_and_continues_the_callers_trace():
    r = requests.get(url("order", "/orders/" + str(uuid.uuid4())), timeout=5)
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m, r.headers
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = requests.get(url("inventory", "/products"), timeout=5,
                     headers={"traceparent": f"00-{caller_trace}-{caller_span}-01",
                              "tracestate": "congo=t61rcWkgMzE"})
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m and m.group(1) == caller_trace and m.group(2) != caller_span
    assert r.headers["traceparent"].endswith("-01")  # the caller's sampling decision
    assert r.headers["tracestate"] == "congo=t61rcWkgMzE"
    # a malformed traceparent (upper case) is not continued, and a bad tracestate not echoed
    r = requests.get(url("inventory", "/products"), timeout=5,
                     headers={"traceparent": f"00-{caller_trace.upper()}-{caller_span}-01",
                              "tracestate": "Bad Key=1"})
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m and m.group(1) != caller_trace and "tracestate" not in r.headers


@pytest.mark.local_stack  # the trace backend runs in the local stack only
def test_an_order_is_one_trace_across_every_service():
    r = requests.post(url("order", "/orders"), timeout=10, json={
        "customerId": "c-trace", "items": [{"sku": "SKU-BLUE-CAP", "quantity": 1}]})
    assert r.status_code == 201, r.text
    placed = r.json()
    oid = placed["orderId"]
    trace_id = TRACEPARENT.match(r.headers["traceparent"]).group(1)
    # without an X-Correlation-Id the correlation id is the trace id: one id to grep for
    assert placed["correlationId"].replace("-", "") == trace_id
    assert wait_final(oid)["status"] == "CONFIRMED"

    want = expected_consumers()
    assert len({g for _, g in want}) >= 6

    def complete():
        found = order_traces(oid)
        return found if found and want <= consumer_spans(found[0]) else None
    found = wait_until(complete, 30, "the order's trace to hold every consumer's span", 0.5)
    assert len(found) == 1, [t["traceID"] for t in found]  # one trace per order
    t = found[0]
    assert t["traceID"] == trace_id
    spans = t["spans"]
    services = {service_of(t, s) for s in spans}
    assert services >= {"order", "inventory", "payment", "orchestrator", "shipping",
                        "notification", "read-model"} & set(SERVICES), services

    # one tree: a single root (the POST), every other span's parent is in the trace
    ids = {s["spanID"] for s in spans}
    roots = [s for s in spans if parent_of(s) not in ids]
    assert len(roots) == 1 and roots[0]["operationName"] == "POST /orders", \
        [(service_of(t, s), s["operationName"]) for s in roots]
    assert tags(roots[0])["http.response.status_code"] == 201
    assert tags(roots[0])["span.kind"] == "server"

    # the relay of every producing service published under the trace
    publishers = {(service_of(t, s), tags(s)["messaging.destination.name"]) for s in spans
                  if tags(s).get("span.kind") == "producer"}
    assert {("order", "orders.events"), ("inventory", "inventory.events"),
            ("payment", "payments.events"), ("orchestrator", "order.lifecycle.events"),
            ("shipping", "shipping.events")} <= publishers, publishers

    by_id = {s["spanID"]: s for s in spans}
    for s in spans:
        a = tags(s)
        if a.get("span.kind") == "consumer":
            # the child of the producer's context, with the messaging attributes
            assert tags(by_id[parent_of(s)]).get("span.kind") == "producer", s["operationName"]
            assert a["messaging.system"] == "kafka"
            assert {"messaging.destination.partition.id", "messaging.kafka.offset",
                    "messaging.message.id", "messaging.consumer.group.name"} <= set(a)
        if a.get("db.system.name") == "postgresql":
            # statement names, never parameters or text
            assert "db.query.text" not in a and "db.statement" not in a
    # the handlers' transactions are under their consumer spans
    tx = [s for s in spans if s["operationName"].startswith("transaction ")]
    assert tx and all(tags(by_id[parent_of(s)]).get("span.kind") == "consumer" for s in tx)
    insert = [s for s in spans if s["operationName"] == "INSERT orders"]
    assert len(insert) == 1 and tags(insert[0])["db.query.summary"] == "insert_order"

    # the order service's log line of this order carries the trace id
    def logged():
        for path in glob.glob(os.path.join(RUN, "logs", "order*.log")):
            with open(path, errors="replace") as f:
                for line in f:
                    if oid in line and trace_id in line:
                        return json.loads(line)
        return None
    line = wait_until(logged, 10, "a log line of the order with its trace id")
    assert line["traceId"] == trace_id and re.fullmatch(r"[0-9a-f]{16}", line["spanId"])


@pytest.mark.local_stack  # the trace backend runs in the local stack only
def test_retries_and_dead_lettering_are_span_events_and_a_replay_joins_the_trace():
    before = end_offsets([DLQ["payment"]])
    r = requests.post(url("order", "/orders"), timeout=10, json={
        "customerId": "c-trace-dlq", "forceException": True,
        "items": [{"sku": "SKU-BLUE-CAP", "quantity": 1}]})
    assert r.status_code == 201, r.text
    oid = r.json()["orderId"]

    def payment_failed_for_good():
        found = order_traces(oid)
        if not found:
            return None
        for s in found[0]["spans"]:
            events = [f["value"] for log in s.get("logs") or [] for f in log["fields"]
                      if f["key"] == "event"]
            if (tags(s).get("messaging.consumer.group.name") == "payment"
                    and "dead-lettered" in events):
                return found[0], s, events
        return None
    t, span, events = wait_until(payment_failed_for_good, 60,
                                 "payment's consumer span with a dead-letter event", 0.5)
    assert "retry" in events
    assert tags(span).get("error") is True

    # the letter keeps the trace context; its replay's spans join the same trace
    [letter] = [m for m in read_since(before, until=lambda ms: [m for m in ms if m.key == oid])
                if m.key == oid]
    assert letter.headers["traceparent"][3:35] == t["traceID"]
    r = requests.post(url("read-model", "/api/dlq/replay"), headers=admin_headers(), timeout=30,
                      json={"topic": DLQ["payment"], "partition": letter.partition,
                            "offset": letter.offset})
    assert r.status_code == 200 and r.json()["replayed"] == 1, r.text

    def replayed():
        whole = trace(t["traceID"])
        spans = whole["spans"] if whole else []
        replay = [s for s in spans if s["operationName"].startswith("replay ")]
        handled = [s for s in spans if replay and parent_of(s) == replay[0]["spanID"]
                   and tags(s).get("messaging.consumer.group.name") == "payment"]
        return (replay[0], handled[0]) if handled else None
    replay, handled = wait_until(replayed, 30, "the replay and its handling in the trace", 0.5)
    # the replay links to the admin request that asked for it
    assert any(ref["refType"] == "FOLLOWS_FROM" for ref in replay.get("references") or [])
