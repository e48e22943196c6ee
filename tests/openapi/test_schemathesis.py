"""The service's OpenAPI document against the running service (``serve --emulated`` over real HTTP), with
schemathesis generating requests from it: no 500s, every status code declared, every body of its declared
type and schema (problem+json included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.test_serve import Server

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("openapi"), "--emulated")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(live: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


def test_every_response_matches_the_document(api: schemathesis.BaseSchema, live: Server) -> None:
    # Each operation's requests come from its own strategy (schemathesis' pytest plugin is not used: it does not
    # load under this pytest). The admin token the server was started with makes admin routes answer for real.
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 8
    statuses: list[int] = []
    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: schemathesis.Case[Any]) -> None:
            headers = {"Authorization": "Bearer admin"} if case.path.startswith("/v1/keys") else None
            response = case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        exercise()
    # Both sides of the document were exercised: accepted requests and refused ones.
    assert any(s < 300 for s in statuses)
    assert any(400 <= s < 500 for s in statuses)
    assert len(statuses) >= 2 * len(operations)


def test_the_document_declares_problem_responses(live: Server, tmp_path: Path) -> None:
    document = schemathesis.openapi.from_url(f"{live.url}/openapi.json").raw_schema
    verify = document["paths"]["/v1/verify"]["post"]["responses"]
    assert {"200", "400", "413"} <= set(verify)
