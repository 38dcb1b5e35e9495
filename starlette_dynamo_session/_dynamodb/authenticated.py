"""A session's authentication as its item carries it (``mark_authenticated``): when (``authenticated_at``, N, epoch
seconds with six decimals, the items' one time codec) and how strongly (``auth_level``, N, a whole number of at least
1). An item with neither, such as one written before they existed, holds no authentication.

They are stored as they are, never sealed, like a bound session's user attributes (``binding``): they are no secret,
and ``list_sessions`` reads them from items whose tokens it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core.records import MAX_AUTH_LEVEL, Authentication
from starlette_dynamo_session._dynamodb.attributes import instant, number

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["AUTHENTICATED_AT_NAME", "AUTHENTICATION_NAMES", "AUTH_LEVEL_NAME", "auth_attributes", "parse_auth"]

AUTHENTICATED_AT_NAME = "authenticated_at"
AUTH_LEVEL_NAME = "auth_level"
AUTHENTICATION_NAMES = (AUTHENTICATED_AT_NAME, AUTH_LEVEL_NAME)


def auth_attributes(auth: Authentication) -> dict[str, AttributeValueTypeDef]:
    """The attributes a session item that holds ``auth`` carries beside its own. Raises nothing."""
    return {AUTHENTICATED_AT_NAME: {"N": number(auth.at)}, AUTH_LEVEL_NAME: {"N": str(auth.level)}}


def parse_auth(item: Mapping[str, Any]) -> Authentication | None:
    """The authentication a session item holds, or ``None`` when it holds none. Raises ``KeyError``, ``TypeError`` or
    ``ValueError`` for an item with one attribute and not the other, either of another shape, an instant out of range
    or a level out of 1 to ``MAX_AUTH_LEVEL``."""
    if AUTHENTICATED_AT_NAME not in item and AUTH_LEVEL_NAME not in item:
        return None
    level = int(item[AUTH_LEVEL_NAME]["N"])
    if not 1 <= level <= MAX_AUTH_LEVEL:
        raise ValueError(f"an authentication level out of range: {level}")
    return Authentication(instant(item[AUTHENTICATED_AT_NAME]["N"]), level)
