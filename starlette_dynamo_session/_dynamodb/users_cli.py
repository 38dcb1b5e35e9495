"""The command line's users' sessions commands: ``revoke-user`` and ``list-sessions`` (``--table NAME USER_ID``)."""

from __future__ import annotations

import argparse
from typing import Any

from starlette_dynamo_session._dynamodb.cli import add_store_options, open_store

__all__ = ["add_user_commands", "run_user_command"]


def add_user_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``revoke-user`` and ``list-sessions`` to the command line's subcommands."""
    revoke = commands.add_parser("revoke-user", help="end every session of a user; prints how many it ended")
    listing = commands.add_parser("list-sessions", help="list a user's live sessions, most recently used first")
    for command in (revoke, listing):
        add_store_options(command)
        command.add_argument("user_id", metavar="USER_ID", help="the user id the application binds sessions to")


async def run_user_command(args: argparse.Namespace) -> str:
    """Run ``revoke-user`` or ``list-sessions`` and return what to print.

    Raises ``ValueError`` for an unusable user id, botocore's ``NoRegionError`` without a region, and
    ``TableNotFound`` or ``StoreUnavailable``.
    """
    store = open_store(args)
    if args.command == "revoke-user":
        ended = await store.revoke_all(args.user_id)
        return f"ended {ended} session{'' if ended == 1 else 's'} of user {args.user_id!r}"
    sessions = await store.list_sessions(args.user_id)
    lines = [f"{len(sessions)} live session{'' if len(sessions) == 1 else 's'} of user {args.user_id!r}"]
    for info in sessions:
        times = f"created {info.created:%Y-%m-%d %H:%M:%S}Z  last seen {info.last_seen:%Y-%m-%d %H:%M:%S}Z"
        lines.append(
            f"{info.key}  {times}  expires {info.expires:%Y-%m-%d %H:%M:%S}Z  ip {info.ip or '-'}  "
            f"{info.user_agent or '-'}"
        )
    return "\n".join(lines)
