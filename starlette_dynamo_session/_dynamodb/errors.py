"""The one translation of botocore's exceptions into this package's, and the error code behind an error.

Every DynamoDB call the store makes runs inside ``translate_errors``: an AWS error code (or a cancelled transaction's
reason for one of its items) maps to an exception by ``ERROR_CODES``, anything else DynamoDB or botocore raises is
``StoreUnavailable``, and every raised error carries the code behind it (``SessionError.code``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from starlette_dynamo_session._core.events import store_call_finished
from starlette_dynamo_session._core.exceptions import (
    ConflictReason,
    SessionConflict,
    SessionError,
    StoreUnavailable,
    TableNotFound,
)
from starlette_dynamo_session._dynamodb.item import ItemLayout

__all__ = ["ERROR_CODES", "ITEM_RETURNED_CODES", "conflict_reason", "error_code", "translate_errors"]

# The DynamoDB error codes that mean something to the caller, and the reasons a transaction names for each of its
# items (``CancellationReasons[].Code``). Every other error is StoreUnavailable.
ERROR_CODES: Mapping[str, type[SessionError]] = {
    "ResourceNotFoundException": TableNotFound,
    "ConditionalCheckFailedException": SessionConflict,  # another writer got there first
    "TransactionConflictException": SessionConflict,  # a transaction was changing the item
    "ReplicatedWriteConflictException": SessionConflict,  # another region's write won (multi-region tables)
    "ConditionalCheckFailed": SessionConflict,
    "TransactionConflict": SessionConflict,
}
# The failures that carry the item as it is (ReturnValuesOnConditionCheckFailure=ALL_OLD; none when it is absent).
ITEM_RETURNED_CODES = frozenset({"ConditionalCheckFailedException", "ConditionalCheckFailed"})


def error_code(exc: BaseException) -> str:
    """The AWS error code behind ``exc``: a ``SessionError``'s ``code``, a ``ClientError``'s code, the name of a
    botocore error (DynamoDB was not reached), or else the name of ``exc``'s class. Raises nothing."""
    if isinstance(exc, SessionError) and exc.code is not None:
        return exc.code
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


@contextmanager
def translate_errors(operation: str, table_name: str, layout: ItemLayout, tokens: Sequence[str] = ()) -> Iterator[None]:
    """Run one DynamoDB call (``operation``, on ``table_name``), timed in the store latency histogram, and turn
    botocore's exceptions into this package's by ``ERROR_CODES``, keeping the AWS code in the message and in
    ``code``, and the botocore exception as the cause.

    ``tokens`` are the tokens of the request's items, in order: a conflict's returned item is read (and unsealed,
    by ``layout``) under the token of the item whose condition failed. Raises ``SessionConflict``,
    ``TableNotFound`` or ``StoreUnavailable`` (also for an answer of another shape than the operation's).
    """
    began = time.perf_counter()
    try:
        yield
    except ClientError as exc:
        store_call_finished(operation, time.perf_counter() - began, error_code(exc))
        raise _translated(exc, operation, table_name, layout, tokens) from exc
    except BotoCoreError as exc:
        name = type(exc).__name__
        store_call_finished(operation, time.perf_counter() - began, name)
        raise StoreUnavailable(f"DynamoDB {operation} failed ({name}: {exc})", code=name) from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # botocore's parser, or the answer's reading, on an answer of another shape than the operation's: what
        # came back is not DynamoDB's answer (the requests themselves are built before this is entered).
        store_call_finished(operation, time.perf_counter() - began, type(exc).__name__)
        shape = f"DynamoDB {operation} gave an answer of the wrong shape ({type(exc).__name__})"
        raise StoreUnavailable(shape) from exc
    else:
        store_call_finished(operation, time.perf_counter() - began, None)


def conflict_reason(code: str, failure: Mapping[str, Any], *, on_session: bool) -> ConflictReason:
    """Why a conditional write failed, from DynamoDB's error code (a cancelled transaction's reason code for the item
    that failed), the item the failure returned (``ReturnValuesOnConditionCheckFailure=ALL_OLD`` returns none for an
    absent item), and whether that item is a session's: in a transaction, any other item is the user's item. Raises
    nothing."""
    if not on_session:
        return "user_item_busy"
    if code not in ITEM_RETURNED_CODES:
        return "transaction_conflict"
    return "present" if failure.get("Item") else "absent"


def _translated(
    exc: ClientError, operation: str, table_name: str, layout: ItemLayout, tokens: Sequence[str]
) -> SessionError:
    """The package's exception for DynamoDB's error answer ``exc`` (see ``translate_errors``)."""
    code = error_code(exc)
    reason_code = code
    failure: Mapping[str, Any] = exc.response
    index = 0
    cancelled = code == "TransactionCanceledException"
    if cancelled:
        reasons = exc.response.get("CancellationReasons", [])
        index, failure = next(
            ((at, reason) for at, reason in enumerate(reasons) if reason.get("Code") in ERROR_CODES),
            (0, {"Code": code}),
        )
        reason_code = str(failure["Code"])
    error = ERROR_CODES.get(reason_code, StoreUnavailable)
    if error is SessionConflict:
        reason = conflict_reason(reason_code, failure, on_session=index < len(tokens) or not cancelled)
        current = layout.read(failure.get("Item"), tokens[index]) if index < len(tokens) else None
        message = f"{operation} lost to a concurrent write ({reason_code})"
        return SessionConflict(message, current=current, reason=reason, code=code)
    if error is TableNotFound:
        return TableNotFound(f"DynamoDB table {table_name!r} does not exist ({reason_code})", code=code)
    return error(f"DynamoDB {operation} failed ({reason_code})", code=code)
