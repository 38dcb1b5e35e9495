"""The session object an application sees, its stored form, and how concurrent changes are merged."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

__all__ = ["Session", "regenerate_session"]

_SURROGATE = re.compile("[\ud800-\udfff]")

# Where the middleware keeps its per-request state in the ASGI scope.
STATE_SCOPE_KEY = "starlette_dynamo_session.state"


class Session(dict[str, Any]):
    """``request.session``: a plain ``dict`` of JSON values that remembers whether the application read it.

    Changes are found by comparing the serialized session with the one that was loaded, so changes nested
    inside lists and dicts are saved too.
    """

    accessed: bool = False

    def mark_accessed(self) -> None:
        """Record that the application used the session (Starlette's ``request.session`` calls this)."""
        self.accessed = True


def dumps(session: dict[str, Any]) -> str:
    """The canonical JSON text of a session, used both to store it and to detect changes.

    Text stays as it is, except lone surrogates (which JSON may hold but UTF-8 cannot), which are escaped."""
    text = json.dumps(session, separators=(",", ":"), ensure_ascii=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_SESSION_FIELD = ',"session":'


def encode_payload(created: float, session_json: str) -> bytes:
    """The bytes stored for a session: its creation time (epoch seconds) and its data."""
    return f'{{"created":{created!r}{_SESSION_FIELD}{session_json}}}'.encode()


def session_text(data: bytes, session: dict[str, Any]) -> str:
    """``dumps(session)`` for a session decoded from ``data``, cut out of ``data`` when ``encode_payload`` wrote it
    (``dumps`` text survives a round trip through ``json.loads`` unchanged), so it is not serialized again."""
    text = data.decode("utf-8")
    if text.startswith('{"created":') and text.endswith("}") and (at := text.find(_SESSION_FIELD)) != -1:
        return text[at + len(_SESSION_FIELD) : -1]
    return dumps(session)


def decode_payload(data: bytes) -> tuple[float, dict[str, Any]] | None:
    """The creation time and data of stored bytes, or ``None`` when they are not a session of this package."""
    try:
        payload = json.loads(data)
        created, session = payload["created"], payload["session"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(created, int | float) or not isinstance(session, dict):
        return None
    return float(created), session


@dataclass(slots=True)
class Changes:
    """What one request did to its session: top-level keys it set (or changed) and keys it removed."""

    updated: dict[str, Any] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)

    @classmethod
    def between(cls, initial: dict[str, Any], current: dict[str, Any]) -> Changes:
        """The changes that turn ``initial`` into ``current``, key by key."""
        changes = cls(removed=initial.keys() - current.keys())
        for key, value in current.items():
            if key not in initial or dumps({"": initial[key]}) != dumps({"": value}):
                changes.updated[key] = value
        return changes

    def apply_to(self, session: dict[str, Any]) -> dict[str, Any]:
        """``session`` with these changes applied on top: on a key both sides changed, these win."""
        merged = {key: value for key, value in session.items() if key not in self.removed}
        merged.update(self.updated)
        return merged


def regenerate_session(conn: HTTPConnection) -> None:
    """Give the session a new token at the end of this request, keeping its data.

    The item under the old token is deleted and the old cookie stops working. Call it when a user signs in, so a
    token planted before sign-in (session fixation) is worth nothing afterwards. Raises ``RuntimeError`` when
    ``DynamoSessionMiddleware`` is not installed.
    """
    state = conn.scope.get(STATE_SCOPE_KEY)
    if state is None:
        raise RuntimeError("DynamoSessionMiddleware must be installed to regenerate the session")
    state.regenerate = True
