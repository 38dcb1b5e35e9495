"""The documentation names only tests that exist, and quotes the figures and defaults the code defines, so a renamed
or deleted test, or a changed constant, cannot leave a claim unbacked."""

from __future__ import annotations

import ast
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from demo_app.__main__ import DEFAULT_PORT, DEFAULT_TABLE
from demo_app.app import REMEMBER_ME, SKIP_PATHS
from demo_app.devices import MAX_DEVICES
from starlette_dynamo_session._core.http import RETRY_AFTER_SECONDS
from starlette_dynamo_session._core.lifetimes import (
    BROWSER_SESSION_LIFETIME,
    DEFAULT_MAX_AGE,
    IDLE_REFRESH_FRACTION,
)
from starlette_dynamo_session._core.records import DEFAULT, Authentication, MaxAge, StoredSession
from starlette_dynamo_session._core.retries import MERGE
from starlette_dynamo_session._core.rotation import DEFAULT_ROTATION_GRACE
from starlette_dynamo_session._core.tokens import TOKEN_BYTES, digest
from starlette_dynamo_session._core.users import LAST_SEEN_INTERVAL, MAX_USER_AGENT_LENGTH, MAX_USER_ID_LENGTH
from starlette_dynamo_session._dynamodb.authenticated import auth_attributes
from starlette_dynamo_session._dynamodb.binding import BINDING_NAMES
from starlette_dynamo_session._dynamodb.defaults import (
    DEFAULT_CONFIG,
    DEFAULT_CREATED_NAME,
    DEFAULT_DATA_NAME,
    DEFAULT_EXPIRY_NAME,
    DEFAULT_MAX_AGE_NAME,
    DEFAULT_TABLE_NAME,
    DEFAULT_TOKEN_NAME,
    DEFAULT_TTL_NAME,
    DEFAULT_VERSION_NAME,
)
from starlette_dynamo_session._dynamodb.forwarding import TOKEN_ISSUED_NAME
from starlette_dynamo_session._dynamodb.item import MAX_ITEM_BYTES, ItemLayout, item_size
from starlette_dynamo_session._dynamodb.sealing import KEY_BYTES, NONCE_BYTES, SEALING_OVERHEAD, TAG_BYTES
from starlette_dynamo_session._dynamodb.transports.in_flight import BUSY_GROWTH, BUSY_LIMIT, FLOOR, LAG_TARGET
from starlette_dynamo_session._dynamodb.user_index import DELETE_CONCURRENCY
from starlette_dynamo_session._dynamodb.user_items import LEASE_NAME, LEASE_SECONDS, USER_KEY_PREFIX
from starlette_dynamo_session._dynamodb.user_pruning import ENTRY_PREFIX
from starlette_dynamo_session._dynamodb.users import BATCH_GET_LIMIT

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# "tests/test_x.py::test_name", and the "::test_other" that may follow it in the same sentence.
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?|::(test_\w+)")
# Its tests are Starlette's own, fetched when it runs: their names are not in the file.
STARLETTE_SUITE = "tests/integration/test_starlette_suite.py"


def references(document: Path) -> list[tuple[str, str | None]]:
    """The (test file, test name) pairs a document names; a bare ``::name`` belongs to the file named before it."""
    found: list[tuple[str, str | None]] = []
    current = ""
    for match in REFERENCE.finditer(document.read_text()):
        path, name, continued = match.groups()
        if path:
            current = path
            found.append((path, name))
        elif current:
            found.append((current, continued))
    return found


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_test_a_document_names_exists(document: Path) -> None:
    missing = []
    for path, name in references(document):
        file = ROOT / path
        if not file.exists() or (name is not None and path != STARLETTE_SUITE and name not in functions_in(file)):
            missing.append(f"{path}::{name}" if name else path)
    assert missing == [], "\n".join(missing)


# The figures and defaults the documentation quotes, each against the constant that defines it: every pattern below
# must still find its sentence, so rewording one means updating its pattern here, and changing a constant means
# changing what the documentation says.


