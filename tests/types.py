"""Types shared by the tests (Starlette's session suite imports ``TestClientFactory`` from here)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.testclient import TestClient

TestClientFactory = Callable[..., TestClient]
