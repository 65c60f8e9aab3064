#!/usr/bin/env python3
"""Renders every overlay of deploy/k8s and validates what comes out, offline.

- the generated files match infra/topology.json (generate.py --check);
- core kinds (Deployment, Service, ...) against the Kubernetes OpenAPI schemas shipped by
  kubernetes-validate, strict (an unknown field is an error), for the oldest and newest
  Kubernetes versions we claim;
- CloudNativePG kinds against the CRDs of the cloudnative-pg Go module, made strict the same
  way (an unknown field is an error, except where the CRD keeps unknown fields);
- Strimzi kinds against Strimzi's CRD schemas compiled by @kubernetes-models: its JSON
  schema validators (types, enumerations, required fields), and, since those accept unknown
  fields, its TypeScript types: each resource becomes an object literal of its type and tsc
  refuses any property the CRD does not declare (except in free-form maps such as config);
- our own rules: a KafkaTopic for every topic and DLQ of the topology and no other, with the
  overlay's replication; a Deployment, Service and PodDisruptionBudget for every service and
  the UI; probes on /ready and /health; requests and limits; non-root, read-only root
  filesystem; no password or token in a ConfigMap; every referenced Secret rendered.

Usage: validate.py [--self-test] KUSTOMIZE_COMMAND...   (e.g. `kubectl kustomize`)
--self-test: validates a copy of deploy/k8s with one planted fault for each check and fails
unless every fault is reported (a validator that finds nothing proves nothing).
Environment: EVENTIFY_CNPG_CRDS (the module's config/crd/bases), EVENTIFY_STRIMZI_VALIDATOR
(deploy/k8s/crd-validate/strimzi.mjs, with its node_modules installed).
Exits 1 listing every problem.
"""
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (the same derivation, to compare with)

K8S_VERSIONS = ["1.30.0", "1.34.0"]
OVERLAYS = {"dev": {"replicas": 1, "topic_replicas": 1, "min_isr": 1},
            "prod": {"replicas": 3, "topic_replicas": 3, "min_isr": 2}}
CORE_GROUPS = {"v1", "apps/v1", "policy/v1", "networking.k8s.io/v1"}
CNPG_CRDS = {"Cluster": "postgresql.cnpg.io_clusters.yaml",
             "Database": "postgresql.cnpg.io_databases.yaml"}
SECRET_WORDS = re.compile(r"PASSWORD|TOKEN|SECRET|PASSWD", re.I)


