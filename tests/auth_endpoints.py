"""An app's endpoints for the authentication state, shared by its tests on the in-memory store and on DynamoDB."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import (
    Authentication,
    authentication,
    end_other_sessions,
    mark_authenticated,
    regenerate_session,
    require_authentication,
    session_key,
)
from tests.endpoints import add_to_cart, view_session


def shown(found: Authentication | None) -> dict[str, Any] | None:
    """An authentication as the endpoints answer it: its instant in epoch seconds, its level, its time zone."""
    return None if found is None else {"at": found.at.timestamp(), "level": found.level, "zone": str(found.at.tzinfo)}


async def sign_in(request: Request) -> JSONResponse:
    """Sign in as ``user`` (``ada`` by default) at ``level`` (1 by default): bind, regenerate and mark."""
    user = request.query_params.get("user", "ada")
    regenerate_session(request, user_id=user)
    request.session["user"] = user
    mark_authenticated(request, level=int(request.query_params.get("level", "1")))
    return JSONResponse(shown(authentication(request)))


async def bind(request: Request) -> JSONResponse:
    """Bind the session to ``user`` without marking it authenticated."""
    regenerate_session(request, user_id=request.query_params["user"])
    request.session["user"] = request.query_params["user"]
    return JSONResponse(shown(authentication(request)))


async def step_up(request: Request) -> JSONResponse:
    mark_authenticated(request, level=2)
    return JSONResponse(shown(authentication(request)))


async def show(request: Request) -> JSONResponse:
    return JSONResponse(shown(authentication(request)))


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse(shown(authentication(request)))


async def clear(request: Request) -> JSONResponse:
    request.session.clear()
    request.session["note"] = "signed out"
    return JSONResponse(shown(authentication(request)))


async def sensitive(request: Request) -> JSONResponse:
    found = require_authentication(max_age=300, level=int(request.query_params.get("level", "1")))(request)
    return JSONResponse({"level": found.level})


async def change_password(request: Request) -> JSONResponse:
    """What an application does once the password changed: end the user's other sessions."""
    return JSONResponse({"ended": await end_other_sessions(request)})


async def sign_in_and_change_password(request: Request) -> JSONResponse:
    """Bind the session to ``ada`` and end her other sessions, in one request."""
    regenerate_session(request, user_id="ada")
    request.session["user"] = "ada"
    return JSONResponse({"ended": await end_other_sessions(request)})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session, "key": session_key(request)})


ROUTES = [
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/bind", bind, methods=["POST"]),
    Route("/step-up", step_up, methods=["POST"]),
    Route("/show", show),
    Route("/regenerate", regenerate, methods=["POST"]),
    Route("/clear", clear, methods=["POST"]),
    Route("/sensitive", sensitive),
    Route("/change-password", change_password, methods=["POST"]),
    Route("/sign-in-and-change-password", sign_in_and_change_password, methods=["POST"]),
    Route("/cart", add_to_cart, methods=["POST"]),
    Route("/view", view_session),
    Route("/whoami", whoami),
]


def signed_in(client: TestClient, *, user: str = "ada", level: int = 1) -> TestClient:
    """``client``, once it signed in as ``user`` at ``level``."""
    assert client.post(f"/sign-in?user={user}&level={level}").status_code == 200
    return client
