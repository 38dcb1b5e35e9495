"""The store contract tests that go through the store's coroutines, and the middleware's end-to-end tests, on every
(backend, transport) pair of ``tests.support.moto_server.TRANSPORT_CASES``: moto's server mode and DynamoDB Local,
over botocore and over aiohttp.

The tests are those of ``tests/test_store.py``, ``tests/test_end_to_end.py`` and ``tests/test_users.py`` (users'
sessions through the real middleware, races included), collected here a second time; the
fixtures below give them a store of each pair, and count DynamoDB operations at a recording proxy in front of the
backend, which sees the requests of both transports alike.
"""

from __future__ import annotations

import inspect

import boto3
import pytest

import tests.test_end_to_end as end_to_end
import tests.test_store as store_contract
import tests.test_users as users
from starlette_dynamo_session import DynamoStore
from tests.support.loopback import RecordingProxy

# Every coroutine test of the store contract (the synchronous methods always use the botocore client), and every
# end-to-end test.
globals().update(
    {
        name: test
        for name, test in vars(store_contract).items()
        if name.startswith("test_") and inspect.iscoroutinefunction(test)
    }
)
globals().update({name: test for name, test in vars(end_to_end).items() if name.startswith("test_")})
# Users' sessions, with the fixtures of their module (moto's writes made atomic, as DynamoDB's are). Not the race
# that times revoke_all's writes with a botocore event hook, which the aiohttp transport's requests do not pass.
BOTOCORE_HOOKED = {"test_race_revoke_all_against_sign_ins_ends_every_session_bound_before_its_check"}
globals().update(
    {
        name: value
        for name, value in vars(users).items()
        if (name.startswith("test_") and name not in BOTOCORE_HOOKED) or name in ("atomic_moto_writes", "async_app")
    }
)


@pytest.fixture
def boto_session(transport_session: boto3.Session) -> boto3.Session:
    return transport_session


@pytest.fixture
def recorder(transport_proxy: RecordingProxy) -> RecordingProxy:
    return transport_proxy


@pytest.fixture
def store(transport_store: DynamoStore) -> DynamoStore:
    return transport_store
