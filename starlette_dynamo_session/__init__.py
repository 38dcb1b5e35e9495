"""Server-side sessions for Starlette and FastAPI, stored in Amazon DynamoDB."""

from starlette_dynamo_session._exceptions import (
    SessionConflict,
    SessionError,
    SessionTooLarge,
    StoreUnavailable,
    TableNotFound,
)
from starlette_dynamo_session._middleware import DynamoSessionMiddleware
from starlette_dynamo_session._session import Session, regenerate_session
from starlette_dynamo_session._store import DynamoStore, StoredSession

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "DynamoSessionMiddleware",
    "DynamoStore",
    "regenerate_session",
    "Session",
    "SessionConflict",
    "SessionError",
    "SessionTooLarge",
    "StoredSession",
    "StoreUnavailable",
    "TableNotFound",
]

for _name in __all__[1:]:
    globals()[_name].__module__ = "starlette_dynamo_session"
del _name
