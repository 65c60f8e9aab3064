"""Metrics end to end: the Prometheus of the stack scrapes every service instance, and after
an order the series behind the dashboard and the alert rules (HTTP requests, saga durations,
consumer lag, outbox publish latency, DLQ sizes) hold real values. Prometheus scrapes every
5 s, so each check waits for a scrape with a deadline."""
import pytest
import requests

from conftest import (DLQ, PROMETHEUS_URL, SERVICES, TOPOLOGY, WEB_URL, place_order,
                      wait_until, wait_final)

# Prometheus runs in the local stack only; the Compose stack has none.
pytestmark = pytest.mark.local_stack

SCRAPE_WAIT_S = 30
# Only samples of the last 15 s (three scrapes): a target of an earlier stack shape keeps its
# last samples visible for Prometheus' 5-minute lookback after a restart.
FRESH = "15s"


def query(promql, base=PROMETHEUS_URL):
    """The instant vector of promql as [(labels, value)]."""
    r = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]


def scalar(promql):
    """The value of a query that yields at most one series; 0 when it yields none."""
    result = query(promql)
    assert len(result) <= 1, result
    return result[0][1] if result else 0.0


def test_every_instance_is_scraped_and_up():
    def all_up():
        up = query(f'last_over_time(up{{job="eventify"}}[{FRESH}])')
        programs = {labels["program"] for labels, _ in up}
        down = [labels["instance"] for labels, value in up if value != 1]
        return up if not down and set(SERVICES) <= programs else None
    up = wait_until(all_up, SCRAPE_WAIT_S, "up == 1 for every instance")
    # Each instance is one target, scraped under its own port.
    assert len({labels["instance"] for labels, _ in up}) == len(up)


def exposed(service, name, *parts):
    """The sum of a series over every instance of service, read from their own /metrics (the
    instances are Prometheus' targets): what Prometheus must show after its next scrape."""
    total = 0.0
    instances = f'up{{job="eventify",program=~"{service}(-[0-9])?"}}'
    for labels, _ in query(f"last_over_time({instances}[{FRESH}])"):
        text = requests.get(f"http://{labels['instance']}/metrics", timeout=5).text
        total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith(name + "{") and all(p in line for p in parts))
    return total


def test_an_order_shows_in_the_request_saga_and_outbox_series():
    oid = place_order([{"sku": "SKU-BLUE-CAP", "quantity": 1}])["orderId"]
    wait_final(oid)
    # After the order, each service's own count is at least 1, and Prometheus' next scrape
    # shows exactly that (not a value left from before a restart of the stack).
    checks = [
        ("order", "http_requests_total", 'method="POST"', 'route="/orders"', 'status="201"'),
        ("orchestrator", "saga_duration_seconds_count"),
        ("order", "outbox_publish_latency_seconds_count"),
    ]
    for service, name, *parts in checks:
        now = exposed(service, name, *parts)
        assert now >= 1, (service, name)
        selector = ",".join([f'service="{service}"', *parts])
        q = f"sum(last_over_time({name}{{{selector}}}[{FRESH}]))"
        wait_until(lambda: scalar(q) == now, SCRAPE_WAIT_S, f"{q} == {now}")
    # The latency histograms have buckets by route and status, and a p99 Prometheus can compute.
    p99 = scalar('histogram_quantile(0.99, sum by (le) '
                 '(saga_duration_seconds_bucket{service="orchestrator"}))')
    assert 0 < p99 <= 60, p99
    buckets = query('http_request_duration_seconds_bucket{service="order",method="POST",'
                    'route="/orders",status="201"}')
    assert any(labels["le"] == "+Inf" and value >= 1 for labels, value in buckets), buckets


def test_consumer_lag_is_reported_for_every_partition_of_every_group():
    expected = {}
    for s in TOPOLOGY["services"]:
        if s["name"] in SERVICES and s.get("group"):
            for topic in s["consumes"]:
                parts = next(t["partitions"] for t in TOPOLOGY["topics"] if t["name"] == topic)
                for p in range(parts):
                    expected[(s["group"], topic, str(p))] = True

    def reported():
        lag = query("sum by (group, topic, partition) (kafka_consumer_lag)")
        have = {(m["group"], m["topic"], m["partition"]) for m, _ in lag}
        missing = set(expected) - have
        return lag if not missing else None
    lag = wait_until(reported, SCRAPE_WAIT_S, "kafka_consumer_lag for every group and partition")
    assert all(value >= 0 for _, value in lag), lag


def test_dlq_sizes_are_reported_for_every_group():
    wanted = {DLQ[s] for s in SERVICES if s in DLQ}

    def reported():
        have = {m["topic"] for m, _ in query("max by (topic) (kafka_dlq_messages)")}
        return wanted <= have
    wait_until(reported, SCRAPE_WAIT_S, f"kafka_dlq_messages for {sorted(wanted)}")


def test_the_alert_rules_are_loaded_and_the_ui_reaches_prometheus():
    r = requests.get(f"{PROMETHEUS_URL}/api/v1/rules", timeout=5)
    r.raise_for_status()
    names = {rule["name"] for g in r.json()["data"]["groups"] for rule in g["rules"]}
    assert {"ServiceDown", "DeadLetterQueueGrowing", "ConsumerLagHigh", "OutboxBacklogGrowing",
            "SagaP99AboveTarget"} <= names, names
    # The dashboard queries Prometheus on the UI's own origin, through nginx.
    up = query('up{job="eventify"}', base=f"{WEB_URL}/prometheus")
    assert up and all(value == 1 for _, value in up), up
