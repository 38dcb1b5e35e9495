"""``doctor``: checks that a table is what ``DynamoStore`` needs, and that the credentials may make its calls.

Every check is read-only or a write that cannot change anything: the permission probes use a key that no session
can have (a digest never contains ``:``) and conditions that cannot hold on it, so DynamoDB answers
``ConditionalCheckFailedException`` when the call is allowed and ``AccessDeniedException`` when it is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from starlette_dynamo_session._dynamodb.store import DEFAULT_TOKEN_NAME, DEFAULT_TTL_NAME, DynamoStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["ExpectedIndex", "Finding", "diagnose", "expected_indexes"]

Severity = Literal["ok", "note", "fix"]

# The error codes that mean the credentials may not make the call. (moto's server, when it enforces IAM, answers a
# DynamoDB call with an XML error: code "403", with AccessDenied inside the message.)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
# The answers that mean the call was allowed and changed nothing: its condition failed, or the request was
# authorized and then refused for its content.
ALLOWED_CODES = frozenset({"ConditionalCheckFailedException", "ValidationException"})


@dataclass(frozen=True, slots=True)
class ExpectedIndex:
    """A global secondary index the store queries: its name and key attributes (names and DynamoDB types)."""

    name: str
    partition_key: str
    partition_type: Literal["S", "N", "B"] = "S"
    sort_key: str | None = None
    sort_type: Literal["S", "N", "B"] = "S"


def expected_indexes(store: DynamoStore) -> Sequence[ExpectedIndex]:
    """The indexes ``store`` relies on, given its attribute names: none today. A feature that queries an index adds
    it here, and ``doctor`` checks it. Raises nothing."""
    return ()


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of ``diagnose``: what was checked, what was found, and, when it needs fixing, how.

    ``severity`` is ``"ok"``, ``"note"`` (worth knowing, nothing to fix) or ``"fix"``. Every ``fix`` follows one
    standard: what to do, in the imperative, and any command to run in backquotes, complete and ready to paste
    (``run `...```).
    """

    check: str
    severity: Severity
    message: str
    fix: str = ""

    def line(self) -> str:
        """The finding as one line of ``doctor``'s output."""
        text = f"{self.severity.upper():<4} {self.check}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def diagnose(store: DynamoStore, indexes: Sequence[ExpectedIndex] | None = None) -> list[Finding]:
    """Check the store's table and the credentials' permissions; one finding per check, in order.

    ``indexes`` defaults to the ones the store relies on (``expected_indexes``). Raises ``BotoCoreError`` when
    DynamoDB cannot be reached; every DynamoDB error answer is a finding.
    """
    client = store.client
    name = store.table_name
    findings: list[Finding] = []
    try:
        table = client.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        code = _code(exc)
        if code == "ResourceNotFoundException":
            create = f"run `{_command(store, 'create-table')}`"
            return [Finding("table", "fix", f"table {name!r} does not exist in {_region(client)}", create)]
        if code not in DENIED_CODES:
            return [Finding("table", "fix", f"DescribeTable failed ({code}): {_message(exc)}", _after_error(store))]
        findings.append(_denied("DescribeTable", _arn(client, name)))
        table = None
    arn = _arn(client, name) if table is None else str(table.get("TableArn", _arn(client, name)))
    if table is not None:
        findings.append(_status(table, _region(client)))
        findings.append(_key_schema(store, table))
        findings.append(_billing(table))
        expected = expected_indexes(store) if indexes is None else indexes
        findings.extend(_indexes(table, expected, name, _region(client)))
        findings.append(_ttl(store))
        findings.append(Finding("permission", "ok", "dynamodb:DescribeTable is allowed"))
    findings.extend(_permissions(store, arn))
    return findings


def _status(table: Any, region: str) -> Finding:
    status = table.get("TableStatus", "ACTIVE")
    if status == "ACTIVE":
        return Finding("status", "ok", "the table is ACTIVE")
    if status == "UPDATING":
        return Finding("status", "note", "the table is UPDATING: usable, the change is still being applied")
    name = table["TableName"]
    wait = f"wait until it is ACTIVE: run `aws dynamodb wait table-exists --region {region} --table-name {name}`"
    return Finding("status", "fix", f"the table is {status}, not ACTIVE", wait)


