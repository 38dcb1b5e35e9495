"""The sessions table itself: checking that it can be used (``ping``), and creating it (``create_table``).

Each function makes its DynamoDB calls inside ``call(operation)``, the store's span and error translation.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from starlette_dynamo_session._core.exceptions import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["Call", "create_table", "ping"]

Call = Callable[[str], AbstractContextManager[None]]

_USABLE_TABLE_STATUSES = frozenset({"ACTIVE", "UPDATING"})


def ping(client: DynamoDBClient, table_name: str, key_name: str, call: Call) -> None:
    """Check that the table ``table_name`` exists, can be used, and is keyed by ``key_name`` (HASH, S) alone.

    Raises ``TableNotFound`` when the table is missing, and ``StoreUnavailable`` when DynamoDB cannot be reached,
    the table is not usable (being created or deleted), or its key is not the store's (the message says how to fix
    it).
    """
    with call("DescribeTable"):
        table = client.describe_table(TableName=table_name)["Table"]
        types = {attribute["AttributeName"]: attribute["AttributeType"] for attribute in table["AttributeDefinitions"]}
        keys = [(key["AttributeName"], key["KeyType"], types.get(key["AttributeName"])) for key in table["KeySchema"]]
    status = table.get("TableStatus", "ACTIVE")
    if status not in _USABLE_TABLE_STATUSES:
        raise StoreUnavailable(f"table {table_name!r} is {status}, not ACTIVE")
    if keys != [(key_name, "HASH", "S")]:
        shown = ", ".join(f"{name} ({kind} {type_})" for name, kind, type_ in keys)
        [(name, _, type_), *others] = keys
        fix = (
            f"pass DynamoStore(token_name={name!r})"
            if type_ == "S" and not others
            else "key schemas cannot change: create the table again with python -m starlette_dynamo_session "
            "create-table --table NAME"
        )
        raise StoreUnavailable(
            f"table {table_name!r} is keyed by {shown}, but the store by {key_name} (HASH S) "
            f"alone. Fix: {fix} (python -m starlette_dynamo_session doctor checks the whole table)"
        )


def create_table(client: DynamoDBClient, table_name: str, key_name: str, ttl_name: str, call: Call) -> None:
    """Create the table ``table_name`` keyed by ``key_name`` (on-demand billing, TTL on ``ttl_name``) and wait until
    it can be used. A table that already exists is fine, and so is TTL already enabled on ``ttl_name``.

    Raises ``StoreUnavailable`` (``TableNotFound`` should the table vanish meanwhile).
    """
    with call("CreateTable"):
        try:
            client.create_table(
                TableName=table_name,
                KeySchema=[{"AttributeName": key_name, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key_name, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        ttl = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and ttl.get("AttributeName") == ttl_name:
            return
        client.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_name}
        )
