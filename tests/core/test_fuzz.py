"""Arbitrary cookie headers and session values thrown at DynamoSessionMiddleware on moto, with hypothesis.

Requests are raw ASGI calls: the ``Cookie`` header is built byte by byte, so nothing between the test and the
middleware cleans it up. The properties: never a server error, never a store read for a cookie whose signature does not
verify (and never one for any token but a validly signed one), never a ``Set-Cookie`` that carries any of the input
back, and JSON session values come back exactly as they were written.

Each property runs 200 examples; ``FUZZ_EXAMPLES=10000 venv/bin/pytest tests/core/test_fuzz.py`` runs 10,000 (the
``fuzz`` hypothesis profile). Two bugs it found are fixed, and pinned by tests of their own (docs/robustness.md): a
signature accepted in other spellings than the one issued, and a lone surrogate in a session value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import itsdangerous
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from starlette_dynamo_session import DynamoSessionMiddleware, DynamoStore
from starlette_dynamo_session._core.tokens import TokenSigner
from tests.support.recorder import OperationRecorder

pytestmark = pytest.mark.anyio

CURRENT_KEY = "fuzz-current-key"
PREVIOUS_KEY = "fuzz-previous-key"  # still verifies: the app is mid-rotation
RETIRED_KEY = "fuzz-retired-key"  # no longer verifies
OTHER_KEY = "someone-elses-key"
SALT = "starlette_dynamo_session.token"  # the middleware's salt, to forge signatures that differ only in the key

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ = settings.get_profile("fuzz")

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
FRESH_COOKIE = re.compile(
    r"session=([A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}); path=/; Max-Age=\d+; httponly; samesite=lax"
)
EXPIRED_COOKIE = "session=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; httponly; samesite=lax"


# --- the application -------------------------------------------------------------------------------------------------


async def read(request: Request) -> Response:
    # ASCII-only JSON, so that any string the session holds can be sent back (a lone surrogate too).
    return Response(json.dumps(dict(request.session)), media_type="application/json")


async def write(request: Request) -> JSONResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse(dict(request.session))


async def replace(request: Request) -> JSONResponse:
    request.session.clear()
    request.session.update(await request.json())
    return JSONResponse({})


async def clear(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({})


ROUTES = [
    Route("/read", read),
    Route("/write", write, methods=["POST"]),
    Route("/replace", replace, methods=["POST"]),
    Route("/clear", clear, methods=["POST"]),
]
METHODS = {"/read": "GET", "/write": "POST", "/replace": "POST", "/clear": "POST"}


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header_values(self, name: bytes) -> list[str]:
        return [value.decode("latin-1") for key, value in self.headers if key.lower() == name]

    def json(self) -> Any:
        return json.loads(self.body)


async def call(app: ASGIApp, path: str, cookie: bytes | tuple[bytes, ...] | None = None, body: bytes = b"") -> Reply:
    """One HTTP request as a raw ASGI call, with exactly these ``Cookie`` header bytes (a tuple: one ``Cookie`` header
    per item, as HTTP/2 may send them)."""
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    for value in (cookie,) if isinstance(cookie, bytes) else cookie or ():
        headers.append((b"cookie", value))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": METHODS[path],
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body_parts = [message.get("body", b"") for message in sent if message["type"] == "http.response.body"]
    return Reply(start["status"], list(start.get("headers", [])), b"".join(body_parts))


@dataclass
class Harness:
    """The app behind the middleware on the moto store, and everything the store was asked."""

    app: ASGIApp
    store: DynamoStore
    recorder: OperationRecorder
    signer: TokenSigner
    asked_keys: list[str] = field(default_factory=list)

    def take(self) -> tuple[list[str], list[str]]:
        """The operations sent and the item keys read since the last call."""
        keys, self.asked_keys = self.asked_keys, []
        return self.recorder.take(), keys


@pytest.fixture
def harness(moto_store: DynamoStore, moto_recorder: OperationRecorder) -> Harness:
    middleware = Middleware(DynamoSessionMiddleware, store=moto_store, secret_key=[CURRENT_KEY, PREVIOUS_KEY])
    app = Starlette(routes=ROUTES, middleware=[middleware])
    harness = Harness(app, moto_store, moto_recorder, TokenSigner([CURRENT_KEY, PREVIOUS_KEY]))

    def record_key(params: dict[str, Any], **kwargs: Any) -> None:
        harness.asked_keys.append(params["Key"][moto_store.token_name]["S"])

    moto_store.client.meta.events.register("provide-client-params.dynamodb.GetItem", record_key)
    return harness


# --- what goes into the Cookie header --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One cookie value the fuzzer made, and the token inside it if its signature verifies and it is token-shaped."""

    value: bytes
    valid_token: str | None = None


