"""A session bound to a user: the attributes a bound session item carries, and the rules for user ids.

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
    "MAX_USER_AGENT_LENGTH",
    "MAX_USER_ID_LENGTH",
    "USER_AGENT_NAME",
    "USER_ID_NAME",
    "LAST_SEEN_INTERVAL",
    "check_user_id",
    "client_details",
    "parse_user",
    "user_attributes",
]

USER_ID_NAME = "user_id"
LAST_SEEN_NAME = "last_seen"
USER_AGENT_NAME = "user_agent"
IP_NAME = "ip"
BINDING_NAMES = (USER_ID_NAME, LAST_SEEN_NAME, USER_AGENT_NAME, IP_NAME)

MAX_USER_ID_LENGTH = 256  # characters
MAX_USER_AGENT_LENGTH = 256  # characters kept of a User-Agent header
MAX_IP_LENGTH = 64  # characters: an IPv6 address with a zone fits
# A bound session's "last seen" moves on every write of the session, and otherwise at most once per this many
# seconds: a request that only reads it costs one extra write per interval, never one per request.
LAST_SEEN_INTERVAL = 5 * 60


def check_user_id(user_id: object) -> str:
    """``user_id`` itself when it is a usable user id: a non-empty ``str`` of at most 256 characters that encodes as
    UTF-8 (a lone surrogate such as ``"\\ud800"`` does not, and DynamoDB could not store it).

    Raises ``ValueError`` for anything else.
    """
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID_LENGTH or not _is_utf8(user_id):
        shown = repr(user_id) if len(repr(user_id)) <= 80 else f"{repr(user_id)[:77]}..."
        raise ValueError(
            f"user_id must be a non-empty string of at most {MAX_USER_ID_LENGTH} characters that encodes as UTF-8, "
            f"not {shown}"
        )
    return user_id


def _is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: it holds no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def client_details(user_agent: str | None, ip: str | None) -> tuple[str | None, str | None]:
    """The user agent and IP address as a bound session keeps them: truncated, and ``None`` when empty."""
    return (
        user_agent[:MAX_USER_AGENT_LENGTH] or None if user_agent else None,
        ip[:MAX_IP_LENGTH] or None if ip else None,
    )


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
