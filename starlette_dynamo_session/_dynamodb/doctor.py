"""``doctor``: checks that a table is what ``DynamoStore`` needs, and that the credentials may make its calls.

Every check is read-only or a write that cannot change anything: the permission probes use a key that no session
can have (a digest never contains ``:``) and conditions that cannot hold on it, so DynamoDB answers
``ConditionalCheckFailedException`` when the call is allowed and ``AccessDeniedException`` when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from starlette_dynamo_session._dynamodb.doctor_findings import (
    DENIED_CODES,
    Finding,
    after_error,
    answer_code,
    answer_message,
    command_for,
    region_of,
    table_arn,
)
from starlette_dynamo_session._dynamodb.doctor_permissions import denied, permissions
from starlette_dynamo_session._dynamodb.store import DynamoStore

__all__ = ["ExpectedIndex", "Finding", "diagnose", "expected_indexes"]


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
        code = answer_code(exc)
        if code == "ResourceNotFoundException":
            create = f"run `{command_for(store, 'create-table')}`"
            return [Finding("table", "fix", f"table {name!r} does not exist in {region_of(client)}", create)]
        if code not in DENIED_CODES:
            return [
                Finding("table", "fix", f"DescribeTable failed ({code}): {answer_message(exc)}", after_error(store))
            ]
        findings.append(denied("DescribeTable", table_arn(client, name)))
        table = None
    arn = table_arn(client, name) if table is None else str(table.get("TableArn", table_arn(client, name)))
    if table is not None:
        findings.append(_status(table, region_of(client)))
        findings.append(_key_schema(store, table))
        findings.append(_billing(table))
        expected = expected_indexes(store) if indexes is None else indexes
        findings.extend(_indexes(table, expected, name, region_of(client)))
        findings.append(_ttl(store))
        findings.append(Finding("permission", "ok", "dynamodb:DescribeTable is allowed"))
    findings.extend(permissions(store, arn))
    return findings


def _status(table: Any, region: str) -> Finding:
    """Whether the described ``table`` is ACTIVE (UPDATING is usable; anything else is to wait for)."""
    status = table.get("TableStatus", "ACTIVE")
    if status == "ACTIVE":
        return Finding("status", "ok", "the table is ACTIVE")
    if status == "UPDATING":
        return Finding("status", "note", "the table is UPDATING: usable, the change is still being applied")
    name = table["TableName"]
    wait = f"wait until it is ACTIVE: run `aws dynamodb wait table-exists --region {region} --table-name {name}`"
    return Finding("status", "fix", f"the table is {status}, not ACTIVE", wait)


def _key_schema(store: DynamoStore, table: Any) -> Finding:
    """Whether the described ``table`` is keyed as ``store`` writes: its ``token_name`` (S) alone."""
    keys = {key["KeyType"]: key["AttributeName"] for key in table.get("KeySchema", [])}
    types = {definition["AttributeName"]: definition["AttributeType"] for definition in table["AttributeDefinitions"]}
    partition, sort = keys.get("HASH"), keys.get("RANGE")
    recreate = (
        "create a new table, since key schemas cannot change: run "
        f"`{command_for(store, 'create-table', table='NEW_NAME')}` and pass DynamoStore(table_name='NEW_NAME')"
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
    """The described ``table``'s billing mode: on-demand, or the provisioned capacity to keep an eye on."""
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
    """Whether the described ``table`` has each ``expected`` index, keyed as expected and ACTIVE."""
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
    """Whether TTL is enabled on the attribute ``store`` writes (a DescribeTimeToLive call)."""
    name, attribute = store.table_name, store.ttl_name
    enable = (
        f"aws dynamodb update-time-to-live --region {region_of(store.client)} --table-name {name} "
        f"--time-to-live-specification Enabled=true,AttributeName={attribute}"
    )
    try:
        ttl = store.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    except ClientError as exc:
        code = answer_code(exc)
        if code in DENIED_CODES:
            grant = (
                "allow dynamodb:DescribeTimeToLive to the credentials doctor runs with (the application does not need "
                f"it), then run `{command_for(store, 'doctor')}` again"
            )
            return Finding("ttl", "fix", "cannot be checked: dynamodb:DescribeTimeToLive is denied", grant)
        return Finding("ttl", "fix", f"DescribeTimeToLive failed ({code}): {answer_message(exc)}", after_error(store))
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
