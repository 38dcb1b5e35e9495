"""Users' sessions through the real middleware on moto and DynamoDB Local, and on each transport case: binding on
sign-in, listing, revoking one, revoking all (airtight, also against requests in flight and racing sign-ins), the
per-user limit, and the costs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, timedelta
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from starlette_dynamo_session import (
    DynamoSessionMiddleware,
    DynamoStore,
    SessionEvent,
    SessionInfo,
    regenerate_session,
    session_key,
    set_session_max_age,
)
from starlette_dynamo_session._core.users import LAST_SEEN_INTERVAL
from tests.conftest import SECRET_KEY, ClientFactory, Recorder
from tests.dynamodb.test_concurrency import atomic_moto_writes  # noqa: F401 - autouse: moto's writes, atomic as DynamoDB's
from tests.endpoints import clear_session, key_of, raw_item, update_session, view_session
from tests.support.memory_store import MemoryStore

pytestmark = pytest.mark.every_transport


async def sign_in(request: Request) -> JSONResponse:
    if "seconds" in request.query_params:
        set_session_max_age(request, int(request.query_params["seconds"]))
    regenerate_session(request, user_id=request.query_params["user"])
    request.session["user"] = request.query_params["user"]
    return JSONResponse({"session": request.session})


async def regenerate(request: Request) -> JSONResponse:
    regenerate_session(request)
    return JSONResponse({"session": request.session})


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session, "key": session_key(request)})


async def sign_out_with_a_note(request: Request) -> JSONResponse:
    request.session.clear()
    request.session["note"] = "You are signed out."
    return JSONResponse({"session": request.session})


ROUTES = [
    Route("/sign-out-with-a-note", sign_out_with_a_note, methods=["POST"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/regenerate", regenerate, methods=["POST"]),
    Route("/view", view_session),
    Route("/whoami", whoami),
    Route("/update", update_session, methods=["POST"]),
    Route("/sign-out", clear_session, methods=["POST"]),
]


def device(factory: ClientFactory, user: str = "ada", *, agent: str = "Browser A", **options: Any) -> TestClient:
    """A client signed in as ``user``, with its own User-Agent."""
    client = factory(ROUTES, **options)
    client.headers["User-Agent"] = agent
    assert client.post(f"/sign-in?user={user}").status_code == 200
    return client


def listed(store: DynamoStore, user: str) -> list[SessionInfo]:
    return anyio.run(store.list_sessions, user)


def test_a_signed_in_session_is_listed_with_its_client_and_times(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    before = time.time()
    client = device(dynamo_client_factory, agent="Firefox on Linux")
    key = key_of(client)
    [info] = listed(store, "ada")
    assert (info.key, info.user_id, info.user_agent, info.ip) == (key, "ada", "Firefox on Linux", "testclient")
    for moment in (info.created, info.last_seen, info.expires):
        assert moment.tzinfo is UTC
    assert before - 1 <= info.created.timestamp() <= info.last_seen.timestamp() <= time.time() + 1
    assert info.expires - info.created == timedelta(days=14)


def test_the_key_is_the_items_key_and_never_the_token(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    client = device(dynamo_client_factory)
    key = key_of(client)
    token = client.cookies["session"].split(".")[0]
    assert token not in key
    assert raw_item(store, token) is not None and store.key(token) == key


def test_session_key_is_none_without_a_stored_session(dynamo_client_factory: ClientFactory) -> None:
    assert dynamo_client_factory(ROUTES).get("/whoami").json() == {"session": {}, "key": None}


def test_a_bound_session_stays_bound_across_writes_and_regenerations(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = device(dynamo_client_factory)
    client.post("/update", json={"cart": ["apple"]})
    client.post("/regenerate")
    [info] = listed(store, "ada")
    assert info.key == key_of(client)
    assert client.get("/view").json() == {"session": {"user": "ada", "cart": ["apple"]}}


def test_record_client_false_keeps_neither_user_agent_nor_ip(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    device(dynamo_client_factory, record_client=False)
    [info] = listed(store, "ada")
    assert (info.user_agent, info.ip) == (None, None)


def test_a_long_user_agent_is_truncated(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    device(dynamo_client_factory, agent="x" * 5000)
    assert listed(store, "ada")[0].user_agent == "x" * 256


@pytest.mark.parametrize("user_id", ["", "u" * 257])
def test_an_empty_or_overlong_user_id_is_a_value_error(
    user_id: str, dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = dynamo_client_factory(ROUTES)
    with pytest.raises(ValueError, match="user_id must be a non-empty string of at most 256 characters"):
        client.post("/sign-in", params={"user": user_id})
    with pytest.raises(ValueError, match="user_id must be"):
        listed(store, user_id)
    with pytest.raises(ValueError, match="user_id must be"):
        anyio.run(store.revoke_all, user_id)


def test_a_user_id_that_is_not_a_string_is_a_value_error() -> None:
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    with pytest.raises(ValueError, match="not 42"):
        regenerate_session(request, user_id=42)  # type: ignore[arg-type]


LONE_SURROGATE_ID = "bad\ud800id"  # a str Python allows, which no UTF-8 text (nor DynamoDB) can hold


async def sign_in_with_a_lone_surrogate(request: Request) -> JSONResponse:
    try:
        regenerate_session(request, user_id=LONE_SURROGATE_ID)
    except ValueError as exc:
        return JSONResponse({"refused": str(exc)}, status_code=400)
    return JSONResponse({})  # pragma: no cover


def test_binding_a_user_id_that_does_not_encode_as_utf8_is_refused_in_the_endpoint(
    dynamo_client_factory: ClientFactory, recorder: Recorder
) -> None:
    client = dynamo_client_factory([Route("/sign-in", sign_in_with_a_lone_surrogate, methods=["POST"])])
    response = client.post("/sign-in")
    assert response.status_code == 400
    assert "user_id must be" in response.json()["refused"]
    assert recorder.take() == []


@pytest.mark.parametrize("operation", ["list_sessions", "revoke_all"])
def test_listing_or_revoking_for_a_user_id_that_does_not_encode_as_utf8_is_a_value_error(
    store: DynamoStore, recorder: Recorder, operation: str
) -> None:
    with pytest.raises(ValueError, match="user_id must be"):
        anyio.run(getattr(store, operation), LONE_SURROGATE_ID)
    assert recorder.take() == []


def test_a_user_id_of_256_characters_is_accepted(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    device(dynamo_client_factory, user="u" * 256)
    assert len(listed(store, "u" * 256)) == 1


def test_users_see_only_their_own_sessions(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    ada = device(dynamo_client_factory, "ada")
    device(dynamo_client_factory, "bob")
    assert [info.key for info in listed(store, "ada")] == [key_of(ada)]
    assert listed(store, "nobody") == []


def test_a_user_who_never_signed_in_has_no_sessions_to_list(store: DynamoStore, recorder: Recorder) -> None:
    assert listed(store, "nobody") == []
    assert recorder.take() == ["GetItem"]


def test_revoking_a_random_key_when_no_user_ever_signed_in_is_no_error(store: DynamoStore) -> None:
    anyio.run(store.revoke, store.key("a token no one was ever given"))
    assert listed(store, "nobody") == []


def test_revoke_all_of_a_user_who_never_signed_in_ends_none_in_one_request(
    store: DynamoStore, recorder: Recorder
) -> None:
    assert anyio.run(store.revoke_all, "nobody") == 0
    assert recorder.take() == ["UpdateItem"]


def test_sessions_are_listed_most_recently_used_first(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    first = device(dynamo_client_factory, agent="first")
    clock(10)
    device(dynamo_client_factory, agent="second")
    clock(10)
    first.post("/update", json={"seen": True})
    assert [info.user_agent for info in listed(store, "ada")] == ["first", "second"]


def test_signing_out_takes_the_session_out_of_the_users_list(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = device(dynamo_client_factory)
    client.post("/sign-out")
    assert listed(store, "ada") == []
    user_item = store.client.get_item(TableName=store.table_name, Key=store._users.user_key("ada"))["Item"]
    assert not [name for name in user_item if name.startswith("s#")]


def test_a_session_rebound_to_another_user_leaves_the_first_users_list(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = device(dynamo_client_factory, "ada")
    client.post("/sign-in?user=bob")
    assert listed(store, "ada") == []
    assert [info.key for info in listed(store, "bob")] == [key_of(client)]
    assert anyio.run(store.revoke_all, "ada") == 0
    assert client.get("/view").json() == {"session": {"user": "bob"}}


def test_expired_sessions_are_never_listed_even_before_ttl_deletes_them(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    short = dynamo_client_factory(ROUTES)
    short.post("/sign-in?user=ada&seconds=60")
    long = device(dynamo_client_factory)
    clock(61)
    assert raw_item(store, short.cookies["session"].split(".")[0]) is not None
    assert [info.key for info in listed(store, "ada")] == [key_of(long)]


def test_revoking_a_session_signs_out_that_device_only(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    a = device(dynamo_client_factory, agent="A")
    b = device(dynamo_client_factory, agent="B")
    anyio.run(store.revoke, key_of(a))
    assert a.get("/view").json() == {"session": {}}
    assert b.get("/view").json() == {"session": {"user": "ada"}}
    assert [info.user_agent for info in listed(store, "ada")] == ["B"]


@pytest.mark.parametrize("key", ["", "not a key", "x" * 43 + "\n", "A" * 43, 'user#"; DROP', "s#" + "A" * 41])
def test_revoking_a_key_that_is_no_session_of_the_table_ends_nothing(
    dynamo_client_factory: ClientFactory, store: DynamoStore, recorder: Recorder, key: str
) -> None:
    client = device(dynamo_client_factory)
    recorder.take()
    anyio.run(store.revoke, key)
    assert recorder.take() in ([], ["DeleteItem"])  # only a well-shaped key is looked up, as a plain key
    assert client.get("/view").json() == {"session": {"user": "ada"}}


def test_revoking_the_user_items_key_leaves_it_alone(dynamo_client_factory: ClientFactory, store: DynamoStore) -> None:
    client = device(dynamo_client_factory)
    user_key = store._users.user_key("ada")[store.token_name]["S"]
    anyio.run(store.revoke, user_key)
    assert len(listed(store, "ada")) == 1
    assert anyio.run(store.revoke_all, "ada") == 1
    assert client.get("/view").json() == {"session": {}}


def test_revoke_all_ends_every_session_but_the_kept_one_and_counts_them(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    devices = [device(dynamo_client_factory, agent=f"device {n}") for n in range(4)]
    other = device(dynamo_client_factory, "bob")
    assert anyio.run(lambda: store.revoke_all("ada", keep=key_of(devices[0]))) == 3
    assert [client.get("/view").json()["session"] for client in devices] == [{"user": "ada"}, {}, {}, {}]
    assert other.get("/view").json() == {"session": {"user": "bob"}}
    assert anyio.run(store.revoke_all, "ada") == 1
    assert anyio.run(store.revoke_all, "ada") == 0
    assert listed(store, "ada") == []


@pytest.mark.anyio
async def test_race_two_revoke_alls_at_once_end_each_session_once(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    devices = [device(dynamo_client_factory, agent=f"device {n}") for n in range(5)]
    counts: list[int] = []

    async def revoke_all() -> None:
        counts.append(await store.revoke_all("ada"))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(revoke_all)
    assert sum(counts) == len(devices)
    assert await store.list_sessions("ada") == []


def test_revoke_all_does_not_count_expired_sessions(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    dynamo_client_factory(ROUTES).post("/sign-in?user=ada&seconds=60")
    device(dynamo_client_factory)
    clock(61)
    assert anyio.run(store.revoke_all, "ada") == 1


def test_the_limit_revokes_the_least_recently_used_sessions(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    devices = []
    for n in range(3):
        devices.append(device(dynamo_client_factory, agent=f"device {n}", max_sessions_per_user=3))
        clock(10)
    devices[0].post("/update", json={"active": True})  # device 1 is now the least recently used
    clock(10)
    devices.append(device(dynamo_client_factory, agent="device 3", max_sessions_per_user=3))
    assert [client.get("/view").json()["session"] != {} for client in devices] == [True, False, True, True]
    assert [info.user_agent for info in listed(store, "ada")] == ["device 3", "device 0", "device 2"]


def test_a_session_the_limit_ends_is_a_revoked_event_with_its_key(
    dynamo_client_factory: ClientFactory, clock: Callable[[float], None]
) -> None:
    events: list[SessionEvent] = []
    first = device(dynamo_client_factory, max_sessions_per_user=1, on_event=events.append)
    revoked = key_of(first)
    clock(10)
    device(dynamo_client_factory, agent="Browser B", max_sessions_per_user=1, on_event=events.append)
    assert [event for event in events if event.kind == "revoked"] == [SessionEvent("revoked", revoked)]


def test_expired_sessions_do_not_count_against_the_limit(
    dynamo_client_factory: ClientFactory, store: DynamoStore, clock: Callable[[float], None]
) -> None:
    dynamo_client_factory(ROUTES, max_sessions_per_user=2).post("/sign-in?user=ada&seconds=60")
    keeper = device(dynamo_client_factory, max_sessions_per_user=2)
    clock(61)
    device(dynamo_client_factory, max_sessions_per_user=2)
    assert keeper.get("/view").json() == {"session": {"user": "ada"}}
    assert len(listed(store, "ada")) == 2


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(memory_store: MemoryStore, limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DynamoSessionMiddleware(Starlette(), memory_store, SECRET_KEY, max_sessions_per_user=limit)


class SessionsOnlyStore:
    """A store of the three coroutines the middleware needs, and nothing for users' sessions."""

    async def read(self, token: str) -> None:
        return None

    async def write(self, token: str, record: object, *, replacing: str | None = None, forward: bool = False) -> None:
        return None

    async def remove(self, token: str) -> None:
        return None