def sign(key: str, value: str | bytes, *, salt: str = SALT, digest: Any = hashlib.sha256) -> str:
    signer = itsdangerous.Signer(key, salt=salt, key_derivation="hmac", digest_method=digest)
    return signer.sign(value).decode("utf-8")


tokens = st.text(TOKEN_ALPHABET, min_size=43, max_size=43)
junk_text = st.text(max_size=200).map(lambda text: text.encode("utf-8"))
junk_bytes = st.binary(max_size=300)
huge = st.builds(
    lambda chunk, times: (chunk * times)[:16_384], st.binary(min_size=1, max_size=64), st.integers(1, 16_384)
)
injection = st.sampled_from(
    [b"\r\nSet-Cookie: session=evil", b"\r\n\r\n<html>", b";", b"=", b",", b"\x00", b'"', b"\\", b"; Path=/; Domain=x"]
)


@st.composite
def valid_pieces(draw: st.DrawFn) -> Piece:
    """A well-shaped token signed with a key the app accepts: the only kind of cookie worth a store read (quoted, it
    is another spelling, and opens nothing)."""
    token = draw(tokens)
    key = draw(st.sampled_from([CURRENT_KEY, PREVIOUS_KEY]))
    signed = sign(key, token)
    quoted = draw(st.booleans())
    return Piece((f'"{signed}"' if quoted else signed).encode(), None if quoted else token)


@st.composite
def forged_pieces(draw: st.DrawFn) -> Piece:
    """Values that look like session cookies and must not open anything."""
    token = draw(tokens)
    kind = draw(
        st.sampled_from(
            ["retired key", "other key", "other salt", "sha1", "timestamped", "junk token", "tampered", "injected"]
        )
    )
    if kind == "retired key":
        value = sign(RETIRED_KEY, token)
    elif kind == "other key":
        value = sign(draw(st.sampled_from([OTHER_KEY, CURRENT_KEY + " ", CURRENT_KEY.upper()])), token)
    elif kind == "other salt":
        value = sign(CURRENT_KEY, token, salt=draw(st.sampled_from(["itsdangerous.Signer", "starlette.sessions"])))
    elif kind == "sha1":
        value = sign(CURRENT_KEY, token, digest=hashlib.sha1)
    elif kind == "timestamped":  # Starlette's own SessionMiddleware cookie format, with the app's key
        value = itsdangerous.TimestampSigner(CURRENT_KEY).sign(token).decode()
    elif kind == "junk token":  # a signature that verifies, over something that is not a token
        junk = draw(
            st.one_of(st.text(max_size=100), tokens.map(lambda t: t + "="), tokens.map(lambda t: t[:42])).filter(
                lambda text: not TOKEN.fullmatch(text)
            )
        )
        return Piece(sign(draw(st.sampled_from([CURRENT_KEY, PREVIOUS_KEY])), junk.encode("utf-8")).encode())
    elif kind == "tampered":
        signed = sign(CURRENT_KEY, token)
        position = draw(st.integers(0, len(signed) - 1))
        replacement = draw(st.sampled_from(TOKEN_ALPHABET + ".").filter(lambda c: c != signed[position]))
        value = signed[:position] + replacement + signed[position + 1 :]
    else:
        whole_value = sign(CURRENT_KEY, token).encode()
        position = draw(st.integers(0, len(whole_value)))
        # Before or after it, the signature stays whole: next to a separator, it may be read as a valid cookie.
        whole = position in (0, len(whole_value))
        return Piece(whole_value[:position] + draw(injection) + whole_value[position:], token if whole else None)
    return Piece(value.encode())


