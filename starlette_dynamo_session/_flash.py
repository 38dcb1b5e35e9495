"""Flash messages: Flask's ``flash`` and ``get_flashed_messages``, stored so that concurrent requests never drop one.

Each message is a key of its own in the session (``_flash.`` + when it was flashed + a random part), holding its
category and text. The middleware merges concurrent writes key by key, so messages flashed by requests that race
are all kept, and a request that reads messages deletes only the keys it read.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any, Literal, overload

from starlette.requests import HTTPConnection

__all__ = ["FLASH_PREFIX", "flash", "get_flashed_messages"]

FLASH_PREFIX = "_flash."
# Where a request keeps the messages it has read, so that a second call returns them again.
_READ_SCOPE_KEY = "starlette_dynamo_session.flashed"


def flash(conn: HTTPConnection, message: str, category: str = "message") -> None:
    """Keep ``message`` (with its ``category``) in the session until a later request of the session reads it.

    Raises ``TypeError`` when the message or category is not a string, and what ``conn.session`` raises without a
    session middleware.
    """
    if not isinstance(message, str) or not isinstance(category, str):
        raise TypeError("a flashed message and its category must be strings")
    key = f"{FLASH_PREFIX}{time.time_ns():020d}.{secrets.token_hex(4)}"
    conn.session[key] = [category, message]


@overload
def get_flashed_messages(
    conn: HTTPConnection, *, with_categories: Literal[False] = False, category_filter: Sequence[str] = ()
) -> list[str]: ...


@overload
def get_flashed_messages(
    conn: HTTPConnection, *, with_categories: Literal[True], category_filter: Sequence[str] = ()
) -> list[tuple[str, str]]: ...


def get_flashed_messages(
    conn: HTTPConnection, *, with_categories: bool = False, category_filter: Sequence[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """The messages flashed to this session, oldest first, and gone from the session once this request ends.

    ``with_categories=True`` returns ``(category, message)`` pairs; ``category_filter`` returns (and removes) only the
    messages of those categories. Calling it again in the same request returns the same messages. Raises what
    ``conn.session`` raises without a session middleware.
    """
    session = conn.session
    read: list[tuple[str, str, str]] = conn.scope.setdefault(_READ_SCOPE_KEY, [])
    for key in sorted(key for key in session if isinstance(key, str) and key.startswith(FLASH_PREFIX)):
        entry = _entry(session[key])
        if entry is not None and (not category_filter or entry[0] in category_filter):
            del session[key]
            read.append((key, *entry))
    wanted = sorted(item for item in read if not category_filter or item[1] in category_filter)
    if with_categories:
        return [(category, message) for _, category, message in wanted]
    return [message for _, _, message in wanted]


def _entry(value: Any) -> tuple[str, str] | None:
    """A stored message as ``(category, message)``, or ``None`` for a value of another shape."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value):
        return value[0], value[1]
    return None
