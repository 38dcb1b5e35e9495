"""OpenTelemetry spans for every DynamoDB call, on every transport, as the semantic conventions for AWS SDK calls and
DynamoDB describe them; none, and no import, without opentelemetry-api."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import boto3
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from harness.processes import ROOT
from starlette_dynamo_session import DynamoStore, StoredSession, StoreUnavailable
from tests.support.faults import FaultInjector

pytestmark = pytest.mark.anyio

Transport = Literal["botocore", "aiohttp"]


# The global tracer provider can be set once per process: one for the whole test session.
@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


@pytest.fixture(params=["botocore", "aiohttp"])
def traced_store(request: pytest.FixtureRequest, aws: None, spans: InMemorySpanExporter) -> DynamoStore:
    store = DynamoStore(boto3.Session(), table_name="traced", transport=request.param)
    store.create_table()
    spans.clear()
    return store


def a_record() -> StoredSession:
    now = datetime.now(UTC)
    return StoredSession(b'{"a":1}', now, now + timedelta(hours=1), 1)


def store_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name.startswith("DynamoDB.")]


async def test_every_dynamodb_call_is_a_client_span_as_the_semantic_conventions_name_it(
    traced_store: DynamoStore, spans: InMemorySpanExporter
) -> None:
    await traced_store.write("token", a_record())
    await traced_store.read("token")
    await traced_store.remove("token")
    traced = store_spans(spans)
    assert [span.name for span in traced] == ["DynamoDB.PutItem", "DynamoDB.GetItem", "DynamoDB.DeleteItem"]
    assert {span.kind for span in traced} == {SpanKind.CLIENT}
    assert dict(traced[1].attributes or {}) == {
        "rpc.system": "aws-api",
        "rpc.service": "DynamoDB",
        "rpc.method": "GetItem",
        "aws.dynamodb.table_names": ("traced",),
    }


async def test_a_calls_span_is_a_child_of_the_span_it_was_made_under(
    traced_store: DynamoStore, spans: InMemorySpanExporter
) -> None:
    with trace.get_tracer("test").start_as_current_span("GET /cart") as request_span:
        await traced_store.read("token")
    [call] = store_spans(spans)
    assert call.parent is not None
    assert call.parent.span_id == request_span.get_span_context().span_id


async def test_a_failed_calls_span_has_the_error_status_and_its_error_type(
    traced_store: DynamoStore, spans: InMemorySpanExporter
) -> None:
    FaultInjector(traced_store.client.meta.events).fail("ThrottlingException", operations={"GetItem"})
    with pytest.raises(StoreUnavailable):
        await traced_store.read("token")
    [call] = store_spans(spans)
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "ThrottlingException"


def test_the_synchronous_methods_are_traced_too(aws: None, spans: InMemorySpanExporter) -> None:
    store = DynamoStore(boto3.Session(), table_name="traced-sync")
    store.create_table()
    spans.clear()
    store.save("token", b"data", datetime.now(UTC) + timedelta(hours=1))
    assert store.find("token") == b"data"
    assert [span.name for span in store_spans(spans)] == ["DynamoDB.UpdateItem", "DynamoDB.GetItem"]


def test_without_opentelemetry_no_span_is_made_and_nothing_is_imported() -> None:
    code = """
import sys
from contextlib import nullcontext
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
from starlette_dynamo_session._dynamodb import tracing as _tracing
assert _tracing._TRACER is None
with _tracing.traced("GetItem", "sessions", nullcontext()):
    called = True
assert called
assert [name for name, module in sys.modules.items() if name.startswith("opentelemetry") and module] == []
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_before_a_tracer_provider_is_set_no_span_is_started() -> None:
    code = """
from contextlib import nullcontext
from starlette_dynamo_session._dynamodb import tracing as _tracing
assert _tracing._TRACER is not None
def refuse(*args, **kwargs):
    raise AssertionError("a span was started")
_tracing._TRACER.start_as_current_span = refuse
with _tracing.traced("GetItem", "sessions", nullcontext()):
    called = True
assert called
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
