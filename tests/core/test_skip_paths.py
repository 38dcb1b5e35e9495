"""skip_paths: routes that do not use sessions cost no store call, and using the session there is an error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from starlette_dynamo_session import DynamoSessionMiddleware, regenerate_session
from tests.conftest import SECRET_KEY, ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.memory_store import MemoryStore


async def asset(request: Request) -> PlainTextResponse:
    return PlainTextResponse("body { color: teal }", media_type="text/css")


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({})  # pragma: no cover


ROUTES = [
    Route("/static/app.css", asset),
    Route("/static/view", view_session),
    Route("/static/regenerate", regenerate, methods=["POST"]),
    Route("/staticky", view_session),
    Route("/healthz", asset),
    Route("/update", update_session, methods=["POST"]),
]
SKIP = ["/static", "/healthz"]


def test_a_skipped_path_with_a_valid_cookie_costs_no_store_call_and_no_cookie(
    client_factory: ClientFactory, memory_store: MemoryStore
) -> None:
    client = client_factory(ROUTES, skip_paths=SKIP)
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    for path in ("/static/app.css", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert "vary" not in response.headers
    assert memory_store.take() == []


def test_using_the_session_on_a_skipped_path_raises_an_error_naming_skip_paths(client_factory: ClientFactory) -> None:
    with pytest.raises(RuntimeError, match="skip_paths"):
        client_factory(ROUTES, skip_paths=SKIP).get("/static/view")


def test_regenerating_on_a_skipped_path_raises_an_error_naming_skip_paths(client_factory: ClientFactory) -> None:
    with pytest.raises(RuntimeError, match="skip_paths"):
        client_factory(ROUTES, skip_paths=SKIP).post("/static/regenerate")


def test_a_prefix_skips_whole_path_segments_only(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    client = client_factory(ROUTES, skip_paths=["/static/"])
    client.post("/update", json={"user": "ada"})
    memory_store.take()
    assert client.get("/staticky").json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["read"]


@pytest.mark.parametrize("skip_paths", ["/static", ["static"], ["/ok", ""]])
def test_skip_paths_must_be_a_list_of_absolute_prefixes(memory_store: MemoryStore, skip_paths: object) -> None:
    with pytest.raises(ValueError, match="skip_paths"):
        DynamoSessionMiddleware(view_session, store=memory_store, secret_key="k", skip_paths=skip_paths)  # type: ignore[arg-type]


def mounted_under_app(store: MemoryStore) -> TestClient:
    """The app behind the middleware, mounted at ``/app`` of an outer app (``root_path`` is set by the Mount)."""
    inner = Starlette(
        routes=ROUTES,
        middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY, skip_paths=SKIP)],
    )
    return TestClient(Starlette(routes=[Mount("/app", inner)]))


def served_with_root_path(store: MemoryStore) -> TestClient:
    """The app behind the middleware, served as ``uvicorn --root-path /app`` serves it behind a proxy that strips
    ``/app``: ``scope["path"]`` includes the root path."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY, skip_paths=SKIP)],
    )
    return TestClient(app, root_path="/app")


DEPLOYMENTS = [pytest.param(mounted_under_app, id="mount"), pytest.param(served_with_root_path, id="root_path")]


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_skip_paths_match_the_path_below_the_root_path(
    deployment: Callable[[MemoryStore], TestClient], memory_store: MemoryStore
) -> None:
    client = deployment(memory_store)
    client.post("/app/update", json={"user": "ada"})
    memory_store.take()
    response = client.get("/app/static/app.css")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert memory_store.take() == []


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_paths_that_are_not_skipped_use_the_session_below_a_root_path(
    deployment: Callable[[MemoryStore], TestClient], memory_store: MemoryStore
) -> None:
    client = deployment(memory_store)
    assert "set-cookie" in client.post("/app/update", json={"user": "ada"}).headers
    assert client.get("/app/staticky").json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["write", "read"]
