"""The app the token rotation tests drive, on any store: routes that read, change, clear and bind the session, and
helpers to present one of a session's tokens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, regenerate_session, session_key
from tests.conftest import SECRET_KEY
from tests.endpoints import clear_session, update_session, view_session

WINDOW = 600  # rotate_token_every in these tests, in seconds
GRACE = 30  # rotation_grace in these tests, in seconds
HEADER = "X-Session-Token"


async def set_key(request: Request) -> JSONResponse:
    request.session[request.query_params["key"]] = request.query_params["value"]
    return JSONResponse({"session": request.session})


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request, user_id=request.query_params["user"])
    request.session["user"] = request.query_params["user"]
    return JSONResponse({"session": request.session})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"key": session_key(request)})


ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/set", set_key, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/whoami", whoami),
]


def rotating_app(store: object, barrier: Barrier | None = None, **options: Any) -> Starlette:
    """The routes behind the middleware on ``store``, rotating every ``WINDOW`` seconds with a ``GRACE`` grace
    (keywords override the middleware's options); with ``barrier``, ``/set`` waits at it before changing anything."""

    async def held_set(request: Request) -> JSONResponse:
        if barrier is not None:
            await barrier.wait()
        return await set_key(request)

    options = {
        "store": store,
        "secret_key": SECRET_KEY,
        "rotate_token_every": WINDOW,
        "rotation_grace": GRACE,
        **options,
    }
    routes = [Route("/held-set", held_set, methods=["POST"]), *ROUTES]
    return Starlette(routes=routes, middleware=[Middleware(DynamoSessionMiddleware, **options)])


def rotating_client(store: object, **options: Any) -> TestClient:
    """A TestClient of ``rotating_app``."""
    return TestClient(rotating_app(store, **options))


def token_of(signed: str) -> str:
    """The token inside a signed cookie or header value."""
    return signed.split(".")[0]


def presenting(signed: str) -> dict[str, str]:
    """Request headers that present the session cookie ``signed`` instead of the client's own."""
    return {"Cookie": f"session={signed}"}


class Barrier:
    """Holds requests inside their endpoint until ``parties`` of them have loaded their session."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.all_arrived = anyio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_arrived.set()
        with anyio.fail_after(30):  # a request that never arrives fails the test instead of hanging it
            await self.all_arrived.wait()


async def straddle_a_rotation(apps: list[Starlette], signed: str, requests: int) -> list[httpx.Response]:
    """Send ``requests`` concurrent requests presenting ``signed``, spread over ``apps`` (one app stands for one
    process), each setting a key of its own (``k0``...) once all of them have loaded the session."""
    responses: list[httpx.Response | None] = [None] * requests
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") for app in apps]

    async def send(index: int) -> None:
        client = clients[index % len(clients)]
        params = {"key": f"k{index}", "value": str(index)}
        responses[index] = await client.post("/held-set", params=params, headers=presenting(signed))

    async with anyio.create_task_group() as tasks:
        for index in range(requests):
            tasks.start_soon(send, index)
    for client in clients:
        await client.aclose()
    return [response for response in responses if response is not None]


# Each kind of request the cost tables name, in an order that gives each its session: (kind, method, path, body).
REQUEST_KINDS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("anonymous", "GET", "/view", None),
    ("first write", "POST", "/update", {"user": "ada"}),
    ("read-only", "GET", "/view", None),
    ("change", "POST", "/update", {"n": 1}),
    ("clear", "POST", "/clear", None),
]


def costs_of_each_kind(
    client: TestClient, take: Callable[[], list[str]], advance: Callable[[float], None], seconds: float
) -> dict[str, list[str]]:
    """Send each of ``REQUEST_KINDS`` once, the clock moved on by ``seconds`` before each (past any rotation
    window), and return what ``take`` recorded for each kind."""
    costs = {}
    for kind, method, path, body in REQUEST_KINDS:
        advance(seconds)
        assert client.request(method, path, json=body).status_code == 200
        costs[kind] = take()
    return costs


class Answer(Protocol):
    """A response of any HTTP client the tests use (``TestClient``'s, ``httpx.AsyncClient``'s)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response's headers."""
        ...


def set_cookie(response: Answer) -> str | None:
    """The session cookie value a response sets (``""`` when it expires it), or ``None`` when it sets none."""
    header = response.headers.get("set-cookie")
    if header is None:
        return None
    name, _, rest = header.partition("=")
    assert name == "session", header
    return rest.split(";")[0]
