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

from harness.environment import FAKE_CREDENTIALS
from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from starlette_dynamo_session.__main__ import main
from tests.dynamodb.test_users import ROUTES


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


def test_a_missing_table_is_one_line_with_the_command_that_creates_it(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ping", "--table", "missing"]) == 1
    assert capsys.readouterr().err == (
        "error: DynamoDB table 'missing' does not exist (ResourceNotFoundException). "
        "Fix: run `python -m starlette_dynamo_session create-table --table missing`\n"
    )


def test_the_command_that_creates_a_missing_table_keeps_the_region_and_attribute_options(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--table", "missing", "--region", "eu-west-3", "--token-attribute", "id"]
    assert main(["list-sessions", *options, "ada"]) == 1
    fix = capsys.readouterr().err.partition("Fix: ")[2]
    assert fix == f"run `python -m starlette_dynamo_session create-table {' '.join(options)}`\n"


def test_a_table_keyed_on_another_attribute_is_one_line_that_points_to_doctor(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("dynamodb").create_table(
        TableName="other-key",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert main(["list-sessions", "--table", "other-key", "ada"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: DynamoDB GetItem failed (ValidationException). Fix: ")
    assert error.endswith(
        "Fix: check that the table's partition key is 'token' of type S (else pass --token-attribute NAME): "
        "run `python -m starlette_dynamo_session doctor --table other-key`\n"
    )


def test_the_token_attribute_option_reads_a_table_keyed_on_another_attribute(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-table", "--table", "other-key", "--token-attribute", "id"]) == 0
    assert main(["list-sessions", "--table", "other-key", "--token-attribute", "id", "ada"]) == 0
    assert capsys.readouterr().out.endswith("0 live sessions of user 'ada'\n")


def test_ping_fails_with_one_line_naming_the_fix_for_a_table_keyed_otherwise(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    DynamoStore(table_name="other-key", token_name="id").create_table()
    assert main(["ping", "--table", "other-key"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: table 'other-key' is keyed by id (HASH S), but the store by token (HASH S) alone.")
    assert "Fix: pass DynamoStore(token_name='id')" in error
    assert error.count("\n") == 1


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


def test_an_unreachable_endpoint_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["ping"]) == 1
    assert capsys.readouterr().err.endswith(
        ". Fix: check the endpoint (AWS_ENDPOINT_URL_DYNAMODB) and the region (--region, AWS_REGION), and the network\n"
    )


def test_missing_credentials_are_one_line_that_names_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in FAKE_CREDENTIALS:
        monkeypatch.delenv(name)
    assert main(["ping"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: DynamoDB DescribeTable failed (NoCredentialsError")
    assert error.endswith(". Fix: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n")


def test_a_missing_region_is_one_line_that_names_the_option_and_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = subprocess.run(
        [sys.executable, "-m", "starlette_dynamo_session", "ping"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == "error: no AWS region. Fix: pass --region NAME, or set AWS_REGION (or AWS_DEFAULT_REGION)\n"


@pytest.mark.parametrize("command", ["create-table", "ping", "doctor", "revoke-user", "list-sessions"])
def test_a_missing_region_is_the_same_line_for_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    user = ["ada"] if command in ("revoke-user", "list-sessions") else []
    assert main([command, *user]) == 1
    assert capsys.readouterr().err.startswith("error: no AWS region. Fix: pass --region NAME")


@pytest.mark.parametrize("command", ["create-table", "ping", "doctor", "revoke-user", "list-sessions"])
def test_every_command_works_with_the_region_option_alone(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    signed_in_twice("cli-sessions", region="eu-west-3")
    user = ["ada"] if command in ("revoke-user", "list-sessions") else []
    assert main([command, "--table", "cli-sessions", "--region", "eu-west-3", *user]) == 0, capsys.readouterr().err


def test_the_region_option_wins_over_the_environment(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-table", "--table", "cli-sessions", "--region", "eu-west-3"]) == 0
    assert boto3.client("dynamodb", region_name="eu-west-3").list_tables()["TableNames"] == ["cli-sessions"]
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []  # AWS_DEFAULT_REGION's, us-east-1


def test_aws_region_alone_is_the_commands_region(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert main(["create-table", "--table", "cli-sessions"]) == 0
    assert boto3.client("dynamodb", region_name="ap-southeast-2").list_tables()["TableNames"] == ["cli-sessions"]


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["drop-table"])
    assert raised.value.code == 2


def signed_in_twice(table: str, region: str | None = None) -> DynamoStore:
    """A table holding two sessions of ada and one of bob, bound through the middleware (in ``region``, else the
    environment's)."""
    store = DynamoStore(boto3.Session(region_name=region), table_name=table)
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