def quoted(pattern: str, *documents: str) -> list[tuple[str, ...]]:
    """The groups of every match of ``pattern`` in the named documents (paths from the repository root), read with
    their line breaks as spaces; at least one match, or the test fails saying which sentence went missing."""
    found = [
        match.groups()
        for document in documents
        for match in re.finditer(pattern, " ".join((ROOT / document).read_text().split()))
    ]
    assert found, f"{pattern!r} no longer matches anything in {', '.join(documents)}: update the pattern or the docs"
    return found


def option(config: Config, name: str) -> Any:
    """One of a botocore ``Config``'s options (its type stubs declare none of them)."""
    return getattr(config, name)


def number(text: str) -> int:
    """A figure as the documentation writes it: ``1,153`` is 1153."""
    return int(text.replace(",", ""))


def test_the_pool_size_the_docs_quote_is_the_default_of_both_transports() -> None:
    pool = str(option(DEFAULT_CONFIG, "max_pool_connections"))
    both = r"`max_pool_connections`, (\d+) by default on both transports"
    assert set(quoted(both, "README.md", "docs/benchmarks.md")) == {(pool,)}
    assert set(quoted(r"(\d+) pooled connections", "README.md")) == {(pool,)}


def test_the_in_flight_rule_the_docs_quote_is_the_transports() -> None:
    shrink, grow = str(round(BUSY_LIMIT * 100)), str(round(BUSY_GROWTH * 100))
    readme = r"busy more than (\d+)% of the time, grows by one while it has been busy less than (\d+)%"
    assert set(quoted(readme, "README.md")) == {(shrink, grow)}
    assert set(quoted(r"over (\d+)% and grows under (\d+)%", "docs/benchmarks.md")) == {(shrink, grow)}
    assert set(quoted(r"passes take over (\d+) ms of its CPU", "README.md")) == {(f"{LAG_TARGET * 1000:g}",)}
    assert set(quoted(r"When the lag exceeds (\d+) ms", "docs/benchmarks.md")) == {(f"{LAG_TARGET * 1000:g}",)}
    assert set(quoted(r"Never under (\d+), never over the pool", "docs/benchmarks.md")) == {(str(FLOOR),)}


def test_the_retries_and_timeouts_the_docs_quote_are_the_stores_client_defaults() -> None:
    defaults = r"standard retry mode with (\d+) attempts, (\d+) s connect and (\d+) s read timeouts"
    attempts = option(DEFAULT_CONFIG, "retries")["total_max_attempts"]
    expected = (
        str(attempts),
        str(option(DEFAULT_CONFIG, "connect_timeout")),
        str(option(DEFAULT_CONFIG, "read_timeout")),
    )
    assert set(quoted(defaults, "README.md")) == {expected}
    assert set(quoted(r"retried by botocore \(standard mode, (\d+) attempts\)", "docs/security.md")) == {
        (str(attempts),)
    }


def test_the_attribute_and_table_names_the_docs_quote_are_the_stores_defaults() -> None:
    names = {
        "table": DEFAULT_TABLE_NAME,
        "token": DEFAULT_TOKEN_NAME,
        "data": DEFAULT_DATA_NAME,
        "expiry": DEFAULT_EXPIRY_NAME,
        "ttl": DEFAULT_TTL_NAME,
        "created": DEFAULT_CREATED_NAME,
        "version": DEFAULT_VERSION_NAME,
        "max_age": DEFAULT_MAX_AGE_NAME,
    }
    keywords = {
        kind: name
        for kind, name in quoted(r"\b(table|token|data|expiry|ttl|created|version|max_age)_name=\"(\w+)\"", "README.md")
    }
    assert keywords == {kind: names[kind] for kind in keywords}
    assert len(keywords) >= 7
    item = {name for (name,) in quoted(r"\| `(\w+)`(?: \(partition key\))? \| [SBN] \|", "README.md")}
    assert item == set(names.values()) - {DEFAULT_TABLE_NAME, DEFAULT_MAX_AGE_NAME} | {TOKEN_ISSUED_NAME}
    sized = {name for (name,) in quoted(r"\| `(\w+)` \((?:S|B|N)[^)]*\) \|", "docs/capacity.md")}
    assert sized == set(names.values()) - {DEFAULT_TABLE_NAME}
    partition_keys = quoted(r"partition key (?:is )?`(?!\w+_name`)(\w+)`", "README.md", "docs/capacity.md")
    assert set(partition_keys) == {(DEFAULT_TOKEN_NAME,)}
    assert set(quoted(r"TTL on [\"`](\w+)[\"`]", "README.md")) == {(DEFAULT_TTL_NAME,)}


