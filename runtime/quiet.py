"""contextlib.suppress, without contextlib: it imports collections and functools, ~10 M
instructions of every container's start (docs/benchmarks.md, "Runtime")."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


class suppress:
    """``with suppress(OSError): ...``: the listed exceptions end the block quietly."""

    __slots__ = ("_exceptions",)

    def __init__(self, *exceptions: type[BaseException]) -> None:
        self._exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        return kind is not None and issubclass(kind, self._exceptions)
