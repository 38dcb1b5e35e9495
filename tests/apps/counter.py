"""A small app behind DynamoSessionMiddleware, for tests that serve it from several processes with uvicorn.

    SESSION_TABLE=... SESSION_SECRET_KEY=... AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8001 \\
        python -m uvicorn tests.apps.counter:app --host 127.0.0.1 --port 8002

The table must exist. ``SESSION_TRANSPORT`` chooses the store's transport (``botocore`` or ``aiohttp``). With
``SESSION_CONFLICT_LOG=path``, every conditional write DynamoDB refuses (a conflict the middleware then merges and
retries) appends a line to that file, from every worker process (the soak counts them).

Every response is the session as JSON, with the ``pid`` of the process that served it:

* ``GET /`` shows the session;
* ``POST /set?key=K&value=V`` sets one key;
* ``POST /increment`` adds one to ``count``;
* ``POST /clear`` clears the session, which destroys it.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import boto3
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore

CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


class ConflictLog:
    """An ``after-call.dynamodb`` handler appending one line to a file per write refused on its condition. Lines from
    all worker processes go to one file (``O_APPEND``)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        if parsed.get("Error", {}).get("Code") in CONFLICT_CODES:
            os.write(self.fd, b"conflict\n")


def session_response(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session, "pid": os.getpid()})


async def show(request: Request) -> JSONResponse:
    return session_response(request)


async def set_value(request: Request) -> JSONResponse:
    request.session[request.query_params["key"]] = request.query_params["value"]
    return session_response(request)


async def increment(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return session_response(request)


async def clear(request: Request) -> JSONResponse:
    request.session.clear()
    return session_response(request)


def create_app() -> Starlette:
    transport: Literal["botocore", "aiohttp"] = (
        "aiohttp" if os.environ.get("SESSION_TRANSPORT") == "aiohttp" else "botocore"
    )
    store = DynamoStore(boto3.Session(), table_name=os.environ["SESSION_TABLE"], transport=transport)
    if os.environ.get("SESSION_CONFLICT_LOG"):
        store.client.meta.events.register("after-call.dynamodb", ConflictLog(os.environ["SESSION_CONFLICT_LOG"]))
    middleware = [Middleware(DynamoSessionMiddleware, store=store, secret_key=os.environ["SESSION_SECRET_KEY"])]
    routes = [
        Route("/", show),
        Route("/set", set_value, methods=["POST"]),
        Route("/increment", increment, methods=["POST"]),
        Route("/clear", clear, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=middleware)


app = create_app()
