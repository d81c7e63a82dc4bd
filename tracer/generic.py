"""Generic decoding for calls no decoder knows (``--all`` mode): numbers, pointers and path strings.

Argument names and C types come from python-ptrace's prototype table, the one thing of python-ptrace
the tracer uses: it covers ~380 calls. Its module is loaded straight from its file, because importing
it as ``ptrace.syscall.prototypes`` runs the package's ``__init__`` (~55 ms, the whole debugger). Calls
it lacks (e.g. the new mount API) fall back to ``argN`` names with the arch table's argument count.
"""

from __future__ import annotations

import errno as _errno
import importlib.util
from typing import Any

from boxtrace.tracer.events import Arg

# Negative return values the kernel uses internally and strace names (include/linux/errno.h).
_KERNEL_ERRNO = {
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK",
}

_STRING_TYPES = ("char *", "const char *", "const char __user *", "char __user *")

Prototype = tuple[tuple[str, str], ...]
_prototypes: dict[str, Any] | None = None


def errno_name(code: int) -> str:
    return _errno.errorcode.get(code) or _KERNEL_ERRNO.get(code) or f"errno_{code}"


def _load_prototypes() -> dict[str, Any]:
    global _prototypes
    if _prototypes is None:
        _prototypes = {}
        try:
            spec = importlib.util.find_spec("ptrace")
            if spec is not None and spec.submodule_search_locations:
                base = list(spec.submodule_search_locations)[0]
                file_spec = importlib.util.spec_from_file_location(
                    "_boxtrace_ptrace_prototypes", f"{base}/syscall/prototypes.py"
                )
                if file_spec is not None and file_spec.loader is not None:
                    module = importlib.util.module_from_spec(file_spec)
                    file_spec.loader.exec_module(module)
                    _prototypes = dict(module.SYSCALL_PROTOTYPES)
        except (ImportError, OSError, SyntaxError, AttributeError):
            _prototypes = {}
    return _prototypes


class GenericDecoder:
    """Decodes any call from its prototype; prototypes are cached per name."""

    def __init__(self, nargs: dict[str, int]) -> None:
        self._nargs = nargs
        self._cache: dict[str, tuple[tuple[str, bool, bool], ...]] = {}

    def _layout(self, name: str) -> tuple[tuple[str, bool, bool], ...]:
        """(arg name, is a string, is signed) for each argument."""
        layout = self._cache.get(name)
        if layout is None:
            proto = _load_prototypes().get(name)
            if proto is not None:
                layout = tuple(
                    (aname, ctype in _STRING_TYPES, not ctype.startswith(("unsigned", "size_t", "u")))
                    for ctype, aname in proto[1]
                )
            else:
                layout = tuple((f"arg{i}", False, False) for i in range(self._nargs.get(name, 6)))
            self._cache[name] = layout
        return layout

    def decode(self, name: str, args: tuple[int, ...], read_cstring: Any) -> list[Arg]:
        out: list[Arg] = []
        for (aname, is_str, signed), raw in zip(self._layout(name), args, strict=False):
            if is_str:
                s = read_cstring(raw) if raw else None
                text = "NULL" if raw == 0 else (_quote(s) if s is not None else f"{raw:#x}")
            elif signed and raw >= 1 << 63:
                text = str(raw - (1 << 64))
            elif signed and raw >= 1 << 31 and raw < 1 << 32 and raw >= 0xFFFF0000:
                # An int argument such as AT_FDCWD arrives zero-extended in its register.
                text = str(raw - (1 << 32))
            elif raw > 0xFFFF:
                text = f"{raw:#x}"
            else:
                text = str(raw)
            out.append(Arg(aname, raw, text))
        return out


def result_text(rval: int, is_error: bool) -> tuple[str, str | None]:
    """strace-style text of a return value, and the errno name when the call failed."""
    if is_error:
        name = errno_name(-rval)
        return f"-1 {name}", name
    return str(rval), None


def _quote(s: str, limit: int = 256) -> str:
    cut = len(s) > limit
    body = s[:limit]
    out = ['"']
    for ch in body:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F or 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\{(code & 0xFF):o}")
        else:
            out.append(ch)
    out.append('"')
    if cut:
        out.append("...")
    return "".join(out)
