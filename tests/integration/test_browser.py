"""The demo in a real browser: Debian's Chromium, driven by Playwright, against ``python -m demo_app``.

The tests take screenshots: the signed-in home page on a desktop and "Your sessions" on a phone. They go to the test's
temporary folder, so a test run never changes the working tree;
``REFRESH_DOCS=1 venv/bin/pytest tests/integration/test_browser.py`` writes them to ``docs/demo-signed-in.png`` and
``docs/demo-phone.png`` instead, for the README.
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from harness.environment import FAKE_CREDENTIALS
from harness.processes import ROOT, ServerProcess, running_server, uvicorn_command
from starlette_dynamo_session._core.tokens import digest
from tests.support.demo import demo_environment, run_demo

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_SCREENSHOT = ROOT / "docs" / "demo-signed-in.png"
DOCS_PHONE_SCREENSHOT = ROOT / "docs" / "demo-phone.png"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
USER = "Ada Lovelace"
LONGEST_USER = "Maximiliana Konstantinopoulou-Oberhauser"  # the demo's longest name: 40 characters
ITEMS = ("espresso beans", "oat milk")
COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+")


def screenshot_path(docs_path: Path, tmp_path: Path) -> Path:
    """Where a test saves a screenshot meant for the docs: ``docs_path`` with ``REFRESH_DOCS=1``, else a file of the
    same name in ``tmp_path``."""
    return docs_path if os.environ.get("REFRESH_DOCS") == "1" else tmp_path / docs_path.name


@pytest.fixture
def screenshot(tmp_path: Path) -> Path:
    """Where the test saves its screenshot of the signed-in home page (``docs/demo-signed-in.png`` with
    ``REFRESH_DOCS=1``)."""
    return screenshot_path(DOCS_SCREENSHOT, tmp_path)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[ServerProcess]:
    """The demo as a real server process on a free port, embedded DynamoDB and all; stopped by PID at the end."""
    with run_demo(tmp_path) as demo:
        yield demo


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless. Playwright never downloads a browser for this test."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test drives Debian's Chromium. Install it with "
            "`apt-get install chromium` (scripts/install does so when run as root)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, name: str) -> None:
    """Sign in on the home page as ``name`` and wait for the signed-in home page."""
    page.goto("/")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {name}")


def overflow(page: Page) -> int:
    """How many CSS pixels wider than the viewport the page is: 0 when it needs no sideways scrolling."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def session_cookie_value(page: Page) -> str:
    cookies = [cookie for cookie in page.context.cookies() if cookie["name"] == "session"]
    assert len(cookies) == 1, cookies
    return cookies[0]["value"]


