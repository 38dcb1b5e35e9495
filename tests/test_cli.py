"""python -m starlette_dynamo_session: create-table, ping, revoke-user and list-sessions, with the standard AWS
settings."""

from __future__ import annotations

import subprocess
import sys

import anyio
import boto3
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from starlette_dynamo_session.__main__ import main
from tests.test_users import ROUTES


def test_create_table_creates_the_table_with_ttl(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-table", "--table", "cli-sessions"]) == 0
    assert capsys.readouterr().out == "table 'cli-sessions' is ready\n"
    client = boto3.client("dynamodb")
    ttl = client.describe_time_to_live(TableName="cli-sessions")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


def test_create_table_twice_succeeds(aws: None) -> None:
    assert main(["create-table", "--table", "cli-sessions"]) == 0
    assert main(["create-table", "--table", "cli-sessions"]) == 0


def test_ping_succeeds_on_an_existing_table(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    DynamoStore(table_name="cli-sessions").create_table()
    assert main(["ping", "--table", "cli-sessions"]) == 0
    assert "reachable" in capsys.readouterr().out


def test_ping_fails_with_one_line_for_a_missing_table(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ping", "--table", "missing"]) == 1
    error = capsys.readouterr().err
    assert error == "error: DynamoDB table 'missing' does not exist (ResourceNotFoundException)\n"


def test_an_unreachable_endpoint_is_one_line_and_exit_1_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = subprocess.run(
        [sys.executable, "-m", "starlette_dynamo_session", "ping", "--table", "sessions"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: DynamoDB DescribeTable failed (EndpointConnectionError")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_region_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = subprocess.run(
        [sys.executable, "-m", "starlette_dynamo_session", "ping"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == "error: You must specify a region.\n"


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["drop-table"])
    assert raised.value.code == 2


def signed_in_twice(table: str) -> DynamoStore:
    """A table holding two sessions of ada and one of bob, bound through the middleware."""
    store = DynamoStore(table_name=table)
    store.create_table()
    app = Starlette(routes=ROUTES, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key="k")])
    for user in ("ada", "ada", "bob"):
        client = TestClient(app, headers={"User-Agent": f"{user}'s browser"})
        client.post(f"/sign-in?user={user}")
    return store


def test_list_sessions_prints_each_live_session_of_the_user(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    signed_in_twice("cli-sessions")
    assert main(["list-sessions", "--table", "cli-sessions", "ada"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 live sessions of user 'ada'"
    assert len(lines) == 3 and all("ip testclient  ada's browser" in line for line in lines[1:])


def test_revoke_user_prints_how_many_sessions_it_ended(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    store = signed_in_twice("cli-sessions")
    assert main(["revoke-user", "--table", "cli-sessions", "ada"]) == 0
    assert capsys.readouterr().out == "ended 2 sessions of user 'ada'\n"
    assert main(["revoke-user", "--table", "cli-sessions", "ada"]) == 0
    assert capsys.readouterr().out == "ended 0 sessions of user 'ada'\n"
    assert [info.user_id for info in anyio.run(store.list_sessions, "bob")] == ["bob"]


def test_an_empty_user_id_is_one_line_and_exit_1(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    DynamoStore(table_name="cli-sessions").create_table()
    assert main(["revoke-user", "--table", "cli-sessions", ""]) == 1
    assert capsys.readouterr().err.startswith("error: user_id must be a non-empty string")


def test_revoke_user_of_a_user_who_never_signed_in_ends_none(
    store: DynamoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke-user", "--table", store.table_name, "nobody"]) == 0
    assert capsys.readouterr().out == "ended 0 sessions of user 'nobody'\n"


def test_list_sessions_of_a_user_who_never_signed_in_lists_none(
    store: DynamoStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list-sessions", "--table", store.table_name, "nobody"]) == 0
    assert capsys.readouterr().out == "0 live sessions of user 'nobody'\n"