def _key_schema(store: DynamoStore, table: Any) -> Finding:
    keys = {key["KeyType"]: key["AttributeName"] for key in table.get("KeySchema", [])}
    types = {definition["AttributeName"]: definition["AttributeType"] for definition in table["AttributeDefinitions"]}
    partition, sort = keys.get("HASH"), keys.get("RANGE")
    recreate = (
        "create a new table, since key schemas cannot change: run "
        f"`{_command(store, 'create-table', table='NEW_NAME')}` and pass DynamoStore(table_name='NEW_NAME')"
    )
    if partition != store.token_name:
        return Finding(
            "key schema",
            "fix",
            f"the partition key is {partition!r}, but the store writes {store.token_name!r}",
            f"if its type is S and there is no sort key, pass DynamoStore(token_name={partition!r}) (on the command "
            f"line: --token-attribute {partition}); otherwise {recreate}",
        )
    if types.get(partition) != "S":
        return Finding(
            "key schema",
            "fix",
            f"the partition key {partition!r} is of type {types.get(partition)}, but the store writes S (a string)",
            recreate,
        )
    if sort is not None:
        return Finding(
            "key schema",
            "fix",
            f"the table has a sort key {sort!r}, which the store never writes",
            recreate,
        )
    return Finding("key schema", "ok", f"partition key {partition!r} of type S, no sort key")


def _billing(table: Any) -> Finding:
    mode = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if mode == "PAY_PER_REQUEST":
        return Finding("billing", "ok", "on-demand (PAY_PER_REQUEST): capacity follows the traffic")
    throughput = table.get("ProvisionedThroughput", {})
    reads, writes = throughput.get("ReadCapacityUnits", 0), throughput.get("WriteCapacityUnits", 0)
    return Finding(
        "billing",
        "note",
        f"provisioned: {reads} read and {writes} write capacity units, fine while they (or auto scaling) cover the "
        "peak: every request with a session reads, and throttled requests are answered with 503",
    )


def _indexes(table: Any, expected: Sequence[ExpectedIndex], name: str, region: str) -> list[Finding]:
    if not expected:
        return [Finding("indexes", "ok", "the store needs no index")]
    present = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    types = {definition["AttributeName"]: definition["AttributeType"] for definition in table["AttributeDefinitions"]}
    findings = []
    for index in expected:
        wanted = [(index.partition_key, "HASH", index.partition_type)]
        if index.sort_key is not None:
            wanted.append((index.sort_key, "RANGE", index.sort_type))
        keys = ", ".join(f"{key} ({kind} {type_})" for key, kind, type_ in wanted)
        create = (
            f"aws dynamodb update-table --region {region} --table-name {name} --attribute-definitions "
            + " ".join(f"AttributeName={key},AttributeType={type_}" for key, _, type_ in wanted)
            + f" --global-secondary-index-updates 'Create={{IndexName={index.name},KeySchema=["
            + ",".join(f"{{AttributeName={key},KeyType={kind}}}" for key, kind, _ in wanted)
            + "],Projection={ProjectionType=ALL}}'"
        )
        found = present.get(index.name)
        if found is None:
            findings.append(
                Finding(f"index {index.name}", "fix", f"missing: the store queries it on {keys}", f"run `{create}`")
            )
            continue
        actual = [(key["AttributeName"], key["KeyType"], types.get(key["AttributeName"])) for key in found["KeySchema"]]
        if sorted(actual) != sorted(wanted):
            have = ", ".join(f"{key} ({kind} {type_})" for key, kind, type_ in actual)
            fix = f"delete the index, then create it again: run `{create}`"
            findings.append(Finding(f"index {index.name}", "fix", f"keyed on {have}, not {keys}", fix))
        elif found.get("IndexStatus", "ACTIVE") != "ACTIVE":
            status = found.get("IndexStatus")
            wait = "wait until it is ACTIVE (a new index is built from the table's items first)"
            findings.append(Finding(f"index {index.name}", "fix", f"{status}, not ACTIVE", wait))
        else:
            findings.append(Finding(f"index {index.name}", "ok", f"keyed on {keys}, ACTIVE"))
    return findings


def _ttl(store: DynamoStore) -> Finding:
    name, attribute = store.table_name, store.ttl_name
    enable = (
        f"aws dynamodb update-time-to-live --region {_region(store.client)} --table-name {name} "
        f"--time-to-live-specification Enabled=true,AttributeName={attribute}"
    )
    try:
        ttl = store.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    except ClientError as exc:
        code = _code(exc)
        if code in DENIED_CODES:
            grant = (
                "allow dynamodb:DescribeTimeToLive to the credentials doctor runs with (the application does not need "
                f"it), then run `{_command(store, 'doctor')}` again"
            )
            return Finding("ttl", "fix", "cannot be checked: dynamodb:DescribeTimeToLive is denied", grant)
        return Finding("ttl", "fix", f"DescribeTimeToLive failed ({code}): {_message(exc)}", _after_error(store))
    status, current = ttl.get("TimeToLiveStatus", "DISABLED"), ttl.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and current == attribute:
        return Finding("ttl", "ok", f"TTL is {status} on {attribute!r}, the attribute the store writes")
    if status in ("ENABLED", "ENABLING"):
        return Finding(
            "ttl",
            "fix",
            f"TTL is {status} on {current!r}, but the store writes {attribute!r}: expired sessions are never deleted",
            f"pass DynamoStore(ttl_name={current!r}) (on the command line: --ttl-attribute {current}), or disable "
            f"TTL on {current!r} and then run `{enable}`",
        )
    return Finding(
        "ttl",
        "fix",
        f"TTL is {status}: expired sessions are never deleted (they only read as expired)",
        f"run `{enable}`",
    )


