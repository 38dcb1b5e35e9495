"""Processes the benchmark starts and stops by PID: uvicorn servers of ``bench.apps`` and the environment they share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from tests.dynamodb_local import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
READY_TIMEOUT = 30.0  # seconds
START_ATTEMPTS = 3  # another process may take the free port first


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of process ``pid`` so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def bench_environment(endpoint: str) -> dict[str, str]:
    """The environment of every process of the run: no real AWS settings, fake credentials, DynamoDB Local as the
    DynamoDB endpoint (as a user would configure it), and the repository on the import path."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "BOTO_"))}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - DynamoDB Local checks no credentials
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        PYTHONPATH=str(ROOT),
    )
    return env


@dataclass
class Server:
    """One uvicorn process serving ``bench.apps:create_app`` on 127.0.0.1, stopped by its PID with ``stop``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)

    @classmethod
    def start(cls, name: str, env: dict[str, str], **settings: str) -> Server:
        """Start a server whose app is configured by ``settings`` (``BENCH_VARIANT=...``: see ``bench.apps``) and
        wait until it answers. Raises ``RuntimeError`` if it does not."""
        output = ""
        for _ in range(START_ATTEMPTS):
            port = free_port()
            log = tempfile.TemporaryFile()  # noqa: SIM115 - Server.stop closes it
            command = [PYTHON, "-m", "uvicorn", "bench.apps:create_app", "--factory", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--http", "h11", "--loop", "asyncio", "--lifespan", "off"]
            command += ["--no-access-log", "--log-level", "warning"]
            process = subprocess.Popen(
                command, env={**env, **settings}, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            server = cls(name, port, process, log)
            deadline = time.monotonic() + READY_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if server.answers():
                    return server
                time.sleep(0.05)
            output = server.output()
            server.stop()
            if "address already in use" not in output.lower():
                break
        raise RuntimeError(f"server {name!r} did not start:\n{output}")

    def answers(self) -> bool:
        try:
            self.get_json("/_ops")
        except (urllib.error.URLError, OSError):
            return False
        return True

    def get_json(self, path: str) -> Any:
        """GET ``path`` and decode its JSON body."""
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def ops(self) -> dict[str, int]:
        """The store operations the server has made so far, by name."""
        return cast(dict[str, int], self.get_json("/_ops"))

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the server process has used so far."""
        return process_cpu_seconds(self.process.pid)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it has not exited within 10 s."""
        stop_process(self.process)
        self.log.close()