junk_pieces = st.one_of(junk_text, junk_bytes, huge, injection).map(Piece)
names = st.one_of(
    st.just(b"session"),
    st.sampled_from([b"Session", b"SESSION", b" session", b"session ", b"sess", b"session\x00", b"", b"csrftoken"]),
    junk_text.map(lambda name: name[:30]),
)
separators = st.sampled_from([b"; ", b";", b" ; ", b",", b", ", b"\r\n", b";;", b"\t;", b" ", b""])


@st.composite
def cookie_headers(draw: st.DrawFn, pieces: st.SearchStrategy[Piece]) -> tuple[bytes, set[str]]:
    """A Cookie header of up to 40 cookies (duplicate names included) and the validly signed tokens in it."""
    cookies = draw(st.lists(st.tuples(names, pieces, st.booleans()), min_size=1, max_size=40))
    header, valid = b"", set()
    for name, piece, with_equals in cookies:
        header += draw(separators) if header else b""
        header += name + b"=" + piece.value if with_equals or name == b"session" else piece.value
        if piece.valid_token is not None:
            valid.add(piece.valid_token)
    return header, valid


any_pieces = st.one_of(junk_pieces, forged_pieces(), valid_pieces())
routes = st.sampled_from(["/read", "/write", "/clear"])


# --- what must hold for every reply ----------------------------------------------------------------------------------


def check_reply(harness: Harness, path: str, header: bytes, valid: set[str], reply: Reply) -> None:
    operations, keys = harness.take()
    assert reply.status == 200, reply.body
    for name, value in reply.headers:
        assert b"\r" not in name + value and b"\n" not in name + value and b"\x00" not in value
    # A store read only ever for a token whose signature verifies, and at most one.
    assert operations.count("GetItem") <= (1 if valid else 0), operations
    assert set(keys) <= {harness.store.key(token) for token in valid}
    set_cookies = reply.header_values(b"set-cookie")
    if path == "/write":
        assert [op for op in operations if op != "GetItem"] == ["PutItem"]
        assert len(set_cookies) == 1, set_cookies
        match = FRESH_COOKIE.fullmatch(set_cookies[0])
        assert match is not None, set_cookies[0]
        token = harness.signer.unsign(match.group(1))
        assert token is not None and TOKEN.fullmatch(token)
        # A fresh token: never one from the request (unknown tokens are not adopted), never a piece of the input.
        assert token not in valid
        assert token.encode() not in header and match.group(1).encode() not in header
        assert reply.json() == {"visits": 1}
    else:
        assert [op for op in operations if op != "GetItem"] == []
        assert set_cookies == []
    for set_cookie in set_cookies:
        assert FRESH_COOKIE.fullmatch(set_cookie) or set_cookie == EXPIRED_COOKIE


# --- the properties --------------------------------------------------------------------------------------------------


@FUZZ
@given(header=st.one_of(junk_bytes, junk_text, huge), path=routes)
async def test_random_bytes_in_the_cookie_header_never_reach_the_store_nor_come_back(
    harness: Harness, header: bytes, path: str
) -> None:
    reply = await call(harness.app, path, header)
    check_reply(harness, path, header, set(), reply)


@FUZZ
@given(
    cookie=cookie_headers(st.one_of(junk_pieces, forged_pieces().filter(lambda piece: piece.valid_token is None))),
    path=routes,
)
async def test_forged_tampered_and_junk_session_cookies_never_reach_the_store_nor_come_back(
    harness: Harness, cookie: tuple[bytes, set[str]], path: str
) -> None:
    header, valid = cookie
    assert valid == set()
    reply = await call(harness.app, path, header)
    check_reply(harness, path, header, valid, reply)


def spelled_differently(token: str) -> bytes:
    """A validly signed cookie for ``token`` with "=" before its signature and "," after it, as the 10,000-example run
    found it (a forged piece with "=" injected, then a junk piece ","): base64 decoding skips both."""
    signed_token, signature = sign(CURRENT_KEY, token).split(".")
    return f"session={signed_token}.={signature},".encode()


