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

from starlette_dynamo_session import (
    DynamoSessionMiddleware,
    authentication,
    mark_authenticated,
    regenerate_session,
    session_key,
)
from tests.auth_endpoints import shown
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


async def mark(request: Request) -> JSONResponse:
    mark_authenticated(request, level=int(request.query_params.get("level", "1")))
    return JSONResponse(shown(authentication(request)))


async def show_authentication(request: Request) -> JSONResponse:
    return JSONResponse(shown(authentication(request)))


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"key": session_key(request)})


ROUTES = [
    Route("/view", view_session),
    Route("/update", update_session, methods=["POST"]),
    Route("/set", set_key, methods=["POST"]),
    Route("/clear", clear_session, methods=["POST"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/whoami", whoami),
    Route("/mark", mark, methods=["POST"]),
    Route("/authentication", show_authentication),
]


def rotating_app(store: object, barrier: Barrier | None = None, **options: Any) -> Starlette:
    """The routes behind the middleware on ``store``, rotating every ``WINDOW`` seconds with a ``GRACE`` grace
    (keywords override the middleware's options); with ``barrier``, ``/held-set`` and ``/held-mark`` wait at it
    before doing what ``/set`` and ``/mark`` do."""

    async def held_set(request: Request) -> JSONResponse:
        if barrier is not None:
            await barrier.wait()
        return await set_key(request)

    async def held_mark(request: Request) -> JSONResponse:
        if barrier is not None:
            await barrier.wait()
        return await mark(request)

    options = {
        "store": store,
        "secret_key": SECRET_KEY,
        "rotate_token_every": WINDOW,
        "rotation_grace": GRACE,
        **options,
    }
    held = [Route("/held-set", held_set, methods=["POST"]), Route("/held-mark", held_mark, methods=["POST"])]
    routes = [*held, *ROUTES]
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


async def race(requests: list[tuple[Starlette, str, dict[str, str]]], signed: str) -> list[httpx.Response]:
    """Send each of ``requests`` (an app, standing for one process, a path to POST and its query) at once,
    presenting ``signed``; return the responses in the same order."""
    responses: list[httpx.Response | None] = [None] * len(requests)
    clients = {
        id(app): httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        for app, _, _ in requests
    }

    async def send(index: int) -> None:
        app, path, params = requests[index]
        responses[index] = await clients[id(app)].post(path, params=params, headers=presenting(signed))

    async with anyio.create_task_group() as tasks:
        for index in range(len(requests)):
            tasks.start_soon(send, index)
    for client in clients.values():
        await client.aclose()
    return [response for response in responses if response is not None]


async def straddle_a_rotation(apps: list[Starlette], signed: str, requests: int) -> list[httpx.Response]:
    """Send ``requests`` concurrent requests presenting ``signed``, spread over ``apps`` (one app stands for one
    process), each setting a key of its own (``k0``...) once all of them have loaded the session."""
    sets = [
        (apps[index % len(apps)], "/held-set", {"key": f"k{index}", "value": str(index)}) for index in range(requests)
    ]
    return await race(sets, signed)


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


def authentication_across_a_rotation(
    client: TestClient, advance: Callable[[float], None], window: float, grace: float
) -> tuple[Any, list[Any]]:
    """Mark the client's session authenticated at level 2, let its token rotate, and read the authentication under
    the new token and, within the grace, under the old one; return what the mark gave and what the reads showed."""
    old = set_cookie(client.post("/update", json={"user": "ada"})) or ""
    marked = client.post("/mark", params={"level": "2"}).json()
    advance(window)
    rotated = client.get("/authentication")
    new = set_cookie(rotated) or ""
    assert token_of(new) not in ("", token_of(old))
    advance(grace - 1)
    within = client.get("/authentication", headers=presenting(old))
    return marked, [rotated.json(), within.json(), client.get("/authentication", headers=presenting(new)).json()]


async def mark_racing_a_rotation(store: Any, signed: str, processes: int, **options: Any) -> tuple[Any, Any]:
    """Two requests presenting ``signed`` once its token is due to rotate, held until both loaded the session, in
    one process or two (an app each, on ``store``): one sets ``cart``, the other marks the session authenticated at
    level 2. Return what ``store`` holds under the one token both responses carry, and what the mark answered."""
    barrier = Barrier(2)
    apps = [rotating_app(store, barrier, **options) for _ in range(processes)]
    requests = [(apps[0], "/held-set", {"key": "cart", "value": "apple"}), (apps[-1], "/held-mark", {"level": "2"})]
    responses = await race(requests, signed)
    assert [response.status_code for response in responses] == [200, 200]
    tokens = {token_of(set_cookie(response) or "") for response in responses}
    assert len(tokens) == 1 and token_of(signed) not in tokens
    return await store.read(tokens.pop()), responses[1].json()
