"""API fuzzing: schemathesis drives every operation of the hub's own OpenAPI, as an admin with
a bearer token, against a real hub on PostGIS. No request may get a 5xx."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.hubserver import api_token, bearer, hub_settings, make_event, publish_events, running_hub

pytestmark = pytest.mark.mqtt
# Per operation and generation mode: enough to reach each parameter, bounded to stay < 60 s.
EXAMPLES_PER_OPERATION = 6
# Logging out would end the admin's own access and starve later operations of coverage.
SELF_LOCKOUT = {"/api/auth/logout"}


def test_no_request_to_the_hub_api_gets_a_server_error(
    postgis_url: str, mqtt_url: str, artifacts_dir: Path
) -> None:
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        # Some data, so that list, detail and export routes have rows to serialise.
        publish_events(mqtt_url, [make_event(), make_event(agent_id="agent-2")])
        schema = schemathesis.openapi.from_url(
            f"{base_url}/openapi.json", headers=bearer(api_token(postgis_url, "admin"))
        )
        server_errors: list[str] = []
        statuses: Counter[int] = Counter()
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in SELF_LOCKOUT:
                continue
            operations += 1
            # A fresh admin each time: an operation may revoke its token or demote its user.
            headers = bearer(api_token(postgis_url, "admin"))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                statuses += _fuzz(operation, mode, base_url, headers, server_errors)

    # The figures docs/reliability.md quotes.
    summary = {"operations": operations, "requests": statuses.total(), "statuses": statuses}
    (artifacts_dir / "fuzz_api.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    assert operations > 0 and statuses.total() >= operations
    assert not server_errors, "\n".join(server_errors)


def _fuzz(
    operation, mode, base_url: str, headers: dict[str, str], errors: list[str]
) -> Counter[int]:
    """Send generated requests to one operation; record each 5xx; count the statuses."""
    sent: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        sent[response.status_code] += 1
        if response.status_code >= 500:
            errors.append(f"{case.as_curl_command()} -> {response.status_code}")

    try:
        send()
    except Unsatisfiable:
        # No invalid request exists for an operation without inputs (GET /healthz).
        assert mode is GenerationMode.NEGATIVE
    return sent


def test_ids_beyond_the_id_columns_are_refused_not_crashed_on(
    postgis_url: str, mqtt_url: str
) -> None:
    # Found by the fuzzer: PostgreSQL refused the 32-bit overflow with a 500.
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        headers = bearer(api_token(postgis_url, "admin"))
        revoke = httpx.delete(f"{base_url}/api/auth/tokens/{2**31}", headers=headers)
        update = httpx.patch(
            f"{base_url}/api/users/{2**40}", headers=headers, json={"disabled": True}
        )
        in_range = httpx.delete(f"{base_url}/api/auth/tokens/{2**31 - 1}", headers=headers)

    assert (revoke.status_code, update.status_code) == (422, 422)
    assert "token_id" in revoke.text and "user_id" in update.text
    assert in_range.status_code == 404
