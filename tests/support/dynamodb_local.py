"""The tests' fixtures on AWS's DynamoDB Local (``harness.dynamodb_local`` starts and stops it).

``dynamodb_local_endpoint`` (session-scoped) is the URL of the one that a test session shares;
``dynamodb_local_session`` is a ``boto3.Session`` whose DynamoDB clients go there (through
``AWS_ENDPOINT_URL_DYNAMODB``, as a user would configure it), and drops the tables the test created. A server that
cannot start fails the tests that need it, locally as under CI: deselect them with ``-m "not dynamodb_local"``
instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.dynamodb_local import DynamoDBLocalError, start_dynamodb_local


@pytest.fixture(scope="session")
def dynamodb_local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the DynamoDB Local that this test session started (once), and stops at its end."""
    try:
        server = start_dynamodb_local(tmp_path_factory.mktemp("dynamodb-local"))
    except DynamoDBLocalError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        pytest.fail(f"{problem}\n(to run without it: pytest -m 'not dynamodb_local')", pytrace=False)
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def dynamodb_local_session(dynamodb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 Session whose DynamoDB clients talk to DynamoDB Local; the tables it creates are dropped afterwards,
    so a test may use fixed table names."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    yield from drop_created_tables(boto3.Session())


def drop_created_tables(session: boto3.Session) -> Iterator[boto3.Session]:
    """Yield ``session``, then delete every table that its clients created."""
    created: list[str] = []
    session.events.register(
        "provide-client-params.dynamodb.CreateTable", lambda params, **_: created.append(params["TableName"])
    )
    yield session
    client = session.client("dynamodb")
    for table in created:
        try:
            client.delete_table(TableName=table)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
