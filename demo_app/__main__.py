"""``python -m demo_app [--port N] [--aws] [--create-table]``: serve the demo on 127.0.0.1 with uvicorn.

By default the sessions go to an embedded DynamoDB (moto's server, in this process, on loopback), whatever AWS
configuration the machine has: the demo never reads ``~/.aws`` then. With ``AWS_ENDPOINT_URL_DYNAMODB`` they go to
that endpoint (DynamoDB Local, say), and with ``--aws`` to the configured AWS account; in both, the table is created
only when ``--create-table`` is given.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import Literal, NoReturn

import boto3
import botocore.session
import uvicorn
from botocore.exceptions import NoRegionError
from uvicorn.logging import DefaultFormatter

from demo_app.app import create_app
from starlette_dynamo_session import DynamoStore, SessionError, TableNotFound

logger = logging.getLogger("demo_app")

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_TABLE = "sessions"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"
EMBEDDED_REGION = "us-east-1"
# The access key of the credentials for a DynamoDB that accepts any (the embedded one, DynamoDB Local); its secret
# is the same. Nothing else would take them.
LOCAL_ACCESS_KEY = "demo"

Backend = Literal["embedded", "endpoint", "aws"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo until Ctrl-C (or SIGTERM); return the process exit status (1 when it cannot start)."""
    args = _parse_args(argv)
    _configure_logging()
    try:
        listener = listening_socket(args.port)
    except OSError as exc:
        problem = (
            f"Port {args.port} is in use" if exc.errno == errno.EADDRINUSE else f"Cannot listen on port {args.port}"
        )
        logger.error("%s (%s): pass --port N or set PORT", problem, exc.strerror)
        return 1
    secret_key = os.environ.get("SESSION_SECRET_KEY") or ""
    if not secret_key:
        secret_key = secrets.token_urlsafe(32)
        logger.warning("SESSION_SECRET_KEY is not set: using a random key, so sessions will not survive a restart")
    # uvicorn re-raises the signal that stopped it once it is done: make SIGTERM unwind like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as stack:
            stack.callback(listener.close)
            store = _open_store(stack, choose_backend(use_aws=args.aws), args)
            if store is None:
                return 1
            # The key of a Starlette SessionMiddleware this demo replaces: its cookies move into the store.
            legacy_key = os.environ.get("LEGACY_SESSION_SECRET_KEY") or None
            app = create_app(store, secret_key=secret_key, import_cookie_sessions=legacy_key)
            config = uvicorn.Config(app, host=HOST, port=args.port, timeout_graceful_shutdown=5)
            _Server(config).run(sockets=[listener])  # returns after a signal once uvicorn has shut down
    except KeyboardInterrupt:
        pass
    logger.info("Demo stopped")
    return 0


def choose_backend(*, use_aws: bool, environ: Mapping[str, str] = os.environ) -> Backend:
    """Where the sessions go: ``"aws"`` with ``--aws``, else ``"endpoint"`` when ``AWS_ENDPOINT_URL_DYNAMODB`` is
    set, else ``"embedded"``, whatever the AWS config files hold. Raises nothing."""
    if use_aws:
        return "aws"
    return "endpoint" if environ.get(ENDPOINT_VARIABLE) else "embedded"


def configured_session(backend: Literal["endpoint", "aws"]) -> boto3.Session:
    """The session for the configured DynamoDB: the SDK's defaults (environment, profile, config files). For an
    endpoint, when those hold no credentials, local ones that any DynamoDB Local accepts. Sends nothing to DynamoDB
    (looking for credentials may ask the instance metadata service, as any AWS SDK does). Raises nothing."""
    session = boto3.Session()
    if backend == "endpoint" and session.get_credentials() is None:
        session = _local_session(region_name=session.region_name)
    return session


def embedded_session() -> boto3.Session:
    """A session that reads no AWS configuration at all (no ``~/.aws`` file, no profile): local credentials and
    ``EMBEDDED_REGION``, for the embedded DynamoDB only. Raises nothing."""
    # Each variable: (config file key, environment variables, default, conversion): none of them read from anywhere.
    core = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    return _local_session(botocore_session=core, region_name=EMBEDDED_REGION)


