"""Per-architecture syscall tables.

Each architecture is one data module exposing ``NAME``, ``AUDIT_ARCH``, ``SYSCALL_NAMES`` and
``SYSCALL_NARGS``; this package wraps them in a typed :class:`Arch` (which inverts the names into
``syscall_numbers`` when asked) so that
callers never touch a module object. Adding an architecture means adding its module and one line
in ``_MODULES``. Only the tables asked for are imported: a trace needs the running machine's alone
(each table is ~1.5 M instructions to load; docs/benchmarks.md, "Start-up").
"""

from __future__ import annotations

import os

from boxtrace.tracer.plain import Frozen

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from types import ModuleType


class Arch(Frozen):
    __slots__ = ("_numbers", "audit_arch", "name", "syscall_names", "syscall_nargs")
    name: str
    audit_arch: int
    syscall_names: dict[int, str]
    syscall_nargs: dict[str, int]
    _numbers: dict[str, int]

    def __init__(
        self,
        name: str,
        audit_arch: int,
        syscall_names: dict[int, str],
        syscall_nargs: dict[str, int],
    ) -> None:
        self._assign(name, audit_arch, syscall_names, syscall_nargs)

    @property
    def syscall_numbers(self) -> dict[str, int]:
        """Name -> number, made at first use: a trace's start needs none (its filter is compiled
        ahead, tracer/default_filters.py), and making it was ~0.3 M instructions of it."""
        try:
            return self._numbers
        except AttributeError:
            numbers = dict(zip(self.syscall_names.values(), self.syscall_names, strict=True))
            object.__setattr__(self, "_numbers", numbers)
            return numbers

    def syscall_name(self, nr: int) -> str:
        """The call's name; unknown numbers read like strace's ``syscall_0x1f4``."""
        name = self.syscall_names.get(nr)
        return name if name is not None else f"syscall_{nr:#x}"

    def nargs(self, name: str) -> int:
        return self.syscall_nargs.get(name, 6)


def _wrap(module: ModuleType) -> Arch:
    return Arch(
        name=module.NAME,
        audit_arch=module.AUDIT_ARCH,
        syscall_names=module.SYSCALL_NAMES,
        syscall_nargs=module.SYSCALL_NARGS,
    )


# Machine name (os.uname().machine) -> its module in this package.
_MODULES: dict[str, str] = {"x86_64": "x86_64", "aarch64": "aarch64"}
_loaded: dict[str, Arch] = {}

if TYPE_CHECKING:  # made on first use by __getattr__ below, with every architecture's table
    ARCHES: dict[str, Arch]
    BY_AUDIT_ARCH: dict[int, Arch]
    X86_64: Arch


def __getattr__(name: str) -> object:
    if name == "ARCHES":
        return {key: get_arch(key) for key in _MODULES}
    if name == "BY_AUDIT_ARCH":
        return {arch.audit_arch: arch for arch in map(get_arch, _MODULES)}
    if name == "X86_64":
        return get_arch("x86_64")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def unsupported(name: str | None = None) -> str | None:
    """The one-line complaint when ``name`` (default: this machine) has no table, else None: the
    runtime's words (runtime/machine.py), which `boxtrace trace` checks without loading the runtime's
    tables (~2 M instructions of its start)."""
    key = name if name is not None else os.uname().machine
    if key in _MODULES:
        return None
    return (
        f"unsupported architecture {key!r}: boxtrace traces and runs "
        f"containers on {' and '.join(_MODULES)} only"
    )


def get_arch(name: str | None = None) -> Arch:
    """The table for ``name`` (default: this machine); KeyError names the unsupported arch."""
    key = name if name is not None else os.uname().machine
    arch = _loaded.get(key)
    if arch is None:
        if key not in _MODULES:
            raise KeyError(f"unsupported architecture {key!r} (known: {', '.join(_MODULES)})")
        # __import__, not importlib.import_module: importlib costs ~1.6 M instructions to import.
        module = __import__(f"{__name__}.{_MODULES[key]}", fromlist=("NAME",))
        arch = _loaded[key] = _wrap(module)
    return arch
