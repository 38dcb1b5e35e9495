"""How a store reaches DynamoDB: the botocore client it makes (or is given), and the transport its coroutines use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config

from starlette_dynamo_session._dynamodb.defaults import DEFAULT_CONFIG
from starlette_dynamo_session._dynamodb.region import dynamodb_client
from starlette_dynamo_session._dynamodb.transports.aiohttp_send import AiohttpSend
from starlette_dynamo_session._dynamodb.transports.choice import AutoTransport, BotocoreTransport, Transport
from starlette_dynamo_session._dynamodb.transports.pipeline import Pipeline

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["TransportName", "connect"]

TransportName = Literal["auto", "botocore", "aiohttp"]


def connect(
    session: boto3.Session | None, client: DynamoDBClient | None, config: Config | None, transport: TransportName
) -> tuple[DynamoDBClient, Transport]:
    """The client and the transport of a store made with these arguments (see ``DynamoStore``): ``client`` as it
    is, or one made from ``session`` (``boto3.Session()`` by default) with ``config`` over the transport's defaults;
    and the transport ``transport`` names (``"botocore"`` alone with a given client).

    Raises ``ValueError`` for an unknown transport, or a ``client`` with ``session``, ``config`` or
    ``transport="aiohttp"``; botocore's ``NoRegionError`` when no region is configured.
    """
    if transport not in ("auto", "botocore", "aiohttp"):
        raise ValueError(f"transport must be 'auto', 'botocore' or 'aiohttp', not {transport!r}")
    if client is not None:
        if session is not None or config is not None:
            raise ValueError("pass either client= or session=/config=, not both: a client is already configured")
        if transport == "aiohttp":
            raise ValueError("transport='aiohttp' signs with the session's credentials: pass session=, not client=")
        return client, BotocoreTransport(client)
    session = session if session is not None else boto3.Session()
    client = dynamodb_client(session, DEFAULT_CONFIG.merge(config or Config()))
    threads = BotocoreTransport(client)
    if transport == "botocore":
        return client, threads
    pipeline = _aiohttp_transport(client, session)
    return client, pipeline if transport == "aiohttp" else AutoTransport(pipeline, threads)


def _aiohttp_transport(client: DynamoDBClient, session: boto3.Session) -> Pipeline:
    """The aiohttp transport for ``client``: botocore's pipeline over aiohttp, signing with ``session``'s
    credentials."""
    config: Any = client.meta.config
    send = AiohttpSend(
        int(config.max_pool_connections),
        config.connect_timeout,
        config.read_timeout,
        proxies=config.proxies,
        verify=_verify(client),
    )
    return Pipeline(client, session.get_credentials(), send)


def _verify(client: DynamoDBClient) -> bool | str:
    """How the botocore client checks certificates, as botocore resolved it when the client was made (``verify=``,
    ``AWS_CA_BUNDLE``, ``ca_bundle`` in the config file, ``REQUESTS_CA_BUNDLE``): ``True``, ``False`` or a CA bundle.
    botocore keeps it on the client's HTTP session only; a client without one checks with the defaults."""
    verify = getattr(getattr(getattr(client, "_endpoint", None), "http_session", None), "_verify", True)
    return verify if isinstance(verify, bool | str) else True