def _local_session(
    *, region_name: str | None, botocore_session: botocore.session.Session | None = None
) -> boto3.Session:
    """A session with the local credentials."""
    return boto3.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
        region_name=region_name,
        botocore_session=botocore_session,
    )


def listening_socket(port: int) -> socket.socket:
    """A TCP socket bound to ``HOST:port``, for uvicorn to listen on. Raises ``OSError`` (``EADDRINUSE`` when the
    port is taken)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError:
        listener.close()
        raise
    return listener


@contextmanager
def embedded_dynamodb() -> Iterator[str]:
    """Run moto's DynamoDB server in this process on a free loopback port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer  # a dev dependency, needed only here

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server would log every request
    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def embedded_store(endpoint: str, *, table_name: str) -> DynamoStore:
    """A store on the embedded DynamoDB at ``endpoint``, made from ``embedded_session()``. Raises nothing."""
    client = embedded_session().client("dynamodb", endpoint_url=endpoint)
    return DynamoStore(client=client, table_name=table_name)


def _open_store(stack: ExitStack, backend: Backend, args: argparse.Namespace) -> DynamoStore | None:
    """The demo's store on ``backend``, its table ready; ``None`` (after logging why) when it cannot be used."""
    if backend == "embedded":
        endpoint = stack.enter_context(embedded_dynamodb())
        store = embedded_store(endpoint, table_name=args.table)
        store.create_table()
        logger.info(
            "Sessions go to an embedded DynamoDB (moto) at %s, table %r, in memory until the demo stops (set %s or "
            "pass --aws to use another)",
            endpoint,
            args.table,
            ENDPOINT_VARIABLE,
        )
        return store
    try:
        store = DynamoStore(configured_session(backend), table_name=args.table)
    except NoRegionError:
        logger.error("No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)")
        return None
    return store if _prepare(store, create_table=args.create_table) else None


def _prepare(store: DynamoStore, *, create_table: bool) -> bool:
    """Create or check the table on the configured DynamoDB; log why not and return ``False`` when it fails."""
    where = f"{store.client.meta.endpoint_url} ({store.client.meta.region_name})"
    try:
        if create_table:
            store.create_table()
        else:
            store.ping()
    except TableNotFound:
        logger.error("Table %r does not exist at %s: run again with --create-table", store.table_name, where)
        return False
    except SessionError as exc:
        logger.error("DynamoDB at %s is not usable: %s", where, exc)
        return False
    logger.info("Using DynamoDB at %s with table %r", where, store.table_name)
    return True


class _Server(uvicorn.Server):
    """uvicorn's server, which also prints the demo's address once it is listening."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            print(f"Demo running at http://{self.config.host}:{self.config.port}/ (Ctrl-C to stop)", flush=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app",
        description="Serve the starlette-dynamo-session demo on 127.0.0.1. By default it runs an embedded DynamoDB "
        "(moto), whatever your AWS configuration holds; with AWS_ENDPOINT_URL_DYNAMODB it uses that endpoint, and "
        "with --aws your AWS account (AWS_PROFILE, AWS_REGION, ...). SESSION_SECRET_KEY sets the cookie signing key; "
        "LEGACY_SESSION_SECRET_KEY the key of a Starlette SessionMiddleware whose cookies move into the store.",
    )
    parser.add_argument("--port", type=_port, help=f"port to listen on (default: $PORT, else {DEFAULT_PORT})")
    parser.add_argument(
        "--aws", action="store_true", help="use the configured AWS account (the AWS SDK's settings and ~/.aws)"
    )
    parser.add_argument(
        "--create-table", action="store_true", help="create the table first (always done for the embedded DynamoDB)"
    )
    parser.add_argument("--table", default=DEFAULT_TABLE, help="DynamoDB table name (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.port is None:
        try:
            args.port = _port(os.environ.get("PORT") or str(DEFAULT_PORT))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"PORT: {exc}")
    return args


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return int(text)


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    for name in ("demo_app", "starlette_dynamo_session"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
