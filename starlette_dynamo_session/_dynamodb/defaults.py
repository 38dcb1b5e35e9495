"""The store's defaults: the table and attribute names, and the botocore ``Config`` both transports start from."""

from __future__ import annotations

from botocore.config import Config

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_CREATED_NAME",
    "DEFAULT_DATA_NAME",
    "DEFAULT_EXPIRY_NAME",
    "DEFAULT_MAX_AGE_NAME",
    "DEFAULT_TABLE_NAME",
    "DEFAULT_TOKEN_NAME",
    "DEFAULT_TTL_NAME",
    "DEFAULT_VERSION_NAME",
]

DEFAULT_TABLE_NAME = "sessions"
DEFAULT_TOKEN_NAME = "token"  # noqa: S105 - an attribute name, not a secret
DEFAULT_DATA_NAME = "data"
DEFAULT_EXPIRY_NAME = "expiry"
DEFAULT_TTL_NAME = "ttl"
DEFAULT_CREATED_NAME = "created"
DEFAULT_VERSION_NAME = "version"
DEFAULT_MAX_AGE_NAME = "max_age"

DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,  # seconds
    read_timeout=3,  # seconds
    # The botocore transport's worker threads; on aiohttp, the ceiling of the limit on requests in flight, which adapts
    # to the event loop under it (transports/in_flight.py).
    max_pool_connections=32,
    user_agent_extra="starlette-dynamo-session",
)
