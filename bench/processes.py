"""The processes a benchmark run starts, on ``harness``'s helpers: DynamoDB Local, and uvicorn servers of
``bench.apps``, each DynamoDB variant behind a ``harness.proxy.Proxy``. All on 127.0.0.1, each stopped by its PID."""

from __future__ import annotations

import os
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.dynamodb_local import start_dynamodb_local
from harness.environment import without_aws
from harness.processes import HOST, ServerProcess, running_server, uvicorn_command
from harness.proxy import Proxy

UVICORN_OPTIONS = ("--factory", "--http", "h11", "--loop", "asyncio", "--lifespan", "off", "--no-access-log")


def environment(endpoint: str) -> dict[str, str]:
    """The environment of every process of a run: no AWS settings of the caller, fake credentials, and DynamoDB Local
    as the DynamoDB endpoint, configured the way a user would (``AWS_ENDPOINT_URL_DYNAMODB``)."""
    return {**without_aws(os.environ), "AWS_ENDPOINT_URL_DYNAMODB": endpoint}


@contextmanager
def dynamodb_local() -> Iterator[str]:
    """Start DynamoDB Local in memory on a free port, its log in a temporary folder; yield its URL; stop it by its
    PID."""
    with tempfile.TemporaryDirectory(prefix="bench-dynamodb-local-") as logs:
        server = start_dynamodb_local(Path(logs))
        try:
            yield server.endpoint
        finally:
            server.stop()


@dataclass
class Server:
    """A uvicorn process serving ``bench.apps:create_app`` on ``127.0.0.1:port``."""

    name: str
    port: int
    process: ServerProcess
    proxy: Proxy | None = None  # the one its DynamoDB requests go through

    def get(self, path: str) -> bytes:
        """The body of a GET of ``path``."""
        with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=10) as response:
            return bytes(response.read())


@contextmanager
def serve(name: str, env: Mapping[str, str], proxy: Proxy | None = None, **settings: str) -> Iterator[Server]:
    """Run uvicorn with the app of ``settings`` (``BENCH_*`` variables, see ``bench.apps``) on a free port of
    127.0.0.1 until the block ends, sending its DynamoDB requests through ``proxy`` if given. Raises
    ``harness.processes.ServerStartError`` if it does not answer in time."""
    if proxy is not None:
        env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}
    command = uvicorn_command("bench.apps:create_app", *UVICORN_OPTIONS, "--log-level", "warning")
    with (
        tempfile.TemporaryDirectory(prefix="bench-server-") as logs,
        running_server(command, log_dir=Path(logs), name=name, env={**env, **settings}, ready_path="/_ops") as server,
    ):
        yield Server(name, server.port, server, proxy)
