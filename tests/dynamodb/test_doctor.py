"""``python -m starlette_dynamo_session doctor``: a table made by ``create_table()`` passes; each broken table, and
each missing permission, is one line with its fix and exit 1. On moto's server and on DynamoDB Local."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import boto3
import httpx
import pytest

from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session.__main__ import main
from starlette_dynamo_session._dynamodb.doctor import ExpectedIndex, diagnose
from tests.support.faults import FaultInjector

BACKENDS = [
    pytest.param("moto_server_session", id="moto-server"),
    pytest.param("dynamodb_local_session", id="dynamodb-local", marks=pytest.mark.dynamodb_local),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> boto3.Session:
    """A session on this test's backend (a real HTTP server); AWS_ENDPOINT_URL_DYNAMODB points the CLI there too."""
    return cast(boto3.Session, request.getfixturevalue(request.param))


@pytest.fixture
def table() -> str:
    """A table name of this test's own."""
    return f"doctor-{uuid.uuid4().hex}"


def make_table(
    backend: boto3.Session,
    name: str,
    *,
    key: tuple[str, str] = ("token", "S"),
    sort: tuple[str, str] | None = None,
    ttl: str | None = "ttl",
    provisioned: bool = False,
    index: tuple[str, str] | None = None,
) -> None:
    """A table keyed on ``key`` (name, type), with ``sort`` if given, TTL on ``ttl`` if given, and a global
    secondary index named ``index[0]`` on the string attribute ``index[1]`` if given."""
    client = backend.client("dynamodb")
    schema: list[Any] = [{"AttributeName": key[0], "KeyType": "HASH"}]
    definitions: list[Any] = [{"AttributeName": key[0], "AttributeType": key[1]}]
    if sort is not None:
        schema.append({"AttributeName": sort[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": sort[0], "AttributeType": sort[1]})
    options: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
    if provisioned:
        options = {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}}
    if index is not None:
        definitions.append({"AttributeName": index[1], "AttributeType": "S"})
        gsi: dict[str, Any] = {
            "IndexName": index[0],
            "KeySchema": [{"AttributeName": index[1], "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        if provisioned:
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
        options["GlobalSecondaryIndexes"] = [gsi]
    client.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=definitions, **options)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl is not None:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})


RECREATE = (
    "create a new table, since key schemas cannot change: run `python -m starlette_dynamo_session create-table "
    "--table NEW_NAME --region us-east-1` and pass DynamoStore(table_name='NEW_NAME')"
)


def doctor(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[str]]:
    """Run ``doctor`` and return its exit status and output lines."""
    status = main(["doctor", *arguments])
    return status, capsys.readouterr().out.splitlines()


def fixes(lines: list[str]) -> list[str]:
    """The lines that say something needs fixing."""
    return [line for line in lines if line.startswith("FIX")]


def test_a_table_made_by_create_table_passes_every_check(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    DynamoStore(backend, table_name=table).create_table()
    status, lines = doctor(capsys, "--table", table)
    assert status == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "OK   status",
        "OK   key schema",
        "OK   billing",
        "OK   indexes",
        "OK   ttl",
        "OK   permission",  # DescribeTable
        "OK   permission",  # GetItem
        "OK   permission",  # PutItem
        "OK   permission",  # UpdateItem
        "OK   permission",  # DeleteItem
        "OK   permission",  # BatchGetItem
    ]
    assert "OK   billing: on-demand (PAY_PER_REQUEST)" in lines[2]
    assert "OK   ttl: TTL is ENABLED on 'ttl', the attribute the store writes" in lines


def test_the_checks_change_nothing_in_the_table(backend: boto3.Session, table: str) -> None:
    store = DynamoStore(backend, table_name=table)
    store.create_table()
    diagnose(store)
    assert store.client.scan(TableName=table)["Count"] == 0


def test_a_missing_table_is_one_line_that_says_how_to_create_it(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = doctor(capsys, "--table", table)
    assert status == 1
    assert lines == [
        f"FIX  table: table {table!r} does not exist in us-east-1. "
        f"Fix: run `python -m starlette_dynamo_session create-table --table {table} --region us-east-1`"
    ]


def test_a_partition_key_of_another_name_is_found_with_the_store_option_that_fits_it(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(backend, table, key=("id", "S"))
    status, lines = doctor(capsys, "--table", table)
    assert (status, fixes(lines)) == (
        1,
        [
            "FIX  key schema: the partition key is 'id', but the store writes 'token'. Fix: if its type is S and "
            "there is no sort key, pass DynamoStore(token_name='id') (on the command line: --token-attribute id); "
            f"otherwise {RECREATE}"
        ],
    )
    assert doctor(capsys, "--table", table, "--token-attribute", "id")[0] == 0


def test_a_partition_key_of_another_type_is_found(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(backend, table, key=("token", "N"))
    status, lines = doctor(capsys, "--table", table)
    assert status == 1
    [line] = [line for line in fixes(lines) if "key schema" in line]
    assert line.startswith("FIX  key schema: the partition key 'token' is of type N, but the store writes S")
    assert line.endswith(f"Fix: {RECREATE}")


def test_a_sort_key_is_found(backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]) -> None:
    make_table(backend, table, sort=("created", "N"))
    status, lines = doctor(capsys, "--table", table)
    assert status == 1
    assert [line for line in fixes(lines) if "key schema" in line] == [
        f"FIX  key schema: the table has a sort key 'created', which the store never writes. Fix: {RECREATE}"
    ]


def test_ttl_never_enabled_is_found_with_the_command_that_enables_it(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(backend, table, ttl=None)
    status, lines = doctor(capsys, "--table", table)
    assert (status, fixes(lines)) == (
        1,
        [
            "FIX  ttl: TTL is DISABLED: expired sessions are never deleted (they only read as expired). Fix: run `aws "
            f"dynamodb update-time-to-live --region us-east-1 --table-name {table} --time-to-live-specification "
            "Enabled=true,AttributeName=ttl`"
        ],
    )


def test_ttl_on_another_attribute_is_found(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(backend, table, ttl="expires_at")
    status, lines = doctor(capsys, "--table", table)
    assert status == 1
    [line] = fixes(lines)
    assert line.startswith(
        "FIX  ttl: TTL is ENABLED on 'expires_at', but the store writes 'ttl': expired sessions are never deleted. "
        "Fix: pass DynamoStore(ttl_name='expires_at') (on the command line: --ttl-attribute expires_at), or disable "
        f"TTL on 'expires_at' and then run `aws dynamodb update-time-to-live --region us-east-1 --table-name {table} "
        "--time-to-live-specification Enabled=true,AttributeName=ttl`"
    )
    assert doctor(capsys, "--table", table, "--ttl-attribute", "expires_at")[0] == 0


def test_provisioned_billing_is_a_note_that_needs_no_fix(
    backend: boto3.Session, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_table(backend, table, provisioned=True)
    status, lines = doctor(capsys, "--table", table)
    assert status == 0, lines
    [line] = [line for line in lines if "billing" in line]
    assert line.startswith("NOTE billing: provisioned: 5 read and 2 write capacity units, fine while they")


def test_an_index_the_store_relies_on_is_checked_when_there_is_one(backend: boto3.Session, table: str) -> None:
    expected = [ExpectedIndex("by-user", "user")]
    make_table(backend, table)
    [missing] = [
        finding for finding in diagnose(DynamoStore(backend, table_name=table), expected) if "index" in finding.check
    ]
    assert (missing.severity, missing.message) == ("fix", "missing: the store queries it on user (HASH S)")
    assert missing.fix.startswith(
        f"run `aws dynamodb update-table --region us-east-1 --table-name {table} --attribute-definitions "
    )
    other = f"{table}-indexed"
    make_table(backend, other, index=("by-user", "user"))
    [present] = [
        finding for finding in diagnose(DynamoStore(backend, table_name=other), expected) if "index" in finding.check
    ]
    assert (present.severity, present.message) == ("ok", "keyed on user (HASH S), ACTIVE")
    wrong = f"{table}-wrong"
    make_table(backend, wrong, index=("by-user", "account"))
    [found] = [
        finding for finding in diagnose(DynamoStore(backend, table_name=wrong), expected) if "index" in finding.check
    ]
    assert (found.severity, found.message) == ("fix", "keyed on account (HASH S), not user (HASH S)")
    assert found.fix.startswith(
        "delete the index, then create it again: run `aws dynamodb update-table --region us-east-1 "
        f"--table-name {wrong} "
    )


def test_a_table_that_is_not_active_is_a_finding_that_says_to_wait_for_it(moto_store: DynamoStore) -> None:
    def creating(parsed: dict[str, Any], **kwargs: Any) -> None:
        parsed["Table"]["TableStatus"] = "CREATING"

    moto_store.client.meta.events.register("after-call.dynamodb.DescribeTable", creating)
    [status] = [finding for finding in diagnose(moto_store) if finding.check == "status"]
    assert status.line() == (
        "FIX  status: the table is CREATING, not ACTIVE. Fix: wait until it is ACTIVE: run `aws dynamodb wait "
        f"table-exists --region us-east-1 --table-name {moto_store.table_name}`"
    )


def test_a_table_being_updated_is_a_note_that_needs_no_fix(moto_store: DynamoStore) -> None:
    def updating(parsed: dict[str, Any], **kwargs: Any) -> None:
        parsed["Table"]["TableStatus"] = "UPDATING"

    moto_store.client.meta.events.register("after-call.dynamodb.DescribeTable", updating)
    [status] = [finding for finding in diagnose(moto_store) if finding.check == "status"]
    assert status.line() == "NOTE status: the table is UPDATING: usable, the change is still being applied"


def test_an_index_that_is_not_active_is_a_finding_that_says_to_wait_for_it(
    moto_session: boto3.Session, table: str
) -> None:
    make_table(moto_session, table, index=("by-user", "user"))
    store = DynamoStore(moto_session, table_name=table)

    def creating(parsed: dict[str, Any], **kwargs: Any) -> None:
        parsed["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"] = "CREATING"

    store.client.meta.events.register("after-call.dynamodb.DescribeTable", creating)
    [index] = [finding for finding in diagnose(store, [ExpectedIndex("by-user", "user")]) if "index" in finding.check]
    assert index.line() == (
        "FIX  index by-user: CREATING, not ACTIVE. Fix: wait until it is ACTIVE (a new index is built from the "
        "table's items first)"
    )


def after_error(store: DynamoStore) -> str:
    """The fix doctor gives for an error it does not know."""
    return (
        "correct what DynamoDB's message says (credentials, region, table name), then run `python -m "
        f"starlette_dynamo_session doctor --table {store.table_name} --region us-east-1` again"
    )


def test_an_unknown_error_from_describe_time_to_live_says_to_correct_it_and_run_doctor_again(
    moto_store: DynamoStore,
) -> None:
    FaultInjector(moto_store.client.meta.events).fail("InternalServerError", operations={"DescribeTimeToLive"})
    [ttl] = [finding for finding in diagnose(moto_store) if finding.check == "ttl"]
    assert (ttl.message, ttl.fix) == (
        "DescribeTimeToLive failed (InternalServerError): injected",
        after_error(moto_store),
    )


def test_a_permission_that_cannot_be_checked_says_to_correct_the_error_and_run_doctor_again(
    moto_store: DynamoStore,
) -> None:
    FaultInjector(moto_store.client.meta.events).fail("InternalServerError", operations={"GetItem"})
    [finding] = [finding for finding in diagnose(moto_store) if finding.severity == "fix"]
    assert (finding.message, finding.fix) == (
        "dynamodb:GetItem could not be checked (InternalServerError): injected",
        after_error(moto_store),
    )


def test_an_error_doctor_does_not_know_says_to_correct_it_and_run_doctor_again(moto_store: DynamoStore) -> None:
    FaultInjector(moto_store.client.meta.events).fail("UnrecognizedClientException", operations={"DescribeTable"})
    assert [finding.line() for finding in diagnose(moto_store)] == [
        f"FIX  table: DescribeTable failed (UnrecognizedClientException): injected. Fix: {after_error(moto_store)}"
    ]


def test_describe_time_to_live_denied_says_which_action_to_allow_and_to_run_doctor_again(
    moto_store: DynamoStore,
) -> None:
    FaultInjector(moto_store.client.meta.events).fail("AccessDeniedException", operations={"DescribeTimeToLive"})
    [ttl] = [finding for finding in diagnose(moto_store) if finding.check == "ttl"]
    assert ttl.fix == (
        "allow dynamodb:DescribeTimeToLive to the credentials doctor runs with (the application does not need it), "
        f"then run `python -m starlette_dynamo_session doctor --table {moto_store.table_name} --region us-east-1` "
        "again"
    )


def test_the_commands_doctor_gives_carry_the_stores_attribute_names(aws: None) -> None:
    store = DynamoStore(table_name="missing", token_name="id", ttl_name="expires_at")
    [finding] = diagnose(store)
    assert finding.fix == (
        "run `python -m starlette_dynamo_session create-table --table missing --region us-east-1 --token-attribute id "
        "--ttl-attribute expires_at`"
    )


# moto's server enforces IAM once told to (POST /moto-api/reset-auth with the number of calls still let through):
# then every call must be signed by an IAM user of moto's, and its policies decide.
RUN_TIME_ACTIONS = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "DescribeTable"]


def set_moto_auth(endpoint: str, free_calls: str) -> str:
    """Let ``free_calls`` more calls through unauthenticated (``"0"``: enforce IAM now, ``"inf"``: never); return
    the previous setting."""
    response = httpx.post(
        f"{endpoint}/moto-api/reset-auth", content=free_calls, headers={"Content-Type": "text/plain"}, timeout=10
    )
    response.raise_for_status()
    return str(response.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])


@pytest.fixture
def iam_user(moto_server_endpoint: str, moto_server_session: boto3.Session) -> Iterator[Any]:
    """Makes moto users allowed the given DynamoDB actions, and enforces IAM on moto's server for the rest of the
    test (and no longer after it, before the tables are dropped)."""
    iam = moto_server_session.client("iam", endpoint_url=moto_server_endpoint)
    previous: list[str] = []

    def make(actions: list[str]) -> boto3.Session:
        name = f"app-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        statement = {"Effect": "Allow", "Action": [f"dynamodb:{action}" for action in actions], "Resource": "*"}
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        iam.put_user_policy(UserName=name, PolicyName="sessions", PolicyDocument=policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        if not previous:
            previous.append(set_moto_auth(moto_server_endpoint, "0"))
        return boto3.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1"
        )

    try:
        yield make
    finally:
        if previous:
            set_moto_auth(moto_server_endpoint, previous[0])


@pytest.mark.parametrize("missing", ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"])
def test_a_missing_permission_is_named_with_the_iam_action_to_allow(
    moto_server_session: boto3.Session, iam_user: Any, table: str, missing: str
) -> None:
    DynamoStore(moto_server_session, table_name=table).create_table()
    allowed = [action for action in RUN_TIME_ACTIONS if action != missing] + ["DescribeTimeToLive"]
    findings = diagnose(DynamoStore(iam_user(allowed), table_name=table))
    assert [finding.line() for finding in findings if finding.severity == "fix"] == [
        f"FIX  permission: dynamodb:{missing} is denied: "
        + {
            "GetItem": "every request with a session reads it",
            "PutItem": "every new or changed session is written with it (and regeneration's transaction puts)",
            "UpdateItem": "DynamoStore.save() and users' sessions (sign-in, revoke) write with it",
            "DeleteItem": "sign-out deletes with it (and regeneration's transaction deletes)",
            "BatchGetItem": "DynamoStore.list_sessions() reads a user's sessions with it",
        }[missing]
        + f". Fix: allow dynamodb:{missing} on arn:aws:dynamodb:us-east-1:123456789012:table/{table} in the "
        "application's IAM policy"
    ]


def test_with_every_permission_under_enforced_iam_nothing_needs_fixing(
    moto_server_session: boto3.Session, iam_user: Any, table: str
) -> None:
    DynamoStore(moto_server_session, table_name=table).create_table()
    findings = diagnose(DynamoStore(iam_user([*RUN_TIME_ACTIONS, "DescribeTimeToLive"]), table_name=table))
    assert [finding.line() for finding in findings if finding.severity != "ok"] == []


def test_describe_table_denied_is_named_and_the_item_calls_are_still_checked(
    moto_server_session: boto3.Session, iam_user: Any, table: str
) -> None:
    DynamoStore(moto_server_session, table_name=table).create_table()
    findings = diagnose(
        DynamoStore(iam_user(["GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"]), table_name=table)
    )
    assert [(finding.severity, finding.message.split(":")[0]) for finding in findings] == [
        ("fix", "dynamodb"),
        ("ok", "dynamodb"),
        ("ok", "dynamodb"),
        ("ok", "dynamodb"),
        ("ok", "dynamodb"),
        ("ok", "dynamodb"),
    ]
    assert findings[0].message.startswith("dynamodb:DescribeTable is denied: DynamoStore.ping()")
    arn = f"arn:aws:dynamodb:us-east-1:ACCOUNT:table/{table}"  # the account is in DescribeTable's answer only
    assert findings[0].fix == f"allow dynamodb:DescribeTable on {arn} in the application's IAM policy"
