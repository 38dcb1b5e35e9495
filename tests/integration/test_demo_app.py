"""The demo app: its pages under moto through the TestClient, and ``python -m demo_app`` as a real process."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
from html import escape
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient

from demo_app import create_app
from demo_app.__main__ import choose_backend, configured_session, embedded_session
from harness.environment import FAKE_CREDENTIALS
from harness.processes import ROOT, free_port
from starlette_dynamo_session import DynamoStore, item_size
from tests.conftest import SECRET_KEY
from tests.support.demo import SHUTDOWN_TIMEOUT, demo_command, demo_environment, run_demo
from tests.support.recorder import OperationRecorder

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
STARTUP_TIMEOUT = 60.0  # seconds for the demo to refuse to start; a bound, never asserted as a duration


@pytest.fixture
def client(store: DynamoStore) -> TestClient:
    return TestClient(create_app(store, secret_key=SECRET_KEY), follow_redirects=False)


def sign_in(client: TestClient, name: str) -> None:
    """Sign in as ``name`` and follow the redirect to the home page as a browser would: it shows the welcome message,
    which leaves the session then."""
    assert client.post("/sign-in", data={"name": name}).status_code == 303
    assert f"Welcome, {name}" in client.get("/").text


def use_cookie(client: TestClient, value: str) -> None:
    """Make the client send ``value`` as its session cookie from now on, as a browser that kept it would."""
    client.cookies.clear()
    client.cookies.set("session", value)


def items(store: DynamoStore) -> list[dict[str, Any]]:
    """Every session item of the test's table (its own: one per session the test made), read past the store; the
    user items that index signed-in users' sessions are left out."""
    scanned = store.client.scan(TableName=store.table_name, ConsistentRead=True)["Items"]
    return [dict(item) for item in scanned if not item[store.token_name]["S"].startswith("user#")]


def only_item(store: DynamoStore) -> dict[str, Any]:
    """The one item of the test's table."""
    (item,) = items(store)
    return item


def stored(store: DynamoStore, client: TestClient) -> Any:
    """The session in the one item of the test's table, opened with the token in the client's cookie (the data
    attribute is sealed under it)."""
    (item,) = items(store)
    token = client.cookies["session"].partition(".")[0]
    assert item[store.token_name]["S"] == store.key(token)
    return json.loads(store.find(token) or b"")


