"""Validates events against contracts/: the envelope, then the payload schema of the event's
type and version. Used by the system tests on every event they observe, and as a CLI:
    /usr/bin/python3 contracts/check.py FILE.json...
"""
import json
import os
import sys

from jsonschema import Draft202012Validator, FormatChecker

HERE = os.path.dirname(os.path.abspath(__file__))
_checker = FormatChecker()


def _load(path):
    with open(path) as f:
        return Draft202012Validator(json.load(f), format_checker=_checker)


ENVELOPE = _load(os.path.join(HERE, "envelope.schema.json"))
SCHEMAS = {}
for name in os.listdir(os.path.join(HERE, "events")):
    event_type, version = name.split(".")[0], int(name.split(".")[1][1:])
    SCHEMAS[(event_type, version)] = _load(os.path.join(HERE, "events", name))


class ContractError(ValueError):
    pass


def validate_event(value):
    """value: bytes, str or dict. Returns (eventType, version); raises ContractError."""
    event = json.loads(value) if isinstance(value, (bytes, str)) else value
    errors = sorted(ENVELOPE.iter_errors(event), key=str)
    if errors:
        raise ContractError(f"envelope: {errors[0].message}")
    key = (event["eventType"], event["version"])
    schema = SCHEMAS.get(key)
    if schema is None:
        raise ContractError(f"no schema for {key[0]} v{key[1]}")
    errors = sorted(schema.iter_errors(event), key=str)
    if errors:
        raise ContractError(f"{key[0]} v{key[1]}: {errors[0].json_path}: {errors[0].message}")
    return key


def main(paths):
    failed = 0
    for path in paths:
        try:
            with open(path) as f:
                print(f"{path}: ok {validate_event(f.read())}")
        except (ContractError, ValueError) as exc:
            print(f"{path}: INVALID {exc}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
