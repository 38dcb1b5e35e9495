"""``python -m demo_app [--port N] [--create-table]``: serve the demo on 127.0.0.1 with uvicorn.

With no AWS settings at all, the sessions go to an embedded DynamoDB (moto's server, in this process, on
loopback). With ``AWS_ENDPOINT_URL_DYNAMODB`` or real AWS settings they go there, and the table is created only
when ``--create-table`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import NoReturn

import boto3
import uvicorn
from uvicorn.logging import DefaultFormatter

from demo_app.app import create_app
from starlette_dynamo_session import DynamoStore, SessionError, TableNotFound

logger = logging.getLogger("demo_app")

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_TABLE = "sessions"
# Any of these, or a profile in the AWS config or credentials file, means "use AWS, not the embedded DynamoDB".
AWS_SETTINGS = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
EMBEDDED_REGION = "us-east-1"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the demo until Ctrl-C (or SIGTERM); return the process exit status."""
    args = _parse_args(argv)
    _configure_logging()
    secret_key = os.environ.get("SESSION_SECRET_KEY") or ""
    if not secret_key:
        secret_key = secrets.token_urlsafe(32)
        logger.warning("SESSION_SECRET_KEY is not set: using a random key, so sessions will not survive a restart")
    # uvicorn re-raises the signal that stopped it once it is done: make SIGTERM unwind like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as stack:
            session = boto3.Session()
            if uses_aws(session):
                store = DynamoStore(session, table_name=args.table)
                if not _prepare_aws(store, create_table=args.create_table):
                    return 1
            else:
                endpoint = stack.enter_context(embedded_dynamodb())
                store = embedded_store(endpoint, table_name=args.table)
                store.create_table()
                logger.info(
                    "No AWS settings found: embedded DynamoDB (moto) at %s with table %r, in memory until the demo "
                    "stops",
                    endpoint,
                    args.table,
                )
            app = create_app(store, secret_key=secret_key)
            config = uvicorn.Config(app, host=HOST, port=args.port, timeout_graceful_shutdown=5)
            _Server(config).run()  # returns after a signal once uvicorn has shut down
    except KeyboardInterrupt:
        pass
    logger.info("Demo stopped")
    return 0


def uses_aws(session: boto3.Session) -> bool:
    """Whether the environment names a DynamoDB endpoint or AWS credentials, rather than nothing at all.

    Only environment variables and the AWS config files are read: the instance metadata service is not asked.
    """
    return any(os.environ.get(name) for name in AWS_SETTINGS) or bool(session.available_profiles)


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
    """A store on the embedded DynamoDB at ``endpoint``, with dummy credentials that nothing else would accept."""
    session = boto3.Session(
        aws_access_key_id="demo",
        aws_secret_access_key="demo",  # noqa: S106 - moto accepts any credentials
        region_name=EMBEDDED_REGION,
    )
    return DynamoStore(client=session.client("dynamodb", endpoint_url=endpoint), table_name=table_name)


def _prepare_aws(store: DynamoStore, *, create_table: bool) -> bool:
    """Create or check the table on the configured DynamoDB; log why not and return ``False`` when it fails."""
    where = store.client.meta.endpoint_url
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
        description="Serve the starlette-dynamo-session demo on 127.0.0.1. With no AWS settings it runs an "
        "embedded DynamoDB (moto); otherwise it uses AWS_ENDPOINT_URL_DYNAMODB or your AWS account. "
        "SESSION_SECRET_KEY sets the cookie signing key.",
    )
    parser.add_argument("--port", type=_port, help=f"port to listen on (default: $PORT, else {DEFAULT_PORT})")
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
