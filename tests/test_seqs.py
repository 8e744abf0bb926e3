"""SeqRanges behaves exactly like a set of integers, and stays compact for contiguous numbering."""

from __future__ import annotations

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
