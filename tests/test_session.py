"""The stored form of a session and how one request's changes are merged onto fresher data."""

from __future__ import annotations

from typing import Any

import pytest

from starlette_dynamo_session._session import Changes, decode_payload, dumps, encode_payload, session_text


@pytest.mark.parametrize("session", [{}, {"user": "ada"}, {"cart": [{"item": "pear", "qty": 2}], "n": 1.5, "ü": None}])
def test_a_payload_decodes_to_its_creation_time_and_session(session: dict[str, Any]) -> None:
    assert decode_payload(encode_payload(1700000000.25, dumps(session))) == (1700000000.25, session)


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"created": "x", "session": {}}', b'{"session": {}}'])
def test_bytes_that_are_not_a_payload_decode_to_none(data: bytes) -> None:
    assert decode_payload(data) is None


def test_the_session_text_is_cut_from_the_payload_as_dumps_would_write_it() -> None:
    session = {"user": "ada", "nested": {"session": ',"session":'}}
    data = encode_payload(1.5, dumps(session))
    assert session_text(data, session) == dumps(session)


def test_the_session_text_of_foreign_bytes_is_serialized_again() -> None:
    assert session_text(b'{"session": {"a": 1}, "created": 1}', {"a": 1}) == '{"a":1}'


def test_changes_are_the_keys_set_changed_or_removed() -> None:
    changes = Changes.between({"keep": 1, "change": 1, "drop": 1}, {"keep": 1, "change": 2, "new": 3})
    assert changes.updated == {"change": 2, "new": 3}
    assert changes.removed == {"drop"}


def test_a_nested_change_is_a_change_of_its_top_level_key() -> None:
    assert Changes.between({"cart": ["a"]}, {"cart": ["a", "b"]}).updated == {"cart": ["a", "b"]}


def test_changes_apply_on_top_of_fresher_data_and_win_their_own_keys() -> None:
    changes = Changes.between({"a": 1, "b": 1}, {"a": 2})
    assert changes.apply_to({"a": 5, "b": 5, "c": 5}) == {"a": 2, "c": 5}
