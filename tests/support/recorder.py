"""Records which DynamoDB operations a boto3 Session's clients send, through the session's event system."""

from __future__ import annotations

from typing import Any

import boto3


class OperationRecorder:
    """Lists every DynamoDB request sent by clients made from ``session``, by operation name (``GetItem``...)."""

    def __init__(self, session: boto3.Session) -> None:
        self.operations: list[str] = []
        session.events.register("before-send.dynamodb", self._record)

    def _record(self, request: Any, **kwargs: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        self.operations.append(target.rpartition(".")[2])

    def take(self) -> list[str]:
        """The operations sent since the last call, and start a new list."""
        operations, self.operations = self.operations, []
        return operations
