"""The security suite reaches the same running stack as the system tests."""
import requests

from conftest import admin_token, url


def test_every_service_is_reachable_and_the_admin_token_exists():
    assert len(admin_token()) >= 32
    for service in ("order", "read-model"):
        assert requests.get(url(service, "/health"), timeout=5).status_code == 200
