"""Session tokens: how they are made, signed for the cookie, and checked when they come back."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence

import itsdangerous

__all__ = ["TokenSigner", "digest", "new_token"]

# 32 random bytes, base64url without padding: 256 bits of entropy in 43 characters.
TOKEN_BYTES = 32
# A token and its HMAC-SHA256 signature, both base64url without padding, exactly as ``sign`` writes them: itsdangerous
# also accepts other spellings of the same signature, which would make one cookie into many.
_COOKIE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
_SALT = "starlette_dynamo_session.token"


def new_token() -> str:
    """A new session token with 256 bits from the operating system's secure random source."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    """The public id of a token, which keys its item: its SHA-256 digest, base64url without padding.

    A copy of the table holds only these, and the token cannot be recovered from one.
    """
    hashed = hashlib.sha256(token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


class TokenSigner:
    """Signs tokens for the cookie with the first of ``keys`` and accepts a signature made with any of them.

    Raises ``ValueError`` when no key is given or a key is empty.
    """

    def __init__(self, keys: str | Sequence[str]) -> None:
        texts = [keys] if isinstance(keys, str) else list(keys)
        if not texts or not all(texts):
            raise ValueError("secret_key must be a non-empty key or a non-empty list of non-empty keys")
        # itsdangerous signs with the last key of its list and verifies with all of them.
        self._signer = itsdangerous.Signer(
            list(reversed(texts)), salt=_SALT, key_derivation="hmac", digest_method=hashlib.sha256
        )

    def sign(self, token: str) -> str:
        """The cookie value for ``token``."""
        return self._signer.sign(token).decode("ascii")

    def unsign(self, cookie_value: str) -> str | None:
        """The token inside a cookie value, or ``None`` when the signature or the value's shape is wrong."""
        if not _COOKIE_PATTERN.fullmatch(cookie_value):
            return None
        try:
            return self._signer.unsign(cookie_value.encode("ascii")).decode("ascii")
        except itsdangerous.BadSignature:
            return None
