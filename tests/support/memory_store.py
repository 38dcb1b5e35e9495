"""A SessionStore that keeps its records in a dict: the fast double the middleware and lifecycle tests run on."""

from __future__ import annotations

import time

from starlette_dynamo_session import SessionConflict, SessionTooLarge, StoredSession, StoreUnavailable


class MemoryStore:
    """Versioned session records in memory, under the same rules as ``DynamoStore``'s coroutines.

    A write succeeds only where the record is at ``record.version - 1`` (absent for version 1); a lost race raises
    ``SessionConflict`` carrying the record that won, as DynamoDB's ALL_OLD does. ``operations`` lists the calls
    (``"read"``, ``"write"``, ``"replace"`` for a write with ``replacing``, ``"remove"``); ``fail_with`` makes every
    call raise that error until it is set back to ``None``; ``max_bytes`` makes larger data ``SessionTooLarge``.
    """

    def __init__(self, *, max_bytes: int | None = None) -> None:
        self.records: dict[str, StoredSession] = {}
        self.operations: list[str] = []
        self.fail_with: StoreUnavailable | None = None
        self.max_bytes = max_bytes

    def take(self) -> list[str]:
        """The operations since the last call, and start a new list."""
        operations, self.operations = self.operations, []
        return operations

    def live(self) -> dict[str, StoredSession]:
        """The records that have not expired, by token."""
        return {token: record for token, record in self.records.items() if self._is_live(record)}

    async def read(self, token: str) -> StoredSession | None:
        """The live record under ``token``, or ``None``."""
        self._call("read")
        record = self.records.get(token)
        return record if record is not None and self._is_live(record) else None

    async def write(self, token: str, record: StoredSession, *, replacing: str | None = None) -> None:
        """Store ``record`` under ``token`` if the record there (or under ``replacing``) is at the version before."""
        self._call("write" if replacing is None else "replace")
        if self.max_bytes is not None and len(record.data) > self.max_bytes:
            raise SessionTooLarge(f"{len(record.data)} bytes is over {self.max_bytes}")
        previous = self.records.get(token if replacing is None else replacing)
        if (0 if previous is None else previous.version) != record.version - 1:
            current = previous if previous is not None and self._is_live(previous) else None
            raise SessionConflict("lost to a concurrent write", current=current, item_returned=True)
        if replacing is not None:
            del self.records[replacing]
        self.records[token] = record

    async def remove(self, token: str) -> None:
        """Forget the record under ``token``, if any."""
        self._call("remove")
        self.records.pop(token, None)

    def _call(self, operation: str) -> None:
        self.operations.append(operation)
        if self.fail_with is not None:
            raise self.fail_with

    @staticmethod
    def _is_live(record: StoredSession) -> bool:
        return record.expiry.timestamp() > time.time()
