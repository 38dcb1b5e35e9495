"""Websocket endpoints see the session of the cookie they connect with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from starlette_dynamo_session import DynamoStore
from tests.conftest import ClientFactory
from tests.support.faults import FaultInjector


async def sign_in(request: Request) -> JSONResponse:
    request.session["user"] = "ada"
    return JSONResponse({})


async def greet(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.session.get("user")})
    await websocket.close()


ROUTES = [Route("/sign-in", sign_in, methods=["POST"]), WebSocketRoute("/ws", greet)]


def test_a_websocket_sees_the_session(client_factory: ClientFactory) -> None:
    client = client_factory(ROUTES)
    client.post("/sign-in")
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {"user": "ada"}


def test_a_websocket_without_a_cookie_sees_an_empty_session(client_factory: ClientFactory) -> None:
    with client_factory(ROUTES).websocket_connect("/ws") as websocket:
        assert websocket.receive_json() == {"user": None}


def test_a_websocket_is_closed_with_try_again_later_when_the_store_is_down(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/sign-in")
    FaultInjector(store.client.meta.events).fail("InternalServerError", status=500)
    from starlette.websockets import WebSocketDisconnect

    try:
        with client.websocket_connect("/ws") as websocket:
            websocket.receive_json()
    except WebSocketDisconnect as exc:
        assert exc.code == 1013
    else:
        raise AssertionError("the websocket was accepted although the session could not be loaded")
