"""SigV4 for the pipeline's requests, as botocore's ``SigV4Auth.add_auth`` signs them, with less work per request.

botocore derives the signing key (four HMACs) for every request, builds the signed headers twice and prepares the
request once more to read its body. Here the key is derived once per (secret key, date, region, service), and what
every request of one shape shares (its method, URL, headers and session token: the canonical headers around the
timestamp, the names signed) once per shape; per request, only the timestamp, the two hashes and the signature: the
same headers are added, and the same ``Authorization`` header results. A request this does not cover (a query
string or a path other than ``/``, a ``Date`` or ``X-Amz-Content-SHA256`` header, unsigned or trailing-checksum
payloads, a body that is not bytes, header names or values that are not plain strings, a header given twice) is
signed by ``SigV4Auth`` itself.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
from botocore.auth import EMPTY_SHA256_HASH, SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

__all__ = ["SigV4Signer"]

_UNSIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers whose presence changes what botocore signs (the date it uses, the payload hash it takes as given).
_HANDED_TO_BOTOCORE = frozenset({"date", "x-amz-content-sha256"})
# The headers signing sets, replacing any the request carried (a retry's carries the last attempt's).
_ADDED = frozenset({"authorization", "x-amz-date", "x-amz-security-token"})
_SHAPES_KEPT = 64  # request shapes a signer keeps (the store sends a few per operation); all are dropped past that


class SigV4Signer:
    """Signs requests for ``service`` in ``region`` with SigV4, exactly as ``SigV4Auth(credentials, service,
    region).add_auth(request)`` would at the same instant, reading the clock botocore's signer reads."""

    def __init__(self, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._shapes: dict[tuple[Any, ...], _Shape | None] = {}  # by method, URL, headers and session token

    def add_auth(self, request: AWSRequest, credentials: ReadOnlyCredentials) -> None:
        """Sign ``request`` in place: set ``X-Amz-Date`` (and ``X-Amz-Security-Token`` for temporary credentials),
        then ``Authorization``, and put the timestamp in ``request.context`` as botocore does. Raises nothing of its
        own; what botocore's signer raises for a request it signs.
        """
        signing = None
        if not request.params:
            signing = self._signing(
                request.method, request.url, tuple(request.headers.items()), request.data, request.context, credentials
            )
        if signing is None:
            SigV4Auth(credentials, self._service, self._region).add_auth(request)
            return
        headers = request.headers
        del headers["Authorization"]  # a retry's request carries the last attempt's
        for name, value in signing[1].items():
            del headers[name]
            headers[name] = value

    def signed_headers(
        self, request_dict: Mapping[str, Any], credentials: ReadOnlyCredentials
    ) -> dict[str, str] | None:
        """The headers of botocore's request dict (``prepare_request_dict``'s) signed, as a new plain ``dict``: the
        same headers, in the same order, that ``add_auth`` gives its ``AWSRequest``, with no request object made;
        the timestamp goes in the dict's ``context``. ``None`` for a request this does not cover (then sign an
        ``AWSRequest`` with ``add_auth``). Raises nothing.
        """
        signing = self._signing(
            request_dict["method"],
            request_dict["url"],
            tuple(request_dict["headers"].items()),
            request_dict["body"],
            request_dict["context"],
            credentials,
        )
        if signing is None:
            return None
        shape, added = signing
        signed = dict(shape.kept)
        signed.update(added)
        return signed

    def _signing(
        self,
        method: str | None,
        url: str | None,
        original: tuple[tuple[str, Any], ...],
        body: object,
        context: dict[str, Any],
        credentials: ReadOnlyCredentials,
    ) -> tuple[_Shape, dict[str, str]] | None:
        """The shape of a request with headers ``original`` and the headers signing adds to it (``X-Amz-Date``, the
        token's, then ``Authorization``), the timestamp put in ``context``; ``None`` when this does not cover the
        request. What every request of one shape shares is worked out once (``_shape``)."""
        if not (body is None or type(body) is bytes) or "checksum" in context or "payload_signing_enabled" in context:
            return None
        token = credentials.token
        key = (method, url, original, token)
        try:
            shape = self._shapes[key]
        except KeyError:
            if len(self._shapes) >= _SHAPES_KEPT:
                self._shapes.clear()
            shape = self._shapes[key] = _shape(method, url, original, token)
        except TypeError:  # a header value that does not hash is not a plain string: botocore's to sign
            return None
        if shape is None:
            return None
        timestamp = _now().strftime(SIGV4_TIMESTAMP)
        context["timestamp"] = timestamp
        payload = sha256(body).hexdigest() if body else EMPTY_SHA256_HASH
        canonical = f"{shape.before}{timestamp}{shape.after}{payload}"
        date = timestamp[:8]
        scope = f"{date}/{self._region}/{self._service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        key_bytes = _signing_key(credentials.secret_key, date, self._region, self._service)
        signature = hmac.digest(key_bytes, to_sign.encode(), "sha256").hex()
        added = {"X-Amz-Date": timestamp}
        if token:
            added["X-Amz-Security-Token"] = token
        added["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={shape.signed_headers}, Signature={signature}"
        )
        return shape, added


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the signatures of requests of one shape (method, URL, headers, session token) share: their canonical
    request before and after the timestamp and the payload's hash, the names they sign, and the headers they keep."""

    before: str  # the canonical request up to the timestamp of its ``x-amz-date`` line
    after: str  # from after the timestamp to the payload's hash
    signed_headers: str
    kept: tuple[tuple[str, str], ...]  # the request's headers but those signing sets


def _shape(
    method: str | None, url: str | None, original: tuple[tuple[str, Any], ...], token: str | None
) -> _Shape | None:
    """What signing a request of this shape shares with every other of its shape, or ``None`` when this does not
    cover it."""
    host = None if url is None else _canonical_host(url)
    if host is None or method is None:
        return None
    names = {name.lower() for name, _ in original if type(name) is str}
    if (
        len(names) != len(original)
        or not names.isdisjoint(_HANDED_TO_BOTOCORE)
        or not all(type(value) is str and name == name.strip() for name, value in original)
    ):
        return None
    signed = {name.lower(): " ".join(value.split()) for name, value in original}
    signed.pop("authorization", None)
    signed["x-amz-date"] = ""  # the timestamp goes between ``before`` and ``after``
    if token:
        signed["x-amz-security-token"] = " ".join(token.split())
    signed.setdefault("host", host)
    names_signed = sorted(name for name in signed if name not in _UNSIGNED)
    lines = [f"{name}:{signed[name]}\n" for name in names_signed]
    at = names_signed.index("x-amz-date")
    signed_headers = ";".join(names_signed)
    kept = tuple((name, value) for name, value in original if name.lower() not in _ADDED)
    before = f"{method.upper()}\n/\n\n{''.join(lines[:at])}x-amz-date:"
    return _Shape(before, f"\n{''.join(lines[at + 1 :])}\n{signed_headers}\n", signed_headers, kept)


def _now() -> datetime:
    """The instant botocore's signer reads (``botocore.auth.get_current_datetime``: naive UTC), so a test that fixes
    that clock fixes both signers'; botocore releases before it read ``datetime.utcnow()``, which this matches."""
    clock: Callable[[], datetime] | None = getattr(botocore.auth, "get_current_datetime", None)
    return clock() if clock is not None else datetime.now(UTC).replace(tzinfo=None)


@lru_cache(maxsize=16)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """SigV4's signing key for one secret key, day (``YYYYMMDD``), region and service."""
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), sha256).digest()
    return key


def _canonical_host(url: str) -> str | None:
    """The host SigV4 signs for a request to ``url`` when it names none (lower case, with the port unless it is the
    scheme's default), or ``None`` for a URL whose signing this leaves to botocore: one with a query, a path other
    than ``/``, an IPv6 or missing host, or a port that does not parse."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.query or parts.path not in ("", "/") or not host or ":" in host:
        return None
    return host if port is None or port == _DEFAULT_PORTS.get(parts.scheme) else f"{host}:{port}"
