"""The AWS environment scrubber of the test process (``harness.environment`` makes the environment itself)."""

from __future__ import annotations

import os

import pytest

from harness.environment import without_aws


def scrub_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``os.environ`` what ``without_aws`` makes of it, until ``monkeypatch`` undoes it at the test's end."""
    clean = without_aws(os.environ)
    for name in [name for name in os.environ if name not in clean]:
        monkeypatch.delenv(name)
    for name, value in clean.items():
        monkeypatch.setenv(name, value)
