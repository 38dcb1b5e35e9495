"""A user's sessions as listing them describes them (``SessionInfo``), and how they are read from their items.

The user item that names them, and every write to it, is the users' index (``user_index``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from starlette_dynamo_session._core.exceptions import StoreUnavailable
from starlette_dynamo_session._core.retries import UNPROCESSED_KEYS
from starlette_dynamo_session._core.users import SessionInfo
from starlette_dynamo_session._dynamodb.attributes import has_ended, instant
from starlette_dynamo_session._dynamodb.authenticated import AUTH_LEVEL_NAME, AUTHENTICATED_AT_NAME, parse_auth
from starlette_dynamo_session._dynamodb.binding import (
    IP_NAME,
    LAST_SEEN_NAME,
    USER_AGENT_NAME,
    USER_ID_NAME,
    parse_user,
)
from starlette_dynamo_session._dynamodb.item import ItemLayout, log_damaged

__all__ = [
    "BATCH_GET_LIMIT",
    "Send",
    "read_sessions",
    "session_info",
]

BATCH_GET_LIMIT = 100  # keys per BatchGetItem


class Send(Protocol):
    """The store's way to make one DynamoDB call: in its span, with its errors translated (``errors``); ``tokens``
    are the tokens of the request's session items, in order."""

    async def __call__(
        self, operation: str, request: Mapping[str, Any], tokens: Sequence[str] = ()
    ) -> Mapping[str, Any]:
        """Send ``request`` and return DynamoDB's answer. Raises ``SessionConflict``, ``TableNotFound`` or
        ``StoreUnavailable``."""


def session_info(layout: ItemLayout, item: Mapping[str, Any]) -> SessionInfo | None:
    """The session a bound session item describes, or ``None`` when it is not bound, has ended, or is damaged
    (another shape, or an instant out of range: logged at WARNING). Raises nothing."""
    try:
        user = parse_user(item)
        auth = parse_auth(item)
        expires = instant(item[layout.expiry]["N"])
        key = str(item[layout.token]["S"])
        created = instant(item[layout.created]["N"])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        log_damaged(item.get(layout.token, {}).get("S"), exc)
        return None
    if user is None or has_ended(expires):
        return None
    at, level = (None, None) if auth is None else (auth.at, auth.level)
    return SessionInfo(key, user.user_id, created, user.last_seen, expires, user.user_agent, user.ip, at, level)


async def read_sessions(
    send: Send, table: str, layout: ItemLayout, user_id: str, keys: list[str]
) -> dict[str, SessionInfo]:
    """The live sessions among ``keys`` that are bound to ``user_id``, by key: consistent reads, ``BATCH_GET_LIMIT``
    keys at a time, asking again for the keys DynamoDB left unprocessed (``UNPROCESSED_KEYS``).

    Raises ``StoreUnavailable`` when keys stay unprocessed, and ``TableNotFound`` or ``StoreUnavailable``.
    """
    names = {
        "#key": layout.token,
        "#created": layout.created,
        "#expiry": layout.expiry,
        "#user": USER_ID_NAME,
        "#seen": LAST_SEEN_NAME,
        "#agent": USER_AGENT_NAME,
        "#ip": IP_NAME,
        "#authat": AUTHENTICATED_AT_NAME,
        "#authlevel": AUTH_LEVEL_NAME,
    }
    sessions: dict[str, SessionInfo] = {}
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending: Mapping[str, Any] = {
            table: {
                "Keys": [{layout.token: {"S": key}} for key in keys[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        for attempt in UNPROCESSED_KEYS.tries():
            response = await send("BatchGetItem", {"RequestItems": pending})
            for item in response.get("Responses", {}).get(table, []):
                info = session_info(layout, item)
                if info is not None and info.user_id == user_id:
                    sessions[info.key] = info
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            if UNPROCESSED_KEYS.last(attempt):
                raise StoreUnavailable(f"BatchGetItem left keys unprocessed after {UNPROCESSED_KEYS.attempts} attempts")
            await UNPROCESSED_KEYS.pause(attempt)
    return sessions
