"""The stored form of a session, and how one request's changes are merged onto fresher data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from starlette_dynamo_session._core.codec import Changes, dumps, loads


@pytest.mark.parametrize("session", [{}, {"user": "ada"}, {"cart": [{"item": "pear", "qty": 2}], "n": 1.5, "ü": None}])
def test_a_session_comes_back_from_its_stored_bytes(session: dict[str, Any]) -> None:
    assert loads(dumps(session)) == session


def test_the_stored_bytes_are_compact_utf8_json() -> None:
    assert dumps({"user": "Zoë", "n": [1, 2]}) == '{"user":"Zoë","n":[1,2]}'.encode()


def test_a_lone_surrogate_is_escaped_so_the_bytes_stay_utf8() -> None:
    data = dumps({"odd": "\ud800"})
    assert data == b'{"odd":"\\ud800"}'
    assert json.loads(data) == {"odd": "\ud800"}


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'"text"', b"1", b"\xff\xfe"])
def test_bytes_that_are_not_a_json_object_are_no_session(data: bytes) -> None:
    assert loads(data) is None


def test_changes_are_the_keys_set_changed_or_removed() -> None:
    changes = Changes.between({"keep": 1, "change": 1, "drop": 1}, {"keep": 1, "change": 2, "new": 3})
    assert changes.updated == {"change": 2, "new": 3}
    assert changes.removed == {"drop"}


def test_a_nested_change_is_a_change_of_its_top_level_key() -> None:
    assert Changes.between({"cart": ["a"]}, {"cart": ["a", "b"]}).updated == {"cart": ["a", "b"]}


def test_changes_apply_on_top_of_fresher_data_and_win_their_own_keys() -> None:
    changes = Changes.between({"a": 1, "b": 1}, {"a": 2})
    assert changes.apply_to({"a": 5, "b": 5, "c": 5}) == {"a": 2, "c": 5}