def test_home_without_a_session_offers_sign_in_and_asks_nothing_of_dynamodb(
    client: TestClient, recorder: OperationRecorder
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<form class="inline" method="post" action="/sign-in">' in response.text
    assert "set-cookie" not in response.headers
    assert recorder.take() == []


def test_pages_are_private_and_run_no_script(client: TestClient) -> None:
    for path in ("/", "/counter", "/cart", "/session"):
        response = client.get(path)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"].startswith("default-src 'none'; style-src 'self';")
        assert "<script" not in response.text
    stylesheet = client.get("/style.css")
    assert stylesheet.headers["content-type"].startswith("text/css")
    assert "body {" in stylesheet.text


def test_the_stylesheet_and_the_health_check_ask_nothing_of_the_session_even_when_signed_in(
    client: TestClient, recorder: OperationRecorder
) -> None:
    client.post("/sign-in", data={"name": "Ada"})
    recorder.take()
    assert client.get("/style.css").status_code == 200
    assert recorder.take() == []
    assert client.get("/healthz").status_code == 200
    assert recorder.take() == ["DescribeTable"]  # the health check pings the table, not the session


@pytest.mark.parametrize(("form", "max_age"), [({"name": "Ada", "remember": "on"}, "2592000"), ({"name": "Ada"}, None)])
def test_remember_me_on_sign_in_gives_a_30_day_cookie_and_otherwise_a_browser_session_one(
    client: TestClient, form: dict[str, str], max_age: str | None
) -> None:
    response = client.post("/sign-in", data=form, follow_redirects=False)
    match = re.search(r"Max-Age=(\d+)", response.headers["set-cookie"])
    assert (match[1] if match else None) == max_age


def test_sign_in_regenerates_the_token_and_keeps_the_session(client: TestClient, store: DynamoStore) -> None:
    client.get("/counter")
    anonymous = only_item(store)[store.token_name]["S"]
    old_cookie = client.cookies["session"]

    response = client.post("/sign-in", data={"name": "  Ada   Lovelace "})

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert client.cookies["session"] != old_cookie
    # One item still: the anonymous one is gone, and the session lives on under another key.
    assert only_item(store)[store.token_name]["S"] != anonymous
    home = client.get("/").text  # the redirect a browser follows, which shows (and so ends) the welcome message
    assert "<h1>Hello, Ada Lovelace</h1>" in home
    assert "Welcome, Ada Lovelace" in home
    assert stored(store, client) == {"visits": 1, "user": "Ada Lovelace"}
    # The cookie from before sign-in is worth nothing now.
    use_cookie(client, old_cookie)
    page = client.get("/").text
    assert "Hello" not in page
    assert 'action="/sign-in"' in page


def test_sign_in_escapes_the_name(client: TestClient) -> None:
    client.post("/sign-in", data={"name": "<b>Eve</b>"})
    page = client.get("/").text
    assert "<b>Eve</b>" not in page
    assert escape("<b>Eve</b>") in page


@pytest.mark.parametrize("name", ["", "   ", "x" * 41])
def test_sign_in_refuses_a_bad_name_and_stores_nothing(
    client: TestClient, recorder: OperationRecorder, name: str
) -> None:
    response = client.post("/sign-in", data={"name": name})
    assert response.status_code == 400
    assert "Please enter a name of 1 to 40 characters." in response.text
    assert "set-cookie" not in response.headers
    assert WRITES.isdisjoint(recorder.take())


def test_counter_counts_each_visit_in_the_session(client: TestClient, store: DynamoStore) -> None:
    first = client.get("/counter")
    assert 'id="visits">1<' in first.text
    assert "set-cookie" in first.headers
    cookie = client.cookies["session"]
    key = only_item(store)[store.token_name]["S"]
    for _ in range(2):
        response = client.get("/counter")
        assert client.cookies["session"] == cookie  # the same session, under the same token
    assert 'id="visits">3<' in response.text
    assert only_item(store)[store.token_name]["S"] == key
    assert stored(store, client) == {"visits": 3}
    assert '<span class="number">3</span><span class="label">visits counted' in client.get("/").text


def test_cart_is_a_list_changed_in_place(client: TestClient, store: DynamoStore) -> None:
    for item in ("coffee", "tea", " Coffee "):
        response = client.post("/cart/add", data={"item": item})
        assert response.status_code == 303
        assert response.headers["location"] == "/cart"
    assert stored(store, client) == {"cart": [{"item": "coffee", "qty": 2}, {"item": "tea", "qty": 1}]}
    page = client.get("/cart").text
    assert '<span class="name">coffee</span><span class="qty">× 2</span>' in page
    assert '<span class="name">tea</span><span class="qty">× 1</span>' in page

    client.post("/cart/remove", data={"index": "0"})
    assert stored(store, client) == {"cart": [{"item": "tea", "qty": 1}]}
    client.post("/cart/remove", data={"index": "7"})  # no such line: nothing changes
    assert stored(store, client) == {"cart": [{"item": "tea", "qty": 1}]}
    # Removing the last line empties the session, which destroys it.
    response = client.post("/cart/remove", data={"index": "0"})
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert items(store) == []


def test_cart_refuses_an_empty_item(client: TestClient, recorder: OperationRecorder) -> None:
    response = client.post("/cart/add", data={"item": "  "})
    assert response.status_code == 400
    assert "Please enter an item of 1 to 60 characters." in response.text
    assert WRITES.isdisjoint(recorder.take())


def test_session_page_shows_the_item_by_its_digest_never_the_token(client: TestClient, store: DynamoStore) -> None:
    sign_in(client, "Ada")
    client.post("/cart/add", data={"item": "coffee"})
    cookie = client.cookies["session"]
    token, _, signature = cookie.partition(".")
    item = only_item(store)

    page = client.get("/session").text

    assert token not in page
    assert cookie not in page
    assert signature not in page
    assert f"<code>{item[store.token_name]['S']}</code>" in page
    for name in (store.created_name, store.expiry_name, store.ttl_name):
        assert f'<td><code>{name}</code></td><td class="type">N</td><td><code>{item[name]["N"]}</code>' in page
    assert f'<td><code>version</code></td><td class="type">N</td><td><code>{item["version"]["N"]}</code>' in page
    assert f'<strong id="size">{item_size(item):,}</strong>' in page
    # The data attribute is sealed: the page shows its bytes, says why, and shows the session they open to.
    sealed = bytes(item[store.data_name]["B"])
    assert b"Ada" not in sealed
    assert f'<pre id="data">{base64.b64encode(sealed).decode()}</pre>' in page
    assert "under a\nkey derived from the token in your cookie, which the table never holds" in page
    opened = '{"user":"Ada","cart":[{"item":"coffee","qty":1}]}'
    assert f'<pre id="opened">{escape(opened)}</pre>' in page


def test_session_page_of_a_plain_store_shows_the_data_as_json(boto_session: boto3.Session) -> None:
    store = DynamoStore(boto_session, table_name="demo-plain", seal_data=False)
    store.create_table()
    client = TestClient(create_app(store, secret_key=SECRET_KEY), follow_redirects=False)
    sign_in(client, "Ada")
    data = bytes(only_item(store)[store.data_name]["B"]).decode()
    assert json.loads(data) == {"user": "Ada"}
    page = client.get("/session").text
    assert f'<pre id="data">{escape(data)}</pre>' in page
    assert 'id="sealed"' not in page


def test_session_page_without_a_usable_cookie_says_why(client: TestClient, store: DynamoStore) -> None:
    assert "Your browser has no session yet" in client.get("/session").text
    use_cookie(client, "x" * 43 + ".forged")
    assert "Your session cookie opens no session" in client.get("/session").text
    client.cookies.clear()
    client.get("/counter")
    destroyed = client.cookies["session"]  # well signed, but its item is gone
    client.post("/sign-out")
    assert "You are signed out" in client.get("/").text  # the redirect, which shows the message and ends it
    use_cookie(client, destroyed)
    assert "Your session cookie opens no session" in client.get("/session").text
    assert items(store) == []


def test_sign_out_destroys_the_item_and_the_old_cookie_stays_dead(client: TestClient, store: DynamoStore) -> None:
    client.post("/sign-in", data={"name": "Ada"})
    client.post("/cart/add", data={"item": "coffee"})
    assert len(items(store)) == 1
    old_cookie = client.cookies["session"]

    response = client.post("/sign-out")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    # The signed-in item is gone; only a new, unbound session carries the sign-out message to the next page.
    assert [item["data"] for item in items(store)] != [] and client.cookies["session"] != old_cookie
    assert [item.get("user_id") for item in items(store)] == [None]
    home = client.get("/")
    assert "You are signed out" in home.text
    assert re.search(r"session=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0", home.headers["set-cookie"])
    assert items(store) == []

    use_cookie(client, old_cookie)
    page = client.get("/").text
    assert "Hello" not in page
    assert "Signed in as" not in page
    assert items(store) == []


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_table_is_missing(boto_session: boto3.Session) -> None:
    store = DynamoStore(boto_session, table_name="no-such-table")
    response = TestClient(create_app(store, secret_key=SECRET_KEY)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "no-such-table" in response.json()["error"]


def test_the_demo_uses_its_embedded_dynamodb_by_default() -> None:
    assert choose_backend(use_aws=False, environ={"AWS_PROFILE": "work", "AWS_ACCESS_KEY_ID": "AKIA"}) == "embedded"


def test_an_endpoint_in_the_environment_selects_that_endpoint() -> None:
    environ = {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001"}
    assert choose_backend(use_aws=False, environ=environ) == "endpoint"


def test_the_aws_option_selects_the_configured_account() -> None:
    assert choose_backend(use_aws=True, environ={}) == "aws"


def aws_files(home: Path, *, credentials: bool = True, region: str | None = None) -> None:
    """A developer's ``~/.aws`` in ``home``: a credentials file, and a config file with a region when given."""
    (home / ".aws").mkdir()
    if credentials:
        (home / ".aws" / "credentials").write_text(
            "[default]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = from-file\n"
        )
    if region is not None:
        (home / ".aws" / "config").write_text(f"[default]\nregion = {region}\n")


def developer_machine(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The test's environment points at ``home``'s AWS files, with no AWS setting in the environment."""
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION", *FAKE_CREDENTIALS):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))


def test_the_aws_option_builds_its_session_from_the_sdk_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    aws_files(tmp_path, region="eu-west-1")
    developer_machine(monkeypatch, tmp_path)
    session = configured_session("aws")
    credentials = session.get_credentials()
    assert (session.region_name, credentials and credentials.access_key) == ("eu-west-1", "AKIAFROMFILE")


def test_an_endpoint_without_credentials_gets_local_ones_and_keeps_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", *FAKE_CREDENTIALS):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    session = configured_session("endpoint")
    credentials = session.get_credentials()
    assert (DynamoStore(session).client.meta.region_name, credentials and credentials.access_key) == (
        "eu-west-2",
        "demo",
    )


def test_the_embedded_session_reads_no_aws_file_or_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_files(tmp_path, region="eu-west-1")
    developer_machine(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "work")  # a profile no file defines: reading it would fail
    session = embedded_session()
    credentials = session.get_credentials()
    assert (session.region_name, credentials and credentials.access_key) == ("us-east-1", "demo")


# python -m demo_app as a real process.


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_python_m_demo_app_serves_an_embedded_dynamodb_and_stops_on_a_signal(tmp_path: Path, signum: int) -> None:
    with run_demo(tmp_path) as demo:
        with httpx.Client(base_url=demo.url, trust_env=False, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.post("/sign-in", data={"name": "Ada"}).status_code == 303
            assert "<h1>Hello, Ada</h1>" in http.get("/").text
        assert demo.stop(signum, timeout=SHUTDOWN_TIMEOUT) == 0

    output = demo.output()
    embedded = [line for line in output.splitlines() if "embedded DynamoDB" in line]
    assert len(embedded) == 1, output
    assert "SESSION_SECRET_KEY is not set" in output
    assert f"Demo running at {demo.url}/" in output
    assert output.rstrip().endswith("Demo stopped"), output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "files",
    [
        {"credentials": True},
        {"credentials": True, "region": "eu-west-1"},
        {"credentials": False, "region": "eu-west-1"},
    ],
    ids=["credentials", "credentials-and-region", "region"],
)
def test_python_m_demo_app_serves_its_embedded_dynamodb_whatever_the_aws_files_hold(
    tmp_path: Path, files: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    aws_files(home, **files)
    environment = demo_environment(HOME=str(home))
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION"):
        environment.pop(name)
    with run_demo(tmp_path, environment=environment) as demo:
        with httpx.Client(base_url=demo.url, trust_env=False, timeout=10) as http:
            assert http.post("/sign-in", data={"name": "Ada"}).status_code == 303
            assert "<h1>Hello, Ada</h1>" in http.get("/").text
        assert demo.stop(signal.SIGINT, timeout=SHUTDOWN_TIMEOUT) == 0
    assert "Sessions go to an embedded DynamoDB (moto) at http://127.0.0.1:" in demo.output()
    assert "Traceback" not in demo.output()


def test_python_m_demo_app_on_a_port_in_use_is_one_line_that_says_how_to_pick_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            demo_command("--port", str(port)),
            cwd=ROOT,
            env=demo_environment(),
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
        )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"ERROR:    Port {port} is in use (Address already in use): pass --port N or set PORT"
    ]


def test_python_m_demo_app_with_aws_and_no_region_is_one_line_that_says_what_to_set() -> None:
    environment = demo_environment()
    environment.pop("AWS_DEFAULT_REGION")
    refused = subprocess.run(
        demo_command("--aws", "--port", str(free_port())),
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "ERROR:    No AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)"
    )
    assert "Traceback" not in refused.stderr


def test_python_m_demo_app_with_an_endpoint_and_only_aws_region_needs_the_table_or_create_table(
    tmp_path: Path,
) -> None:
    dynamodb = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    dynamodb.start()
    try:
        host, port = dynamodb.get_host_and_port()
        environment = demo_environment(
            AWS_ENDPOINT_URL_DYNAMODB=f"http://{host}:{port}",
            AWS_REGION="eu-west-2",
            SESSION_SECRET_KEY="a fixed key",
            **FAKE_CREDENTIALS,
        )
        environment.pop("AWS_DEFAULT_REGION")
        refused = subprocess.run(
            demo_command("--port", str(free_port()), "--table", "demo-sessions"),
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
        )
        assert refused.returncode == 1
        assert "Table 'demo-sessions' does not exist" in refused.stderr
        assert "--create-table" in refused.stderr

        with run_demo(tmp_path, "--table", "demo-sessions", "--create-table", environment=environment) as demo:
            assert demo.stop(signal.SIGINT, timeout=SHUTDOWN_TIMEOUT) == 0
        output = demo.output()
        assert f"Using DynamoDB at http://{host}:{port} (eu-west-2) with table 'demo-sessions'" in output
        assert "embedded" not in output
        assert "SESSION_SECRET_KEY is not set" not in output
    finally:
        dynamodb.stop()