def test_a_visitor_signs_in_counts_visits_fills_the_cart_and_signs_out(
    demo: ServerProcess, browser: Browser, screenshot: Path
) -> None:
    context = browser.new_context(base_url=demo.url, viewport=DESKTOP)
    page = context.new_page()

    # Anonymous first: the home page alone starts no session.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions stored in DynamoDB")
    assert context.cookies() == []
    page.get_by_role("link", name="Counter", exact=True).click()
    expect(page.locator("#visits")).to_have_text("1")
    anonymous_cookie = session_cookie_value(page)

    # Sign in: a new token, and the visit counted before comes along.
    page.get_by_role("link", name="Home", exact=True).click()
    page.get_by_label("Your name").fill(USER)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {USER}")
    expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()
    assert session_cookie_value(page) != anonymous_cookie

    # A few more visits.
    page.get_by_role("link", name="Counter", exact=True).click()
    expect(page.locator("#visits")).to_have_text("2")
    page.reload()
    expect(page.locator("#visits")).to_have_text("3")

    # Two items in the cart, and a reload keeps them.
    page.get_by_role("link", name="Cart", exact=True).click()
    for item in ITEMS:
        page.get_by_label("Item").fill(item)
        page.get_by_role("button", name="Add to cart", exact=True).click()
        expect(page.get_by_text(item, exact=True)).to_be_visible()
    page.reload()
    for item in ITEMS:
        expect(page.get_by_text(item, exact=True)).to_be_visible()

    # The cookie is HttpOnly and opaque: a signed random token, none of the session's content.
    (cookie,) = [cookie for cookie in context.cookies() if cookie["name"] == "session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    value = cookie["value"]
    assert COOKIE_VALUE.fullmatch(value), value
    token = base64.urlsafe_b64decode(value.partition(".")[0] + "=")
    for secret in ("Lovelace", "espresso", "visits"):  # long enough never to turn up in random base64 by chance
        assert secret not in value
        assert secret.encode() not in token

    # The signed-in home page, for the docs.
    page.get_by_role("link", name="Home", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {USER}")
    expect(page.locator(".tile .number").first).to_have_text("3")
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # Sign out: the session is destroyed and the cookie cleared.
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    assert [c for c in context.cookies() if c["name"] == "session"] == []

    # The old cookie, put back, brings nothing back.
    context.add_cookies([{"name": cookie["name"], "value": value, "url": demo.url, "httpOnly": True}])
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions stored in DynamoDB")
    expect(page.get_by_text("Not signed in")).to_be_visible()
    page.goto("/cart")
    expect(page.get_by_text("Your cart is empty.")).to_be_visible()
    page.goto("/session")
    expect(page.locator("#missing")).to_contain_text("Your session cookie opens no session")
    context.close()


@pytest.mark.parametrize(("remember", "lifetime"), [(True, 30 * 24 * 60 * 60), (False, None)])
def test_remember_me_decides_whether_the_cookie_outlives_the_browser(
    demo: ServerProcess, browser: Browser, remember: bool, lifetime: int | None
) -> None:
    context = browser.new_context(base_url=demo.url)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Your name").fill(USER)
    if remember:
        page.get_by_label("Remember me for 30 days").check()
    signed_in_at = time.time()
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {USER}")
    (cookie,) = [cookie for cookie in context.cookies() if cookie["name"] == "session"]
    if lifetime is None:
        assert cookie["expires"] == -1  # a browser-session cookie: no Max-Age
    else:
        assert cookie["expires"] == pytest.approx(signed_in_at + lifetime, abs=60)
    context.close()


def test_device_b_signs_device_a_out_from_your_sessions(demo: ServerProcess, browser: Browser) -> None:
    """Two browser contexts are two devices of one user: B sees both on "Your sessions", this device marked, signs
    A out, and A's next page load is signed out; "sign out everywhere else" keeps B signed in."""
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    device_a = browser.new_context(base_url=demo.url, user_agent=firefox)
    device_b = browser.new_context(base_url=demo.url)
    a, b = device_a.new_page(), device_b.new_page()
    for page in (a, b):
        page.goto("/")
        page.get_by_label("Your name").fill(USER)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()

    b.get_by_role("link", name="Your sessions", exact=True).click()
    expect(b.get_by_role("heading", level=1)).to_have_text("Your sessions")
    expect(b.locator("tr.device")).to_have_count(2)
    expect(b.locator("#this-device")).to_have_count(1)
    expect(b.locator("tr.device", has=b.locator("#this-device"))).to_contain_text("Chrome")
    expect(b.locator("tr.device").first).to_contain_text("127.0.0.1")
    expect(b.locator("#max-devices")).to_have_text("3")

    b.get_by_role("button", name="Sign out Firefox", exact=True).click()
    expect(b.get_by_role("status")).to_have_text("That session is signed out.")
    expect(b.locator("tr.device")).to_have_count(1)

    a.reload()
    expect(a.get_by_text("Not signed in")).to_be_visible()
    expect(a.get_by_role("heading", level=1)).to_have_text("Sessions stored in DynamoDB")

    # A signs in again; B signs out everywhere else and stays signed in itself.
    a.get_by_label("Your name").fill(USER)
    a.get_by_role("button", name="Sign in", exact=True).click()
    b.reload()
    expect(b.locator("tr.device")).to_have_count(2)
    b.get_by_role("button", name="Sign out everywhere else", exact=True).click()
    expect(b.get_by_role("status")).to_have_text("Every other session is signed out.")
    expect(b.locator("tr.device")).to_have_count(1)
    a.reload()
    expect(a.get_by_text("Not signed in")).to_be_visible()
    device_a.close()
    device_b.close()


@pytest.mark.dynamodb_local
def test_a_password_change_asks_for_a_recent_sign_in_and_signs_the_other_device_out(
    dynamodb_local_endpoint: str, browser: Browser, tmp_path: Path
) -> None:
    """Two devices of one user, the demo on DynamoDB Local: "Your sessions" shows when each last authenticated; on
    device B, whose sign-in is made an hour old in its item, "Change password" first asks B to confirm it is the
    user, then changes the password: device A is signed out, and B keeps its session under a new token."""
    table = f"demo-{uuid.uuid4().hex}"
    environment = demo_environment(
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local_endpoint, AWS_REGION="us-east-1", **FAKE_CREDENTIALS
    )
    with run_demo(tmp_path, "--table", table, "--create-table", environment=environment) as demo:
        device_a = browser.new_context(base_url=demo.url, user_agent=FIREFOX)
        device_b = browser.new_context(base_url=demo.url)
        a, b = device_a.new_page(), device_b.new_page()
        sign_in(a, USER)
        sign_in(b, USER)
        b.goto("/sessions")
        expect(b.locator("tr.device")).to_have_count(2)
        expect(b.locator('td[data-label="Last auth"] time')).to_have_count(2)

        # B signed in an hour ago: its item says so (its authentication is stored as it is, beside the sealed data).
        client = boto3.client(
            "dynamodb",
            endpoint_url=dynamodb_local_endpoint,
            region_name="us-east-1",
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        key = {"token": {"S": digest(session_cookie_value(b).split(".")[0])}}
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET authenticated_at = authenticated_at - :hour",
            ExpressionAttributeValues={":hour": {"N": "3600"}},
        )
        b.get_by_role("link", name="Change password", exact=True).click()
        expect(b.get_by_role("heading", level=1)).to_have_text("Confirm it's you")
        b.get_by_label("Your name").fill("Someone Else")
        b.get_by_role("button", name="Confirm", exact=True).click()
        expect(b.get_by_role("alert")).to_have_text("That is not the name you signed in with.")
        b.get_by_label("Your name").fill(USER)
        b.get_by_role("button", name="Confirm", exact=True).click()
        expect(b.get_by_role("heading", level=1)).to_have_text("Change password")

        token_before = session_cookie_value(b)
        b.get_by_label("New password", exact=True).fill("correct horse battery")
        b.get_by_label("New password again").fill("correct horse battery")
        b.get_by_role("button", name="Change password", exact=True).click()
        expect(b.get_by_role("status")).to_have_text(
            "Password changed: 1 other session signed out, and this one has a new token."
        )
        expect(b.locator("tr.device")).to_have_count(1)
        assert session_cookie_value(b) != token_before
        a.reload()
        expect(a.get_by_text("Not signed in")).to_be_visible()
        device_a.close()
        device_b.close()
        client.delete_table(TableName=table)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_page_of_the_demo_is_wider_than_the_screen(
    demo: ServerProcess, browser: Browser, viewport: ViewportSize, tmp_path: Path
) -> None:
    """Every page, signed out and signed in, with its notices and errors, is as wide as the viewport: nothing to
    scroll sideways, on a 390 px phone as on a 1280 px desktop. The phone's "Your sessions" is a screenshot for the
    docs."""
    context = browser.new_context(base_url=demo.url, viewport=viewport)
    other_device = browser.new_context(base_url=demo.url, user_agent=FIREFOX)
    page = context.new_page()
    overflows: dict[str, int] = {}

    def measure(name: str, heading: str) -> None:
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        page.wait_for_load_state("load")  # the stylesheet applied: a page measured before it is laid out unstyled
        overflows[name] = overflow(page)

    page.goto("/")
    measure("home, signed out", "Sessions stored in DynamoDB")
    page.goto("/session")
    measure("session item, no session", "Session item")
    page.goto("/counter")
    measure("counter, signed out", "Visit counter")
    page.goto("/cart")
    measure("empty cart", "Cart")
    page.goto("/")
    page.get_by_label("Your name").fill(" ")  # only spaces: the server refuses it
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    measure("home, sign-in refused", "Sessions stored in DynamoDB")

    sign_in(page, USER)
    sign_in(other_device.new_page(), USER)
    page.wait_for_load_state("load")
    overflows["home, signed in"] = overflow(page)
    page.goto("/counter")
    measure("counter, signed in", "Visit counter")
    page.goto("/cart")
    for item in ITEMS:
        page.get_by_label("Item").fill(item)
        page.get_by_role("button", name="Add to cart", exact=True).click()
        expect(page.get_by_text(item, exact=True)).to_be_visible()
    page.get_by_label("Item").fill(" ")  # only spaces: the server refuses it
    page.get_by_role("button", name="Add to cart", exact=True).click()
    expect(page.get_by_role("alert")).to_be_visible()
    measure("cart, an item refused", "Cart")
    page.goto("/session")
    expect(page.locator("#opened")).to_contain_text(USER)
    measure("session item", "Session item")
    page.goto("/account/confirm")
    measure("confirm it's you", "Confirm it's you")
    page.goto("/account/password")
    measure("change password", "Change password")
    page.goto("/sessions")
    expect(page.locator("tr.device")).to_have_count(2)
    measure("your sessions", "Your sessions")
    if viewport == PHONE:
        phone_screenshot = screenshot_path(DOCS_PHONE_SCREENSHOT, tmp_path)
        page.screenshot(path=phone_screenshot, full_page=True)
        assert phone_screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page.get_by_role("button", name="Sign out Firefox", exact=True).click()
    expect(page.get_by_role("status")).to_be_visible()
    measure("your sessions, one signed out", "Your sessions")
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("status")).to_be_visible()
    measure("home, just signed out", "Sessions stored in DynamoDB")

    assert overflows == dict.fromkeys(overflows, 0)
    context.close()
    other_device.close()


@pytest.mark.parametrize("name", [USER, LONGEST_USER])
def test_the_signed_in_header_is_one_row_on_a_desktop(demo: ServerProcess, browser: Browser, name: str) -> None:
    """The brand, the navigation and who is signed in share one row of the header at 1280 px: every one of them
    starts above where each of the others ends."""
    context = browser.new_context(base_url=demo.url, viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, name)
    page.wait_for_load_state("load")  # the stylesheet applied: without it, the header's parts stack as blocks
    tops_and_bottoms = page.evaluate(
        "[...document.querySelector('header .bar').children]"
        ".map(child => { const box = child.getBoundingClientRect(); return [box.top, box.bottom]; })"
    )
    assert len(tops_and_bottoms) == 3
    assert max(top for top, _ in tops_and_bottoms) < min(bottom for _, bottom in tops_and_bottoms)
    expect(page.get_by_role("link", name="Your sessions", exact=True)).to_be_visible()
    context.close()


def test_a_cart_filled_under_starlettes_cookie_sessions_survives_the_switch_and_sign_in_flashes_once(
    browser: Browser, tmp_path: Path
) -> None:
    """The application used Starlette's SessionMiddleware; it now runs the demo with that key in
    ``import_cookie_sessions``: the cart a visitor filled before is there, and the cookie becomes a token."""
    legacy_key = "the-key-before-the-switch"
    legacy_env = {**os.environ, "LEGACY_SESSION_SECRET_KEY": legacy_key}
    with (
        running_server(
            uvicorn_command("tests.apps.starlette_cookie_cart:app"), log_dir=tmp_path, name="before", env=legacy_env
        ) as before,
        run_demo(tmp_path, environment=demo_environment(LEGACY_SESSION_SECRET_KEY=legacy_key)) as demo,
    ):
        context = browser.new_context(viewport=DESKTOP)  # one host, two ports: the browser sends the cookie to both
        page = context.new_page()
        for item in ITEMS:
            page.goto(f"{before.url}/add?item={item}")
        starlettes_cookie = session_cookie_value(page)
        assert not COOKIE_VALUE.fullmatch(starlettes_cookie)

        page.goto(f"{demo.url}/cart")
        for item in ITEMS:
            expect(page.get_by_text(item, exact=True)).to_be_visible()
        assert COOKIE_VALUE.fullmatch(session_cookie_value(page))
        page.reload()
        for item in ITEMS:
            expect(page.get_by_text(item, exact=True)).to_be_visible()

        # Signing in flashes a welcome: shown once, then gone.
        page.goto(f"{demo.url}/")
        page.get_by_label("Your name").fill(USER)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text(f"Welcome, {USER}")
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {USER}")
        expect(page.get_by_role("status")).to_have_count(0)
        expect(page.locator(".tile .number").nth(1)).to_have_text(str(len(ITEMS)))
        context.close()
