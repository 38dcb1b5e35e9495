"""A session bound to a user: the attributes a bound session item carries (the rules for user ids are the core's,
``_core/users``).

A bound session item holds, beside the session's own attributes, the user id (S), when it was last seen (N, epoch
seconds with six decimals), and, when recorded, the client's user agent (S, truncated) and IP address (S).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core.records import SessionUser
from starlette_dynamo_session._dynamodb.attributes import instant, number

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = [
    "BINDING_NAMES",
    "IP_NAME",
    "LAST_SEEN_NAME",
    "USER_AGENT_NAME",
    "USER_ID_NAME",
    "parse_user",
    "user_attributes",
]

USER_ID_NAME = "user_id"
LAST_SEEN_NAME = "last_seen"
USER_AGENT_NAME = "user_agent"
IP_NAME = "ip"
BINDING_NAMES = (USER_ID_NAME, LAST_SEEN_NAME, USER_AGENT_NAME, IP_NAME)


def user_attributes(user: SessionUser) -> dict[str, AttributeValueTypeDef]:
    """The attributes a session item bound to ``user`` carries beside its own."""
    attributes: dict[str, AttributeValueTypeDef] = {
        USER_ID_NAME: {"S": user.user_id},
        LAST_SEEN_NAME: {"N": number(user.last_seen)},
    }
    if user.user_agent is not None:
        attributes[USER_AGENT_NAME] = {"S": user.user_agent}
    if user.ip is not None:
        attributes[IP_NAME] = {"S": user.ip}
    return attributes


def parse_user(item: Mapping[str, Any]) -> SessionUser | None:
    """The user a session item is bound to, or ``None`` for an unbound one. Raises ``KeyError``, ``TypeError`` or
    ``ValueError`` for an item whose binding attributes have another shape or an instant out of range."""
    if USER_ID_NAME not in item:
        return None
    user_agent = item.get(USER_AGENT_NAME)
    ip = item.get(IP_NAME)
    return SessionUser(
        user_id=str(item[USER_ID_NAME]["S"]),
        last_seen=instant(item[LAST_SEEN_NAME]["N"]),
        user_agent=None if user_agent is None else str(user_agent["S"]),
        ip=None if ip is None else str(ip["S"]),
    )
