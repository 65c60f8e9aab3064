"""The security suite drives the same real stack as tests/system and shares its helpers and
fixtures (endpoints from the environment, deadline waits, Kafka and SQL access, the admin
token): this module loads tests/system/conftest.py and re-exports everything it defines."""
import importlib.util
import os

_SYSTEM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "system",
                       "conftest.py")
_spec = importlib.util.spec_from_file_location("eventify_system_conftest", _SYSTEM)
_system = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_system)
globals().update({k: v for k, v in vars(_system).items() if not k.startswith("__")})
