"""schemathesis against the OpenAPI document: no 5xx, and every answer matches it.

Requests are generated from the document (valid and invalid bodies, parameters and
headers) and sent over real HTTP to a real server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from isollm.tasks.server.openapi import document
from isollm.tasks.server.run import EmbeddedServer

pytestmark = pytest.mark.slow

schemathesis.serializer.alias("application/x-git-bundle", "application/octet-stream")  # pushes
schema = schemathesis.openapi.from_dict(document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms(case: schemathesis.Case, server: EmbeddedServer) -> None:
    if "project" in (case.path_parameters or {}):
        case.path_parameters["project"] = "fuzz"  # one database, so tasks accumulate
    case.call_and_validate(base_url=server.url, checks=CHECKS)
