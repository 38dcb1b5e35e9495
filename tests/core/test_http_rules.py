"""The framework-free HTTP rules: where a request's token comes from and what its response carries."""

from __future__ import annotations

import pytest

from starlette_dynamo_session import SessionTooLarge, StoreUnavailable
from starlette_dynamo_session._core.http import SessionHttp, cookie_value, refusal_response
from starlette_dynamo_session._core.outcomes import Destroyed, Refreshed, Unchanged, Written
from starlette_dynamo_session._core.tokens import TokenSigner, new_token

SIGNER = TokenSigner("key")


def raw(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


def test_the_token_comes_from_the_session_cookie() -> None:
    token = new_token()
    incoming = SessionHttp(SIGNER).incoming(raw(("Cookie", f"theme=dark; session={SIGNER.sign(token)}")))
    assert (incoming.token, incoming.header) == (token, None)


def test_cookies_split_over_several_headers_are_all_read() -> None:
    token = new_token()
    incoming = SessionHttp(SIGNER).incoming(raw(("Cookie", "theme=dark"), ("Cookie", f"session={SIGNER.sign(token)}")))
    assert incoming.token == token


def test_the_session_header_wins_over_a_cookie_whatever_their_order() -> None:
    cookie_token, header_token = new_token(), new_token()
    rules = SessionHttp(SIGNER, header="X-Session-Token")
    incoming = rules.incoming(
        raw(("Cookie", f"session={SIGNER.sign(cookie_token)}"), ("X-Session-Token", SIGNER.sign(header_token)))
    )
    assert (incoming.token, incoming.header) == (header_token, "X-Session-Token")


def test_an_empty_session_header_is_a_header_client_without_a_token() -> None:
    incoming = SessionHttp(SIGNER, header="X-Session-Token").incoming(raw(("X-Session-Token", "")))
    assert (incoming.signed, incoming.token, incoming.header) == ("", None, "X-Session-Token")


def test_a_value_signed_with_another_key_carries_no_token() -> None:
    signed = TokenSigner("other").sign(new_token())
    incoming = SessionHttp(SIGNER).incoming(raw(("Cookie", f"session={signed}")))
    assert (incoming.signed, incoming.token) == (signed, None)


def test_a_written_session_sets_a_cookie_with_its_signed_token_and_flags() -> None:
    rules = SessionHttp(SIGNER, path="/app", https_only=True, domain="example.com", partitioned=True)
    token = new_token()
    [(name, value)] = rules.response_headers(Written(token, 60), rules.incoming([]))
    assert name == "Set-Cookie"
    assert value == (
        f"session={SIGNER.sign(token)}; path=/app; Max-Age=60; httponly; samesite=lax; secure; domain=example.com; "
        "partitioned"
    )


def test_a_browser_session_cookie_has_no_max_age() -> None:
    rules = SessionHttp(SIGNER)
    [(_, value)] = rules.response_headers(Written(new_token(), None), rules.incoming([]))
    assert "Max-Age" not in value


def test_an_ended_session_expires_its_cookie() -> None:
    rules = SessionHttp(SIGNER)
    assert rules.response_headers(Destroyed(), rules.incoming([])) == [
        ("Set-Cookie", "session=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; httponly; samesite=lax")
    ]


@pytest.mark.parametrize("outcome", [Unchanged(), Refreshed()])
def test_an_unchanged_or_refreshed_session_sends_nothing(outcome: Unchanged | Refreshed) -> None:
    rules = SessionHttp(SIGNER, header="X-Session-Token")
    assert rules.response_headers(outcome, rules.incoming([])) == []
    assert rules.response_headers(outcome, rules.incoming(raw(("X-Session-Token", "")))) == []


def test_a_header_client_gets_its_token_in_the_header_and_never_a_cookie() -> None:
    rules = SessionHttp(SIGNER, header="X-Session-Token")
    incoming = rules.incoming(raw(("X-Session-Token", "")))
    token = new_token()
    assert rules.response_headers(Written(token, 60), incoming) == [("X-Session-Token", SIGNER.sign(token))]
    assert rules.response_headers(Destroyed(), incoming) == [("X-Session-Token", "")]


def test_responses_vary_by_the_cookie_and_the_session_header() -> None:
    assert SessionHttp(SIGNER).vary() == ("Cookie",)
    assert SessionHttp(SIGNER, header="X-Session-Token").vary() == ("Cookie", "X-Session-Token")


@pytest.mark.parametrize(("path", "skipped"), [("/static", True), ("/static/app.css", True), ("/statics", False)])
def test_skip_paths_match_whole_segments(path: str, skipped: bool) -> None:
    assert SessionHttp(SIGNER, skip_paths=["/static/"]).skips(path) is skipped


@pytest.mark.parametrize("name", ["", "a b", "sess;ion", "é"])
def test_a_cookie_name_that_is_not_an_http_token_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid cookie name"):
        SessionHttp(SIGNER, cookie=name)


def test_the_first_of_several_cookies_of_one_name_wins_unquoted_nothing() -> None:
    assert cookie_value('a=1; session="x"; session=y', "session") == '"x"'


def test_a_store_failure_is_refused_with_503_and_retry_after() -> None:
    answer = refusal_response(StoreUnavailable("down"))
    assert (answer.status, answer.headers, answer.websocket_code) == (503, {"Retry-After": "5"}, 1013)


def test_a_session_too_large_is_refused_with_500_and_no_retry_after() -> None:
    answer = refusal_response(SessionTooLarge("big"))
    assert (answer.status, answer.headers) == (500, {})