def test_a_limit_needs_a_store_that_can_list_and_revoke() -> None:
    with pytest.raises(ValueError, match="needs a store that can list and revoke"):
        DynamoSessionMiddleware(Starlette(), SessionsOnlyStore(), SECRET_KEY, max_sessions_per_user=3)


def test_last_seen_is_written_at_most_once_per_interval(
    dynamo_client_factory: ClientFactory,
    store: DynamoStore,
    recorder: Recorder,
    clock: Callable[[float], None],
) -> None:
    client = device(dynamo_client_factory)
    signed_in = listed(store, "ada")[0].last_seen
    recorder.take()
    for _ in range(5):
        clock(LAST_SEEN_INTERVAL / 10)
        client.get("/view")
    assert recorder.take() == ["GetItem"] * 5
    clock(LAST_SEEN_INTERVAL / 2)
    assert "set-cookie" not in client.get("/view").headers
    assert recorder.take() == ["GetItem", "PutItem"]
    assert listed(store, "ada")[0].last_seen - signed_in >= timedelta(seconds=LAST_SEEN_INTERVAL)
    recorder.take()
    client.get("/view")
    assert recorder.take() == ["GetItem"]


def test_unbound_sessions_cost_what_they_did(dynamo_client_factory: ClientFactory, recorder: Recorder) -> None:
    client = dynamo_client_factory(ROUTES)
    client.get("/view")
    costs = [recorder.take()]
    client.post("/update", json={"a": 1})
    costs.append(recorder.take())
    client.get("/view")
    costs.append(recorder.take())
    client.post("/update", json={"a": 2})
    costs.append(recorder.take())
    client.post("/regenerate")
    costs.append(recorder.take())
    client.post("/sign-out")
    costs.append(recorder.take())
    assert costs == [
        [],
        ["PutItem"],
        ["GetItem"],
        ["GetItem", "PutItem"],
        ["GetItem", "TransactWriteItems"],
        ["GetItem", "DeleteItem"],
    ]


