"""What the trace path uses instead of threading and contextlib: threads, events and ``suppress``
built on ``_thread``.

threading and contextlib import functools and collections: ~12 M instructions of a ~90 M start of
`boxtrace trace -q -o FILE -- CMD`, against ~23 M for the whole bare interpreter
(docs/benchmarks.md, "Start-up"). The trace session needs little of them: a few threads it joins,
events, a lock and a timer. A thread started here is no ``threading.Thread``: a program that must
not leave while one runs joins it (``TraceSession`` does, and registers an ``atexit`` join so that
an interpreter leaving early still waits for its tracees to be killed, as for a non-daemon thread).
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType


class Event:
    """threading.Event's set, clear, is_set and wait. The gate lock is held while the flag is clear:
    a waiter passes it (acquires and releases) once it is set."""

    __slots__ = ("_flag", "_gate", "_mutex")

    def __init__(self) -> None:
        self._mutex = _thread.allocate_lock()
        self._gate = _thread.allocate_lock()
        self._gate.acquire()
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._mutex:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self) -> None:
        with self._mutex:
            if self._flag:
                self._flag = False
                self._gate.acquire()  # waits only while a waiter passes the gate

    def wait(self, timeout: float | None = None) -> bool:
        """True once the flag is set; False after ``timeout`` seconds if it is still clear."""
        if self._flag:
            return True
        # A lock's timed acquire is interrupted by signals: the main thread's handlers still run.
        if self._gate.acquire(True, -1 if timeout is None else max(timeout, 0)):
            self._gate.release()
            return True
        return self._flag


class Worker:
    """A thread running ``target(*args)``, to be joined; started at once."""

    __slots__ = ("_done", "name")

    def __init__(self, target: Callable[..., object], args: tuple[object, ...] = (), name: str = "") -> None:
        self.name = name
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, (target, args))

    def _run(self, target: Callable[..., object], args: tuple[object, ...]) -> None:
        try:
            target(*args)
        finally:
            self._done.release()

    def is_alive(self) -> bool:
        return self._done.locked()

    def join(self, timeout: float | None = None) -> None:
        if self._done.acquire(True, -1 if timeout is None else max(timeout, 0)):
            self._done.release()


class Timer:
    """Calls ``function`` after ``interval`` seconds unless cancelled first (threading.Timer's)."""

    __slots__ = ("_cancelled", "_worker")

    def __init__(self, interval: float, function: Callable[[], object]) -> None:
        self._cancelled = Event()
        self._worker = Worker(self._run, (interval, function), name="boxtrace-timer")

    def _run(self, interval: float, function: Callable[[], object]) -> None:
        if not self._cancelled.wait(interval):
            function()

    def cancel(self) -> None:
        self._cancelled.set()

    def join(self, timeout: float | None = None) -> None:
        self._worker.join(timeout)


def other_threads() -> int:
    """How many threads run besides the main one (ours and threading's alike)."""
    return _thread._count()


class suppress:
    """contextlib.suppress: ``with suppress(OSError): ...`` ignores those exceptions."""

    __slots__ = ("_kinds",)

    def __init__(self, *kinds: type[BaseException]) -> None:
        self._kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return kind is not None and issubclass(kind, self._kinds)
