"""Processes the tests and the benchmark start: a free port on 127.0.0.1, the one wait-until-ready loop, HTTP servers
(uvicorn, ``python -m demo_app``) run as subprocesses in process groups of their own and stopped by their PIDs, and
the CPU time a process has used."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # every server the tests or the benchmark start listens here, and only here
READY_TIMEOUT = 60.0  # seconds for a server to answer after it starts; generous for a loaded 2-core machine
STOP_TIMEOUT = 10.0  # seconds for a process to exit after its signal, before it is killed
START_ATTEMPTS = 3  # another process may take the free port between the probe and the server's bind


class ServerStartError(Exception):
    """A server did not answer in time; the message holds its output."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until(
    ready: Callable[[], object],
    *,
    timeout: float,
    process: subprocess.Popen[Any] | None = None,
    interval: float = 0.05,
) -> bool:
    """Call ``ready`` every ``interval`` seconds until it returns something true, and return ``True``; return
    ``False`` once ``timeout`` seconds have passed or ``process`` (when given) has exited."""
    deadline = time.monotonic() + timeout
    while process is None or process.poll() is None:
        if ready():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return False


def answers_http(url: str) -> bool:
    """Whether a GET of ``url`` answers with a 2xx status (not listening yet, or timing out, is ``False``)."""
    try:
        return httpx.get(url, timeout=5, trust_env=False).is_success
    except httpx.TransportError:
        return False


def stop_process(process: subprocess.Popen[Any], *, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
    """Send ``signum`` to ``process`` by its PID and reap it, killing it if it has not exited within ``timeout``
    seconds; return its exit status."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class ServerProcess:
    """An HTTP server running as a subprocess on ``HOST``, in a process group of its own (its PID is the group's id).

    ``stop`` ends it by its PID, then SIGKILLs whatever is left of its group (uvicorn's workers, should they outlive
    their parent).
    """

    url: str
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path
    stopped: bool = field(default=False, repr=False)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rpartition(":")[2])

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``signum`` (SIGTERM, or SIGINT for Ctrl-C) to the server, reap it (killing it after ``timeout``
        seconds) and return its exit status. Once stopped, it stays stopped: a second call only returns the status."""
        if not self.stopped:
            stop_process(self.process, signum=signum, timeout=timeout)
            with contextlib.suppress(ProcessLookupError):  # the whole group has exited: the usual case
                os.killpg(self.process.pid, signal.SIGKILL)
            self.stopped = True
        return self.process.returncode


def start_server(
    command: Callable[[int], Sequence[str]],
    *,
    log_dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    timeout: float = READY_TIMEOUT,
) -> ServerProcess:
    """Run ``command(port)`` for a free port of ``HOST`` from the repository root, and return once a GET of
    ``ready_path`` answers 2xx; its output goes to ``log_dir/<name>-<port>.log``.

    The command must make the server listen on ``HOST`` and that port. If the port was taken in the meantime, another
    is tried. Raises ``ServerStartError`` (after stopping it) if the server exits or does not answer within ``timeout``.
    """
    problem = ""
    for _ in range(START_ATTEMPTS):
        port = free_port()
        log = log_dir / f"{name}-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                list(command(port)),
                cwd=ROOT,
                env=dict(os.environ if env is None else env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = ServerProcess(f"http://{HOST}:{port}", process, log)
        ready_url = server.url + ready_path
        if wait_until(lambda: answers_http(ready_url), timeout=timeout, process=process):  # noqa: B023 - called here
            return server
        status = server.stop()
        problem = f"{name} did not answer {server.url}{ready_path} within {timeout} s (exit status {status}):\n"
        problem += server.output()
        if "address already in use" not in problem.lower():
            break
    raise ServerStartError(problem)


def uvicorn_command(app: str, *options: str) -> Callable[[int], list[str]]:
    """The command line of ``python -m uvicorn app --host 127.0.0.1 --port PORT *options``, for ``start_server``."""

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), *options]

    return command


@contextlib.contextmanager
def running_server(
    command: Callable[[int], Sequence[str]],
    *,
    log_dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
) -> Iterator[ServerProcess]:
    """``start_server`` as a context manager: the server is stopped by its PID on the way out."""
    server = start_server(command, log_dir=log_dir, name=name, env=env, ready_path=ready_path)
    try:
        yield server
    finally:
        server.stop()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) that process ``pid`` has used so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int) -> float:
    """Time that process ``pid``'s main thread has spent ready to run but waiting for a CPU, from
    ``/proc/PID/schedstat``; NaN where the kernel keeps no such count."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan
