"""Tokens and their signatures: entropy, tampering and key rotation."""

from __future__ import annotations

import pytest
from starlette.datastructures import Secret
from starlette.routing import Route

from starlette_dynamo_session._core.tokens import TokenSigner, new_token
from tests.conftest import ClientFactory
from tests.endpoints import update_session, view_session
from tests.support.memory_store import MemoryStore

ROUTES = [Route("/view", view_session), Route("/update", update_session, methods=["POST"])]


def test_tokens_carry_256_random_bits() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert {len(token) for token in tokens} == {43}


def test_a_signed_token_verifies() -> None:
    signer = TokenSigner("key")
    token = new_token()
    assert signer.unsign(signer.sign(token)) == token


@pytest.mark.parametrize(
    "tamper", [lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"), lambda v: ("X" if v[0] != "X" else "Y") + v[1:]]
)
def test_a_tampered_cookie_is_refused(tamper: object) -> None:
    signer = TokenSigner("key")
    assert signer.unsign(tamper(signer.sign(new_token()))) is None  # type: ignore[operator]


@pytest.mark.parametrize("value", ["", "garbage", ".", "a.b.c", "null", "\u2603.\u2603", "x" * 10_000])
def test_garbage_is_refused(value: str) -> None:
    assert TokenSigner("key").unsign(value) is None


def test_a_validly_signed_value_that_is_not_a_token_is_refused() -> None:
    signer = TokenSigner("key")
    assert signer.unsign(signer.sign("not-a-token")) is None


def test_a_starlette_secret_works_as_a_key(client_factory: ClientFactory) -> None:
    with_secret = client_factory(ROUTES, secret_key=Secret("key"))
    with_secret.post("/update", json={"user": "ada"})
    with_text = client_factory(ROUTES, secret_key="key")
    with_text.cookies = with_secret.cookies
    assert with_text.get("/view").json() == {"session": {"user": "ada"}}


def test_the_first_key_signs_and_every_key_verifies() -> None:
    old, new = TokenSigner("old-key"), TokenSigner(["new-key", "old-key"])
    token = new_token()
    assert new.unsign(old.sign(token)) == token
    assert TokenSigner("new-key").unsign(new.sign(token)) == token
    assert old.unsign(new.sign(token)) is None


def test_rotating_keys_keeps_users_signed_in(client_factory: ClientFactory, memory_store: MemoryStore) -> None:
    before = client_factory(ROUTES, secret_key="old-key")
    before.post("/update", json={"user": "ada"})
    after = client_factory(ROUTES, secret_key=["new-key", "old-key"])
    after.cookies = before.cookies
    memory_store.take()
    assert after.get("/view").json() == {"session": {"user": "ada"}}
    assert memory_store.take() == ["read"]


def test_a_retired_key_no_longer_opens_sessions(client_factory: ClientFactory) -> None:
    before = client_factory(ROUTES, secret_key="old-key")
    before.post("/update", json={"user": "ada"})
    after = client_factory(ROUTES, secret_key="new-key")
    after.cookies = before.cookies
    assert after.get("/view").json() == {"session": {}}
