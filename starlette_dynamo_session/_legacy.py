"""The cookies of Starlette's ``SessionMiddleware``, read once so their sessions move to the store.

Starlette's cookie is the session as JSON, base64-encoded, signed with a timestamp by itsdangerous's
``TimestampSigner`` under the application's secret key (its default salt, key derivation and digest). This module
verifies such a cookie under the keys the application used, within the age Starlette itself would accept, and
gives back the session it holds.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from collections.abc import Sequence
from typing import Any

import itsdangerous

from starlette_dynamo_session._keys import SecretKey, key_texts

__all__ = ["LEGACY_MAX_AGE", "CookieSessionReader"]

# How old a Starlette cookie may be when the middleware's max_age is None (Starlette would accept any age).
LEGACY_MAX_AGE = 14 * 24 * 60 * 60  # seconds


class CookieSessionReader:
    """Reads the session out of a cookie Starlette's ``SessionMiddleware`` signed with one of ``secret_keys``, no
    older than ``max_age`` seconds (``LEGACY_MAX_AGE`` when ``None``).

    Raises ``ValueError`` when no key is given or a key is empty.
    """

    def __init__(self, secret_keys: SecretKey | Sequence[SecretKey], max_age: int | None) -> None:
        texts = key_texts(secret_keys, "import_cookie_sessions")
        # Starlette signs with TimestampSigner(str(secret_key)); a list of keys verifies under any of them.
        self._signer = itsdangerous.TimestampSigner(texts)
        self._max_age = LEGACY_MAX_AGE if max_age is None else max_age

    def read(self, cookie_value: str) -> dict[str, Any] | None:
        """The session a Starlette cookie holds, or ``None`` when it does not verify under the keys, is too old, or
        does not hold a JSON object."""
        try:
            data = self._signer.unsign(cookie_value.encode("ascii"), max_age=self._max_age)
            session = json.loads(b64decode(data, validate=True))
        except (itsdangerous.BadSignature, UnicodeError, binascii.Error, ValueError):
            return None
        return session if isinstance(session, dict) else None
