"""A small web app that shows starlette-dynamo-session at work: ``python -m demo_app``."""

from __future__ import annotations

from demo_app.app import create_app

__all__ = ["create_app"]
