"""Which answers are DynamoDB's: every answer DynamoDB gives carries the CRC32 of its body in ``x-amz-crc32``.

A proxy, a captive portal or a misconfigured endpoint that answers 200 with a page or a cut-off body sends no such
header, and botocore's JSON parser would read its body as an answer with no item: "no session" for a read,
"stored" for a write. The checks here run on the store's own client (both transports emit its events), so such an
answer is a failure of the store, as a damaged one is:

* ``needs-retry``, on every HTTP attempt that got an answer: a success without a numeric ``x-amz-crc32`` is not
  DynamoDB's, and is refused at once (``UnexpectedAnswer``), before botocore's retry checks read the header.
  A success that botocore's standard retry handler would let be (``settled``) needs no ``needs-retry`` at all while
  that handler and this check are the event's only handlers: the pipeline then runs this check alone.
* ``after-call``, once per call that got a success: an answer whose body still does not match its ``x-amz-crc32``
  after botocore's retries (botocore's standard mode retries it, then returns it as it is) is refused with
  botocore's ``ChecksumError``. An answer given by a ``before-call`` handler (botocore's ``Stubber``) carries no
  header and is not checked.
"""

from __future__ import annotations

from binascii import crc32
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ChecksumError
from botocore.hooks import BaseEventHooks
from botocore.retries.standard import RetryHandler

__all__ = ["CRC32_HEADER", "UnexpectedAnswer", "check_answers", "settled"]

CRC32_HEADER = "x-amz-crc32"


class UnexpectedAnswer(BotoCoreError):
    """A success answer that is not DynamoDB's (no numeric ``x-amz-crc32``): the store maps it to
    ``StoreUnavailable``, as it maps every ``BotoCoreError``."""

    fmt = "the endpoint's answer is not DynamoDB's: {reason}"


class _Answer(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


def check_answers(events: BaseEventHooks) -> None:
    """Register the checks on a DynamoDB client's events (``client.meta.events``); registering twice is harmless."""
    events.register_first("needs-retry.dynamodb", _check_attempt, unique_id="starlette_dynamo_session.answer")
    events.register_first("after-call.dynamodb", _check_call, unique_id="starlette_dynamo_session.checksum")


def _check_attempt(response: tuple[_Answer, Any] | None = None, **kwargs: Any) -> None:
    """Refuse a success attempt that carries no numeric ``x-amz-crc32``; anything else is botocore's to judge."""
    if response is None or response[0].status_code >= 300:
        return
    checksum = response[0].headers.get(CRC32_HEADER)
    if checksum is None:
        raise UnexpectedAnswer(reason=f"no {CRC32_HEADER} header")
    if not checksum.isascii() or not checksum.isdigit():
        raise UnexpectedAnswer(reason=f"{CRC32_HEADER} is {checksum[:40]!r}, not a number")


def _check_call(http_response: _Answer | None = None, **kwargs: Any) -> None:
    """Refuse a success whose body does not match its ``x-amz-crc32`` (the last attempt's, once retries ran out)."""
    if http_response is None or http_response.status_code >= 300:
        return
    checksum = _numeric_checksum(http_response)
    if checksum is None:
        return
    actual = crc32(http_response.content) & 0xFFFFFFFF
    if int(checksum) != actual:
        raise ChecksumError(checksum_type="crc32", expected_checksum=checksum, actual_checksum=str(actual))


def _numeric_checksum(answer: _Answer) -> str | None:
    """The answer's ``x-amz-crc32``, or ``None`` when it has none or it is not a number."""
    checksum: str | None = answer.headers.get(CRC32_HEADER)
    if checksum is None or not checksum.isascii() or not checksum.isdigit():
        return None
    return checksum


def settled(
    handlers: Sequence[Callable[..., Any]] | None,
    answer: _Answer,
    parsed: Mapping[str, Any],
    attempt: int,
    retries: int,
) -> bool:
    """Whether ``needs-retry`` may be left unemitted for ``answer`` (parsed as ``parsed``) at ``attempt`` of at most
    ``retries`` attempts, its ``handlers`` (``None``: not known) changing nothing and retrying nothing: they are this
    module's check and botocore's standard retry handler alone, and the answer is a 2xx with ``ResponseMetadata`` and
    no ``Error`` in its parse, whose ``x-amz-crc32`` is a number that matches its body (else the check refuses it or
    botocore retries it), before the last attempt (where botocore's handler adds ``MaxAttemptsReached`` to the
    result). Raises nothing."""
    if handlers is None or len(handlers) != 2 or handlers[0] is not _check_attempt:
        return False
    if getattr(handlers[1], "__func__", None) is not RetryHandler.needs_retry or attempt >= retries:
        return False
    if not 200 <= answer.status_code < 300 or "Error" in parsed or "ResponseMetadata" not in parsed:
        return False
    checksum = _numeric_checksum(answer)
    return checksum is not None and int(checksum) == crc32(answer.content) & 0xFFFFFFFF
