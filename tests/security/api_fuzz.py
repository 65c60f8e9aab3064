"""`make api-fuzz`: schemathesis against every running service, driven by the OpenAPI
document the service itself serves at GET /openapi.json.

For each service it generates requests from the document (valid ones and, in negative mode,
ones that break it) and fails on any 5xx, any status, content type, header or body that the
document does not declare, any invalid request that is accepted and any valid request that
is refused. The number of examples per operation is bounded, and the seed fixed, so that a
run is short and repeatable; set EVENTIFY_API_FUZZ_EXAMPLES and EVENTIFY_API_FUZZ_SEED to
search wider. Ports come from EVENTIFY_PORT_OFFSET, as for the system tests; schemathesis
runs from the virtual environment that install-deps creates in the run folder.

Exit status: 0 when every service passed, 1 otherwise (each failure is printed with a curl
line that reproduces it)."""
import os
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import (PORTS, RUN, SERVICES, add_sku, admin_token, place_order,  # noqa: E402
                      stock, wait_final)

SCHEMATHESIS = os.path.join(RUN, "venv", "bin", "schemathesis")
MAX_EXAMPLES = int(os.environ.get("EVENTIFY_API_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("EVENTIFY_API_FUZZ_SEED", "20261125"))
HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api_fuzz_hooks.py")
# The product the fuzzer orders (api_fuzz_hooks.py), so that its accepted orders do not use
# up the seeded stock; created with plenty of stock at the first run.
FUZZ_SKU = "SKU-API-FUZZ"
# The one product the admin operations of the inventory write to (PUT /products/{sku}, stock
# adjustments), so that fuzzing changes no product people or other tests use and adds none.
ADMIN_SKU = "SKU-API-FUZZ-ADMIN"

CHECKS = [
    "not_a_server_error",            # no 5xx, no dropped connection
    "status_code_conformance",       # every status is declared by the operation
    "content_type_conformance",      # ... with a declared Content-Type
    "response_headers_conformance",  # declared response headers are present and valid
    "response_schema_conformance",   # every body matches its schema
    "negative_data_rejection",       # a request that breaks the document is refused (4xx)
    "positive_data_acceptance",      # a request that follows it is not refused
    "ignored_auth",                  # an admin operation without the token answers 401
]
# schemathesis's other checks, off: they assume REST conventions these services do not claim
# (405 and Allow for other methods, a resource gone after DELETE, per-object authorization).
OTHER_CHECKS = ["missing_required_header", "unsupported_method", "allow_header_conformance",
                "use_after_free", "ensure_resource_availability", "object_level_authorization"]

# Settings of single operations, each for a lasting reason.
#   examples: fewer examples than MAX_EXAMPLES; token: False sends no admin token even where
#   the document asks for one; skip: not fuzzed at all; unchecked: checks left out;
#   parameters: fixed values of parameters ("path.sku": ...), not generated.
OPERATIONS = [
    {"service": "order", "method": "POST", "path": "/orders", "examples": 10,
     "unchecked": ["positive_data_acceptance"],
     "why": "each accepted example is a real order that goes through the saga, so they are few; "
            "a well-formed order of a SKU that is not in the catalog is rightly a 422, which "
            "the document cannot foresee (the catalog is data, not schema)"},
    {"service": "inventory", "method": "PUT", "path": "/products/{sku}", "examples": 5,
     "parameters": {"path.sku": ADMIN_SKU},
     "why": "each accepted example is a ProductUpserted on catalog.events that every projection "
            "keeps: few of them, all on one product of the fuzzer's own"},
    {"service": "inventory", "method": "POST", "path": "/products/{sku}/stock-adjustments",
     "examples": 5, "parameters": {"path.sku": ADMIN_SKU},
     "unchecked": ["positive_data_acceptance"],
     "why": "each accepted example is a StockAdjusted kept in the stock history: few of them, "
            "all on one product of the fuzzer's own; a well-formed write-off beyond the "
            "available stock is rightly a 409, and a reused Idempotency-Key with another "
            "body a 422, which the document cannot foresee (stock is data, not schema)"},
    {"service": "read-model", "method": "POST", "path": "/api/dlq/replay", "token": False,
     "why": "with the token every accepted example would put dead letters back on the topics "
            "of the test stack; without it every answer must be the 401 the document declares"},
    {"service": "read-model", "method": "POST", "path": "/api/kafka/topics/{topic}/messages",
     "token": False,
     "why": "with the token every accepted example would be a message on a topic of the test "
            "stack that its consumers dead-letter; without it every answer must be the 401 the "
            "document declares (the system and browser tests produce test messages for real)"},
    {"service": "read-model", "method": "GET", "path": "/api/kafka/topics/{topic}/messages",
     "unchecked": ["positive_data_acceptance"],
     "why": "offset and timestamp are each valid but not together (a 400 the document states in "
            "words: OpenAPI cannot express parameters that exclude each other)"},
    {"service": "read-model", "method": "GET", "path": "/ws", "skip": True,
     "why": "a WebSocket upgrade, not a request and response; the WebSocket tests cover it"},
]

def toml_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def served_operations(service):
    """{(method, path): operation} of the document the service serves."""
    document = requests.get(f"http://localhost:{PORTS[service]}/openapi.json", timeout=10).json()
    return {(method.upper(), path): op for path, item in document["paths"].items()
            for method, op in item.items() if isinstance(op, dict)}


def operation_settings(service):
    """Per operation (method, path): the settings of OPERATIONS, and the admin token where the
    document asks for it."""
    settings = {}
    for e in OPERATIONS:
        if e["service"] == service:
            settings[(e["method"], e["path"])] = {
                "skip": e.get("skip", False), "unchecked": list(e.get("unchecked", [])),
                "examples": e.get("examples"), "token": e.get("token", True),
                "parameters": dict(e.get("parameters", {}))}
    for key, op in served_operations(service).items():
        s = settings.setdefault(key, {"skip": False, "unchecked": [], "examples": None,
                                      "token": True, "parameters": {}})
        s["admin"] = bool(op.get("security"))
        s["operation_id"] = op["operationId"]
    return settings


def known_orders():
    """Ids of two orders that went through the whole saga, one confirmed (with a payment, a
    shipment, notifications) and one cancelled (its payment declined), so that the GET-by-id
    operations answer their 200s too and not only 404s for random UUIDs."""
    confirmed = place_order([{"sku": FUZZ_SKU, "quantity": 1}], customer="c-api-fuzz")
    # 60 x 19.99 is over the payment limit: declined, then cancelled.
    cancelled = place_order([{"sku": FUZZ_SKU, "quantity": 60}], customer="c-api-fuzz")
    ids = [confirmed["orderId"], cancelled["orderId"]]
    for oid in ids:
        wait_final(oid)
    return ids


# Where the fuzzer may use a known order id instead of a generated one, half of the time.
ORDER_ID_PARAMETERS = ["path.id", "path.orderId", "query.orderId"]


def config_text(service, token, settings, order_ids):
    """schemathesis.toml for one service: global settings, then one [[operations]] table
    per operation with settings of its own (matched by exact path and method); skipped
    operations are left out on the command line."""
    lines = [f"seed = {SEED}", f"hooks = {toml_string(HOOKS)}", "",
             "[generation]", f"max-examples = {MAX_EXAMPLES}", 'database = "none"', ""]
    if order_ids:
        values = ", ".join(toml_string(i) for i in order_ids)
        lines += ["[dictionaries]", f"orders = {{ values = [{values}] }}", "", "[parameters]"]
        lines += [f'{toml_string(p)} = {{ dictionary = "orders", probability = 0.5 }}'
                  for p in ORDER_ID_PARAMETERS]
        lines.append("")
    lines += ["[checks]"]
    lines += [f"{c}.enabled = true" for c in CHECKS]
    lines += [f"{c}.enabled = false" for c in OTHER_CHECKS] + [""]
    for (method, path), s in sorted(settings.items()):
        own = [f"checks.{check}.enabled = false" for check in s["unchecked"]]
        if s["examples"]:
            own.append(f"generation.max-examples = {s['examples']}")
        if s["parameters"]:
            fixed = ", ".join(f"{toml_string(k)} = {toml_string(v)}"
                              for k, v in sorted(s["parameters"].items()))
            own.append(f"parameters = {{ {fixed} }}")
        if s["admin"] and s["token"]:
            own.append(f"headers = {{ Authorization = {toml_string('Bearer ' + token)} }}")
        if own and not s["skip"]:
            lines += ["[[operations]]", f"include-path = {toml_string(path)}",
                      f"include-method = {toml_string(method)}"] + own + [""]
    return "\n".join(lines)


def fuzz(service, token, workdir, order_ids=()):
    base = f"http://localhost:{PORTS[service]}"
    config = os.path.join(workdir, f"{service}.toml")  # holds the token: owner-only
    settings = operation_settings(service)
    unknown = [key for key, s in settings.items() if "operation_id" not in s]
    if unknown:
        raise SystemExit(f"api-fuzz: {service} serves no operation {unknown}: fix OPERATIONS")
    with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(config_text(service, token, settings, order_ids))
    command = [SCHEMATHESIS, "--no-color", "--config-file", config, "run",
               f"{base}/openapi.json", "--url", base,
               "--workers", "1", "--request-timeout", "10"]
    for s in settings.values():
        if s["skip"]:
            command += ["--exclude-operation-id", s["operation_id"]]
    start = time.monotonic()
    result = subprocess.run(command, cwd=workdir,
                            env=dict(os.environ, EVENTIFY_API_FUZZ_SKU=FUZZ_SKU))
    return result.returncode, time.monotonic() - start


def main():
    if not os.access(SCHEMATHESIS, os.X_OK):
        print(f"api-fuzz: {SCHEMATHESIS} is missing: run infra/scripts/install-deps.sh",
              file=sys.stderr)
        return 1
    token = admin_token()
    order_ids = []
    if "order" in SERVICES:
        if FUZZ_SKU not in stock():
            add_sku(FUZZ_SKU, 1999, 1_000_000)
        order_ids = known_orders()
    if "inventory" in SERVICES and ADMIN_SKU not in stock():
        add_sku(ADMIN_SKU, 100, 0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="api-fuzz-", dir=RUN) as workdir:
        for service in SERVICES:
            print(f"\n=== api-fuzz: {service} on port {PORTS[service]}", flush=True)
            results[service] = fuzz(service, token, workdir, order_ids)
    print("\napi-fuzz summary:")
    for service, (rc, seconds) in results.items():
        print(f"  {service:13} {'passed' if rc == 0 else 'FAILED'}  ({seconds:.1f} s)")
    failed = [s for s, (rc, _) in results.items() if rc != 0]
    print(f"api-fuzz: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
