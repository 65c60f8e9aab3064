"""`make up` on a running stack runs what was just built: supervisor restarts a program whose
configuration changed, not one whose binary did, so a service built anew went on running its
old build until restarted by hand. `stack.sh up` now restarts such instances first (the same
step is `stack.sh restart-rebuilt` on its own), and leaves the others alone."""
import os
import subprocess

import pytest

from conftest import ROOT, ready, supervisorctl, wait_until

STACK = os.path.join(ROOT, "infra", "scripts", "stack.sh")


def pid(service):
    return supervisorctl("pid", f"services:{service}").stdout.strip()


@pytest.mark.local_stack
def test_a_service_built_anew_is_restarted_and_the_others_are_not():
    binary = os.path.join(ROOT, "build", "release", "bin", "eventify-shipping")
    before = {s: pid(s) for s in ("shipping", "payment")}
    assert all(p not in ("", "0") for p in before.values()), before
    untouched = subprocess.run([STACK, "restart-rebuilt"], capture_output=True, text=True,
                               timeout=120)
    assert untouched.returncode == 0 and "restarting" not in untouched.stdout, untouched.stdout
    assert {s: pid(s) for s in before} == before

    os.utime(binary)  # what a new build leaves behind
    rebuilt = subprocess.run([STACK, "restart-rebuilt"], capture_output=True, text=True,
                             timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "restarting shipping: built anew" in rebuilt.stdout, rebuilt.stdout
    assert pid("payment") == before["payment"]
    wait_until(lambda: pid("shipping") not in ("", "0", before["shipping"]), 30,
               "shipping restarted")
    wait_until(lambda: ready("shipping"), 30, "shipping ready again")


def service_environment(service):
    """The EVENTIFY_ variables the running service was started with."""
    with open(f"/proc/{pid(service)}/environ", "rb") as f:
        pairs = [p.decode().split("=", 1) for p in f.read().split(b"\0") if b"=" in p]
    return {k: v for k, v in pairs if k.startswith("EVENTIFY_")}


def stack_up(env):
    done = subprocess.run([STACK, "up"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.local_stack
def test_the_services_run_with_the_settings_of_the_latest_up():
    """supervisord used to pass on the environment of the `up` that started it: a setting given
    to that first `up` (the short saga deadline of `make test`) stayed with the services after
    a later `up` without it, and settings the stack did not list never changed on a later `up`.
    Now each `up` writes every service setting of its environment into the configuration, and
    that is all the services get."""
    given = dict(os.environ, EVENTIFY_SAGA_TIMEOUT_MS="6000")
    try:
        stack_up(given)
        assert service_environment("orchestrator").get("EVENTIFY_SAGA_TIMEOUT_MS") == "6000"

        later = {k: v for k, v in given.items() if k != "EVENTIFY_SAGA_TIMEOUT_MS"}
        later["EVENTIFY_HTTP_THREADS"] = "3"
        stack_up(later)
        seen = service_environment("orchestrator")
        assert "EVENTIFY_SAGA_TIMEOUT_MS" not in seen, seen
        assert seen.get("EVENTIFY_HTTP_THREADS") == "3", seen
    finally:
        stack_up(dict(os.environ))  # the settings the stack was started with for the tests
    assert service_environment("orchestrator").get("EVENTIFY_SAGA_TIMEOUT_MS") == \
        os.environ.get("EVENTIFY_SAGA_TIMEOUT_MS")
