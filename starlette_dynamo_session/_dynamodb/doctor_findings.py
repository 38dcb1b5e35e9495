"""What ``doctor`` reports: its findings, and the pieces of their messages and fixes that every check shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from starlette_dynamo_session._dynamodb.defaults import DEFAULT_TOKEN_NAME, DEFAULT_TTL_NAME

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from starlette_dynamo_session._dynamodb.store import DynamoStore

__all__ = [
    "DENIED_CODES",
    "Finding",
    "Severity",
    "after_error",
    "answer_code",
    "answer_message",
    "command_for",
    "region_of",
    "table_arn",
]

Severity = Literal["ok", "note", "fix"]

# The error codes that mean the credentials may not make the call. (moto's server, when it enforces IAM, answers a
# DynamoDB call with an XML error: code "403", with AccessDenied inside the message.)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of ``diagnose``: what was checked, what was found, and, when it needs fixing, how.

    ``severity`` is ``"ok"``, ``"note"`` (worth knowing, nothing to fix) or ``"fix"``. Every ``fix`` follows one
    standard: what to do, in the imperative, and any command to run in backquotes, complete and ready to paste
    (``run `...```).
    """

    check: str
    severity: Severity
    message: str
    fix: str = ""

    def line(self) -> str:
        """The finding as one line of ``doctor``'s output."""
        text = f"{self.severity.upper():<4} {self.check}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def command_for(store: DynamoStore, command: str, *, table: str | None = None) -> str:
    """The command line that runs ``command`` on the store's table (or ``table``), region and attribute names."""
    words = ["python", "-m", "starlette_dynamo_session", command, "--table", table or store.table_name]
    words += ["--region", region_of(store.client)]
    if store.token_name != DEFAULT_TOKEN_NAME:
        words += ["--token-attribute", store.token_name]
    if store.ttl_name != DEFAULT_TTL_NAME:
        words += ["--ttl-attribute", store.ttl_name]
    return " ".join(words)


def after_error(store: DynamoStore) -> str:
    """The fix for an error answer doctor does not know: what DynamoDB's message says, then doctor again."""
    doctor = command_for(store, "doctor")
    return f"correct what DynamoDB's message says (credentials, region, table name), then run `{doctor}` again"


def answer_code(exc: ClientError) -> str:
    """The error's code; ``AccessDeniedException`` for any answer that says access was denied."""
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if status == 403 and "<Code>AccessDenied</Code>" in answer_message(exc):
        return "AccessDeniedException"
    return code


def answer_message(exc: ClientError) -> str:
    """The message of DynamoDB's error answer ``exc`` (empty when it has none)."""
    return str(exc.response.get("Error", {}).get("Message", ""))


def region_of(client: DynamoDBClient) -> str:
    """The region ``client`` calls."""
    return str(client.meta.region_name)


def table_arn(client: DynamoDBClient, name: str) -> str:
    """The ARN of the table ``name`` in ``client``'s region, with ``ACCOUNT`` for the account."""
    return f"arn:aws:dynamodb:{region_of(client)}:ACCOUNT:table/{name}"
