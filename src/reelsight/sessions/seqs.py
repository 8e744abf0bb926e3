"""The sequence numbers a live session has accepted, kept as sorted disjoint ranges.

Players number a session's events 0, 1, 2, ...: the accepted set is then one range, so a live
session costs a few bytes for this instead of a hash set of every number (kilobytes per session).
"""

from __future__ import annotations

import bisect


class SeqRanges:
    """A set of non-negative integers stored as half-open ranges ``[start, end)``."""

    __slots__ = ("_bounds",)

    def __init__(self) -> None:
        self._bounds: list[int] = []  # start0, end0, start1, end1, ... strictly increasing

    def __contains__(self, seq: int) -> bool:
        # Odd insertion points fall inside a range [start, end).
        return bisect.bisect_right(self._bounds, seq) % 2 == 1

    def add(self, seq: int) -> None:
        bounds = self._bounds
        i = bisect.bisect_right(bounds, seq)
        if i % 2 == 1:
            return  # already present
        joins_left = i > 0 and bounds[i - 1] == seq  # the range to the left ends right here
        joins_right = i < len(bounds) and bounds[i] == seq + 1  # the range to the right starts next
        if joins_left and joins_right:
            del bounds[i - 1 : i + 1]
        elif joins_left:
            bounds[i - 1] = seq + 1
        elif joins_right:
            bounds[i] = seq
        else:
            bounds[i:i] = [seq, seq + 1]

    def __len__(self) -> int:
        return sum(self._bounds[i + 1] - self._bounds[i] for i in range(0, len(self._bounds), 2))

    def ranges(self) -> list[tuple[int, int]]:
        return [(self._bounds[i], self._bounds[i + 1]) for i in range(0, len(self._bounds), 2)]
