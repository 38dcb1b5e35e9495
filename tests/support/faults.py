"""Makes DynamoDB requests fail on purpose, through the event system of a store's client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.hooks import BaseEventHooks


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


class FaultInjector:
    """Answers chosen DynamoDB operations with an AWS error, as DynamoDB would.

    Register it on ``store.client.meta.events`` (a client copies its session's handlers when it is made).
    ``fail("ThrottlingException", times=2)`` fails the next two calls; ``times=None`` fails all of them.

    By default the error replaces the whole API call (``before-call``): nothing reaches the server, and botocore does
    not retry. With ``each_attempt=True`` it answers each HTTP attempt instead (``before-send``), so botocore's retry
    mode sees every failure; moto still applies those requests, so use it on moto only for reads.
    """

    def __init__(self, events: BaseEventHooks, *, each_attempt: bool = False) -> None:
        self.code: str | None = None
        self.status = 400
        self.operations: set[str] = set()
        self.remaining: int | None = None
        self.injected = 0
        if each_attempt:
            events.register("before-send.dynamodb", self._answer_attempt)  # type: ignore[arg-type]
        else:
            events.register_first("before-call.dynamodb", self._answer_call)  # type: ignore[arg-type]

    def fail(
        self, code: str, *, status: int = 400, operations: set[str] | None = None, times: int | None = None
    ) -> None:
        self.code, self.status, self.operations, self.remaining = code, status, operations or set(), times

    def heal(self) -> None:
        self.code = None

    def _should_fail(self, operation: str) -> bool:
        if self.code is None or (self.operations and operation not in self.operations) or self.remaining == 0:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.injected += 1
        return True

    def _response(self, url: str) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{self.code}", "message": "injected"})
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        return AWSResponse(url, self.status, headers, _Body(body.encode()))  # type: ignore[arg-type]

    def _answer_attempt(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rpartition(".")[2]
        return self._response(request.url) if self._should_fail(operation) else None

    def _answer_call(self, model: Any, **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self._should_fail(model.name):
            return None
        parsed = {
            "Error": {"Code": self.code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": self.status, "RequestId": "injected"},
        }
        return self._response("https://dynamodb.invalid/"), parsed
