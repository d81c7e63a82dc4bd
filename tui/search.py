"""The searchable text of every event, in one buffer: what ``/`` searches and the list highlights.

One str per event costs ~50 bytes of object header beside its text, and a Python loop over 100,000
of them takes a while; here the texts (lower case, UTF-8) sit one after the other in a bytearray,
each followed by a NUL, with the end of each in an array. A search is ``bytearray.find`` (C) from
one event's text to the next match, and a match never spans two texts, as long as the needle holds
no NUL (one that does is looked for text by text).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable

SEP = b"\0"


def encode(text: str) -> bytes:
    # Strings read from a tracee may carry undecodable bytes as lone surrogates: keep them searchable.
    return text.encode("utf-8", "surrogatepass")


class SearchText:
    """Texts by index: ``append``, ``set`` (rewrite one, e.g. a syscall that finished), ``find``."""

    __slots__ = ("_blob", "_ends")

    def __init__(self) -> None:
        self._blob = bytearray()
        self._ends = array("q")  # end of text i, its separator included

    def __len__(self) -> int:
        return len(self._ends)

    def _start(self, index: int) -> int:
        return self._ends[index - 1] if index > 0 else 0

    def append(self, text: str) -> None:
        self._blob += encode(text)
        self._blob += SEP
        self._ends.append(len(self._blob))

    def extend(self, other: SearchText) -> None:
        base = len(self._blob)
        self._blob += other._blob
        self._ends.extend(base + end for end in other._ends)

    def set(self, index: int, text: str) -> None:
        """Rewrite text ``index``; the ones after it move (cheap for the latest, which is what changes)."""
        start, end = self._start(index), self._ends[index]
        new = encode(text) + SEP
        self._blob[start:end] = new
        delta = len(new) - (end - start)
        if delta:
            ends = self._ends
            for i in range(index, len(ends)):
                ends[i] += delta

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` texts."""
        if count < len(self._ends):
            del self._blob[self._start(count) :]
            del self._ends[count:]

    def get(self, index: int) -> str:
        return self._blob[self._start(index) : self._ends[index] - 1].decode("utf-8", "surrogatepass")

    def find(
        self, needle: str, first: int, last: int, wanted: Callable[[int], bool], backward: bool
    ) -> int | None:
        """The first (or, ``backward``, the last) index in ``first..last`` (inclusive) whose text
        contains ``needle`` (lower case already) and for which ``wanted(index)`` holds."""
        if first > last:
            return None
        key = encode(needle)
        if SEP in key:
            order = range(last, first - 1, -1) if backward else range(first, last + 1)
            return next((i for i in order if needle in self.get(i) and wanted(i)), None)
        blob, ends = self._blob, self._ends
        lo, hi = self._start(first), ends[last]
        while lo < hi:
            pos = blob.rfind(key, lo, hi) if backward else blob.find(key, lo, hi)
            if pos < 0:
                return None
            index = bisect_right(ends, pos)
            if wanted(index):
                return index
            if backward:
                hi = self._start(index)
            else:
                lo = ends[index]
        return None
