"""A bounded schemathesis run against the app's OpenAPI schema: no input makes a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from server.local import LocalServer

LIMITS = {
    "NNPLAY_MAX_RUNS": "1",
    "NNPLAY_MAX_QUEUED": "4",
    "NNPLAY_COMPUTE_BUDGET": "1e6",
    "NNPLAY_RUN_DEADLINE_SECONDS": "2",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = LocalServer(tmp_path_factory.mktemp("openapi"), env=LIMITS).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "phases": [Phase.explicit, Phase.generate],
    "suppress_health_check": list(HealthCheck),
}


@pytest.mark.timeout(300)
@schema.exclude(path_regex="^/api/lab").parametrize()
@settings(max_examples=20, **SETTINGS)
def test_no_input_makes_a_server_error(case, api):
    response = case.call(base_url=api.url, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.timeout(300)
@schema.include(path_regex="^/api/lab").parametrize()
@settings(max_examples=2, **SETTINGS)
def test_no_lab_input_makes_a_server_error(case, api):
    response = case.call(base_url=api.url, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