def test_each_users_sessions_operation_costs_the_documented_requests(
    dynamo_client_factory: ClientFactory, store: DynamoStore, recorder: Recorder
) -> None:
    client = dynamo_client_factory(ROUTES)
    client.post("/sign-in?user=ada")
    assert recorder.take() == ["TransactWriteItems"]  # sign-in without a session yet
    client.post("/sign-in?user=ada")
    assert recorder.take() == ["GetItem", "TransactWriteItems"]  # sign-in from a session
    client.post("/update", json={"a": 1})
    assert recorder.take() == ["GetItem", "PutItem"]  # a bound session's write, as an unbound one's
    others = [device(dynamo_client_factory) for _ in range(3)]
    recorder.take()
    listed(store, "ada")
    assert recorder.take() == ["GetItem", "BatchGetItem"]
    anyio.run(store.revoke, key_of(others[0]))
    assert recorder.take()[1:] == ["DeleteItem", "UpdateItem"]  # after the GetItem of /whoami
    assert anyio.run(store.revoke_all, "ada") == 3
    assert recorder.take() == ["UpdateItem", "DeleteItem", "DeleteItem", "DeleteItem", "UpdateItem"]
    client.get("/view")
    recorder.take()
    device(dynamo_client_factory).post("/sign-out")
    assert recorder.take()[-3:] == ["GetItem", "DeleteItem", "UpdateItem"]  # a bound sign-out


