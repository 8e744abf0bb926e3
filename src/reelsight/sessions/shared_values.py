"""One copy of a value many live sessions hold: pure, no I/O.

Fifty thousand live sessions mostly repeat each other's strings (a player name, an app version, a
city, a device model, an asset) and their sets of custom tag keys. Each session decoded its own
copies; :func:`share_strings` and :class:`SharedKeySets` make the sessions holding equal values hold
the same object. Strings go through :func:`sys.intern` (an interned string is freed when the last
session holding it goes); key sets through a bounded table. Values are immutable, so sharing
changes nothing a session computes. Measured: ``docs/benchmarks.md``, "Live-session memory".
"""

from __future__ import annotations

import sys
from typing import TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)
MAX_SHARED_KEY_SETS = 10_000  # distinct tag-key sets remembered; past it the table starts again


def share_strings(struct: S) -> S:
    """``struct`` with every ``str`` field, in it and in the structs it holds, replaced by the
    interned copy (in place: for a struct just built or decoded, not a frozen one)."""
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if type(value) is str:
            setattr(struct, name, sys.intern(value))
        elif isinstance(value, msgspec.Struct):
            share_strings(value)
    return struct


class SharedKeySets:
    """Equal sets of tag keys as one frozenset. Forgetting the table (past
    :data:`MAX_SHARED_KEY_SETS`) only stops later sessions from sharing the old sets."""

    def __init__(self) -> None:
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def shared(self, keys: frozenset[str]) -> frozenset[str]:
        """The one copy of a set equal to ``keys`` (``keys`` itself if it is the first)."""
        shared = self._sets.get(keys)
        if shared is not None:
            return shared
        if len(self._sets) >= MAX_SHARED_KEY_SETS:
            self._sets.clear()
        self._sets[keys] = keys
        return keys