@FUZZ
@given(cookie=cookie_headers(any_pieces), path=routes)
@example(cookie=(spelled_differently("0" * 43), set()), path="/read")
async def test_only_validly_signed_tokens_are_looked_up_and_unknown_ones_are_never_adopted(
    harness: Harness, cookie: tuple[bytes, set[str]], path: str
) -> None:
    header, valid = cookie
    reply = await call(harness.app, path, header)
    check_reply(harness, path, header, valid, reply)


safe_names = junk_text.map(lambda name: name[:30]).filter(
    lambda name: b";" not in name and b"=" not in name and name.decode("latin-1").strip() != "session"
)
safe_values = st.one_of(junk_text, junk_bytes, huge, forged_pieces().map(lambda piece: piece.value)).filter(
    lambda value: b";" not in value
)


@FUZZ
@given(
    before=st.lists(st.tuples(safe_names, safe_values), max_size=20),
    after=st.lists(st.tuples(safe_names, safe_values), max_size=20),
    separator=st.sampled_from([b"; ", b";", b" ; ", b";\t"]),
)
async def test_a_real_session_cookie_among_junk_cookies_still_opens_its_session(
    harness: Harness, before: list[tuple[bytes, bytes]], after: list[tuple[bytes, bytes]], separator: bytes
) -> None:
    created = await call(harness.app, "/write")
    match = FRESH_COOKIE.fullmatch(created.header_values(b"set-cookie")[0])
    assert match is not None
    harness.take()
    cookies = [name + b"=" + value for name, value in before] + [b"session=" + match.group(1).encode()]
    cookies += [name + b"=" + value for name, value in after]
    reply = await call(harness.app, "/read", separator.join(cookies))
    assert reply.status == 200
    assert reply.json() == {"visits": 1}
    assert harness.take()[0] == ["GetItem"]
    assert reply.header_values(b"set-cookie") == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
sessions = st.dictionaries(st.text(max_size=20), json_values, min_size=1, max_size=8)


async def round_trip(harness: Harness, session: dict[str, Any]) -> tuple[Any, list[str], list[str]]:
    """Write ``session`` through the app, read it back with the cookie; return what came back, the operations of the
    read, and its ``Set-Cookie`` headers."""
    written = await call(harness.app, "/replace", body=json.dumps(session).encode())
    assert written.status == 200, written.body
    match = FRESH_COOKIE.fullmatch(written.header_values(b"set-cookie")[0])
    assert match is not None
    assert harness.take()[0] == ["PutItem"]
    reply = await call(harness.app, "/read", b"session=" + match.group(1).encode())
    assert reply.status == 200, reply.body
    return reply.json(), harness.take()[0], reply.header_values(b"set-cookie")


def exactly(value: Any) -> str:
    """A text that tells apart everything JSON does (1, 1.0 and True compare equal in Python)."""
    return json.dumps(value, ensure_ascii=True)


@FUZZ
@given(session=sessions)
async def test_json_session_values_come_back_exactly_and_reading_them_never_rewrites_them(
    harness: Harness, session: dict[str, Any]
) -> None:
    read_back, operations, set_cookies = await round_trip(harness, session)
    assert exactly(read_back) == exactly(session)
    assert operations == ["GetItem"]
    assert set_cookies == []


async def test_a_lone_surrogate_in_a_session_value_is_saved_and_read_back(harness: Harness) -> None:
    """JSON can carry a lone surrogate (``"\\ud800"``, as ``request.json()`` returns it) and Starlette's own middleware
    stores one; here it must not turn into a 500 either."""
    session = {"note": "a\ud800b"}
    read_back, operations, set_cookies = await round_trip(harness, session)
    assert exactly(read_back) == exactly(session)
    assert (operations, set_cookies) == (["GetItem"], [])