# Races, on moto and on DynamoDB Local, and on each transport case: run them repeatedly with `-k race`.


@pytest.fixture
def async_app(store: DynamoStore) -> Iterator[Starlette]:
    yield Starlette(routes=ROUTES, middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)])


def async_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.mark.anyio
async def test_race_a_request_that_loaded_before_a_revoke_and_saves_after_does_not_resurrect_it(
    store: DynamoStore,
) -> None:
    loaded, revoked = anyio.Event(), anyio.Event()

    async def slow_update(request: Request) -> JSONResponse:
        request.session["late"] = True
        loaded.set()
        await revoked.wait()
        return JSONResponse({})

    app = Starlette(
        routes=[*ROUTES, Route("/slow", slow_update, methods=["POST"])],
        middleware=[Middleware(DynamoSessionMiddleware, store=store, secret_key=SECRET_KEY)],
    )
    async with async_client(app) as client:
        await client.post("/sign-in?user=ada")
        key = (await client.get("/whoami")).json()["key"]
        cookie = client.cookies["session"]
        async with anyio.create_task_group() as group:
            responses: list[httpx.Response] = []

            async def in_flight() -> None:
                responses.append(await client.post("/slow"))

            group.start_soon(in_flight)
            await loaded.wait()
            await store.revoke(key)
            revoked.set()
        assert "Max-Age=0" in responses[0].headers["set-cookie"]
        client.cookies.set("session", cookie)
        assert (await client.get("/view")).json() == {"session": {}}
        assert await store.list_sessions("ada") == []


