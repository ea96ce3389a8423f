"""A bounded schemathesis run with all its checks against the app's OpenAPI schema on the real server.

Every check schemathesis ships runs (no 5xx, status codes, content types, headers and bodies as
documented, valid data accepted, invalid data rejected, 405 with Allow for undeclared methods...) on
positive and negative data. A schema-valid body may still be a 422: JSON Schema cannot say that a CSV
needs a header row, that an activation name must be in the registry or that `lr` goes with `set` only.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from server.local import LocalServer

LIMITS = {
    "NNPLAY_MAX_RUNS": "1",
    "NNPLAY_MAX_QUEUED": "4",
    "NNPLAY_COMPUTE_BUDGET": "1e6",
    "NNPLAY_RUN_DEADLINE_SECONDS": "2",
}

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = LocalServer(tmp_path_factory.mktemp("openapi"), env=LIMITS).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(api):
    config = SchemathesisConfig.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
    )
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json", config=config)


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
def test_every_check_passes(case, api):
    case.call_and_validate(base_url=api.url, timeout=30)


@pytest.mark.timeout(300)
@schema.include(path_regex="^/api/lab").parametrize()
@settings(max_examples=2, **SETTINGS)
def test_every_check_passes_on_the_lab(case, api):
    case.call_and_validate(base_url=api.url, timeout=60)
