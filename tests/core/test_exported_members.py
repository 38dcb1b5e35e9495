"""The public API is exactly what __all__ lists, and every documented name is importable from the package root."""

from __future__ import annotations

import types

import starlette_dynamo_session
import starlette_dynamo_session.testing


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name in dir(starlette_dynamo_session)
        if not name.startswith("_") and not isinstance(getattr(starlette_dynamo_session, name), types.ModuleType)
    }
    assert set(starlette_dynamo_session.__all__) - {"__version__"} == public
    assert starlette_dynamo_session.__all__[1:] == sorted(starlette_dynamo_session.__all__[1:], key=str.casefold)


def test_every_documented_name_is_importable() -> None:
    from starlette_dynamo_session import (  # noqa: F401
        DynamoSessionMiddleware,
        DynamoStore,
        SessionError,
        SessionInfo,
        SessionTooLarge,
        StoreUnavailable,
        TableNotFound,
        regenerate_session,
        session_key,
        set_session_max_age,
    )


def test_exceptions_form_one_tree() -> None:
    for name in ("StoreUnavailable", "TableNotFound", "SessionTooLarge", "SessionConflict"):
        assert issubclass(getattr(starlette_dynamo_session, name), starlette_dynamo_session.SessionError)


def test_exported_names_belong_to_the_package() -> None:
    for name in starlette_dynamo_session.__all__[1:]:
        value = getattr(starlette_dynamo_session, name)
        if callable(value):  # classes and functions; the constants are plain numbers
            assert value.__module__ == "starlette_dynamo_session"


def test_the_public_api_is_what_we_meant_to_publish() -> None:
    assert starlette_dynamo_session.__all__ == [
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


def test_the_testing_module_publishes_the_memory_store() -> None:
    assert starlette_dynamo_session.testing.__all__ == ["MemoryStore"]
    assert starlette_dynamo_session.testing.MemoryStore.__module__ == "starlette_dynamo_session.testing"