def strict(schema):
    """A CRD schema where an object with declared properties refuses any other, as the API
    server's strict field validation does (it would otherwise prune them silently)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (node.get("type") == "object" and "properties" in node
                    and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # apiVersion, kind and metadata are checked by the API server, not by the CRD schema.
    schema.setdefault("properties", {}).update(
        {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
    return schema


def cnpg_validators():
    bases = pathlib.Path(os.environ.get("EVENTIFY_CNPG_CRDS", ""))
    validators = {}
    for kind, name in CNPG_CRDS.items():
        crd = yaml.safe_load((bases / name).read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        validators[kind] = jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))
    return validators


def render(kustomize, overlay):
    out = subprocess.run([*kustomize, str(HERE / "overlays" / overlay)], capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"k8s: rendering {overlay} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def name(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def validate_schemas(overlay, docs, cnpg, problems):
    counts = {"core": 0, "cnpg": 0, "strimzi": 0}
    strimzi = []
    for doc in docs:
        group = doc["apiVersion"]
        if group in CORE_GROUPS:
            for version in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    problems.append(f"{overlay}: {name(doc)} (Kubernetes {version}): "
                                    f"{'/'.join(map(str, e.path))}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    problems.append(f"{overlay}: {name(doc)}: no schema: {e}")
            counts["core"] += 1
        elif group.startswith("postgresql.cnpg.io/") and doc["kind"] in cnpg:
            for e in cnpg[doc["kind"]].iter_errors(doc):
                problems.append(f"{overlay}: {name(doc)} (CloudNativePG CRD): "
                                f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
            counts["cnpg"] += 1
        elif group.startswith("kafka.strimzi.io/"):
            strimzi.append(doc)
            counts["strimzi"] += 1
        else:
            problems.append(f"{overlay}: {name(doc)} ({group}): no schema to validate it against")
    if strimzi:
        out = subprocess.run(["node", os.environ["EVENTIFY_STRIMZI_VALIDATOR"]],
                             input=json.dumps(strimzi), capture_output=True, text=True)
        problems += [f"{overlay}: {line[8:]} (Strimzi CRD)" for line in out.stdout.splitlines()
                     if line.startswith("INVALID ")]
        if out.returncode and "INVALID " not in out.stdout:
            problems.append(f"{overlay}: the Strimzi validator failed: {out.stderr.strip()}")
        strimzi_unknown_fields(overlay, strimzi, problems)
    return counts


def strimzi_unknown_fields(overlay, docs, problems):
    """tsc's excess-property check on each Strimzi resource written as a literal of its
    @kubernetes-models type. The file lives beside node_modules so the types resolve."""
    validator_dir = pathlib.Path(os.environ["EVENTIFY_STRIMZI_VALIDATOR"]).parent
    package = "@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1"
    kinds = sorted({d["kind"] for d in docs})
    lines = [f'import type {{ I{k} }} from "{package}/{k}";' for k in kinds]
    starts = []  # (first line, resource) for mapping tsc's line numbers back
    for i, doc in enumerate(docs):
        starts.append((len(lines) + 1, doc))
        lines += f"export const r{i}: I{doc['kind']} = {json.dumps(doc, indent=1)};".splitlines()
    source = validator_dir / f".check-{overlay}-{os.getpid()}.ts"
    source.write_text("\n".join(lines) + "\n")
    try:
        out = subprocess.run([str(validator_dir / "node_modules" / ".bin" / "tsc"), "--noEmit",
                              "--strict", "--skipLibCheck", "--module", "nodenext",
                              "--moduleResolution", "nodenext", source.name],
                             cwd=validator_dir, capture_output=True, text=True)
    finally:
        source.unlink()
    found = len(problems)
    for m in re.finditer(r"\((\d+),\d+\): error TS\d+: (.*)", out.stdout):
        line = int(m.group(1))
        doc = next(d for first, d in reversed(starts) if first <= line) if line >= starts[0][0] \
            else None
        what = name(doc) if doc else "imports"
        problems.append(f"{overlay}: {what} (Strimzi CRD types): {m.group(2)[:300]}")
    if out.returncode and len(problems) == found:
        problems.append(f"{overlay}: tsc failed: {out.stdout.strip()[:500]} {out.stderr.strip()}")


def check_rules(overlay, docs, problems):
    want = OVERLAYS[overlay]
    topology = json.loads(generate.TOPOLOGY.read_text())
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc

    def problem(text):
        problems.append(f"{overlay}: {text}")

    topics = {t["spec"]["topicName"]: t for t in by_kind.get("KafkaTopic", {}).values()}
    expected = {t["name"]: t for t in topology["topics"]}
    for missing in sorted(expected.keys() - topics.keys()):
        problem(f"topic {missing} of infra/topology.json has no KafkaTopic")
    for extra in sorted(topics.keys() - expected.keys()):
        problem(f"KafkaTopic {extra} is not a topic of infra/topology.json")
    for topic_name in sorted(expected.keys() & topics.keys()):
        spec = topics[topic_name]["spec"]
        if spec["partitions"] != expected[topic_name]["partitions"]:
            problem(f"KafkaTopic {topic_name}: {spec['partitions']} partitions, the topology says "
                    f"{expected[topic_name]['partitions']}")
        if (spec["replicas"], spec["config"]["min.insync.replicas"]) != (want["topic_replicas"],
                                                                          want["min_isr"]):
            problem(f"KafkaTopic {topic_name}: replicas {spec['replicas']}, min.insync "
                    f"{spec['config']['min.insync.replicas']}")

    apps = [(s["name"], s["httpPort"], True) for s in topology["services"]]
    apps.append(("web", generate.WEB_PORT, False))
    for app, port, is_service in apps:
        deployment = by_kind.get("Deployment", {}).get(app)
        svc = by_kind.get("Service", {}).get(app)
        if not deployment or not svc or app not in by_kind.get("PodDisruptionBudget", {}):
            problem(f"{app}: needs a Deployment, a Service and a PodDisruptionBudget")
            continue
        if svc["spec"]["ports"][0]["port"] != port:
            problem(f"Service/{app}: port {svc['spec']['ports'][0]['port']}, expected {port}")
        if deployment["spec"]["replicas"] != want["replicas"]:
            problem(f"Deployment/{app}: {deployment['spec']['replicas']} replicas, expected "
                    f"{want['replicas']}")
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"Deployment/{app} container {c['name']}"
            ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
            live = c.get("livenessProbe", {}).get("httpGet", {}).get("path")
            if is_service and (ready, live) != ("/ready", "/health"):
                problem(f"{where}: readiness {ready}, liveness {live}; expected /ready, /health")
            res = c.get("resources", {})
            if not all(k in res.get(part, {}) for part in ("requests", "limits")
                       for k in ("cpu", "memory")):
                problem(f"{where}: needs cpu and memory requests and limits")
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem")
                    and sc.get("allowPrivilegeEscalation") is False):
                problem(f"{where}: must run as non-root on a read-only root filesystem")

    for cm in by_kind.get("ConfigMap", {}).values():
        for key in cm.get("data", {}):
            if SECRET_WORDS.search(key):
                problem(f"ConfigMap/{cm['metadata']['name']} holds {key}: secrets go in Secrets")
    secrets = by_kind.get("Secret", {})
    rendered = json.dumps(docs)
    for ref in sorted(set(re.findall(r'"(?:secretName|name)": "((?:pg-|eventify-admin)[^"]*)"',
                                     rendered))):
        if ref.startswith(("pg-", "eventify-admin-token")) and ref not in secrets \
                and not ref.startswith("eventify-pg-"):
            problem(f"Secret {ref} is referenced but not rendered")
    cluster = next(iter(by_kind.get("Cluster", {}).values()), None)
    roles = {r["name"] for r in (cluster or {}).get("spec", {}).get("managed", {}).get("roles", [])}
    owners = {d["spec"]["name"]: d["spec"]["owner"] for d in by_kind.get("Database", {}).values()}
    for s in topology["services"]:
        if s["database"] not in roles or owners.get(s["database"]) != s["database"]:
            problem(f"PostgreSQL: role and database {s['database']} (owned by it) are needed")
    ingress = by_kind.get("Ingress", {}).get("web")
    if not ingress:
        problem("the web UI needs an Ingress")


# (file in the copy, text, replacement, what the report must then say)
PLANTED = [
    ("base/kustomization.yaml", "- EVENTIFY_LOG_LEVEL=info", "- EVENTIFY_PG_PASSWORD=planted",
     "holds EVENTIFY_PG_PASSWORD: secrets go in Secrets"),
    ("base/apps.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
     "must run as non-root on a read-only root filesystem"),
    ("base/apps.yaml", "  revisionHistoryLimit: 3", "  revisionHistoryLimit: 3\n  plantedField: 1",
     "'plantedField' was unexpected"),
    ("base/postgres.yaml", "  enablePDB: true", "  enablePDB: true\n  plantedClusterField: 1",
     "(CloudNativePG CRD): spec: Additional properties are not allowed ('plantedClusterField'"),
    ("base/kafka.yaml", "  entityOperator:", "  plantedKafkaField: 1\n  entityOperator:",
     "Kafka/eventify (Strimzi CRD types)"),
    ("base/kafka.yaml", "tls: false", "tls: planted", "listeners/0/tls must be boolean"),
    ("base/kafka-topics.yaml", "  topicName: shipping.dlq", "  topicName: planted.topic",
     "topic shipping.dlq of infra/topology.json has no KafkaTopic"),
    ("base/kafka-topics.yaml", "  partitions: 3", "  partitions: 4", "partitions, the topology says 3"),
    ("base/apps.yaml", "path: /ready", "path: /health", "expected /ready, /health"),
    ("secrets/kustomization.yaml", "part-of: eventify", "part-of: eventify-planted",
     "generated files are stale"),
]


def self_test(kustomize):
    """Plants every fault of PLANTED in a copy and checks that the validator reports each."""
    with tempfile.TemporaryDirectory() as tmp:
        copy_dir = pathlib.Path(tmp) / "deploy" / "k8s"
        shutil.copytree(HERE, copy_dir, ignore=shutil.ignore_patterns("node_modules"))
        (pathlib.Path(tmp) / "infra").mkdir()
        shutil.copy(generate.TOPOLOGY, pathlib.Path(tmp) / "infra" / "topology.json")
        for path, old, new, _ in PLANTED:
            text = (copy_dir / path).read_text()
            if old not in text:
                return [f"self-test: {path} has no {old!r} to plant a fault in"]
            (copy_dir / path).write_text(text.replace(old, new, 1))
        out = subprocess.run([sys.executable, str(copy_dir / "validate.py"), *kustomize],
                             capture_output=True, text=True)
    missed = [f"self-test: the planted fault {new!r} in {path} was not reported ({said!r})"
              for path, _, new, said in PLANTED if said not in out.stderr]
    if out.returncode == 0:
        missed.append("self-test: the validator passed a copy full of faults")
    print(f"k8s-validate self-test: {len(PLANTED) - len(missed)} of {len(PLANTED)} planted "
          "faults reported")
    return missed


def main():
    kustomize = sys.argv[1:]
    if kustomize[:1] == ["--self-test"]:
        missed = self_test(kustomize[1:])
        for m in missed:
            print(f"k8s: {m}", file=sys.stderr)
        return 1 if missed else 0
    if not kustomize:
        raise SystemExit(__doc__)
    problems = []
    if subprocess.run([sys.executable, str(HERE / "generate.py"), "--check"]).returncode:
        problems.append("generated files are stale (make k8s-generate)")
    cnpg = cnpg_validators()
    for overlay in OVERLAYS:
        docs = render(kustomize, overlay)
        counts = validate_schemas(overlay, docs, cnpg, problems)
        check_rules(overlay, docs, problems)
        print(f"k8s: {overlay}: {len(docs)} resources rendered; validated {counts['core']} core "
              f"(Kubernetes {', '.join(K8S_VERSIONS)}, strict), {counts['cnpg']} CloudNativePG "
              f"(CRD, strict), {counts['strimzi']} Strimzi (CRD, strict)")
    for p in problems:
        print(f"k8s: {p}", file=sys.stderr)
    print(f"k8s-validate: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
