"""The secret keys an application passes: a ``str`` or Starlette's ``Secret``, one key or a list of them."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Secret

__all__ = ["SecretKey", "key_texts"]

SecretKey = str | Secret


def key_texts(keys: SecretKey | Sequence[SecretKey], parameter: str) -> list[str]:
    """The keys as text, in the order given.

    Raises ``ValueError``, naming ``parameter``, when no key is given or a key is empty.
    """
    texts = [str(key) for key in ([keys] if isinstance(keys, str | Secret) else keys)]
    if not texts or not all(texts):
        raise ValueError(f"{parameter} must be a non-empty key or a non-empty list of non-empty keys")
    return texts
