"""python -m starlette_dynamo_session: create-table and ping, with the standard AWS settings."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest

from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session.__main__ import main


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