def _permissions(store: DynamoStore, arn: str) -> list[Finding]:
    """Try every item call the store makes at run time, each in a way that changes nothing: on a key no session has,
    conditioned on the item existing. (A regeneration's TransactWriteItems is authorized as its PutItem and
    DeleteItem.)"""
    client, name = store.client, store.table_name
    key: dict[str, AttributeValueTypeDef] = {store.token_name: {"S": f"doctor:{uuid.uuid4()}"}}  # no digest has ':'
    exists, names = "attribute_exists(#key)", {"#key": store.token_name}
    probes: list[tuple[str, Callable[[], object]]] = [
        ("GetItem", lambda: client.get_item(TableName=name, Key=key, ConsistentRead=True)),
        (
            "PutItem",
            lambda: client.put_item(
                TableName=name, Item=key, ConditionExpression=exists, ExpressionAttributeNames=names
            ),
        ),
        (
            "UpdateItem",
            lambda: client.update_item(
                TableName=name,
                Key=key,
                UpdateExpression="SET #version = :one",
                ConditionExpression=exists,
                ExpressionAttributeNames={**names, "#version": store.version_name},
                ExpressionAttributeValues={":one": {"N": "1"}},
            ),
        ),
        (
            "DeleteItem",
            lambda: client.delete_item(
                TableName=name, Key=key, ConditionExpression=exists, ExpressionAttributeNames=names
            ),
        ),
        ("BatchGetItem", lambda: client.batch_get_item(RequestItems={name: {"Keys": [key], "ConsistentRead": True}})),
    ]
    findings = []
    for action, probe in probes:
        try:
            probe()
        except ClientError as exc:
            code = _code(exc)
            if code in DENIED_CODES:
                findings.append(_denied(action, arn))
                continue
            if code not in ALLOWED_CODES:
                message = f"dynamodb:{action} could not be checked ({code}): {_message(exc)}"
                findings.append(Finding("permission", "fix", message, _after_error(store)))
                continue
        findings.append(Finding("permission", "ok", f"dynamodb:{action} is allowed"))
    return findings


def _denied(action: str, arn: str) -> Finding:
    uses = {
        "GetItem": "every request with a session reads it",
        "PutItem": "every new or changed session is written with it (and regeneration's transaction puts)",
        "UpdateItem": "DynamoStore.save() and users' sessions (sign-in, revoke) write with it",
        "BatchGetItem": "DynamoStore.list_sessions() reads a user's sessions with it",
        "DeleteItem": "sign-out deletes with it (and regeneration's transaction deletes)",
        "DescribeTable": "DynamoStore.ping() (health checks) calls it",
    }
    return Finding(
        "permission",
        "fix",
        f"dynamodb:{action} is denied: {uses.get(action, 'the store calls it')}",
        f"allow dynamodb:{action} on {arn} in the application's IAM policy",
    )


def _command(store: DynamoStore, command: str, *, table: str | None = None) -> str:
    """The command line that runs ``command`` on the store's table (or ``table``), region and attribute names."""
    words = ["python", "-m", "starlette_dynamo_session", command, "--table", table or store.table_name]
    words += ["--region", _region(store.client)]
    if store.token_name != DEFAULT_TOKEN_NAME:
        words += ["--token-attribute", store.token_name]
    if store.ttl_name != DEFAULT_TTL_NAME:
        words += ["--ttl-attribute", store.ttl_name]
    return " ".join(words)


def _after_error(store: DynamoStore) -> str:
    """The fix for an error answer doctor does not know: what DynamoDB's message says, then doctor again."""
    doctor = _command(store, "doctor")
    return f"correct what DynamoDB's message says (credentials, region, table name), then run `{doctor}` again"


def _code(exc: ClientError) -> str:
    """The error's code; ``AccessDeniedException`` for any answer that says access was denied."""
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 403 and "<Code>AccessDenied</Code>" in _message(exc):
        return "AccessDeniedException"
    return code


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _region(client: DynamoDBClient) -> str:
    return str(client.meta.region_name)


def _arn(client: DynamoDBClient, name: str) -> str:
    return f"arn:aws:dynamodb:{_region(client)}:ACCOUNT:table/{name}"
