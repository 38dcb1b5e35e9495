"""The DynamoDB requests that read and write session items, built from the table name and the item layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core.records import StoredSession
from starlette_dynamo_session._dynamodb.binding import USER_ID_NAME
from starlette_dynamo_session._dynamodb.forwarding import SUCCESSOR_NAME, forwarding_item
from starlette_dynamo_session._dynamodb.item import ItemLayout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        GetItemInputTypeDef,
        PutItemInputTypeDef,
        TransactWriteItemTypeDef,
        UpdateItemInputTypeDef,
    )

__all__ = ["SessionRequests"]


@dataclass(frozen=True, slots=True)
class SessionRequests:
    """The requests for the session items of the table ``table``, laid out by ``layout``. Each builder raises
    ``SessionTooLarge`` when the item it would write is too large, and nothing else."""

    table: str
    layout: ItemLayout

    def get(self, token: str) -> GetItemInputTypeDef:
        """The strongly consistent GetItem of the item stored under ``token``."""
        return {"TableName": self.table, "Key": self.layout.key(token), "ConsistentRead": True}

    def put(self, token: str, record: StoredSession, *, previous: int) -> PutItemInputTypeDef:
        """The PutItem that stores ``record`` under ``token`` only where the item is at version ``previous``
        (absent, for 0); when it is not, DynamoDB returns the item that won, so merging costs no extra read."""
        request: PutItemInputTypeDef = {
            "TableName": self.table,
            "Item": self.layout.item(token, record),
            "ConditionExpression": "attribute_not_exists(#version)",
            "ExpressionAttributeNames": {"#version": self.layout.version},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if previous:
            request["ConditionExpression"] = "#version = :previous"
            request["ExpressionAttributeValues"] = {":previous": {"N": str(previous)}}
        return request

    def save(self, token: str, record: StoredSession) -> UpdateItemInputTypeDef:
        """The UpdateItem that stores ``record``'s data and expiry under ``token`` whatever is there, keeping the
        session's creation time and own lifetime, and counting its version on (``DynamoStore.save``); never over
        a rotated token's forwarding item."""
        item = self.layout.item(token, record)
        values: dict[str, AttributeValueTypeDef] = {
            ":data": item[self.layout.data],
            ":expiry": item[self.layout.expiry],
            ":ttl": item[self.layout.ttl],
            ":created": item[self.layout.created],
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        names = {
            "#data": self.layout.data,
            "#expiry": self.layout.expiry,
            "#ttl": self.layout.ttl,
            "#created": self.layout.created,
            "#version": self.layout.version,
            "#successor": SUCCESSOR_NAME,
        }
        return {
            "TableName": self.table,
            "Key": self.layout.key(token),
            "UpdateExpression": (
                "SET #data = :data, #expiry = :expiry, #ttl = :ttl, #created = if_not_exists(#created, :created), "
                "#version = if_not_exists(#version, :zero) + :one"
            ),
            "ConditionExpression": "attribute_not_exists(#successor)",  # a rotated token's item stays forwarding
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def delete(self, key: str, *, user_id: str | None = None) -> dict[str, Any]:
        """The DeleteItem of the session item keyed ``key`` (a token's digest) that returns what it held; with
        ``user_id``, only while the session is bound to that user (never another user's, after a rebinding)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {self.layout.token: {"S": key}},
            "ReturnValues": "ALL_OLD",
        }
        if user_id is not None:
            request["ConditionExpression"] = "#user = :user"
            request["ExpressionAttributeNames"] = {"#user": USER_ID_NAME}
            request["ExpressionAttributeValues"] = {":user": {"S": user_id}}
        return request

    def replacement(
        self, token: str, record: StoredSession, *, replacing: str | None, forward: bool = False
    ) -> list[TransactWriteItemTypeDef]:
        """The transaction items that store ``record`` under the new token ``token`` (absent so far) and, with
        ``replacing``, delete the item under ``replacing`` if it is still at ``record.version - 1`` (with
        ``forward``, replace it by its forwarding item to ``token`` instead); a failed condition returns the item
        as it is."""
        items: list[TransactWriteItemTypeDef] = [{"Put": self.put(token, record, previous=0)}]
        if replacing is not None:
            old: Any = {
                "TableName": self.table,
                "Key": self.layout.key(replacing),
                "ConditionExpression": "#version = :previous",
                "ExpressionAttributeNames": {"#version": self.layout.version},
                "ExpressionAttributeValues": {":previous": {"N": str(record.version - 1)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            if forward:
                del old["Key"]
                old["Item"] = forwarding_item(self.layout, replacing, token, record)
            items.append({"Put": old} if forward else {"Delete": old})
        return items
