"""The session lifecycle, apart from ASGI: load a request's session, then decide what the request did to it and
carry that out against the store, merging and retrying when another request wrote first.

The decision is one of the four ``outcomes``, which is all an adapter needs to know to write its cookie.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime, timedelta

from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.codec import Changes, dumps, loads
from starlette_dynamo_session._core.events import SessionEvent, notify
from starlette_dynamo_session._core.exceptions import SessionConflict, StoreUnavailable
from starlette_dynamo_session._core.lifetimes import Lifetime
from starlette_dynamo_session._core.outcomes import Destroyed, Outcome, Refreshed, Unchanged, Written
from starlette_dynamo_session._core.records import DEFAULT, Forwarded, SessionStore, SessionUser, StoredSession
from starlette_dynamo_session._core.retries import MERGE
from starlette_dynamo_session._core.rotation import Rotation, follow, replay
from starlette_dynamo_session._core.session import Loaded, Session, SessionState, as_left
from starlette_dynamo_session._core.tokens import digest, new_token
from starlette_dynamo_session._core.turns import WriteTurn, WriteTurns
from starlette_dynamo_session._core.users import LAST_SEEN_INTERVAL, UserSessions

__all__ = ["SessionLifecycle"]


class SessionLifecycle:
    """Loads sessions from a ``SessionStore`` and stores what requests did to them.

    It is safe to share between concurrent requests: every request's state lives in its ``SessionState``. With
    ``max_sessions_per_user``, binding a session revokes the user's least recently used sessions beyond that many
    (the store must then list and revoke, ``UserSessions``); ``record_client=False`` keeps no user agent or IP
    address with bound sessions; ``rotation`` says when tokens rotate (``_core/rotation``: never, by default).
    Raises ``ValueError`` for a ``max_sessions_per_user`` below 1, or with a store that cannot list and revoke.
    """

    def __init__(
        self,
        store: SessionStore,
        lifetime: Lifetime,
        *,
        max_sessions_per_user: int | None = None,
        record_client: bool = True,
        rotation: Rotation | None = None,
    ) -> None:
        self.store = store
        self.rotation = Rotation() if rotation is None else rotation
        self.lifetime = lifetime
        self.record_client = record_client
        self.max_sessions_per_user = max_sessions_per_user
        self.users: UserSessions | None = None
        self.turns = WriteTurns()
        if max_sessions_per_user is not None:
            if isinstance(max_sessions_per_user, bool) or not isinstance(max_sessions_per_user, int):
                raise ValueError(f"max_sessions_per_user must be a whole number or None, not {max_sessions_per_user!r}")
            if max_sessions_per_user < 1:
                raise ValueError("max_sessions_per_user must be at least 1, or None")
            if not isinstance(store, UserSessions):
                raise ValueError("max_sessions_per_user needs a store that can list and revoke sessions (DynamoStore)")
            self.users = store

    async def load(self, token: str | None) -> SessionState:
        """The session stored under ``token`` (a verified one, or ``None``); empty when there is none.

        A token with no live session, or whose data is not a session, starts an empty one: the token itself is
        never adopted. A rotated token within its grace loads the session under its current token (``forwarded``);
        after it, it is a replay (``rotation.replay``): the session ends and this one starts empty. Raises
        ``TableNotFound`` or ``StoreUnavailable``.
        """
        state = SessionState(Session())
        if token is None:
            return state
        record = await self.store.read(token)
        if isinstance(record, Forwarded):
            if self.rotation.replayed(record, clock.now()):
                await replay(self.store, token, record)
                state.replayed = True
                return state
            current = await follow(self.store, record)
            if current is None:
                return state
            token, record, state.forwarded = current.token, current.record, True
        data = None if record is None else loads(record.data)
        if record is not None and data is not None:
            state.loaded = Loaded(token, record)
            state.session.update(data)
            state.max_age = record.max_age
        return state

    async def finish(self, state: SessionState, left: object) -> Outcome:
        """Decide what the request did to its session, carry it out against the store, and say which it was.

        ``left`` is the session as the request left it, what ``scope["session"]`` holds when the response starts:
        the one ``load`` gave, a mapping that replaced it, or ``None`` to end it (``as_left``). Raises
        ``SessionTooLarge`` (nothing was stored), ``TableNotFound``, ``StoreUnavailable``, or ``TypeError`` for a
        ``left`` that is none of those.
        """
        state.session = as_left(state.session, left)
        now = clock.now()
        loaded = state.loaded
        if loaded is None:
            if not state.session:  # an imported session the request emptied, or a replayed token: its cookie expires
                return Destroyed() if state.imported or state.replayed else Unchanged()
            outcome = await self._write(state, new_token(), dumps(state.session), now)
            if state.imported and isinstance(outcome, Written):
                notify(SessionEvent("imported", digest(outcome.token)))
            return outcome
        if not state.session:
            return await self._destroy(loaded)
        data = dumps(state.session)  # serialized once: to see whether it changed, and to store it if it did
        if state.session.cleared:
            # A session the request cleared ends (and a bound one's binding with it); what it holds now is a new one.
            await self._destroy(loaded)
            own_max_age = state.max_age if state.max_age != loaded.record.max_age else DEFAULT
            return await self._write(
                dataclasses.replace(state, loaded=None, max_age=own_max_age), new_token(), data, now
            )
        rotate = self.rotation.due(loaded.record, now) and not state.regenerate
        changed = data != loaded.record.data or state.max_age != loaded.record.max_age
        if state.regenerate or rotate or state.authenticated is not None or changed:
            async with self.turns.turn(loaded.token) as turn:  # one write at a time per session in this process
                token = new_token() if state.regenerate or rotate else loaded.token
                return await self._write(state, token, data, now, turn, forward=rotate)
        lifetime = self.lifetime.of(loaded.record.max_age)
        refresh = lifetime.needs_refresh(loaded.record, now) or _last_seen_due(loaded.record, now)
        if refresh:
            await self._refresh(loaded, now)
        if state.forwarded:  # the client presented a rotated token: it learns the current one
            return Written(loaded.token, lifetime.cookie_max_age(loaded.record.created, now))
        return Refreshed() if refresh else Unchanged()

    async def _write(
        self,
        state: SessionState,
        token: str,
        data: bytes,
        now: datetime,
        turn: WriteTurn | None = None,
        *,
        forward: bool = False,
    ) -> Outcome:
        """Store the session (serialized: ``data``) under ``token``, conditionally on the version that was loaded;
        when another request wrote first, apply this request's own changes on top of what it wrote and try again.
        With the session's ``turn``, the changes go on top of what a request of this process stored since this one
        loaded from the first attempt, and what this one stores is left there for the next. With ``forward``, the
        loaded token is rotated to ``token`` (its item forwards there); when another request rotated it first,
        the changes go on top of the session under its successor, with no second rotation."""
        loaded = state.loaded
        created = now if loaded is None else loaded.record.created
        version = 1 if loaded is None else loaded.record.version + 1
        lifetime = self.lifetime.of(state.max_age)
        user = _bound_user(state, None if loaded is None else loaded.record.user, now, record_client=self.record_client)
        issued = None if loaded is None else loaded.record.token_issued
        auth = state.authenticated or (None if loaded is None else loaded.record.auth)
        expiry = lifetime.expiry(created, now)
        record = StoredSession(data, created, expiry, version, state.max_age, user, issued, auth)
        replacing = None if loaded is None or token == loaded.token else loaded.token
        changes: Changes | None = None
        latest, successor = (None, None) if turn is None else (turn.latest, turn.successor)
        if turn is not None:
            turn.latest = None  # until this request has stored something under the token
        if loaded is not None and latest is not None and latest.version > loaded.record.version:
            rebased = self._rebase(state, loaded, latest, changes, now)
            if rebased is None:
                return Destroyed()
            record, changes = rebased
        for attempt in MERGE.tries():
            if loaded is not None and successor is not None:  # rotated meanwhile: go on under the current token
                rebased = self._rebase(state, loaded, successor.record, changes, now)
                if rebased is None:
                    return Destroyed()
                record, changes = rebased
                if turn is not None:
                    turn.successor = successor
                if state.regenerate:  # still a new token, replacing the current one
                    replacing = successor.token
                elif _adds_nothing(state, record, successor.record):  # the rotation stored all this request did
                    return Written(
                        successor.token, self.lifetime.of(record.max_age).cookie_max_age(record.created, now)
                    )
                else:
                    token, replacing = successor.token, None
                forward, successor = False, None
            if record.expiry <= now:  # max_age <= 0, or the session's lifetime ran out meanwhile
                return Destroyed() if loaded is None else await self._destroy(loaded)
            if replacing is not None:
                record = dataclasses.replace(record, token_issued=now)
            try:
                if forward:
                    await self.store.write(token, record, replacing=replacing, forward=True)
                else:  # a store written before rotation takes no ``forward``: it is only passed to rotate
                    await self.store.write(token, record, replacing=replacing)
            except SessionConflict as conflict:
                if loaded is None:
                    raise  # a brand-new random token cannot collide: this is not a race to merge
                current = conflict.current if conflict.item_returned else await self.store.read(replacing or token)
            else:
                _written(token, loaded, replacing, attempts=attempt + 1, forward=forward)
                if turn is not None and loaded is not None and token != loaded.token and not state.regenerate:
                    turn.successor = Loaded(token, record)
                elif turn is not None and loaded is not None and token == loaded.token:
                    turn.latest = record
                if state.bind is not None and not await self._enforce_limit(state.bind.user_id, token):
                    return Destroyed()  # newer sign-ins of the user filled the limit meanwhile
                return Written(token, self.lifetime.of(record.max_age).cookie_max_age(record.created, now))
            if isinstance(current, Forwarded):
                successor = await follow(self.store, current)
                if successor is None:
                    return Destroyed()  # rotated, then ended meanwhile: never resurrected
                continue
            rebased = self._rebase(state, loaded, current, changes, now)
            if rebased is None:
                return Destroyed()  # destroyed meanwhile: never resurrected
            record, changes = rebased
            await MERGE.pause(attempt)
        raise StoreUnavailable(f"gave up saving a session after {MERGE.attempts} conflicting writes")

    def _rebase(
        self, state: SessionState, loaded: Loaded, current: StoredSession | None, changes: Changes | None, now: datetime
    ) -> tuple[StoredSession, Changes] | None:
        """The record that applies this request's changes (computed once, then reused) on top of ``current``, what
        another request stored meanwhile; ``None`` when that session is gone or unreadable."""
        fresh = None if current is None else loads(current.data)
        if current is None or fresh is None:
            return None
        if changes is None:
            changes = Changes.between(loads(loaded.record.data) or {}, state.session)
        merged = dumps(changes.apply_to(fresh))
        # The lifetime this request set wins, as its keys do; otherwise the one the other writer left stands.
        max_age = state.max_age if state.max_age != loaded.record.max_age else current.max_age
        lifetime = self.lifetime.of(max_age)
        user = _bound_user(state, current.user, now, record_client=self.record_client)
        # An authentication this request recorded wins; otherwise the latest one stored stands.
        auth = state.authenticated or current.auth
        expiry = lifetime.expiry(current.created, now)
        record = StoredSession(
            merged, current.created, expiry, current.version + 1, max_age, user, current.token_issued, auth
        )
        return record, changes

    async def _destroy(self, loaded: Loaded) -> Destroyed:
        """Delete the session that was loaded."""
        await self.store.remove(loaded.token)
        notify(SessionEvent("destroyed", digest(loaded.token)))
        return Destroyed()

    async def _refresh(self, loaded: Loaded, now: datetime) -> None:
        """Push the idle deadline (when due) and a bound session's "last seen" back; a conflict means a concurrent
        write already did, or that the session is gone (which a refresh never brings back)."""
        record = loaded.record
        lifetime = self.lifetime.of(record.max_age)
        expiry = lifetime.expiry(record.created, now) if lifetime.needs_refresh(record, now) else record.expiry
        user = None if record.user is None else dataclasses.replace(record.user, last_seen=now)
        refreshed = dataclasses.replace(record, expiry=expiry, version=record.version + 1, user=user)
        with contextlib.suppress(SessionConflict):
            await self.store.write(loaded.token, refreshed)

    async def _enforce_limit(self, user_id: str, token: str) -> bool:
        """Revoke the user's sessions beyond the ``max_sessions_per_user`` most recently used; return whether
        ``token``'s session is still among them.

        Every binder keeps the same survivors, the newest by ("last seen", key), and counts its own session like any
        other: concurrent sign-ins of one user then leave exactly the limit, where keeping "mine and the newest
        others" would let each binder revoke another's fresh session. Its own session is revoked only when that many
        sessions of the user were bound after it.
        """
        if self.users is None or self.max_sessions_per_user is None:
            return True
        sessions = sorted(await self.users.list_sessions(user_id), key=lambda info: (info.last_seen, info.key))
        beyond = sessions[: max(len(sessions) - self.max_sessions_per_user, 0)]  # oldest first
        for info in beyond:
            await self.users.revoke(info.key)
        return digest(token) not in {info.key for info in beyond}


def _bound_user(
    state: SessionState, stored: SessionUser | None, now: datetime, *, record_client: bool
) -> SessionUser | None:
    """The user a written session is bound to: the one this request binds it to (with its client details when
    ``record_client``), else the one it had."""
    if state.bind is not None:
        bind = state.bind
        agent, ip = (bind.user_agent, bind.ip) if record_client else (None, None)
        return SessionUser(bind.user_id, now, agent, ip)
    return None if stored is None else dataclasses.replace(stored, last_seen=now)


def _last_seen_due(record: StoredSession, now: datetime) -> bool:
    """Whether a bound session's "last seen" is older than ``LAST_SEEN_INTERVAL``."""
    return record.user is not None and now - record.user.last_seen >= timedelta(seconds=LAST_SEEN_INTERVAL)


def _adds_nothing(state: SessionState, record: StoredSession, current: StoredSession) -> bool:
    """Whether ``record`` (this request's changes on top of ``current``) stores nothing ``current`` lacks: the same
    data, lifetime and authentication, and no binding."""
    same = (record.data, record.max_age, record.auth) == (current.data, current.max_age, current.auth)
    return state.bind is None and same


def _written(token: str, loaded: Loaded | None, replacing: str | None, *, attempts: int, forward: bool) -> None:
    """The events of a stored write: a new session, a regenerated or rotated one, and a merged conflict when it took
    more than one attempt."""
    key = digest(token)
    if loaded is None:
        notify(SessionEvent("created", key))
    elif forward and replacing is not None:
        notify(SessionEvent("rotated", key, previous_key=digest(replacing)))
    elif replacing is not None:
        notify(SessionEvent("regenerated", key, previous_key=digest(replacing)))
    if attempts > 1:
        notify(SessionEvent("conflict_merged", key, attempts=attempts))
