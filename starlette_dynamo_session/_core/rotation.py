"""Token rotation with theft detection (``rotate_token_every``): when a session's token is due for a new one, and
what a request that presents a rotated token gets.

A rotation stores the session under a new token and turns the old token's item into a *forwarding* item that names
its successor (sealed under the old token) and when it was rotated. A request that presents the old token within
``grace`` seconds of the rotation is served as the session under its current token, and its response carries that
token. A request that presents it later is a replay, the mark of a stolen token: the whole chain is removed, the
session with it, and a ``"token_replayed"`` event names the session's current key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.records import Forwarded, SessionStore, StoredSession
from starlette_dynamo_session._core.session import Loaded
from starlette_dynamo_session._core.tokens import digest

__all__ = ["DEFAULT_ROTATION_GRACE", "MAX_FORWARDS", "Rotation", "follow"]

DEFAULT_ROTATION_GRACE = 30  # seconds a rotated token stays usable as the same session
# The longest chain of forwarding items a request follows (each hop is one more read); a longer one reads as no
# session. A chain grows by one per rotation and each link lives until the session's expiry at its rotation.
MAX_FORWARDS = 8


@dataclass(frozen=True, slots=True)
class Rotation:
    """When tokens rotate: every ``every`` seconds of a token's age (``None``: never), with ``grace`` seconds during
    which the previous token is still the same session (which holds for the forwarding items of earlier rotations
    even when rotation is now off).

    Raises ``ValueError`` when ``every`` is neither ``None`` nor a positive whole number, or ``grace`` is not a
    whole number at least 0 and smaller than ``every``.
    """

    every: int | None = None
    grace: int = DEFAULT_ROTATION_GRACE

    def __post_init__(self) -> None:
        check_rotation(self.every, self.grace)

    def due(self, record: StoredSession, now: datetime) -> bool:
        """Whether the session's token is old enough to be rotated."""
        return self.every is not None and now - record.issued >= timedelta(seconds=self.every)

    def replayed(self, forwarded: Forwarded, now: datetime) -> bool:
        """Whether a request presenting the token ``forwarded`` came from is past the grace: a replay."""
        return now - forwarded.rotated_at >= timedelta(seconds=self.grace)


def check_rotation(every: int | None, grace: int) -> None:
    """Check the middleware's ``rotate_token_every`` (``None``: no rotation) and ``rotation_grace``.

    Raises ``ValueError`` when ``every`` is neither ``None`` nor a positive whole number, or ``grace`` is not a
    whole number at least 0 and smaller than ``every``.
    """
    if every is not None and (not isinstance(every, int) or isinstance(every, bool) or every <= 0):
        raise ValueError(f"rotate_token_every must be a positive whole number of seconds or None, not {every!r}")
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 0:
        raise ValueError(f"rotation_grace must be a whole number of seconds at least 0, not {grace!r}")
    if every is not None and grace >= every:
        raise ValueError(f"rotation_grace ({grace}) must be smaller than rotate_token_every ({every})")


async def follow(store: SessionStore, forwarded: Forwarded) -> Loaded | None:
    """The session a forwarding item leads to: its current token and record, down at most ``MAX_FORWARDS`` links;
    ``None`` when the chain ends in no session (revoked, ended, expired) or is longer. Raises ``TableNotFound`` or
    ``StoreUnavailable``."""
    end = await _chain_end(store, forwarded)
    return end if isinstance(end, Loaded) else None


async def replay(store: SessionStore, token: str, forwarded: Forwarded) -> None:
    """End the session a replayed ``token`` (whose item is ``forwarded``) leads to, for every holder, and send a
    ``"token_replayed"`` event with the key of its current token. Raises ``TableNotFound`` or ``StoreUnavailable``."""
    end = await _chain_end(store, forwarded)
    await store.remove(token)  # the chain, down to the session: its current token stops working too
    notify(SessionEvent("token_replayed", digest(end.token if isinstance(end, Loaded) else end)))


async def _chain_end(store: SessionStore, forwarded: Forwarded) -> Loaded | str:
    """Where a chain of forwarding items ends: the session under its last token, or that token (or the last one
    read, past ``MAX_FORWARDS`` links) when no session is there."""
    token = forwarded.successor
    for _ in range(MAX_FORWARDS):
        token = forwarded.successor
        found = await store.read(token)
        if isinstance(found, StoredSession):
            return Loaded(token, found)
        if found is None:
            return token
        forwarded = found
    return token
