"""The session's stored form: canonical JSON text, and the changes one request made to it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Changes", "dumps", "loads"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(session: dict[str, Any]) -> bytes:
    """The canonical JSON of a session, UTF-8: what is stored, and what detects changes.

    Text stays as it is, except lone surrogates (which JSON may hold but UTF-8 cannot), which are escaped.
    """
    text = json.dumps(session, separators=(",", ":"), ensure_ascii=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text).encode()


def loads(data: bytes) -> dict[str, Any] | None:
    """The session held in stored bytes, or ``None`` when they are not a JSON object."""
    try:
        session = json.loads(data)
    except ValueError:  # not UTF-8, or not JSON
        return None
    return session if isinstance(session, dict) else None


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
