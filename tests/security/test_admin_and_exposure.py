"""Issue 7, findings 3, 6, 9 and 10: what changes state needs the admin token and leaves a
record; a DLQ replay reaches only the consumer group that failed the letter, so "replay all"
cannot multiply letters; the DLQ listing is paged and values come one letter at a time; no
request creates Kafka clients; nginx runs unprivileged, sends security headers and serves
every UI page on a direct visit; database roles have random owner-only passwords."""
import grp
import os
import stat
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from conftest import (BROKERS, CONSUMERS, DATABASES, DLQ, PG_PORT, ROOT, RUN, WEB_URL,
                      admin_headers, pg_password, produce, supervisorctl, url, wait_until)

CTL = os.path.join(ROOT, "build", "release", "bin", "eventifyctl")
REPLAY = url("read-model", "/api/dlq/replay")
PORT_OFFSET = os.environ.get("EVENTIFY_PORT_OFFSET", "0")


def letters(dlq, key, limit=100):
    """Every letter of one DLQ with this key, following the pages."""
    found, cursor = [], None
    while True:
        params = {"topic": dlq, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = requests.get(url("read-model", "/api/dlq"), params=params, timeout=30)
        assert r.status_code == 200, r.text
        page = r.json()
        found += [l for l in page["items"] if l["key"] == key]
        cursor = page["nextCursor"]
        if not cursor:
            return found


def poison(topic="orders.events"):
    """A non-JSON message: every consumer of topic dead-letters it."""
    key = f"poison-{uuid.uuid4()}"
    produce(topic, key, b"not json at all")
    return key


def wait_letters(key, dlqs, count=1, timeout=40):
    return wait_until(lambda: (lambda got: got if all(len(v) >= count for v in got.values())
                               else None)({d: letters(d, key) for d in dlqs}),
                      timeout, f"{count} letter(s) of {key} in each of {dlqs}")


def ctl(*args, **env):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, EVENTIFY_KAFKA_BROKERS=BROKERS,
                                   EVENTIFY_PORT_OFFSET=PORT_OFFSET, EVENTIFY_RUN_DIR=RUN, **env))


# --- the admin token -----------------------------------------------------------------------

def test_replay_needs_the_admin_token_directly_and_through_the_ui_origin():
    key = poison("shipping.events")
    [letter] = wait_letters(key, ["read-model.dlq"])["read-model.dlq"]
    body = {"topic": "read-model.dlq", "partition": letter["partition"], "offset": letter["offset"]}
    for target in (REPLAY, f"{WEB_URL}/api/dlq/replay"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="},
                        {"Authorization": admin_headers()["Authorization"] + "x"}):
            r = requests.post(target, json=body, headers=headers, timeout=30)
            assert r.status_code == 401, (target, headers, r.text)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert letters("read-model.dlq", key) == [letter], "a refused replay changed nothing"
    r = requests.post(f"{WEB_URL}/api/dlq/replay", json=body, headers=admin_headers(), timeout=30)
    assert r.status_code == 200 and r.json() == {"replayed": 1, "notReplayable": 0}, r.text


def test_a_replay_is_recorded_with_letter_tool_and_user_agent():
    key = poison("shipping.events")
    [letter] = wait_letters(key, ["read-model.dlq"])["read-model.dlq"]
    r = requests.post(REPLAY, json={"topic": "read-model.dlq", "partition": letter["partition"],
                                    "offset": letter["offset"]},
                      headers=admin_headers() | {"User-Agent": "security-test/1"}, timeout=30)
    assert r.status_code == 200, r.text
    [again] = wait_letters(key, ["read-model.dlq"], count=2)["read-model.dlq"][:1]
    done = ctl("dlq", "replay", "read-model.dlq", str(again["partition"]), str(again["offset"]))
    assert done.returncode == 0 and "replayed 1" in done.stdout, done.stderr

    def recorded():
        rows = requests.get(url("read-model", "/api/dlq/replays"), params={"limit": 500},
                            timeout=10).json()
        mine = [x for x in rows if x["topic"] == "read-model.dlq" and
                (x["partition"], x["offset"]) in {(letter["partition"], letter["offset"]),
                                                  (again["partition"], again["offset"])}]
        return mine if len(mine) == 2 else None
    by_tool = {x["tool"]: x for x in wait_until(recorded, 10, "both replays recorded")}
    api, cli = by_tool["api"], by_tool["eventifyctl"]
    assert (api["offset"], api["userAgent"]) == (letter["offset"], "security-test/1")
    assert (cli["offset"], cli["userAgent"]) == (again["offset"], "eventifyctl/1")
    for row in (api, cli):
        assert row["originTopic"] == "shipping.events" and row["replayFor"] == "read-model"
        assert row["replayedAt"]