@pytest.mark.anyio
async def test_race_revoke_all_against_writes_in_flight_never_lets_a_session_back(
    store: DynamoStore, async_app: Starlette
) -> None:
    clients = [async_client(async_app) for _ in range(6)]
    for client in clients:
        await client.post("/sign-in?user=ada")
    cookies = [client.cookies["session"] for client in clients]
    stop = anyio.Event()

    async def keep_writing(client: httpx.AsyncClient) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await client.post("/update", json={"n": n})

    async with anyio.create_task_group() as group:
        for client in clients:
            group.start_soon(keep_writing, client)
        await anyio.sleep(0.05)
        assert await store.revoke_all("ada") == len(clients)
        revoked_at = time.monotonic()
        await anyio.sleep(0.2)  # requests that loaded before keep trying to save meanwhile
        stop.set()
    assert time.monotonic() > revoked_at
    for client, cookie in zip(clients, cookies, strict=True):
        client.cookies.clear()
        client.cookies.set("session", cookie)
        assert (await client.get("/view")).json() == {"session": {}}
        await client.aclose()
    assert await store.list_sessions("ada") == []


@pytest.mark.anyio
# It times revoke_all's writes with a botocore event hook on the store's client, which the transport cases' requests
# do not pass: on the backends only.
@pytest.mark.backends_only
async def test_race_revoke_all_against_sign_ins_ends_every_session_bound_before_its_check(
    store: DynamoStore, async_app: Starlette
) -> None:
    """Sign-ins of the same user keep committing while revoke_all works. Every sign-in whose response started before
    revoke_all's final check was sent (so whose binding had committed) is dead afterwards, and the sessions that are
    still alive are exactly those listed."""
    checks: list[float] = []
    store.client.meta.events.register("before-send.dynamodb.UpdateItem", lambda **_: checks.append(time.monotonic()))
    signed_in: list[tuple[float, str]] = []  # (when its response arrived, its cookie)
    stop = anyio.Event()

    async def keep_signing_in() -> None:
        while not stop.is_set():
            async with async_client(async_app) as client:
                await client.post("/sign-in?user=ada")
                signed_in.append((time.monotonic(), client.cookies["session"]))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(keep_signing_in)
        while not signed_in:  # at least one sign-in has committed, however slow the machine
            await anyio.sleep(0.01)
        await store.revoke_all("ada")
        final_check = checks[-1]
        stop.set()
    before = [cookie for arrived, cookie in signed_in if arrived < final_check]
    after = [cookie for arrived, cookie in signed_in if arrived >= final_check]
    assert before, "no sign-in committed before revoke_all"
    async with async_client(async_app) as client:
        alive = []
        for cookie in before + after:
            client.cookies.clear()
            client.cookies.set("session", cookie)
            if (await client.get("/whoami")).json()["session"]:
                alive.append(cookie)
    assert not set(alive) & set(before)
    assert len(await store.list_sessions("ada")) == len(alive)


def test_a_bound_session_cleared_and_refilled_ends_and_its_new_data_is_a_new_unbound_session(
    dynamo_client_factory: ClientFactory, store: DynamoStore
) -> None:
    client = device(dynamo_client_factory)
    signed_in = client.cookies["session"]
    old_key = key_of(client)
    client.post("/sign-out-with-a-note")
    assert listed(store, "ada") == []
    assert client.get("/view").json() == {"session": {"note": "You are signed out."}}
    assert key_of(client) != old_key
    client.cookies.clear()
    client.cookies.set("session", signed_in)
    assert client.get("/view").json() == {"session": {}}
