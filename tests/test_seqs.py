"""SeqRanges behaves exactly like a set of integers, and stays compact for contiguous numbering."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelsight.sessions.seqs import SeqRanges


@given(st.lists(st.integers(0, 60), max_size=120), st.lists(st.integers(0, 70), max_size=40))
def test_behaves_like_a_set(added: list[int], probes: list[int]) -> None:
    ranges, reference = SeqRanges(), set()
    for seq in added:
        ranges.add(seq)
        reference.add(seq)
        assert len(ranges) == len(reference)
    for seq in probes + added:
        assert (seq in ranges) == (seq in reference)
    bounds = [b for r in ranges.ranges() for b in r]
    assert bounds == sorted(bounds)
    assert all(end > start for start, end in ranges.ranges())
    assert all(a[1] < b[0] for a, b in zip(ranges.ranges(), ranges.ranges()[1:], strict=False))  # disjoint


def test_contiguous_numbering_is_one_range_whatever_the_arrival_order() -> None:
    ranges = SeqRanges()
    for seq in [3, 1, 2, 0, 5, 4, *range(6, 1000)]:
        ranges.add(seq)
    assert ranges.ranges() == [(0, 1000)]


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 12)), max_size=80),
    st.lists(st.integers(0, 80), max_size=40),
)
def test_ranges_and_single_numbers_behave_like_a_set(ops: list[tuple[bool, int, int]], probes: list[int]) -> None:
    ranges, reference = SeqRanges(), set()
    for is_range, start, width in ops:
        if is_range:
            ranges.add_range(start, start + width)
            reference.update(range(start, start + width))
        else:
            ranges.add(start)
            reference.add(start)
        assert len(ranges) == len(reference)
    for seq in probes:
        assert (seq in ranges) == (seq in reference)
    pairs = ranges.ranges()
    assert all(a[1] < b[0] for a, b in itertools.pairwise(pairs))  # disjoint, never touching
    assert SeqRanges.from_bytes(ranges.to_bytes()).ranges() == pairs


def test_claimed_blocks_merge_into_one_range_whatever_slots_were_used() -> None:
    ranges = SeqRanges()
    for report in [2, 0, 1, *range(3, 90)]:  # a Conviva session's heartbeats: 512 slots, a handful used
        for slot in (1, 2, 3, 510, 511):
            ranges.add(report * 512 + slot)
        ranges.add_range(report * 512, (report + 1) * 512)
    assert ranges.ranges() == [(0, 90 * 512)]
    assert len(ranges.to_bytes()) == 16


def test_persisted_ranges_that_are_not_sorted_pairs_are_refused() -> None:
    for bad in (b"\x01", SeqRanges().to_bytes() + (5).to_bytes(8, "little"), bytes(16)):
        with pytest.raises(ValueError, match="sorted pairs of bounds"):
            SeqRanges.from_bytes(bad)
