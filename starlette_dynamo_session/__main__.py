"""The command line: ``python -m starlette_dynamo_session create-table|ping|doctor --table NAME``, and
``revoke-user|list-sessions --table NAME USER_ID``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import anyio
from botocore.exceptions import BotoCoreError

from starlette_dynamo_session._doctor import diagnose
from starlette_dynamo_session._exceptions import SessionError
from starlette_dynamo_session._store import DEFAULT_TABLE_NAME, DEFAULT_TOKEN_NAME, DEFAULT_TTL_NAME, DynamoStore
from starlette_dynamo_session._users_cli import add_user_commands, run_user_command


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return the process exit status: 0 on success, 1 on failure (for ``doctor``: when
    anything needs fixing), 2 on bad usage."""
    parser = argparse.ArgumentParser(
        prog="python -m starlette_dynamo_session",
        description="Manage the DynamoDB table behind starlette-dynamo-session. AWS settings (AWS_REGION, "
        "AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB, ...) are read as by any AWS tool.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-table", help="create the table with TTL enabled and wait until it is usable")
    create.add_argument("--table", default=DEFAULT_TABLE_NAME, help="table name (default: %(default)s)")
    create.add_argument("--ttl-attribute", default=DEFAULT_TTL_NAME, help="TTL attribute (default: %(default)s)")
    ping = commands.add_parser("ping", help="check that DynamoDB answers and the table exists with the store's key")
    ping.add_argument("--table", default=DEFAULT_TABLE_NAME, help="table name (default: %(default)s)")
    doctor = commands.add_parser(
        "doctor", help="check the table (key, TTL, billing, indexes) and the run-time permissions; one line each"
    )
    doctor.add_argument("--table", default=DEFAULT_TABLE_NAME, help="table name (default: %(default)s)")
    doctor.add_argument("--token-attribute", default=DEFAULT_TOKEN_NAME, help="partition key (default: %(default)s)")
    doctor.add_argument("--ttl-attribute", default=DEFAULT_TTL_NAME, help="TTL attribute (default: %(default)s)")
    add_user_commands(commands)
    args = parser.parse_args(argv)

    try:
        if args.command in ("revoke-user", "list-sessions"):
            print(anyio.run(run_user_command, args))
        elif args.command == "create-table":
            DynamoStore(table_name=args.table, ttl_name=args.ttl_attribute).create_table()
            print(f"table {args.table!r} is ready")
        elif args.command == "doctor":
            store = DynamoStore(table_name=args.table, token_name=args.token_attribute, ttl_name=args.ttl_attribute)
            findings = diagnose(store)
            print("\n".join(finding.line() for finding in findings))
            return 1 if any(finding.severity == "fix" for finding in findings) else 0
        else:
            DynamoStore(table_name=args.table).ping()
            print(f"table {args.table!r} is reachable")
    except (SessionError, BotoCoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
