"""The exceptions this package raises.

All of them derive from one base class, so one ``except`` clause catches them:

* SessionError
  * StoreUnavailable - DynamoDB could not be reached, or kept failing after retries.
  * TableNotFound - the sessions table does not exist.
  * SessionTooLarge - the item would exceed DynamoDB's 400 KB item limit.
  * SessionConflict - a conditional write lost to another writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from starlette_dynamo_session._core.records import Forwarded, StoredSession

__all__ = ["ConflictReason", "SessionConflict", "SessionError", "SessionTooLarge", "StoreUnavailable", "TableNotFound"]


# Why a conditional write failed: its condition failed on an item that does not exist ("absent") or on one that does
# ("present"); another write was changing the item at the same time ("transaction_conflict"); or, in a binding
# transaction, only the user's item refused it ("user_item_busy": a revoke_all holds it, or it is due for pruning).
ConflictReason = Literal["absent", "present", "transaction_conflict", "user_item_busy"]


class SessionError(Exception):
    """Base class of every error raised by this package.

    For example::

        try:
            store.ping()
        except starlette_dynamo_session.SessionError as exc:
            print(f"sessions are not available: {exc}")

    ``code`` is the AWS error code, or the botocore error's name, behind the error, when DynamoDB gave one
    (``None`` otherwise).
    """

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        self.code = code


class StoreUnavailable(SessionError):
    """DynamoDB could not be reached, refused the request, or kept failing after botocore's retries.

    The message names the operation and the AWS error code. The middleware answers it with a 503.
    """


class TableNotFound(SessionError):
    """The sessions table does not exist in the account and region the client points at.

    Create it with ``DynamoStore.create_table()`` or ``python -m starlette_dynamo_session create-table``.
    """


class SessionTooLarge(SessionError):
    """The session item would exceed DynamoDB's 400 KB item limit; it was not sent."""


class SessionConflict(SessionError):
    """A conditional write found another version of the item than the one it was based on.

    ``SessionStore.write`` raises it; the middleware answers it by merging and retrying. ``reason`` says what the
    store learnt (``ConflictReason``). When it returned the item that won (``item_returned``: the reason is
    ``"absent"`` or ``"present"``), ``current`` is that session (``Forwarded`` when its token was rotated), or
    ``None`` when it was deleted, has expired or is no session; otherwise the caller has to read it again.
    """

    def __init__(
        self,
        message: str,
        *,
        current: StoredSession | Forwarded | None = None,
        reason: ConflictReason = "transaction_conflict",
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.current = current
        self.reason: ConflictReason = reason

    @property
    def item_returned(self) -> bool:
        """Whether the store said what the item is now (``current``), so that no read is needed."""
        return self.reason in ("absent", "present")
