"""What every command of the command line shares: the store's options (``--table``, ``--region``, attribute names),
the store they make, and its errors as one line that says what is wrong and what to do about it."""

from __future__ import annotations

import argparse
import shlex

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from starlette_dynamo_session._core.exceptions import TableNotFound
from starlette_dynamo_session._dynamodb.defaults import DEFAULT_TABLE_NAME, DEFAULT_TOKEN_NAME, DEFAULT_TTL_NAME
from starlette_dynamo_session._dynamodb.store import DynamoStore

__all__ = ["PROGRAM", "add_store_options", "command_line", "explain", "open_store"]

PROGRAM = "python -m starlette_dynamo_session"


def add_store_options(parser: argparse.ArgumentParser, *, attributes: bool = True) -> None:
    """Add ``--table`` and ``--region`` to a subcommand, and with ``attributes`` ``--token-attribute`` and
    ``--ttl-attribute``."""
    parser.add_argument("--table", default=DEFAULT_TABLE_NAME, help="table name (default: %(default)s)")
    parser.add_argument(
        "--region", metavar="NAME", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's)"
    )
    if attributes:
        parser.add_argument(
            "--token-attribute", default=DEFAULT_TOKEN_NAME, help="partition key (default: %(default)s)"
        )
        parser.add_argument("--ttl-attribute", default=DEFAULT_TTL_NAME, help="TTL attribute (default: %(default)s)")


def open_store(args: argparse.Namespace) -> DynamoStore:
    """The store the options in ``args`` describe, on the SDK's default session (``--region`` wins over it).

    Raises botocore's ``NoRegionError`` when no region is given or configured.
    """
    return DynamoStore(
        config=Config(region_name=args.region) if args.region else None,
        table_name=args.table,
        token_name=getattr(args, "token_attribute", DEFAULT_TOKEN_NAME),
        ttl_name=getattr(args, "ttl_attribute", DEFAULT_TTL_NAME),
    )


def command_line(command: str, args: argparse.Namespace) -> str:
    """The command line that runs ``command`` on the table, region and attribute names that ``args`` give."""
    words = [*PROGRAM.split(), command, "--table", args.table]
    if args.region:
        words += ["--region", args.region]
    for option, default in (("token_attribute", DEFAULT_TOKEN_NAME), ("ttl_attribute", DEFAULT_TTL_NAME)):
        value = getattr(args, option, default)
        if value != default:
            words += ["--" + option.replace("_", "-"), value]
    return shlex.join(words)


def explain(exc: Exception, args: argparse.Namespace) -> str:
    """``exc`` as the command's one line of error: what went wrong, then ``Fix:`` and what to run or set, when
    there is something to say. Raises nothing."""
    if isinstance(exc, NoRegionError):
        return "no AWS region. Fix: pass --region NAME, or set AWS_REGION (or AWS_DEFAULT_REGION)"
    fix = _fix(exc, args)
    return f"{exc}. Fix: {fix}" if fix else str(exc)


def _fix(exc: Exception, args: argparse.Namespace) -> str:
    """What to run or set about ``exc``, or ``""`` when there is nothing to say."""
    if isinstance(exc, TableNotFound):
        return f"run `{command_line('create-table', args)}`"
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == "ValidationException":
        token = getattr(args, "token_attribute", DEFAULT_TOKEN_NAME)
        return (
            f"check that the table's partition key is {token!r} of type S (else pass --token-attribute NAME): "
            f"run `{command_line('doctor', args)}`"
        )
    if isinstance(cause, EndpointConnectionError):
        return "check the endpoint (AWS_ENDPOINT_URL_DYNAMODB) and the region (--region, AWS_REGION), and the network"
    if isinstance(cause, NoCredentialsError):
        return "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    return ""
