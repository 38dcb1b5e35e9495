"""A small app that binds sessions to users, behind DynamoSessionMiddleware with ``max_sessions_per_user``, for tests
that serve it with uvicorn.

    SESSION_TABLE=... SESSION_SECRET_KEY=... SESSION_LIMIT=3 AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8001 \\
        python -m uvicorn tests.apps.users:app --host 127.0.0.1 --port 8002

The table must exist. ``GET /`` shows the session; ``POST /sign-in?user=U`` binds the session to ``U``;
``POST /change-password`` ends the user's other sessions (``end_other_sessions``).
"""

from __future__ import annotations

import os

import boto3
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore, end_other_sessions, regenerate_session


async def show(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def sign_in(request: Request) -> JSONResponse:
    regenerate_session(request, user_id=request.query_params["user"])
    request.session["user"] = request.query_params["user"]
    return JSONResponse({"session": request.session})


async def change_password(request: Request) -> JSONResponse:
    return JSONResponse({"ended": await end_other_sessions(request)})


def create_app() -> Starlette:
    store = DynamoStore(boto3.Session(), table_name=os.environ["SESSION_TABLE"])
    limit = int(os.environ["SESSION_LIMIT"])
    secret_key = os.environ["SESSION_SECRET_KEY"]
    middleware = [Middleware(DynamoSessionMiddleware, store=store, secret_key=secret_key, max_sessions_per_user=limit)]
    routes = [
        Route("/", show),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/change-password", change_password, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=middleware)


app = create_app()