def test_the_lifetimes_the_docs_quote_are_the_middlewares_defaults() -> None:
    days = DEFAULT_MAX_AGE // (24 * 60 * 60)
    assert set(quoted(r"Default `(\d+)` \((\d+) days\)", "README.md")) == {(str(DEFAULT_MAX_AGE), str(days))}
    assert set(quoted(r"`Max-Age=(\d+)`", "docs/security.md")) == {(str(DEFAULT_MAX_AGE),)}
    browser = quoted(r"otherwise (\d+) days after its last write", "README.md")
    assert set(browser) == {(str(BROWSER_SESSION_LIFETIME.days),)}
    fraction = quoted(r"at least a (\w+) of `idle_timeout` \(`IDLE_REFRESH_FRACTION`\)", "README.md")
    assert set(fraction) == {({0.1: "tenth", 0.2: "fifth", 0.25: "quarter", 0.5: "half"}[IDLE_REFRESH_FRACTION],)}


def test_the_users_sessions_figures_the_docs_quote_are_the_packages() -> None:
    assert set(quoted(r"a non-empty str of at most (\d+) characters", "README.md")) == {(str(MAX_USER_ID_LENGTH),)}
    assert set(quoted(r"`User-Agent` \(first (\d+) characters\)", "README.md")) == {(str(MAX_USER_AGENT_LENGTH),)}
    minutes = str(LAST_SEEN_INTERVAL // 60)
    assert set(quoted(r"`LAST_SEEN_INTERVAL` \((\d+) minutes\)", "README.md")) == {(minutes,)}
    assert set(quoted(r"`PutItem` per (\d+) minutes", "README.md")) == {(minutes,)}
    assert set(quoted(r"the lease is (\d+) seconds", "README.md")) == {(str(LEASE_SECONDS),)}
    assert set(quoted(r"`DeleteItem` \((\d+) at a time\)", "README.md")) == {(str(DELETE_CONCURRENCY),)}
    assert set(quoted(r"⌈N/(\d+)⌉ `BatchGetItem`", "README.md")) == {(str(BATCH_GET_LIMIT),)}
    bound = quoted(r"a bound one adds `(\w+)`, `(\w+)`, `(\w+)`, `(\w+)`", "README.md")
    assert set(bound) == {BINDING_NAMES}
    user_item = quoted(
        r"\| `([^`]+)` \+ SHA-256 digest of the user id .*?one `([^<`]+)<session key>` attribute", "README.md"
    )
    assert set(user_item) == {(USER_KEY_PREFIX, ENTRY_PREFIX)}
    assert set(quoted(r"`(\w+)` while `revoke_all` runs", "README.md")) == {(LEASE_NAME,)}


def test_the_conflict_and_outage_figures_the_docs_quote_are_the_middlewares() -> None:
    retry_after = quoted(r"`Retry-After: (\d+)`", "README.md", "docs/robustness.md")
    assert set(retry_after) == {(str(RETRY_AFTER_SECONDS),)}
    assert set(quoted(r"writes again \(up to (\d+) attempts", "README.md")) == {(str(MERGE.attempts),)}
    assert set(quoted(r"random pause of at most ([\d.]+) s", "README.md")) == {(str(MERGE.cap),)}


def test_the_token_figures_the_docs_quote_are_the_signers() -> None:
    assert set(quoted(r"`secrets\.token_urlsafe\((\d+)\)`", "docs/capacity.md", "docs/security.md")) == {
        (str(TOKEN_BYTES),)
    }
    assert set(quoted(r"token_urlsafe\(\d+\)`: (\d+) bytes \((\d+) bits\)", "docs/security.md")) == {
        (str(TOKEN_BYTES), str(TOKEN_BYTES * 8))
    }
    digests = quoted(
        r"SHA-256 digest of the (?:session )?token(?:, base64url(?:-encoded)?)?:? \(?(\d+) characters",
        "README.md",
        "docs/capacity.md",
    )
    assert set(digests) == {(str(len(digest("any token"))),)}


def test_the_sealing_figures_the_docs_quote_are_the_sealers() -> None:
    assert set(quoted(r"(\d+) bytes per item", "README.md")) == {(str(SEALING_OVERHEAD),)}
    assert set(quoted(r"Each item grows by (\d+) bytes \(the nonce and the tag\)", "docs/security.md")) == {
        (str(SEALING_OVERHEAD),)
    }
    assert set(quoted(r"fresh (\d+)-bit (?:random )?nonce", "README.md", "docs/security.md")) == {
        (str(NONCE_BYTES * 8),)
    }
    assert set(quoted(r"a (\d+)-bit key derived", "docs/security.md")) == {(str(KEY_BYTES * 8),)}
    assert set(quoted(r"a (\d+)-byte nonce, the JSON, a (\d+)-byte tag", "docs/capacity.md")) == {
        (str(NONCE_BYTES), str(TAG_BYTES))
    }


def test_the_sealing_cost_is_one_figure_in_both_places_and_the_one_its_measured_means_give() -> None:
    means = quoted(
        r"`find` ([\d.]+) µs sealed against ([\d.]+) µs plain, `save` ([\d.]+) µs against ([\d.]+) µs, so sealing adds"
        r" \*\*about (\d+) µs\*\*",
        "docs/security.md",
    )
    [(find_sealed, find_plain, save_sealed, save_plain, figure)] = means
    added = max(float(find_sealed) - float(find_plain), float(save_sealed) - float(save_plain))
    assert round(added) == int(figure)
    readme = quoted(
        r"It costs about (\d+) microseconds per read and per write \(`python -m bench\.sealing`\)", "README.md"
    )
    assert set(readme) == {(figure,)}


def written_item_size(json_bytes: int, *, sealed: bool = True, max_age: MaxAge = DEFAULT) -> int:
    """``item_size`` of the item the store writes for a first write of a session whose JSON is ``json_bytes`` long,
    with the store's default attribute names: epoch times with six decimals, a 14-day expiry."""
    layout = ItemLayout(
        token=DEFAULT_TOKEN_NAME,
        data=DEFAULT_DATA_NAME,
        expiry=DEFAULT_EXPIRY_NAME,
        ttl=DEFAULT_TTL_NAME,
        created=DEFAULT_CREATED_NAME,
        version=DEFAULT_VERSION_NAME,
        max_age=DEFAULT_MAX_AGE_NAME,
        sealed=sealed,
    )
    created = datetime(2026, 12, 4, 23, 0, 0, 123457, tzinfo=UTC)
    expiry = created + timedelta(seconds=DEFAULT_MAX_AGE, microseconds=11)
    record = StoredSession(b"x" * json_bytes, created, expiry, 1, max_age)
    return item_size(layout.item("t" * 43, record))


def test_the_item_sizes_the_docs_quote_are_item_size_of_the_items_the_store_writes() -> None:
    overhead = written_item_size(0)
    with_lifetime = written_item_size(0, max_age=30 * 24 * 60 * 60)
    plain = written_item_size(0, sealed=False)
    plus = quoted(r"the session's JSON plus (\d+) bytes \((\d+) with a lifetime of its own\)", "docs/capacity.md")
    assert set(plus) == {(str(overhead), str(with_lifetime))}
    sizes = quoted(
        r"1 KiB of JSON \(1,024 bytes\) makes an item of ([\d,]+) bytes, 10 KiB one of ([\d,]+) bytes and 100 KiB"
        r" one of ([\d,]+) bytes",
        "docs/capacity.md",
    )
    kib = (1024, 10 * 1024, 100 * 1024)
    assert [tuple(number(size) for size in found) for found in sizes] == [tuple(written_item_size(n) for n in kib)]
    assert {number(n) for (n,) in quoted(r"stays within ([\d,]+) bytes costs 1 WRU", "docs/capacity.md")} == {
        1024 - overhead
    }
    assert {number(n) for (n,) in quoted(r"within ([\d,]+) bytes, 1 RRU", "docs/capacity.md")} == {4096 - overhead}
    less = quoted(r"each figure is (\d+) bytes less \((\d+) bytes over the JSON\)", "docs/capacity.md")
    assert set(less) == {(str(overhead - plain), str(plain))}
    reads = quoted(
        r"\| read-only session \| 1 read \| (\d+) / 0 \| [\d.]+ \| (\d+) / 0 \| [\d.]+ \| (\d+) / 0 \|",
        "docs/capacity.md",
    )
    assert set(reads) == {tuple(str(-(-written_item_size(n) // 4096)) for n in kib)}
    writes = quoted(
        r"\| first write \| 1 conditional write \| 0 / (\d+) \| [\d.]+ \| 0 / (\d+) \| [\d.]+ \| 0 / (\d+) \|",
        "docs/capacity.md",
    )
    assert set(writes) == {tuple(str(-(-written_item_size(n) // 1024)) for n in kib)}


def test_the_size_the_readme_quotes_for_the_authentication_is_item_size_of_its_attributes() -> None:
    attributes = auth_attributes(Authentication(datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=UTC), 2))
    assert set(quoted(r"the two attributes add (\d+) bytes to the\s+item", "README.md")) == {
        (str(item_size(attributes)),)
    }


def test_the_item_limit_the_docs_quote_is_the_stores() -> None:
    limits = quoted(r"(\d+) KB (?:item )?limit", "README.md", "docs/security.md")
    assert set(limits) == {(str(MAX_ITEM_BYTES // 1024),)}


def test_the_demo_figures_its_page_quotes_are_the_demos() -> None:
    assert set(quoted(r"\"Remember me for (\d+) days\"", "docs/demo.md")) == {(str(REMEMBER_ME // (24 * 60 * 60)),)}
    devices = quoted(r"`max_sessions_per_user=(\d+)` keeps at most (\d+) sessions", "docs/demo.md")
    assert set(devices) == {(str(MAX_DEVICES), str(MAX_DEVICES))}
    skipped = quoted(
        r"\*\*`(/\w+)`\*\* answers .*? It and `([\w/.]+)` are in the middleware's `skip_paths`", "docs/demo.md"
    )
    assert [set(paths) for paths in skipped] == [set(SKIP_PATHS)]
    assert set(quoted(r"`--table NAME`, default `(\w+)`", "docs/demo.md")) == {(DEFAULT_TABLE,)}
    assert set(quoted(r"scripts/demo +# http://127\.0\.0\.1:(\d+)/", "docs/demo.md")) == {(str(DEFAULT_PORT),)}


def release(version: str) -> tuple[int, ...]:
    """A version's numbers without trailing zeros: ``1.0`` and ``1.0.0`` are the same release."""
    numbers = [int(part) for part in version.split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def test_the_dependency_floors_the_readme_quotes_are_pyprojects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [dependency for group in project["optional-dependencies"].values() for dependency in group]
    floors = {}
    for dependency in [*project["dependencies"], *extras]:
        name, _, floor = dependency.partition(">=")
        floors[name] = release(floor)
    quotes = {name: release(version) for name, version in quoted(r"`([\w-]+)` ([\d.]+) or later", "README.md")}
    assert quotes == floors
    python = quoted(r"Python ([\d.]+) or later", "README.md")
    assert set(python) == {(project["requires-python"].removeprefix(">="),)}


def test_the_rotation_grace_the_docs_quote_is_the_default() -> None:
    assert set(quoted(r"`rotation_grace` - [^`]*Default `(\d+)`", "README.md")) == {(str(DEFAULT_ROTATION_GRACE),)}
    assert set(quoted(r"`rotation_grace` seconds after a rotation \((\d+) by default\)", "docs/security.md")) == {
        (str(DEFAULT_ROTATION_GRACE),)
    }
