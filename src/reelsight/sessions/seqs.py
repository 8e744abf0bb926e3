"""The sequence numbers a live session has accepted, kept as sorted disjoint ranges.

Players number a session's events 0, 1, 2, ...: the accepted set is then one range, so a live
session costs a few bytes for this instead of a hash set of every number (kilobytes per session).
Protocols that give each report a block of numbers (``report seq * slots + slot``) claim the whole
block once the report is applied (:meth:`SeqRanges.add_range`), so their blocks merge too.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import itertools


class SeqRanges:
    """A set of non-negative integers stored as half-open ranges ``[start, end)``."""

    __slots__ = ("_bounds",)

    def __init__(self) -> None:
        # start0, end0, start1, end1, ... strictly increasing; 8 bytes a bound, not a Python int each.
        self._bounds = array.array("q")

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
            bounds[i:i] = array.array("q", (seq, seq + 1))

    def add_range(self, start: int, end: int) -> None:
        """Add every integer of ``[start, end)``, merging with the ranges it touches or overlaps."""
        if end <= start:
            return
        bounds = self._bounds
        lo = bisect.bisect_left(bounds, start)  # bounds[lo:] >= start
        hi = bisect.bisect_right(bounds, end)  # bounds[:hi] <= end
        # An odd lo means start falls inside (or at the end of) a range: extend that range instead.
        new_start = bounds[lo - 1] if lo % 2 == 1 else start
        new_end = bounds[hi] if hi % 2 == 1 else end
        first = lo - 1 if lo % 2 == 1 else lo
        last = hi + 1 if hi % 2 == 1 else hi
        bounds[first:last] = array.array("q", (new_start, new_end))

    def __len__(self) -> int:
        return sum(self._bounds[i + 1] - self._bounds[i] for i in range(0, len(self._bounds), 2))

    def ranges(self) -> list[tuple[int, int]]:
        return [(self._bounds[i], self._bounds[i + 1]) for i in range(0, len(self._bounds), 2)]

    def to_bytes(self) -> bytes:
        """The ranges as they are persisted with a live session (little-endian int64 bounds)."""
        out = array.array("q", self._bounds)
        if array.array("q", [1]).tobytes()[0] != 1:
            out.byteswap()
        return out.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> SeqRanges:
        """What :meth:`to_bytes` wrote; ``ValueError`` for anything that is not sorted pairs of bounds."""
        bounds = array.array("q")
        if len(data) % (2 * bounds.itemsize) == 0:
            bounds.frombytes(data)
            if array.array("q", [1]).tobytes()[0] != 1:
                bounds.byteswap()
        if len(data) != len(bounds) * bounds.itemsize or any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError("persisted sequence ranges are not sorted pairs of bounds")
        ranges = cls()
        ranges._bounds = bounds
        return ranges


@dataclasses.dataclass(frozen=True, slots=True)
class SeqClaim:
    """A block of a session's sequence numbers, ``[start, end)``, that one report owns: every event
    the report can ever yield is numbered inside it, and no other report's is. Once the report is
    applied the whole block counts as seen, so the session's seen numbers stay one range however
    many of the block's slots the report used (and a resent report is a duplicate as before)."""

    client_id: str
    session_id: str
    start: int
    end: int
