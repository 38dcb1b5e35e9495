"""Session data sealed at rest: authenticated encryption under a key that only the session's token yields.

The token is never stored (the item is keyed by its SHA-256 digest), so a copy of the table holds neither the
tokens nor, sealed, the sessions. A sealed value is ``nonce || AES-256-GCM(data) || tag``: a fresh 96-bit random
nonce per write, a key derived from the token with HKDF-SHA256 (an ``info`` of its own, so the key is unrelated to
the digest that keys the item), and the item's key as associated data, so sealed data copied into another item does
not open there.
"""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SEALING_OVERHEAD", "data_key", "open_sealed", "seal"]

NONCE_BYTES = 12  # 96 bits: GCM's own nonce size
TAG_BYTES = 16  # GCM's full 128-bit tag
KEY_BYTES = 32  # AES-256
# What sealing adds to the data: the nonce and the tag.
SEALING_OVERHEAD = NONCE_BYTES + TAG_BYTES
# The HKDF context: a key for session data, version 1 of this format. The item's key is a plain SHA-256 of the
# token, so the two never coincide.
_INFO = b"starlette_dynamo_session data key v1"
_NO_SALT = bytes(KEY_BYTES)  # HKDF without a salt uses a hash's length of zeros
_FIRST_BLOCK = _INFO + b"\x01"  # HKDF's expansion input for its first (and here only) block


def data_key(token: str) -> bytes:
    """The 256-bit key that seals ``token``'s data: HKDF-SHA256 of the token, with this module's context (RFC 5869,
    no salt: extract, then the one block of expansion a 32-byte key takes, each one HMAC). Raises nothing."""
    pseudorandom_key = hmac.digest(_NO_SALT, token.encode("utf-8"), "sha256")
    return hmac.digest(pseudorandom_key, _FIRST_BLOCK, "sha256")


def _key(token: str) -> AESGCM:
    """The AES-GCM cipher keyed for ``token``'s data."""
    return AESGCM(data_key(token))


def seal(token: str, item_key: str, data: bytes) -> bytes:
    """``data`` encrypted and authenticated under ``token``'s key, bound to the item keyed ``item_key`` (the
    token's digest), with a fresh random nonce: ``SEALING_OVERHEAD`` bytes longer than ``data``. Raises nothing."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + _key(token).encrypt(nonce, data, item_key.encode("utf-8"))


def open_sealed(token: str, item_key: str, sealed: bytes) -> bytes | None:
    """The data ``seal(token, item_key, ...)`` sealed, or ``None`` when ``sealed`` does not open: sealed under
    another token or for another item, tampered with, truncated, or not sealed at all. Raises nothing."""
    if len(sealed) < SEALING_OVERHEAD:
        return None
    try:
        return _key(token).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], item_key.encode("utf-8"))
    except InvalidTag:
        return None