def test_eventifyctl_replay_needs_the_token_file(tmp_path):
    missing = ctl("dlq", "replay", "read-model.dlq", "0", "0",
                  EVENTIFY_ADMIN_TOKEN_FILE=str(tmp_path / "none"))
    assert missing.returncode == 1 and "EVENTIFY_ADMIN_TOKEN_FILE" in missing.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token\n")
    refused = ctl("dlq", "replay", "read-model.dlq", "0", "0", EVENTIFY_ADMIN_TOKEN_FILE=str(wrong))
    assert refused.returncode == 1 and "401" in refused.stderr, refused.stderr


def test_admin_token_and_database_passwords_are_owner_only_secrets():
    """Owner-only; a stack started as root lets the services' user read the admin token
    through its group (and list the folder), and nothing else."""
    secrets = os.path.join(RUN, "secrets")

    def mode_and_group(name):
        st = os.stat(os.path.join(secrets, name))
        return stat.S_IMODE(st.st_mode), grp.getgrgid(st.st_gid).gr_name

    if os.getuid() == 0:
        assert mode_and_group(".") == (0o750, "eventify")
        assert mode_and_group("admin-token") == (0o640, "eventify")
    else:
        assert mode_and_group(".")[0] == 0o700
        assert mode_and_group("admin-token")[0] == 0o600
    for name in [f"pg-{db}" for db in DATABASES.values()]:
        assert mode_and_group(name)[0] == 0o600, name
    # supervisor's configuration hands the passwords to the services
    conf = os.path.join(RUN, "supervisor", "supervisord.conf")
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600


@pytest.mark.parametrize("role", sorted(set(DATABASES.values())))
def test_database_roles_have_random_passwords_not_their_names(role):
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host="localhost", port=PG_PORT, dbname=role, user=role, password=role)
    password = pg_password(role)
    assert len(password) >= 32 and password != role
    psycopg2.connect(host="localhost", port=PG_PORT, dbname=role, user=role,
                     password=password).close()


PSQL = "/usr/lib/postgresql/15/bin/psql"
PG_SOCKET = os.path.join(RUN, "pg-socket")


