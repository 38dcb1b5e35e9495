"""The command line: ``python -m starlette_dynamo_session create-table|ping|doctor --table NAME``, and
``revoke-user|list-sessions --table NAME USER_ID``; each takes ``--region NAME``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio
from botocore.exceptions import BotoCoreError

from starlette_dynamo_session._core.exceptions import SessionError
from starlette_dynamo_session._dynamodb.cli import PROGRAM, add_store_options, explain, open_store
from starlette_dynamo_session._dynamodb.doctor import diagnose
from starlette_dynamo_session._dynamodb.users_cli import add_user_commands, run_user_command


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return the process exit status: 0 on success, 1 on failure (for ``doctor``: when
    anything needs fixing), 2 on bad usage. A failure is one line on stderr: what went wrong, and the fix."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (SessionError, BotoCoreError, ValueError) as exc:
        print(f"error: {explain(exc, args)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command in ("revoke-user", "list-sessions"):
        print(anyio.run(run_user_command, args))
        return 0
    store = open_store(args)
    if args.command == "create-table":
        store.create_table()
        print(f"table {args.table!r} is ready")
    elif args.command == "doctor":
        findings = diagnose(store)
        print("\n".join(finding.line() for finding in findings))
        return 1 if any(finding.severity == "fix" for finding in findings) else 0
    else:
        store.ping()
        print(f"table {args.table!r} is reachable")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage the DynamoDB table behind starlette-dynamo-session. AWS settings (AWS_REGION, "
        "AWS_DEFAULT_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB, ...) are read as by any AWS tool; --region "
        "overrides the region.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-table", help="create the table with TTL enabled and wait until it is usable")
    add_store_options(create)
    ping = commands.add_parser("ping", help="check that DynamoDB answers and the table exists with the store's key")
    add_store_options(ping, attributes=False)
    doctor = commands.add_parser(
        "doctor", help="check the table (key, TTL, billing, indexes) and the run-time permissions; one line each"
    )
    add_store_options(doctor)
    add_user_commands(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
