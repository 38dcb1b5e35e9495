"""What storing a request's session came to: one of four outcomes, which is all an adapter needs to know to write
its cookie or header.

* ``Unchanged`` - nothing to store (the session was not changed, or it is new and empty): no cookie.
* ``Refreshed`` - only the idle deadline (or a bound session's "last seen") moved: no cookie.
* ``Written(token, max_age)`` - the session is stored under ``token``: a cookie with the signed token.
* ``Destroyed`` - the session is gone (cleared, expired, or destroyed by another request meanwhile): the cookie
  is expired.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Destroyed", "Outcome", "Refreshed", "Unchanged", "Written"]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Nothing was stored: the session did not change, or it is new and still empty."""


@dataclass(frozen=True, slots=True)
class Refreshed:
    """Only the session's idle deadline was pushed back; its token and cookie stay as they are."""


@dataclass(frozen=True, slots=True)
class Written:
    """The session is stored under ``token``; its cookie lives ``max_age`` more seconds (``None``: a browser
    session)."""

    token: str
    max_age: int | None


@dataclass(frozen=True, slots=True)
class Destroyed:
    """The session is gone: cleared by the application, past its lifetime, or destroyed meanwhile elsewhere."""


Outcome = Unchanged | Refreshed | Written | Destroyed
