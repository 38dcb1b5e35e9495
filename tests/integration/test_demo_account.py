"""The demo's "Change password" over HTTP: a recent sign-in required, the re-authentication step, the form's checks,
and the other devices signed out once it succeeds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from demo_app import create_app
from demo_app.account import REAUTHENTICATE_AFTER
from starlette_dynamo_session import DynamoStore
from tests.conftest import SECRET_KEY

Clock = Callable[[float], None]
USER = "Ada"
PASSWORD = "correct horse battery"


@pytest.fixture
def app_client(store: DynamoStore) -> Callable[[], TestClient]:
    """A new browser (its own cookies) on the demo, on the test's store."""
    app = create_app(store, secret_key=SECRET_KEY)
    return lambda: TestClient(app, follow_redirects=False)


def signed_in(client: TestClient) -> TestClient:
    assert client.post("/sign-in", data={"name": USER}).status_code == 303
    return client


def is_signed_in(client: TestClient) -> bool:
    return f"Signed in as <strong>{USER}</strong>" in client.get("/").text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/account/password"),
        ("POST", "/account/password"),
        ("GET", "/account/confirm"),
        ("POST", "/account/confirm"),
    ],
)
def test_a_visitor_who_is_not_signed_in_is_sent_home(
    app_client: Callable[[], TestClient], method: str, path: str
) -> None:
    response = app_client().request(method, path, data={"name": USER})
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_a_fresh_sign_in_opens_the_change_password_form(app_client: Callable[[], TestClient]) -> None:
    response = signed_in(app_client()).get("/account/password")
    assert response.status_code == 200
    assert '<form class="inline" method="post" action="/account/password">' in response.text


def test_a_sign_in_older_than_five_minutes_asks_to_confirm_first(
    app_client: Callable[[], TestClient], clock: Clock
) -> None:
    client = signed_in(app_client())
    clock(REAUTHENTICATE_AFTER + 1)
    response = client.get("/account/password")
    assert (response.status_code, response.headers["location"]) == (303, "/account/confirm")
    assert "Confirm it&#x27;s you" in client.get("/account/confirm").text


def test_confirming_gives_the_session_a_new_token(app_client: Callable[[], TestClient], clock: Clock) -> None:
    client = signed_in(app_client())
    before = client.cookies["session"]
    clock(REAUTHENTICATE_AFTER + 1)
    assert client.post("/account/confirm", data={"name": USER}).status_code == 303
    assert client.cookies["session"] != before


def test_confirming_with_another_name_is_refused_and_the_form_stays_closed(
    app_client: Callable[[], TestClient], clock: Clock
) -> None:
    client = signed_in(app_client())
    clock(REAUTHENTICATE_AFTER + 1)
    refused = client.post("/account/confirm", data={"name": "Eve"})
    assert refused.status_code == 400 and "That is not the name you signed in with." in refused.text
    assert client.get("/account/password").headers["location"] == "/account/confirm"


def test_confirming_opens_the_form_for_five_minutes(app_client: Callable[[], TestClient], clock: Clock) -> None:
    client = signed_in(app_client())
    clock(REAUTHENTICATE_AFTER + 1)
    confirmed = client.post("/account/confirm", data={"name": f"  {USER} "})
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, "/account/password")
    assert client.get("/account/password").status_code == 200
    clock(REAUTHENTICATE_AFTER + 1)
    assert client.get("/account/password").headers["location"] == "/account/confirm"


@pytest.mark.parametrize(
    ("password", "again", "error"),
    [
        ("short", "short", "Choose a password of 8 to 128 characters."),
        ("x" * 129, "x" * 129, "Choose a password of 8 to 128 characters."),
        (PASSWORD, PASSWORD + "!", "The two passwords differ."),
    ],
)
def test_a_bad_new_password_is_refused_and_signs_no_one_out(
    app_client: Callable[[], TestClient], password: str, again: str, error: str
) -> None:
    other, client = signed_in(app_client()), signed_in(app_client())
    refused = client.post("/account/password", data={"password": password, "again": again})
    assert (refused.status_code, error in refused.text) == (400, True)
    assert is_signed_in(other)


def test_a_form_left_open_past_five_minutes_asks_to_confirm_and_signs_no_one_out(
    app_client: Callable[[], TestClient], clock: Clock
) -> None:
    other, client = signed_in(app_client()), signed_in(app_client())
    clock(REAUTHENTICATE_AFTER + 1)
    response = client.post("/account/password", data={"password": PASSWORD, "again": PASSWORD})
    assert (response.status_code, response.headers["location"]) == (303, "/account/confirm")
    assert is_signed_in(other)


def test_changing_the_password_signs_the_other_devices_out_and_gives_this_one_a_new_token(
    app_client: Callable[[], TestClient],
) -> None:
    first, second, client = signed_in(app_client()), signed_in(app_client()), signed_in(app_client())
    before = client.cookies["session"]
    changed = client.post("/account/password", data={"password": PASSWORD, "again": PASSWORD})
    assert (changed.status_code, changed.headers["location"]) == (303, "/sessions")
    assert client.cookies["session"] != before
    assert "Password changed: 2 other sessions signed out" in client.get("/sessions").text
    assert (is_signed_in(first), is_signed_in(second), is_signed_in(client)) == (False, False, True)
