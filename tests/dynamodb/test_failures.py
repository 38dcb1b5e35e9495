"""What users get when DynamoDB fails: a clear 503 or 500, a log line, and stored data left as it was."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_dynamo_session import (
    DynamoStore,
    SessionConflict,
    SessionError,
    StoredSession,
    StoreUnavailable,
    TableNotFound,
)
from starlette_dynamo_session._core.http import RETRY_AFTER_SECONDS
from starlette_dynamo_session._core.records import SessionUser
from starlette_dynamo_session._core.retries import INDEX_WRITE
from starlette_dynamo_session._dynamodb.errors import ERROR_CODES
from tests.conftest import ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.faults import FaultInjector
from tests.support.recorder import OperationRecorder


async def fill_session(request: Request) -> JSONResponse:
    request.session["blob"] = "x" * 500_000
    return JSONResponse({"filled": True})


def broken() -> None:
    raise RuntimeError("an application bug")


async def failing_endpoint(request: Request) -> JSONResponse:
    broken()
    return JSONResponse({})  # pragma: no cover


ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/fill", fill_session, methods=["POST"]),
    Route("/fail", failing_endpoint),
]


@pytest.fixture
def faults(store: DynamoStore) -> FaultInjector:
    return FaultInjector(store.client.meta.events)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ResourceNotFoundException", 400, TableNotFound),
        ("ThrottlingException", 400, StoreUnavailable),
        ("ProvisionedThroughputExceededException", 400, StoreUnavailable),
        ("InternalServerError", 500, StoreUnavailable),
        ("AccessDeniedException", 400, StoreUnavailable),
        ("UnrecognizedClientException", 400, StoreUnavailable),
    ],
)
def test_aws_errors_map_to_one_exception_each_and_keep_their_code(
    store: DynamoStore, faults: FaultInjector, code: str, status: int, error: type[Exception]
) -> None:
    faults.fail(code, status=status)
    with pytest.raises(error, match=code) as raised:
        store.find("token")
    assert isinstance(raised.value.__cause__, ClientError)


def test_throttling_is_retried_by_botocore_and_then_succeeds(store: DynamoStore, recorder: OperationRecorder) -> None:
    store.save("token", b"data", store_expiry())
    recorder.take()
    faults = FaultInjector(store.client.meta.events, each_attempt=True)
    faults.fail("ThrottlingException", times=2)
    assert store.find("token") == b"data"
    assert recorder.take() == ["GetItem"] * 3


def test_throttling_ends_in_store_unavailable_once_retries_are_spent(
    store: DynamoStore, recorder: OperationRecorder
) -> None:
    faults = FaultInjector(store.client.meta.events, each_attempt=True)
    faults.fail("ProvisionedThroughputExceededException")
    with pytest.raises(StoreUnavailable):
        store.find("token")
    assert recorder.take() == ["GetItem"] * 3


def test_a_failed_read_answers_503_with_retry_after_and_a_log_line(
    dynamo_client_factory: ClientFactory, faults: FaultInjector, caplog: pytest.LogCaptureFixture
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    faults.fail("InternalServerError", status=500)
    with caplog.at_level(logging.ERROR, logger="starlette_dynamo_session"):
        response = client.get("/view")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert "set-cookie" not in response.headers
    assert [record.getMessage() for record in caplog.records] == [
        "session store unavailable: DynamoDB GetItem failed (InternalServerError)"
    ]


def test_a_failed_read_never_overwrites_the_stored_session(
    dynamo_client_factory: ClientFactory, faults: FaultInjector
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    faults.fail("InternalServerError", status=500, operations={"GetItem"})
    assert client.post("/update", json={"theme": "dark"}).status_code == 503
    faults.heal()
    assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_a_failed_write_answers_503_instead_of_the_apps_response(
    dynamo_client_factory: ClientFactory, faults: FaultInjector
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    faults.fail("InternalServerError", status=500, operations={"PutItem"})
    response = client.post("/update", json={"theme": "dark"})
    assert response.status_code == 503
    assert "theme" not in response.text
    assert "set-cookie" not in response.headers
    faults.heal()
    assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_requests_succeed_again_once_dynamodb_is_back(
    dynamo_client_factory: ClientFactory, faults: FaultInjector
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    faults.fail("InternalServerError", status=500)
    assert client.get("/view").status_code == 503
    faults.heal()
    assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_a_missing_table_answers_503(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    store.client.delete_table(TableName=store.table_name)
    assert client.get("/view").status_code == 503


def test_a_session_too_large_answers_500_and_leaves_the_stored_session_intact(
    dynamo_client_factory: ClientFactory, recorder: OperationRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"user": "ada"})
    recorder.take()
    with caplog.at_level(logging.ERROR, logger="starlette_dynamo_session"):
        response = client.post("/fill")
    assert response.status_code == 500
    assert "too large" in response.text
    assert recorder.take() == ["GetItem"]
    assert "over DynamoDB's limit" in caplog.records[0].getMessage()
    assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_log_lines_never_hold_the_token_or_the_session(
    dynamo_client_factory: ClientFactory, faults: FaultInjector, caplog: pytest.LogCaptureFixture
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/update", json={"secret": "s3cr3t-value"})
    cookie = client.cookies["session"]
    faults.fail("InternalServerError", status=500)
    with caplog.at_level(logging.DEBUG):
        client.post("/update", json={"more": "data"})
    assert caplog.records
    assert cookie.split(".")[0] not in caplog.text
    assert "s3cr3t-value" not in caplog.text


def test_other_application_errors_propagate(dynamo_client_factory: ClientFactory) -> None:
    client = dynamo_client_factory(ROUTES)
    with pytest.raises(RuntimeError, match="an application bug"):
        client.get("/fail")


def store_expiry() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


@pytest.mark.parametrize(("code", "error"), sorted(ERROR_CODES.items()))
def test_every_mapped_error_code_raises_its_exception_with_the_code_and_cause(
    moto_store: DynamoStore, code: str, error: type[SessionError]
) -> None:
    with Stubber(moto_store.client) as stubber, pytest.raises(error) as raised:
        stubber.add_client_error("get_item", service_error_code=code)
        moto_store.find("token")
    assert code in str(raised.value)
    assert raised.value.code == code
    assert isinstance(raised.value.__cause__, ClientError)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reasons", "error"),
    [
        *[([{"Code": "None"}, {"Code": code}], error) for code, error in sorted(ERROR_CODES.items())],
        ([{"Code": "None"}, {"Code": "ThrottlingError"}], StoreUnavailable),
        ([{"Code": "ValidationError"}, {"Code": "None"}], StoreUnavailable),
    ],
)
async def test_a_cancelled_transaction_raises_the_exception_its_reasons_map_to(
    moto_store: DynamoStore, reasons: list[dict[str, str]], error: type[SessionError]
) -> None:
    record = StoredSession(b"{}", datetime.now(UTC), store_expiry(), 2)
    with Stubber(moto_store.client) as stubber, pytest.raises(error) as raised:
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            modeled_fields={"CancellationReasons": reasons},
        )
        await moto_store.write("new", record, replacing="old")
    assert raised.value.code == "TransactionCanceledException"


@pytest.mark.anyio
async def test_a_transaction_conflict_says_the_winning_item_is_unknown(moto_store: DynamoStore) -> None:
    record = StoredSession(b"{}", datetime.now(UTC), store_expiry(), 2)
    with Stubber(moto_store.client) as stubber, pytest.raises(SessionConflict) as raised:
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]},
        )
        await moto_store.write("new", record, replacing="old")
    assert (raised.value.reason, raised.value.item_returned, raised.value.current) == (
        "transaction_conflict",
        False,
        None,
    )


@pytest.mark.anyio
async def test_a_binding_refused_only_by_the_user_item_says_the_user_item_is_busy(moto_store: DynamoStore) -> None:
    user = SessionUser("ada", datetime.now(UTC))
    record = StoredSession(b"{}", datetime.now(UTC), store_expiry(), 1, user=user)
    with Stubber(moto_store.client) as stubber, pytest.raises(SessionConflict) as raised:
        for attempt in INDEX_WRITE.tries():
            stubber.add_client_error(
                "transact_write_items",
                service_error_code="TransactionCanceledException",
                modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]},
            )
            if not INDEX_WRITE.last(attempt):  # not due for pruning: a revoke_all holds it
                stubber.add_response("get_item", {"Item": {"token": {"S": "user#ada"}, "binds": {"N": "0"}}})
        await moto_store.write("new", record)
    assert (raised.value.reason, raised.value.item_returned) == ("user_item_busy", False)
