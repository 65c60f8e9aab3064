"""Every service serves its OpenAPI 3.1 document at GET /openapi.json: the very file of
contracts/openapi (embedded at build time), valid against the OpenAPI 3.1 specification,
and complete: every route the C code registers is in it, and nothing else."""
import glob
import json
import os
import re
import subprocess

import pytest
import requests

from conftest import ROOT, RUN, SERVICES, url

CONTRACTS = os.path.join(ROOT, "contracts", "openapi")
VALIDATOR = os.path.join(RUN, "venv", "bin", "openapi-spec-validator")
# Answered by every service through the shared HTTP setup, identically documented by each.
COMMON_PATHS = ["/health", "/ready", "/metrics", "/openapi.json"]


def contract(service):
    with open(os.path.join(CONTRACTS, f"{service}.json"), "rb") as f:
        return f.read()


def registered_routes(service):
    """(METHOD, /path/{param}) of every ev_http_route call in the service's sources, and GET
    of every WebSocket endpoint (ev_http_websocket): its upgrade is a GET."""
    routes = set()
    for source in glob.glob(os.path.join(ROOT, "services", service, "*.c")):
        text = open(source).read()
        for method, pattern in re.findall(r'ev_http_route\(\s*[^,]+,\s*"([A-Z]+)",\s*"([^"]+)"',
                                          text):
            routes.add((method, re.sub(r":([A-Za-z]+)", r"{\1}", pattern)))
        for pattern in re.findall(r'ev_http_websocket\(\s*[^,]+,\s*"([^"]+)"', text):
            routes.add(("GET", pattern))
    return routes


def documented_operations(document):
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in ("get", "put", "post", "delete", "patch")}


def assert_valid_openapi_3_1(path):
    result = subprocess.run([VALIDATOR, "--schema", "3.1", path], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_a_valid_document_its_contract(service, tmp_path):
    r = requests.get(url(service, "/openapi.json"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["openapi"].startswith("3.1.")
    served = tmp_path / "openapi.json"
    served.write_bytes(r.content)
    assert_valid_openapi_3_1(str(served))
    assert r.content == contract(service), "the served document is not contracts/openapi's"


def test_every_document_of_contracts_is_valid_openapi_3_1():
    """Each file of contracts/openapi, whether or not a service of SERVICES serves it."""
    for document in sorted(glob.glob(os.path.join(CONTRACTS, "*.json"))):
        assert_valid_openapi_3_1(document)


@pytest.mark.parametrize("service", SERVICES)
def test_the_document_lists_exactly_the_routes_the_service_registers(service):
    document = json.loads(contract(service))
    expected = registered_routes(service) | {("GET", p) for p in COMMON_PATHS}
    assert documented_operations(document) == expected


def test_the_shared_parts_are_the_same_in_every_document():
    documents = {s: json.loads(contract(s)) for s in SERVICES}
    first = documents[SERVICES[0]]
    for service, document in documents.items():
        for path in COMMON_PATHS:
            assert document["paths"][path] == first["paths"][path], (service, path)
        assert document["components"]["schemas"]["Error"] == \
            first["components"]["schemas"]["Error"], service


def test_a_documented_error_is_what_the_service_answers():
    """The error shape of the documents is the one the HTTP layer writes."""
    error_schema = json.loads(contract("order"))["components"]["schemas"]["Error"]
    r = requests.get(url("order", "/no-such-route"), timeout=5)
    assert r.status_code == 404
    body = r.json()
    assert set(body) == set(error_schema["properties"])
    assert set(body["error"]) == set(error_schema["properties"]["error"]["properties"])
    assert re.fullmatch(error_schema["properties"]["error"]["properties"]["code"]["pattern"],
                        body["error"]["code"])
