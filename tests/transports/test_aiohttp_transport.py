"""What is particular to ``DynamoStore(transport="aiohttp")``: signing, credentials, retries, timeouts, the bound on
requests in flight, the event loops it runs on, and the extra it needs. DynamoDB Local and moto accept any signature
and never throttle, so these tests talk to tiny servers on 127.0.0.1 that answer as DynamoDB would."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import ipaddress
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import aiohttp
import anyio
import boto3
import botocore.session
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import CredentialProvider, ReadOnlyCredentials, RefreshableCredentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from starlette_dynamo_session import DynamoStore, SessionError, StoreUnavailable
from tests.support.faults import FaultInjector
from tests.support.loopback import Handler, LoopbackServer, Serve, answer

TRANSPORTS: list[Literal["botocore", "aiohttp"]] = ["botocore", "aiohttp"]
Transport = Literal["botocore", "aiohttp"]


async def _empty(request: web.Request) -> web.Response:
    return answer({})


def error(code: str, status: int = 400) -> web.Response:
    return answer({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}, status)


def make_store(transport: Transport, session: boto3.Session | None = None, **config: Any) -> DynamoStore:
    return DynamoStore(session or boto3.Session(), transport=transport, config=Config(**config))


# Signing


def verified_authorization(headers: dict[str, str], body: bytes, url: str, credentials: ReadOnlyCredentials) -> str:
    """The Authorization header that SigV4 gives the headers a request names as signed, as received, and its body,
    at the time its X-Amz-Date says: what DynamoDB compares with the header the request carries."""
    signed_names = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    received = {name: value for name, value in headers.items() if name.lower() in signed_names}
    request = AWSRequest(method="POST", url=url, headers=received, data=body)
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(credentials, "dynamodb", "us-east-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    return f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, Signature={signature}"


@pytest.mark.anyio
async def test_requests_are_signed_as_the_botocore_client_signs_them(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    received: list[tuple[dict[str, str], bytes]] = []

    async def capture(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return answer({})

    url = serve(capture)
    store = make_store("aiohttp")
    assert await store.read("token-1") is None
    store.client.get_item(TableName=store.table_name, Key={"token": {"S": store.key("token-1")}}, ConsistentRead=True)
    [(ours, our_body), (botocores, botocore_body)] = received
    credentials = ReadOnlyCredentials("testing", "testing", "session-token")
    assert ours["Authorization"] == verified_authorization(ours, our_body, url, credentials)
    assert botocores["Authorization"] == verified_authorization(botocores, botocore_body, url, credentials)
    # The same request at the same instant: the same signature as the botocore client's.
    at_our_time = {**botocores, "X-Amz-Date": ours["X-Amz-Date"]}
    assert ours["Authorization"] == verified_authorization(at_our_time, botocore_body, url, credentials)
    assert our_body == botocore_body
    assert ours["X-Amz-Security-Token"] == "session-token"
    wrong = ReadOnlyCredentials("testing", "wrong secret", "session-token")
    assert ours["Authorization"] != verified_authorization(ours, our_body, url, wrong)
    await store.aclose()


class _DueCredentials(CredentialProvider):
    """Refreshable credentials that expire in a minute (so a refresh is due at once); the refresh blocks, as a call
    to STS would, until the event loop has shown it kept running (``loop_ran``), and gives the key ``refreshed``."""

    METHOD = "test-refreshable"

    def __init__(self) -> None:
        super().__init__()
        self.refresh_threads: list[int] = []
        self.refreshing = threading.Event()
        self.loop_ran = threading.Event()

    def load(self) -> RefreshableCredentials:
        return RefreshableCredentials.create_from_metadata(self._metadata("expiring", 60), self._refresh, self.METHOD)

    def _refresh(self) -> dict[str, str]:
        self.refresh_threads.append(threading.get_ident())
        self.refreshing.set()
        self.loop_ran.wait(timeout=10)  # a refresh on the event loop's thread would wait here in vain
        return self._metadata("refreshed", 3600)

    def _metadata(self, key: str, seconds: int) -> dict[str, str]:
        expiry = datetime.now(UTC) + timedelta(seconds=seconds)
        return {"access_key": key, "secret_key": "secret", "token": "token", "expiry_time": expiry.isoformat()}


@pytest.mark.anyio
async def test_credentials_due_for_refresh_are_refreshed_in_a_worker_thread(serve: Serve) -> None:
    keys: list[str] = []

    async def capture(request: web.Request) -> web.Response:
        keys.append(request.headers["Authorization"].split("Credential=")[1].split("/")[0])
        return answer({})

    serve(capture)
    provider = _DueCredentials()
    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", provider)
    store = make_store("aiohttp", boto3.Session(botocore_session=core))

    async def tick() -> None:
        while True:
            if provider.refreshing.is_set():
                provider.loop_ran.set()  # the loop runs this while the refresh is in progress
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(tick)
        await store.read("token-1")
        await store.read("token-1")
        tasks.cancel_scope.cancel()
    assert keys == ["refreshed", "refreshed"]
    assert len(provider.refresh_threads) == 1
    assert provider.refresh_threads[0] != threading.get_ident()
    assert provider.loop_ran.is_set()
    await store.aclose()


# Retries, checksums and timeouts: the same on both transports


def failing(times: int, failure: Callable[[], web.Response], requests: list[float]) -> Handler:
    """A handler that answers ``failure()`` ``times`` times, then an empty GetItem answer; ``requests`` gets the
    time of each request."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        requests.append(time.monotonic())
        return failure() if len(requests) <= times else answer({})

    return handle


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("code", "failures", "succeeds"),
    [
        ("ThrottlingException", 2, True),
        ("ThrottlingException", 3, False),
        ("ProvisionedThroughputExceededException", 3, False),
    ],
)
async def test_throttling_is_retried_with_backoff_up_to_the_configured_attempts(
    serve: Serve, transport: Transport, code: str, failures: int, succeeds: bool
) -> None:
    requests: list[float] = []
    serve(failing(failures, lambda: error(code), requests))
    store = make_store(transport, retries={"mode": "standard", "total_max_attempts": 3})
    if succeeds:
        assert await store.read("token-1") is None
    else:
        with pytest.raises(StoreUnavailable, match=rf"GetItem failed \({code}\)"):
            await store.read("token-1")
    assert len(requests) == 3
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "status", "retried"),
    [
        ("InternalServerError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 400, False),
        ("ConditionalCheckFailedException", 400, False),
    ],
)
async def test_the_same_errors_are_retried_as_many_times_on_both_transports(
    serve: Serve, code: str, status: int, retried: bool
) -> None:
    attempts: dict[str, int] = {}
    for transport in TRANSPORTS:
        requests: list[float] = []
        serve(failing(100, lambda: error(code, status), requests))
        # No total_max_attempts: the installed botocore's default for DynamoDB in standard mode.
        store = make_store(transport, retries={"mode": "standard"})
        with pytest.raises(SessionError, match=code):
            await store.read("token-1")
        await store.aclose()
        attempts[transport] = len(requests)
    assert attempts["aiohttp"] == attempts["botocore"]
    assert (attempts["botocore"] > 1) is retried


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_damaged_answer_is_retried_as_botocore_retries_it(serve: Serve, transport: Transport) -> None:
    requests: list[float] = []
    serve(failing(1, lambda: answer({}, crc=12345), requests))
    store = make_store(transport)
    assert await store.read("token-1") is None
    assert len(requests) == 2
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_answer_damaged_on_every_attempt_is_refused(serve: Serve, transport: Transport) -> None:
    requests: list[float] = []
    serve(failing(100, lambda: answer({}, crc=12345), requests))
    store = make_store(transport)
    with pytest.raises(StoreUnavailable, match="ChecksumError"):
        await store.read("token-1")
    assert len(requests) == 3
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_read_timeout_is_retried_then_store_unavailable(serve: Serve, transport: Transport) -> None:
    requests: list[float] = []

    async def slow(request: web.Request) -> web.Response:
        requests.append(time.monotonic())
        await asyncio.sleep(1)
        return answer({})

    serve(slow)
    store = make_store(transport, read_timeout=0.2, retries={"mode": "standard", "total_max_attempts": 2})
    with pytest.raises(StoreUnavailable, match="ReadTimeoutError") as raised:
        await store.read("token-1")
    assert len(requests) == 2
    assert raised.value.__cause__ is not None
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_unreachable_endpoint_is_store_unavailable(
    monkeypatch: pytest.MonkeyPatch, transport: Transport
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    store = make_store(transport, retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1)
    with pytest.raises(StoreUnavailable, match="GetItem failed .*EndpointConnectionError"):
        await store.read("token-1")
    await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_cookies_the_endpoint_sets_are_never_sent_back(serve: Serve, transport: Transport) -> None:
    cookies_sent: list[str | None] = []

    async def setting_a_cookie(request: web.Request) -> web.Response:
        cookies_sent.append(request.headers.get("Cookie"))
        response = answer({})
        response.headers["Set-Cookie"] = "balancer=node-7; Path=/"
        return response

    serve(setting_a_cookie)
    store = make_store(transport)
    for _ in range(3):
        assert await store.read("token-1") is None
    await store.aclose()
    assert cookies_sent == [None, None, None]


@pytest.mark.anyio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_redirect_is_an_answer_and_never_followed(serve: Serve, transport: Transport) -> None:
    paths: list[str] = []

    async def redirecting(request: web.Request) -> web.Response:
        paths.append(request.path)
        if request.path == "/elsewhere":
            return answer({})
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    serve(redirecting)
    store = make_store(transport, retries={"mode": "standard", "max_attempts": 1})
    with pytest.raises(SessionError, match="307"):
        await store.read("token-1")
    await store.aclose()
    assert paths == ["/"]


# Requests in flight


@pytest.mark.anyio
async def test_requests_in_flight_are_bounded_by_the_pool_size(serve: Serve) -> None:
    in_flight = 0
    most = 0
    peers: set[object] = set()

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.1)
        in_flight -= 1
        return answer({})

    serve(slow)
    store = make_store("aiohttp", max_pool_connections=4)
    async with anyio.create_task_group() as tasks:
        for number in range(20):
            tasks.start_soon(store.read, f"token-{number}")
    assert most == 4
    assert len(peers) == 4  # connections reused, never more than the pool
    await store.aclose()


