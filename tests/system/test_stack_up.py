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
