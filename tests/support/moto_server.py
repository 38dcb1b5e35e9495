"""moto's server mode for the tests, and the stores of each (backend, transport) pair.

``moto_server_endpoint`` (session-scoped) is the URL of one ``ThreadedMotoServer`` on 127.0.0.1, stopped at the end of
the test session; ``moto_server_session`` is a ``boto3.Session`` whose DynamoDB clients go there (through
``AWS_ENDPOINT_URL_DYNAMODB``) and which drops the tables the test created. Unlike ``mock_aws``, the server answers
real HTTP, so the aiohttp transport can reach it.

``transport_proxy`` is a ``RecordingProxy`` in front of the backend of the test's ``transport_case`` (one of
``TRANSPORT_CASES``, given by the root conftest), through which ``transport_session``'s clients go.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.dynamodb_local import drop_created_tables
from tests.support.loopback import RecordingProxy

# Every pair but botocore on DynamoDB Local, which the store's own test modules run already.
TRANSPORT_CASES = [
    pytest.param(("moto-server", "botocore"), id="moto-server-botocore"),
    pytest.param(("moto-server", "aiohttp"), id="moto-server-aiohttp"),
    pytest.param(("dynamodb-local", "aiohttp"), id="dynamodb-local-aiohttp", marks=pytest.mark.dynamodb_local),
]
_ENDPOINT_FIXTURES = {"moto-server": "moto_server_endpoint", "dynamodb-local": "dynamodb_local_endpoint"}


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    """The URL of a moto server on a free port of 127.0.0.1, for the whole test session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_server_session(moto_server_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 Session whose DynamoDB clients talk to the moto server; the tables it creates are dropped after."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server_endpoint)
    yield from drop_created_tables(boto3.Session())


@pytest.fixture
def transport_proxy(transport_case: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[RecordingProxy]:
    """A recording proxy in front of this test's backend, stopped after the test."""
    upstream = cast(str, request.getfixturevalue(_ENDPOINT_FIXTURES[transport_case[0]]))
    with RecordingProxy(upstream) as proxy:
        yield proxy


@pytest.fixture
def transport_session(transport_proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 Session whose DynamoDB clients go through ``transport_proxy``; the tables it creates are dropped."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", transport_proxy.url)
    yield from drop_created_tables(boto3.Session())