def psql_on_socket(role, password=None, account=None, query="SELECT current_user"):
    """psql on the stack's Unix socket as database role `role`, run by the OS `account` (this
    process's own when None); returns the completed process."""
    env = ["env", "-u", "PGPASSWORD", "PGCONNECT_TIMEOUT=5"] + (
        [f"PGPASSWORD={password}"] if password else [])
    cmd = env + [PSQL, "-w", "-h", PG_SOCKET, "-p", str(PG_PORT), "-U", role, "-d",
                 "postgres" if role == "postgres" else role, "-qAtc", query]
    if account:
        cmd = ["runuser", "-u", account, "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_the_services_reach_postgresql_on_its_socket_each_role_with_its_password():
    """The services' connections are on the Unix socket (a round trip costs less CPU than on
    loopback TCP); there, as on TCP, a service role gives its password, and only the stack's
    own accounts (root, postgres, the one that started it) may log in as the superuser."""
    roles = sorted(set(DATABASES.values()))
    on = psql_on_socket("postgres", query=(
        "SELECT usename || ' ' || bool_and(client_addr IS NULL) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND application_name = ANY ('{%s}')"
        " GROUP BY usename ORDER BY 1" % ",".join(DATABASES)))
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == [w for r in roles for w in (r, "true")], on.stdout
    for role in roles:
        none = psql_on_socket(role)
        assert none.returncode != 0 and "no password supplied" in none.stderr, (role, none.stderr)
        wrong = psql_on_socket(role, password=role)
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, role
        right = psql_on_socket(role, password=pg_password(role))
        assert right.returncode == 0 and right.stdout.strip() == role, (role, right.stderr)
    if os.getuid() == 0:
        # The services run as the stack's service account: it reaches the socket (its folder's
        # group) but is no superuser there; any other account cannot reach the socket at all.
        service = psql_on_socket("postgres", account="eventify")
        assert service.returncode != 0, service.stdout
        assert "Peer authentication failed" in service.stderr, service.stderr
        other = psql_on_socket("postgres", account="nobody")
        assert other.returncode != 0 and "Permission denied" in other.stderr, other.stderr


# --- replay scope --------------------------------------------------------------------------

def groups_caught_up(topic):
    lags = requests.get(url("read-model", "/api/topics"), timeout=30).json()["consumerGroups"]
    mine = [g for g in lags if g["topic"] == topic and g["group"] in CONSUMERS[topic]]
    return len({g["group"] for g in mine}) == len(CONSUMERS[topic]) and \
        all(g["lag"] == 0 for g in mine)


def test_replay_all_goes_back_to_the_failing_group_only_and_cannot_multiply_letters():
    """A non-JSON message of orders.events is dead-lettered by its five consumers. Replaying
    every letter of the five DLQs once sends each copy to the one group that failed it: each
    DLQ gains one letter for it, not five (which then grow to 25, 125, ...)."""
    dlqs = [DLQ[s] for s in CONSUMERS["orders.events"]]
    assert len(dlqs) == 5
    key = poison("orders.events")
    first = wait_letters(key, dlqs)
    assert all(len(v) == 1 for v in first.values()), first
    for dlq in dlqs:
        r = requests.post(REPLAY, json={"topic": dlq, "all": True}, headers=admin_headers(),
                          timeout=120)
        assert r.status_code == 200 and r.json()["replayed"] >= 1, r.text
    wait_letters(key, dlqs, count=2)
    # every consumer group has committed past the replayed copies, so each dead letter they
    # would write is written: none may be missing from the count below
    wait_until(lambda: groups_caught_up("orders.events"), 30, "consumers of orders.events")
    after = {d: letters(d, key) for d in dlqs}
    assert {d: len(v) for d, v in after.items()} == {d: 2 for d in dlqs}
    for dlq, got in after.items():
        newest = max(got, key=lambda l: l["offset"])
        assert newest["consumer"] == dlq.removesuffix(".dlq").replace("payments", "payment")


# --- the DLQ listing -----------------------------------------------------------------------

def test_dlq_listing_is_paged_bounded_and_values_come_one_at_a_time():
    keys = [poison("shipping.events") for _ in range(3)]
    for key in keys:
        wait_letters(key, ["read-model.dlq"])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"topic": "read-model.dlq", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = requests.get(url("read-model", "/api/dlq"), params=params, timeout=30).json()
        assert len(page["items"]) <= 2 and page["limit"] == 2
        assert all("value" not in l and l["valueBytes"] >= 0 for l in page["items"])
        seen += page["items"]
        pages += 1
        cursor = page["nextCursor"]
        if not cursor:
            break
    positions = [(l["partition"], l["offset"]) for l in seen]
    assert len(positions) == len(set(positions)), "a letter on two pages"
    assert pages >= 2 and {k for k in keys} <= {l["key"] for l in seen}
    mine = [l for l in seen if l["key"] in keys]
    for l in mine:
        r = requests.get(url("read-model", f"/api/dlq/read-model.dlq/{l['partition']}/{l['offset']}"),
                         timeout=10)
        assert r.status_code == 200 and r.json()["value"] == "not json at all"
        assert r.json()["valueBytes"] == len("not json at all")
    for bad in ({"limit": 101}, {"limit": 0}, {"cursor": "nope"}, {"cursor": "x.dlq:0:1"},
                {"topic": "orders.events"}, {"limt": 5}):
        r = requests.get(url("read-model", "/api/dlq"), params=bad, timeout=10)
        assert r.status_code == 400, (bad, r.text)
    for path in ("/api/dlq/read-model.dlq/0/999999999", "/api/dlq/orders.events/0/0",
                 "/api/dlq/read-model.dlq/x/0", "/api/dlq/read-model.dlq/0/-1"):
        assert requests.get(url("read-model", path), timeout=10).status_code == 404, path


def threads_of(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return 0


def test_kafka_state_endpoints_create_no_client_per_request():
    """Each librdkafka client starts several threads; /api/topics used to make seven clients
    per request and /api/dlq one per DLQ. The read model's thread count must stay flat."""
    pid = int(supervisorctl("pid", "services:read-model").stdout.strip())
    requests.get(url("read-model", "/api/topics"), timeout=30)  # warm: connections made
    baseline = threads_of(pid)
    assert pid > 0 and baseline > 0, "the read model runs under supervisor"
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], threads_of(pid))
            time.sleep(0.002)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        for _ in range(3):
            assert requests.get(url("read-model", "/api/topics"), timeout=30).status_code == 200
            assert requests.get(url("read-model", "/api/dlq"), timeout=30).status_code == 200
            assert requests.get(url("read-model", "/api/stats"), timeout=30).status_code == 200
    finally:
        stop.set()
        sampler.join()
    # HTTP may start a thread per connection; a Kafka client would add several at once
    assert peak[0] <= baseline + 2, f"threads went from {baseline} to {peak[0]}"


