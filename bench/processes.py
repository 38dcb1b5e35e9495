"""The processes a benchmark run starts, each on 127.0.0.1 and each stopped by its PID: DynamoDB Local (through
``scripts/dynamodb-local``) and uvicorn servers of ``bench.apps``, each DynamoDB variant behind a ``bench.proxy``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.proxy import Proxy

ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_LOCAL = str(ROOT / "scripts" / "dynamodb-local")
READY_TIMEOUT = 30.0  # seconds for a server to answer after it starts
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
START_ATTEMPTS = 3  # another process may take the free port between our probe and uvicorn's bind


def environment(endpoint: str) -> dict[str, str]:
    """The environment of every process of a run: no AWS settings of the caller, fake credentials, and DynamoDB Local
    as the DynamoDB endpoint, configured the way a user would (``AWS_ENDPOINT_URL_DYNAMODB``)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "BOTO_"))}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - DynamoDB Local checks no credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
    )
    return env


@contextmanager
def dynamodb_local() -> Iterator[str]:
    """Start DynamoDB Local in memory on a free port; yield its URL; stop it by its PID file."""
    started = subprocess.run(
        [DYNAMODB_LOCAL, "start"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False
    )
    if started.returncode != 0:
        raise RuntimeError(f"DynamoDB Local did not start:\n{started.stderr}")
    url = started.stdout.strip().splitlines()[-1]
    try:
        yield url
    finally:
        subprocess.run([DYNAMODB_LOCAL, "stop", url.rpartition(":")[2]], timeout=30, check=False)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) that process ``pid`` has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` by its PID; kill it if it has not exited within ``STOP_TIMEOUT``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    """A uvicorn process serving ``bench.apps:create_app`` on ``127.0.0.1:port``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    proxy: Proxy | None = None  # the one its DynamoDB requests go through

    def get(self, path: str) -> bytes:
        """The body of a GET of ``path``."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return bytes(response.read())

    def answers_within(self, seconds: float) -> bool:
        """Whether the server answers HTTP within ``seconds`` (and keeps running)."""
        deadline = time.monotonic() + seconds
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                self.get("/_ops")
                return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        return False


@contextmanager
def serve(name: str, env: Mapping[str, str], proxy: Proxy | None = None, **settings: str) -> Iterator[Server]:
    """Run uvicorn with the app of ``settings`` (``BENCH_*`` variables, see ``bench.apps``) on a free port of
    127.0.0.1 until the block ends, sending its DynamoDB requests through ``proxy`` if given. Raises
    ``RuntimeError`` if it does not answer within ``READY_TIMEOUT``."""
    if proxy is not None:
        env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{proxy.port}"}
    command = [sys.executable, "-m", "uvicorn", "bench.apps:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--http", "h11", "--loop", "asyncio", "--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    for _ in range(START_ATTEMPTS):
        with tempfile.TemporaryFile() as log:
            port = free_port()
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                env={**env, **settings},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            try:
                server = Server(name, port, process, proxy)
                if server.answers_within(READY_TIMEOUT):
                    yield server
                    return
            finally:
                stop(process)
                log.seek(0)
                output = log.read().decode(errors="replace")
        if "address already in use" not in output.lower():
            break
    raise RuntimeError(f"server {name!r} did not start:\n{output}")
