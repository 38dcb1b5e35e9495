"""The HTTP rules of a session, apart from any framework: where a request's token comes from (a cookie, or an API
client's header), what its response carries (a ``Set-Cookie``, or the header), which paths skip sessions, and how
a request whose session cannot be served is refused. An ASGI adapter reads the request's raw headers, asks these
rules, and writes what they answer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette_dynamo_session._core.exceptions import SessionError, SessionTooLarge
from starlette_dynamo_session._core.outcomes import Destroyed, Outcome, Written
from starlette_dynamo_session._core.tokens import TokenSigner

__all__ = ["RETRY_AFTER_SECONDS", "Incoming", "Refusal", "SessionHttp", "cookie_value", "refusal_response"]

RETRY_AFTER_SECONDS = 5

_TOKEN_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token: what cookie and header names are
_EXPIRED = "expires=Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass(frozen=True, slots=True)
class Incoming:
    """What a request presented: the signed value (``None`` when it sent none), the token inside it when the
    signature holds, and the session header it came in (``None`` when it came as a cookie)."""

    signed: str | None
    token: str | None
    header: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """How to answer a request whose session could not be loaded or saved: the HTTP status, its text, its headers,
    what to log, and the WebSocket close code."""

    status: int
    text: str
    headers: dict[str, str]
    log: str
    websocket_code: int = 1013  # "try again later"


class SessionHttp:
    """One middleware's cookie (or header) settings, and the rules that read a request's token and write its
    response's.

    Raises ``ValueError`` for a cookie or header name that is not an HTTP token.
    """

    def __init__(
        self,
        signer: TokenSigner,
        *,
        cookie: str = "session",
        header: str | None = None,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
        partitioned: bool = False,
        skip_paths: Sequence[str] = (),
    ) -> None:
        if not _TOKEN_NAME.fullmatch(cookie):
            raise ValueError(f"invalid cookie name: {cookie!r}")
        if header is not None and not _TOKEN_NAME.fullmatch(header):
            raise ValueError(f"invalid header name: {header!r}")
        if isinstance(skip_paths, str) or not all(prefix.startswith("/") for prefix in skip_paths):
            raise ValueError(f"skip_paths must be a list of path prefixes starting with '/', got {skip_paths!r}")
        self.signer = signer
        self.cookie = cookie
        self.header = header
        self.path = path
        self.skip_paths = tuple(prefix.rstrip("/") for prefix in skip_paths)
        flags = ["httponly", f"samesite={same_site}"]
        if https_only:  # the Secure flag only works over HTTPS
            flags.append("secure")
        if domain is not None:
            flags.append(f"domain={domain}")
        if partitioned:
            flags.append("partitioned")
        self.flags = "; ".join(flags)

    def skips(self, route_path: str) -> bool:
        """Whether a path, as the framework's routing sees it (below any ``root_path``), is one of ``skip_paths``
        or under one."""
        return any(route_path == prefix or route_path.startswith(prefix + "/") for prefix in self.skip_paths)

    def incoming(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> Incoming:
        """The token a request presents, from its ASGI headers: the session header's value when it sends that
        header (an API client, empty until it has a token: never mixed with a cookie), else the session cookie's."""
        wanted = None if self.header is None else self.header.lower().encode("latin-1")
        cookies: list[str] = []
        for name, value in raw_headers:
            if name == wanted:
                signed = value.decode("latin-1")
                return Incoming(signed, self.signer.unsign(signed) if signed else None, self.header)
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
        signed_cookie = cookie_value("; ".join(cookies), self.cookie)
        return Incoming(signed_cookie, self.signer.unsign(signed_cookie) if signed_cookie else None, None)

    def response_headers(self, outcome: Outcome, incoming: Incoming) -> list[tuple[str, str]]:
        """The headers an outcome calls for on the response to ``incoming``: the new signed token (a cookie, or
        the header it came in), an expired cookie or an empty header for an ended session, or none."""
        if incoming.header is not None:
            match outcome:
                case Written(token=token):
                    return [(incoming.header, self.signer.sign(token))]
                case Destroyed():
                    return [(incoming.header, "")]
            return []
        match outcome:
            case Written(token=token, max_age=max_age):
                parts = [f"{self.cookie}={self.signer.sign(token)}", f"path={self.path}"]
                if max_age is not None:
                    parts.append(f"Max-Age={max_age}")
            case Destroyed():
                parts = [f"{self.cookie}=", f"path={self.path}", _EXPIRED, "Max-Age=0"]
            case _:
                return []
        return [("Set-Cookie", "; ".join([*parts, self.flags]))]

    def vary(self) -> tuple[str, ...]:
        """The request headers a response that used the session varies by."""
        return ("Cookie",) if self.header is None else ("Cookie", self.header)


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of the first cookie called ``name`` in a ``Cookie`` header, exactly as the client sent it, or
    ``None`` when there is none.

    Pairs are split on ``;`` and then on their first ``=``, and only spaces and tabs around names and values are
    dropped: nothing is unquoted or unescaped, so a cookie has one spelling only (``session="..."`` is not
    ``session=...``). Of several cookies of that name the first wins, as browsers send the one with the most
    specific path first (RFC 6265, section 5.4).
    """
    for pair in cookie_header.split(";"):
        key, equals, value = pair.partition("=")
        if equals and key.strip(" \t") == name:
            return value.strip(" \t")
    return None


def refusal_response(exc: SessionError) -> Refusal:
    """How to answer a request refused for ``exc``: 500 for a session too large to store (retrying will not help),
    503 with ``Retry-After`` for a store that failed. Raises nothing."""
    if isinstance(exc, SessionTooLarge):
        return Refusal(500, "The session is too large to be saved.", {}, "session not saved")
    return Refusal(
        503,
        "Sessions are unavailable right now. Please retry shortly.",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
        "session store unavailable",
    )
