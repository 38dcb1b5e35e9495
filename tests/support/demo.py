"""``python -m demo_app`` as a real server process, for the tests that drive it over HTTP or in a browser."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.environment import without_aws
from harness.processes import ServerProcess, start_server

SHUTDOWN_TIMEOUT = 30.0  # seconds for the demo to stop after Ctrl-C; generous for a loaded CI machine


def demo_environment(**extra: str) -> dict[str, str]:
    """This environment without any AWS setting or credentials, as on a newcomer's machine (the demo runs its
    embedded DynamoDB), and without ``PORT`` or ``SESSION_SECRET_KEY``; then ``extra``."""
    environment = without_aws(os.environ, credentials=False)
    for name in ("PORT", "SESSION_SECRET_KEY"):
        environment.pop(name, None)
    return {**environment, **extra}


def demo_command(*args: str) -> list[str]:
    """The command line of ``python -m demo_app *args``."""
    return [sys.executable, "-m", "demo_app", *args]


@contextmanager
def run_demo(log_dir: Path, *args: str, environment: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """Start ``python -m demo_app --port <free port> *args`` (in ``demo_environment()`` unless ``environment`` is
    given), wait until ``/healthz`` answers 200, and stop it with Ctrl-C (SIGINT, by its PID) at the end."""
    demo = start_server(
        lambda port: demo_command("--port", str(port), *args),
        log_dir=log_dir,
        name="demo",
        env=demo_environment() if environment is None else environment,
        ready_path="/healthz",
    )
    try:
        yield demo
    finally:
        demo.stop(signal.SIGINT, timeout=SHUTDOWN_TIMEOUT)