def respellings(cookie: str) -> list[str]:
    """Other spellings of a signed cookie that decode to the same signature bytes: the three other values of the
    signature's last character (its two spare bits), "=" padding, spaces inside, "=" and "," around it."""
    token, signature = cookie.split(".")
    alphabet = TOKEN_ALPHABET  # in base64url order: A-Z, a-z, 0-9, "-", "_"
    group = alphabet.index(signature[-1]) // 4 * 4
    spare_bits = [
        signature[:-1] + alphabet[index] for index in range(group, group + 4) if alphabet[index] != signature[-1]
    ]
    padded = [signature + "=", signature[:20] + "  " + signature[20:], "=" + signature + ","]
    return [f"{token}.{variant}" for variant in spare_bits + padded]


async def test_a_session_cookie_opens_the_session_only_in_the_spelling_the_middleware_wrote(harness: Harness) -> None:
    """One signature, one cookie: a respelled signature is not the one that was issued, so it is refused like any other
    bad signature (no store read). Otherwise anyone holding a cookie can mint endless distinct cookie strings for the
    same session, past any blocklist, log or rate limit keyed on the cookie value."""
    created = await call(harness.app, "/write")
    match = FRESH_COOKIE.fullmatch(created.header_values(b"set-cookie")[0])
    assert match is not None
    harness.take()
    assert (await call(harness.app, "/read", b"session=" + match.group(1).encode())).json() == {"visits": 1}
    assert harness.take()[0] == ["GetItem"]
    opened = []
    for respelled in respellings(match.group(1)):
        reply = await call(harness.app, "/read", b"session=" + respelled.encode())
        if reply.json() != {} or harness.take()[0] != []:
            opened.append(respelled)
    assert opened == []


async def written_cookie(harness: Harness, session: dict[str, Any] | None = None) -> str:
    """The signed cookie value of a new session holding ``session`` (``{"visits": 1}`` by default); the store's
    operations so far are taken."""
    if session is None:
        created = await call(harness.app, "/write")
    else:
        created = await call(harness.app, "/replace", body=json.dumps(session).encode())
    match = FRESH_COOKIE.fullmatch(created.header_values(b"set-cookie")[0])
    assert match is not None
    harness.take()
    return match.group(1)


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(lambda value: f'"{value}"', id="quoted"),
        pytest.param(lambda value: '"' + value.replace(".", "\\.") + '"', id="backslash-escaped"),
        pytest.param(lambda value: '"' + value.replace(".", "\\056") + '"', id="octal-escaped"),
    ],
)
async def test_a_quoted_or_escaped_session_cookie_opens_nothing_and_costs_no_store_read(
    harness: Harness, respell: Callable[[str], str]
) -> None:
    """Python's cookie unquoting would turn each of these back into the cookie that was issued."""
    respelled = respell(await written_cookie(harness))
    reply = await call(harness.app, "/read", b"session=" + respelled.encode())
    assert (reply.status, reply.json()) == (200, {})
    assert harness.take()[0] == []


async def test_the_session_cookie_opens_its_session_between_other_cookies(harness: Harness) -> None:
    cookie = await written_cookie(harness)
    reply = await call(harness.app, "/read", f'theme="dark"; session={cookie}; csrftoken=a=b'.encode())
    assert reply.json() == {"visits": 1}
    assert harness.take()[0] == ["GetItem"]


async def test_of_two_session_cookies_in_one_header_the_first_is_used(harness: Harness) -> None:
    """Browsers send the cookie with the most specific path first (RFC 6265, 5.4)."""
    first = await written_cookie(harness, {"who": "first"})
    second = await written_cookie(harness, {"who": "second"})
    reply = await call(harness.app, "/read", f"session={first}; session={second}".encode())
    assert reply.json() == {"who": "first"}


async def test_cookies_split_over_several_cookie_headers_are_read_as_one(harness: Harness) -> None:
    """HTTP/2 lets a client send each cookie in a ``Cookie`` header of its own (RFC 9113, 8.2.3)."""
    cookie = await written_cookie(harness)
    reply = await call(harness.app, "/read", (b"theme=dark", b"session=" + cookie.encode()))
    assert reply.json() == {"visits": 1}
