"""The public ``MemoryStore`` with what the middleware's and lifecycle's own tests look at: the calls made, the
records themselves, injected failures and a smaller size limit."""

from __future__ import annotations

import time

from starlette_dynamo_session import Forwarded, SessionTooLarge, StoredSession, StoreUnavailable
from starlette_dynamo_session.testing import MemoryStore as PublicMemoryStore


class MemoryStore(PublicMemoryStore):
    """``starlette_dynamo_session.testing.MemoryStore``, recording its calls.

    ``operations`` lists the calls (``"read"``, ``"write"``, ``"replace"`` for a write with ``replacing``,
    ``"rotate"`` for one that also forwards, ``"remove"``); ``records`` is the records by token, for tests to read
    or change; ``fail_with`` makes every call raise that error until it is set back to ``None``; ``max_bytes``
    makes larger data ``SessionTooLarge``.
    """

    def __init__(self, *, max_bytes: int | None = None) -> None:
        super().__init__()
        self.records = self._records
        self.operations: list[str] = []
        self.fail_with: StoreUnavailable | None = None
        self.max_bytes = max_bytes

    def take(self) -> list[str]:
        """The operations since the last call, and start a new list."""
        operations, self.operations = self.operations, []
        return operations

    def live(self) -> dict[str, StoredSession]:
        """The records that have not expired, by token."""
        return {token: record for token, record in self.records.items() if record.expiry.timestamp() > time.time()}

    async def read(self, token: str) -> StoredSession | Forwarded | None:
        """Record the call, then read as the public store does."""
        self._call("read")
        return await super().read(token)

    async def write(
        self, token: str, record: StoredSession, *, replacing: str | None = None, forward: bool = False
    ) -> None:
        """Record the call, refuse data over ``max_bytes``, then write as the public store does."""
        self._call("write" if replacing is None else "rotate" if forward else "replace")
        if self.max_bytes is not None and len(record.data) > self.max_bytes:
            raise SessionTooLarge(f"{len(record.data)} bytes is over {self.max_bytes}")
        await super().write(token, record, replacing=replacing, forward=forward)

    async def remove(self, token: str) -> None:
        """Record the call, then remove as the public store does."""
        self._call("remove")
        await super().remove(token)

    def _call(self, operation: str) -> None:
        self.operations.append(operation)
        if self.fail_with is not None:
            raise self.fail_with
