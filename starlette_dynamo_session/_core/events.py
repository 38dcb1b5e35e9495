"""Lifecycle events and metrics: what the middleware did to sessions, for applications to observe.

``DynamoSessionMiddleware(..., on_event=callback)`` calls ``callback(event)`` with a ``SessionEvent`` for each of:

* ``"created"`` - a new session was stored.
* ``"regenerated"`` - a session moved to a new token (``regenerate_session``); ``previous_key`` is its old key.
* ``"destroyed"`` - the request ended its session (cleared, or its lifetime set to nothing) and the item was deleted.
* ``"expired"`` - the request's token named an item past its expiry: it read as no session (DynamoDB's TTL deletes
  the item later).
* ``"conflict_merged"`` - the write lost to another request's, was merged on top of it and stored; ``attempts`` is
  how many writes that took (2 or more).
* ``"store_failure"`` - the store failed and the request was answered with 503 (a WebSocket closed with 1013);
  ``error_code`` is the AWS error code (``ProvisionedThroughputExceededException``...), or the botocore error's name
  when DynamoDB was not reached (``EndpointConnectionError``...).
* ``"too_large"`` - the session was too large to store; the request was answered with 500.
* ``"rotated"`` - ``rotate_token_every`` gave a session a new token; ``previous_key`` is its old key, whose item now
  forwards to the new one for ``rotation_grace`` seconds.
* ``"token_replayed"`` - a request presented a rotated token after its grace: the session was ended for every
  holder; ``session_key`` is the key of its current token (the key ``list_sessions`` showed).
* ``"revoked"`` - ``revoke``, ``revoke_all`` or ``max_sessions_per_user`` ended a live session of a user (seen by
  ``on_event`` when it happens inside a request; always counted in the metrics).

Every event carries ``session_key``, the digest that keys the session's item (what ``session_key(request)``
returns), or ``None`` for a session that was never stored; never the token, never the data. The callback runs on the
request's path, in the event loop: keep it quick. An exception it raises is logged and otherwise ignored.

With ``opentelemetry-api`` installed, the same events count in the ``starlette_dynamo_session.events`` counter
(attributes ``event`` and, for store failures, ``error.type``) and every DynamoDB call the store makes is timed in
the ``starlette_dynamo_session.store.duration`` histogram (seconds; attributes ``operation``, the DynamoDB API name,
and ``error.type`` when it failed), through the global meter provider. Without it, nothing is recorded and nothing
is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from starlette_dynamo_session._core.exceptions import SessionError, SessionTooLarge

__all__ = ["EventKind", "SessionEvent", "listening", "notify", "refusal", "store_call_finished"]

logger = logging.getLogger("starlette_dynamo_session")

EventKind = Literal[
    "created",
    "regenerated",
    "destroyed",
    "expired",
    "conflict_merged",
    "store_failure",
    "too_large",
    "revoked",
    "imported",
    "rotated",
    "token_replayed",
]
# Bucket boundaries for the store latency histogram, in seconds: a DynamoDB call takes milliseconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One thing the middleware did to a session: its ``kind`` (see ``on_event`` in the README), the session's key
    (the digest that keys its item; ``None`` for a session never stored), and, by kind, the previous key
    (``"regenerated"``, ``"rotated"``), the number of write attempts (``"conflict_merged"``) or the AWS error code
    (``"store_failure"``). It never holds the token or the data."""

    kind: EventKind
    session_key: str | None
    previous_key: str | None = None
    attempts: int | None = None
    error_code: str | None = None


Listener = Callable[[SessionEvent], None]

# The listener of the request being served (set by the middleware for the request's task and what it starts).
_listener: ContextVar[Listener | None] = ContextVar("starlette_dynamo_session.listener", default=None)


@contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Send the events of the code run inside to ``listener`` (``None``: to no one but the metrics). Raises
    nothing of its own."""
    reset = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(reset)


def notify(event: SessionEvent) -> None:
    """Count ``event`` in the metrics, and pass it to the current request's listener, if any; a listener's exception
    is logged, never raised."""
    if _events_counter is not None:
        attributes: dict[str, str] = {"event": event.kind}
        if event.error_code is not None:
            attributes["error.type"] = event.error_code
        _events_counter.add(1, attributes)
    listener = _listener.get()
    if listener is None:
        return
    try:
        listener(event)
    except Exception:
        logger.exception("the on_event listener failed on a %r event", event.kind)


def refusal(exc: SessionError, session_key: str | None) -> SessionEvent:
    """The event of a request refused for ``exc``: ``"too_large"`` or ``"store_failure"`` with its error code
    (``exc.code``, or the name of ``exc``'s class when it has none). Raises nothing."""
    if isinstance(exc, SessionTooLarge):
        return SessionEvent("too_large", session_key)
    return SessionEvent("store_failure", session_key, error_code=exc.code or type(exc).__name__)


def store_call_finished(operation: str, seconds: float, error_type: str | None) -> None:
    """Record one DynamoDB call's duration in the store latency histogram (nothing without OpenTelemetry), with
    ``error_type`` (the AWS error code, or the botocore error's name) when the call failed. Raises nothing."""
    if _duration is None:
        return
    attributes = {"operation": operation}
    if error_type is not None:
        attributes["error.type"] = error_type
    _duration.record(seconds, attributes)


def _instruments() -> tuple[Any, Any]:
    """The counter and histogram, from the global meter provider; ``(None, None)`` without ``opentelemetry-api``."""
    try:
        from opentelemetry import metrics
    except ImportError:
        return None, None
    meter = metrics.get_meter("starlette_dynamo_session")
    counter = meter.create_counter(
        "starlette_dynamo_session.events", unit="{event}", description="Session lifecycle events, by event"
    )
    description = "Duration of the DynamoDB calls of the session store, by operation"
    try:
        duration = meter.create_histogram(
            "starlette_dynamo_session.store.duration",
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
    except TypeError:  # opentelemetry-api before 1.30 has no advisory boundaries
        duration = meter.create_histogram("starlette_dynamo_session.store.duration", unit="s", description=description)
    return counter, duration


_events_counter, _duration = _instruments()