# Event loops


@pytest.mark.anyio
async def test_what_follows_an_answer_waits_behind_what_was_ready_to_run_when_it_came(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(_empty)
    store = make_store("aiohttp")
    order: list[str] = []
    read = aiohttp.ClientResponse.read

    async def read_beside_another_request(answer: aiohttp.ClientResponse) -> bytes:
        body = await read(answer)
        asyncio.get_running_loop().call_soon(order.append, "another request, ready as the answer came")
        return body

    monkeypatch.setattr(aiohttp.ClientResponse, "read", read_beside_another_request)
    assert await store.read("token-1") is None
    order.append("the session read, parsed")
    assert order == ["another request, ready as the answer came", "the session read, parsed"]
    await store.aclose()


@pytest.mark.anyio
async def test_aclose_closes_the_connections_and_the_store_stays_usable(serve: Serve) -> None:
    peers: list[object] = []

    async def handle(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return answer({})

    serve(handle)
    store = make_store("aiohttp")
    await store.read("token-1")
    await store.read("token-1")
    await store.aclose()
    assert await store.read("token-1") is None
    assert peers[0] == peers[1] != peers[2]  # kept alive until aclose, then a new connection
    await store.aclose()


def test_each_event_loop_gets_its_session_closed_when_the_loop_ends(serve: Serve) -> None:
    serve(_empty)
    store = make_store("aiohttp")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert asyncio.run(store.read("token-1")) is None
        gc.collect()
    assert [str(warning.message) for warning in caught] == []


def test_outside_asyncio_the_aiohttp_transport_names_itself(serve: Serve) -> None:
    serve(_empty)
    store = make_store("aiohttp")
    coroutine = store.read("token-1")  # driven by hand, as trio or any loop other than asyncio would
    with pytest.raises(RuntimeError, match=r"transport='aiohttp'\) runs on asyncio only"):
        coroutine.send(None)


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed")
@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_under_trio_aiohttp_fails_clearly_and_botocore_works(serve: Serve) -> None:
    serve(_empty)
    with pytest.raises(RuntimeError, match=r"transport='aiohttp'\) runs on asyncio only"):
        await make_store("aiohttp").read("token-1")
    assert await make_store("botocore").read("token-1") is None


# Proxies and certificates, carried over from botocore's settings


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by its own key, and that key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def https_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A loopback HTTPS server answering as DynamoDB, with a certificate no default authority signed; the
    certificate's path is what a CA bundle setting would name."""
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    with LoopbackServer(_empty, ssl_context=context) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.url)
        yield cert_path


@pytest.mark.anyio
async def test_the_ca_bundle_of_aws_ca_bundle_is_trusted_on_the_aiohttp_transport(
    https_endpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(https_endpoint))
    store = make_store("aiohttp")
    assert await store.read("token-1") is None
    await store.aclose()


@pytest.mark.anyio
# aiohttp 3.10.0 (the lowest version the package allows) leaves the transport of a refused TLS handshake for the
# garbage collector, which this test runs before it ends; later releases close it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
async def test_without_the_ca_bundle_an_unknown_certificate_is_refused_on_the_aiohttp_transport(
    https_endpoint: Path,
) -> None:
    store = make_store("aiohttp", retries={"mode": "standard", "total_max_attempts": 1})
    with pytest.raises(StoreUnavailable, match="GetItem"):
        await store.read("token-1")
    await store.aclose()
    gc.collect()


class HostsSeen:
    """A loopback server answering every request as DynamoDB, and the ``Host`` of each request it got."""

    def __init__(self, serve: Serve) -> None:
        self.hosts: list[str] = []
        self.url = serve(self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        self.hosts.append(request.host)
        return answer({})


async def hosts_of_one_read(store: DynamoStore, seen: HostsSeen) -> list[str]:
    """The ``Host`` headers the server saw while ``store`` read one session."""
    assert await store.read("token-1") is None
    await store.aclose()
    return seen.hosts


@pytest.mark.anyio
@pytest.mark.parametrize("proxy", ["with-scheme", "without-scheme"])
async def test_the_configs_proxy_carries_the_aiohttp_transports_requests(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    proxy_server = HostsSeen(serve)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb.invalid")
    address = proxy_server.url if proxy == "with-scheme" else proxy_server.url.removeprefix("http://")
    store = make_store("aiohttp", proxies={"http": address})
    assert await hosts_of_one_read(store, proxy_server) == ["dynamodb.invalid"]


@pytest.mark.anyio
async def test_the_environments_proxy_carries_the_aiohttp_transports_requests(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_server = HostsSeen(serve)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb.invalid")
    monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert await hosts_of_one_read(make_store("aiohttp"), proxy_server) == ["dynamodb.invalid"]


@pytest.mark.anyio
async def test_no_proxy_sends_the_aiohttp_transports_requests_straight_to_the_endpoint(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = HostsSeen(serve)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert await hosts_of_one_read(make_store("aiohttp"), dynamodb) == [dynamodb.url.removeprefix("http://")]


@pytest.mark.anyio
async def test_a_request_on_the_aiohttp_transport_hands_nothing_to_a_worker_thread(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(_empty)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")  # looked up once, on the event loop
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    store = make_store("aiohttp")
    loop = asyncio.get_running_loop()
    handed: list[object] = []
    run_in_executor = loop.run_in_executor

    def recording(executor: Any, function: Any, *args: Any) -> Any:
        handed.append(function)
        return run_in_executor(executor, function, *args)

    monkeypatch.setattr(loop, "run_in_executor", recording)
    for _ in range(3):
        assert await store.read("token-1") is None
    assert handed == []
    await store.aclose()


@pytest.mark.anyio
async def test_a_before_send_handler_registered_after_requests_went_out_sees_and_answers_the_next_attempt(
    serve: Serve,
) -> None:
    served: list[str] = []

    async def dynamodb(request: web.Request) -> web.Response:
        served.append(request.headers["X-Amz-Target"])
        return answer({})

    serve(dynamodb)
    store = make_store("aiohttp")
    assert await store.read("token-1") is None  # no before-send handler yet: signed and sent as plain headers
    injector = FaultInjector(store.client.meta.events, each_attempt=True)
    injector.fail("ValidationException", times=1)
    with pytest.raises(StoreUnavailable, match="ValidationException"):
        await store.read("token-1")
    assert (injector.injected, served) == (1, ["DynamoDB_20120810.GetItem"])
    await store.aclose()


# Construction


def test_the_aiohttp_transport_needs_the_session_not_a_client() -> None:
    client = boto3.Session().client("dynamodb")
    with pytest.raises(ValueError, match="transport='aiohttp' signs with the session's credentials"):
        DynamoStore(client=client, transport="aiohttp")


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport must be 'auto', 'botocore' or 'aiohttp', not 'httpx'"):
        DynamoStore(transport="httpx")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["legacy", "adaptive"])
def test_retry_modes_other_than_standard_are_refused(mode: str) -> None:
    with pytest.raises(ValueError, match=f"standard retry mode, not '{mode}'"):
        make_store("aiohttp", retries={"mode": mode})


def test_the_aiohttp_transport_pools_32_connections_unless_the_config_says_otherwise() -> None:
    default = DynamoStore(boto3.Session(), transport="aiohttp").client.meta.config
    chosen = DynamoStore(
        boto3.Session(), transport="aiohttp", config=Config(max_pool_connections=48)
    ).client.meta.config
    assert (default.max_pool_connections, chosen.max_pool_connections) == (32, 48)  # type: ignore[attr-defined]
    assert default.read_timeout == 3  # type: ignore[attr-defined]  # the other defaults are the botocore transport's
