"""Server-side sessions for Starlette and FastAPI, stored in Amazon DynamoDB."""

from starlette_dynamo_session._authentication import (
    authentication,
    end_other_sessions,
    mark_authenticated,
    require_authentication,
)
from starlette_dynamo_session._connection import regenerate_session, session_key, set_session_max_age
from starlette_dynamo_session._core.events import SessionEvent
from starlette_dynamo_session._core.exceptions import (
    SessionConflict,
    SessionError,
    SessionTooLarge,
    StoreUnavailable,
    TableNotFound,
)
from starlette_dynamo_session._core.lifetimes import IDLE_REFRESH_FRACTION
from starlette_dynamo_session._core.records import Authentication, Forwarded, SessionStore, StoredSession
from starlette_dynamo_session._core.session import Session
from starlette_dynamo_session._core.users import SessionInfo
from starlette_dynamo_session._dynamodb.item import MAX_ITEM_BYTES, item_size
from starlette_dynamo_session._dynamodb.store import DynamoStore
from starlette_dynamo_session._flash import flash, get_flashed_messages
from starlette_dynamo_session._middleware import DynamoSessionMiddleware

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Authentication",
    "authentication",
    "DynamoSessionMiddleware",
    "DynamoStore",
    "end_other_sessions",
    "flash",
    "Forwarded",
    "get_flashed_messages",
    "IDLE_REFRESH_FRACTION",
    "item_size",
    "mark_authenticated",
    "MAX_ITEM_BYTES",
    "regenerate_session",
    "require_authentication",
    "Session",
    "session_key",
    "SessionConflict",
    "SessionError",
    "SessionEvent",
    "SessionInfo",
    "SessionStore",
    "SessionTooLarge",
    "set_session_max_age",
    "StoredSession",
    "StoreUnavailable",
    "TableNotFound",
]

for _name in __all__[1:]:
    _value = globals()[_name]
    if callable(_value):
        _value.__module__ = "starlette_dynamo_session"
del _name, _value