def test_query_parameters_are_strict():
    for target, params in ((url("read-model", "/api/orders"), {"stauts": "PENDING"}),
                           (url("read-model", "/api/events"), {"limt": "5"}),
                           (url("notification", "/notifications"), {"orderid": str(uuid.uuid4())})):
        r = requests.get(target, params=params, timeout=10)
        assert r.status_code == 400, (target, r.text)
        assert list(params)[0] in r.json()["error"]["message"]


# --- nginx ---------------------------------------------------------------------------------

def page_paths():
    """Every page of the UI: each folder of web/app holding a page.tsx."""
    app = os.path.join(ROOT, "web", "app")
    paths = []
    for folder, _, files in os.walk(app):
        if "page.tsx" in files:
            rel = os.path.relpath(folder, app)
            paths.append("/" if rel == "." else f"/{rel}")
    return sorted(paths)


def test_every_ui_page_loads_on_a_direct_visit_and_a_reload():
    paths = page_paths()
    assert {"/", "/orders", "/notifications", "/events", "/dashboard"} <= set(paths)
    for path in paths:
        for variant in {path, path.rstrip("/") + "/"}:
            for _ in range(2):  # a visit, then a reload
                r = requests.get(f"{WEB_URL}{variant}", timeout=10)
                assert r.status_code == 200, (variant, r.status_code)
                assert r.headers["Content-Type"].startswith("text/html"), (variant, r.headers)
                assert "<html" in r.text[:500].lower(), variant


def test_the_ui_api_prefixes_reach_the_services():
    r = requests.get(f"{WEB_URL}/api/notification/notifications",
                     params={"orderId": str(uuid.uuid4())}, timeout=10)
    assert r.status_code == 200 and r.json() == []
    r = requests.get(f"{WEB_URL}/api/orders", params={"pageSize": 1}, timeout=10)
    assert r.status_code == 200 and "items" in r.json()
    r = requests.get(f"{WEB_URL}/api/order/orders/{uuid.uuid4()}", timeout=10)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")


def test_ui_responses_carry_security_headers():
    for path in ("/", "/events/", "/api/stats", "/no-such-page"):
        h = requests.get(f"{WEB_URL}{path}", timeout=10).headers
        csp = h.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ") if d}
        assert directives.get("frame-ancestors") == ["'none'"], (path, csp)
        assert directives.get("default-src") == ["'self'"] and "object-src" in directives
        assert "'self'" in directives.get("connect-src", []), "the UI's API calls and WebSocket"
        assert h.get("X-Content-Type-Options") == "nosniff"
        assert h.get("X-Frame-Options") == "DENY"
        assert h.get("Referrer-Policy") in ("no-referrer", "same-origin")


def _uids(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(line for line in f if line.startswith("Uid:")).split()[1:]


def test_no_process_of_the_stack_runs_as_root_but_supervisord():
    """Every program supervisor runs (the services, the Kafka nodes, PostgreSQL, Jaeger,
    Prometheus, nginx) and every process it starts runs without root's uid, also when the
    stack was started as root; supervisord alone keeps it, to start each as its user."""
    status = supervisorctl("status").stdout
    pids = [int(line.split("pid ")[1].split(",")[0]) for line in status.splitlines()
            if " RUNNING " in f" {line} " and "pid " in line]
    programs = [line.split()[0] for line in status.splitlines() if "RUNNING" in line]
    assert any(p.startswith("services:") for p in programs) and "postgres" in programs, status
    children = subprocess.run(["pgrep", "-P", ",".join(map(str, pids))], capture_output=True,
                              text=True).stdout.split()
    for pid in pids + [int(c) for c in children]:
        try:
            uids = _uids(pid)
        except (OSError, StopIteration):
            continue  # ended meanwhile
        assert "0" not in uids, f"pid {pid} ({open(f'/proc/{pid}/comm').read().strip()}) runs with uid {uids}"


def test_nginx_does_not_run_as_root():
    master = int(supervisorctl("pid", "web").stdout.strip())
    pids = [master] + [int(p) for p in subprocess.run(["pgrep", "-P", str(master)],
                                                      capture_output=True, text=True).stdout.split()]
    assert len(pids) >= 2, "master and at least one worker"
    for pid in pids:
        uids = _uids(pid)
        assert all(u != "0" for u in uids), f"nginx pid {pid} runs with uid {uids}"
