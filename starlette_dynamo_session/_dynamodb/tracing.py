"""OpenTelemetry spans for the store's DynamoDB calls, when ``opentelemetry-api`` is installed (nothing otherwise).

One span per API call, on every transport and for the synchronous methods alike, named and described as
OpenTelemetry's semantic conventions for AWS SDK calls and DynamoDB say: ``DynamoDB.<Operation>``, kind CLIENT,
``rpc.system`` ``aws-api``, ``rpc.service`` ``DynamoDB``, ``rpc.method``, ``aws.dynamodb.table_names``; a failed
call has the ERROR status and its ``error.type`` (the AWS error code, or the botocore error). The span is a child of
the span current where the store was called (the request's, under an instrumented server). Until the application
sets a tracer provider (the SDK's), every span would be a no-op one: none is started, and the call's block is entered
as it is, so an untraced application pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from starlette_dynamo_session._dynamodb.errors import error_code

__all__ = ["traced"]


def _opentelemetry() -> Any:
    """``opentelemetry.trace``, or ``None`` without ``opentelemetry-api``."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


_TRACE = _opentelemetry()
_TRACER: Any = None if _TRACE is None else _TRACE.get_tracer("starlette_dynamo_session")
# The tracer providers that record nothing: the API's stand-ins until the application sets its own.
_STAND_INS: tuple[type, ...] = () if _TRACE is None else (_TRACE.ProxyTracerProvider, _TRACE.NoOpTracerProvider)


def _tracing() -> bool:
    """Whether the application has set a tracer provider that records spans: any but the API's stand-ins."""
    return not isinstance(_TRACE.get_tracer_provider(), _STAND_INS)


def traced(operation: str, table_name: str, call: AbstractContextManager[None]) -> AbstractContextManager[None]:
    """``call``, the block of one DynamoDB API call (``operation``: ``"GetItem"``...) on ``table_name``, inside its
    span when the application traces; ``call`` itself, with no span, when it does not (no tracer provider set). The
    exception that ends the block, if any, marks the span as failed and goes on. Raises nothing of its own."""
    if _TRACER is None or not _tracing():
        return call
    return _in_span(operation, table_name, call)


@contextmanager
def _in_span(operation: str, table_name: str, call: AbstractContextManager[None]) -> Iterator[None]:
    with _span(operation, table_name), call:
        yield


@contextmanager
def _span(operation: str, table_name: str) -> Iterator[None]:
    from opentelemetry.trace import SpanKind, Status, StatusCode

    attributes = {
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "rpc.method": operation,
        "aws.dynamodb.table_names": [table_name],
    }
    with _TRACER.start_as_current_span(
        f"DynamoDB.{operation}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except BaseException as exc:
            code = error_code(exc)
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR, code))
            raise
