"""``doctor``'s permission probes: every item call the store makes, tried in a way that changes nothing.

The probes use a key that no session can have (a digest never contains ``:``) and conditions that cannot hold on
it, so DynamoDB answers ``ConditionalCheckFailedException`` when the call is allowed and ``AccessDeniedException``
when it is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from starlette_dynamo_session._dynamodb.doctor_findings import (
    DENIED_CODES,
    Finding,
    after_error,
    answer_code,
    answer_message,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from starlette_dynamo_session._dynamodb.store import DynamoStore

__all__ = ["ALLOWED_CODES", "denied", "permissions"]

# The answers that mean the call was allowed and changed nothing: its condition failed, or the request was
# authorized and then refused for its content.
ALLOWED_CODES = frozenset({"ConditionalCheckFailedException", "ValidationException"})


def permissions(store: DynamoStore, arn: str) -> list[Finding]:
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
            code = answer_code(exc)
            if code in DENIED_CODES:
                findings.append(denied(action, arn))
                continue
            if code not in ALLOWED_CODES:
                message = f"dynamodb:{action} could not be checked ({code}): {answer_message(exc)}"
                findings.append(Finding("permission", "fix", message, after_error(store)))
                continue
        findings.append(Finding("permission", "ok", f"dynamodb:{action} is allowed"))
    return findings


def denied(action: str, arn: str) -> Finding:
    """The finding that the credentials may not call ``dynamodb:<action>`` on the table ``arn``, saying what
    needs the call."""
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
