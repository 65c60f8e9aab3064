"""The memory suite drives the same real stack as tests/system and shares its helpers
(endpoints from the environment, deadline waits, the admin token): this module loads
tests/system/conftest.py and re-exports everything it defines, and makes the spare-instance
helper of tests/security importable."""
import importlib.util
import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("eventify_system_conftest",
                                               os.path.join(_TESTS, "system", "conftest.py"))
_system = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_system)
globals().update({k: v for k, v in vars(_system).items() if not k.startswith("__")})
sys.path.insert(0, os.path.join(_TESTS, "security"))
