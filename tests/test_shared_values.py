"""Shared values: equal values become one object, and the key-set table stays bounded."""

from __future__ import annotations

import msgspec

from reelsight.sessions import shared_values
from reelsight.sessions.context import Enrichment
from reelsight.sessions.shared_values import SharedKeySets, share_strings


def test_share_strings_interns_every_string_of_nested_structs_in_place() -> None:
    geo = b'"city":"Minato, Tokyo, Japan","state":{"name":"Tokyo","code":""},"country":{"name":"Japan","code":"JP"}'
    geo += b',"continent":"Asia","postal_code":"","dma":""'
    encoded = b'{"geo":{' + geo + b'},"isp":"SoftBank Corp."}'
    first, second = (msgspec.json.decode(encoded, type=Enrichment) for _ in range(2))
    assert first.geo.city is not second.geo.city  # decoding makes new strings
    assert share_strings(first) is first
    share_strings(second)
    assert first == second
    assert first.geo.city is second.geo.city
    assert first.geo.country.name is second.geo.country.name
    assert first.isp is second.isp


def test_equal_key_sets_are_one_object_and_the_table_is_bounded() -> None:
    sets = SharedKeySets()
    first = sets.shared(frozenset({"a", "b"}))
    assert sets.shared(frozenset(["b", "a"])) is first
    for n in range(shared_values.MAX_SHARED_KEY_SETS):
        sets.shared(frozenset({str(n)}))
    assert len(sets._sets) <= shared_values.MAX_SHARED_KEY_SETS
    again = frozenset({"a", "b"})
    assert sets.shared(again) is again  # forgotten: the table started again
    assert sets.shared(frozenset({"b", "a"})) is again
