"""Syscall decoders: what each trapped call means, as :class:`Decoded`/:class:`Completed` facts.

The engine calls :func:`decode_entry` at every syscall-entry stop and, when that returned a
:class:`Decoded`, :func:`decode_exit` at the matching exit stop. Dispatch is one dict lookup by
syscall name, once the call's family is imported (at its first call: ``FAMILY_CALLS``); each family
module (clone, mount, fsmount, identity, prctl, capability, seccomp, bpf, file, write, execve)
contributes ``DECODERS`` (name -> entry decoder), ``CATEGORIES`` (name -> its usual
category) and ``RESULTS`` (name -> "fd" | "pid" for calls whose return value is one; a decoder
whose result depends on the arguments, as bpf's, puts ``result_kind`` in ``Decoded.state``).
"""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Completed, Decoded
from boxtrace.tracer.decoders.common import EntryDecoder, fd_text, s64

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

    # Every family's tables at once (module __getattr__ below): for tests and the catalogue's checks.
    DECODERS: dict[str, EntryDecoder]
    CATEGORY_OF: dict[str, str]
    CATEGORIES_OF: dict[str, frozenset[str]]
    RESULT_KIND: dict[str, str]

__all__ = [
    "CATEGORIES_OF",
    "CATEGORY_OF",
    "DECODED",
    "DECODERS",
    "RESULT_KIND",
    "decode_entry",
    "decode_exit",
    "number_result",
]

# Which family module decodes each call. A family is imported when its first call is seen: a trace
# of /bin/true needs execve's alone, and importing all eleven with their tables cost ~15 M
# instructions of every start (docs/benchmarks.md, "Start-up"). tests/tracer/test_decode_registry.py
# checks this table against each family's DECODERS.
# tables.errnos.MAX_ERRNO (include/linux/err.h): the errno table itself (~1 M instructions) is
# imported with the first failed call (tests/tracer/test_decode_registry.py checks they agree).
MAX_ERRNO = 4095

FAMILY_CALLS: dict[str, tuple[str, ...]] = {
    "clone": ("clone", "clone3", "unshare", "setns"),
    "mount": ("mount", "umount2", "pivot_root", "chroot"),
    "fsmount": ("fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr"),
    "identity": (
        "sethostname",
        "setdomainname",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
    ),
    "prctl": ("prctl",),
    "capability": ("capset",),
    "seccomp": ("seccomp",),
    "bpf": ("bpf",),
    "file": (
        "openat",
        "open",
        "creat",
        "mkdir",
        "mkdirat",
        "rmdir",
        "unlinkat",
        "mknod",
        "mknodat",
        "symlink",
        "symlinkat",
        "openat2",
        "dup2",
        "dup3",
    ),
    "write": ("write", "pwrite64", "writev", "pwritev", "pwritev2"),
    "execve": ("execve", "execveat"),
}
FAMILY_OF: dict[str, str] = {name: family for family, names in FAMILY_CALLS.items() for name in names}
# The calls some family decodes: any other is reported only with --all (the generic decoder).
DECODED: frozenset[str] = frozenset(FAMILY_OF)

_decoder_of: dict[str, EntryDecoder] = {}  # filled family by family, as each is first needed
_loaded: dict[str, ModuleType] = {}


def family(name: str) -> ModuleType:
    """The family module named ``name`` (clone, mount...), imported on first use."""
    module = _loaded.get(name)
    if module is None:
        module = __import__(f"boxtrace.tracer.decoders.{name}", fromlist=("DECODERS",))
        _decoder_of.update(module.DECODERS)
        _loaded[name] = module
    return module


def decoder_of(name: str) -> EntryDecoder | None:
    """The entry decoder of syscall ``name``; None when no family decodes it."""
    decoder = _decoder_of.get(name)
    if decoder is None and name in FAMILY_OF:
        decoder = family(FAMILY_OF[name]).DECODERS[name]
    return decoder


def _result_kind(name: str) -> str | None:
    return family(FAMILY_OF[name]).RESULTS.get(name) if name in FAMILY_OF else None


def _category_of(name: str) -> str:
    return family(FAMILY_OF[name]).CATEGORIES[name] if name in FAMILY_OF else "other"


# Every category an event of each call can carry: the file family is filed by what it touches.
_FILE_CATEGORIES = frozenset({"cgroup", "idmap", "device", "file"})
_MORE_CATEGORIES = {
    "clone": frozenset({"namespace", "process"}),
    "clone3": frozenset({"namespace", "process", "cgroup"}),
    "unshare": frozenset({"namespace", "process"}),
    "prctl": frozenset({"security", "process"}),
    "bpf": frozenset({"security", "cgroup"}),
}


def __getattr__(attr: str) -> object:
    """DECODERS, CATEGORY_OF, CATEGORIES_OF and RESULT_KIND: every family imported (not on the
    trace path, which goes through decoder_of and family)."""
    if attr not in ("DECODERS", "CATEGORY_OF", "CATEGORIES_OF", "RESULT_KIND"):
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    decoders: dict[str, EntryDecoder] = {}
    category_of: dict[str, str] = {}
    result_kind: dict[str, str] = {}
    for name in FAMILY_CALLS:
        module = family(name)
        decoders.update(module.DECODERS)
        category_of.update(module.CATEGORIES)
        result_kind.update(module.RESULTS)
    categories_of = {name: frozenset({cat}) for name, cat in category_of.items()}
    for name in (*family("file").DECODERS, *family("write").DECODERS):
        categories_of[name] = _FILE_CATEGORIES
    categories_of.update(_MORE_CATEGORIES)
    tables = {
        "DECODERS": decoders,
        "CATEGORY_OF": category_of,
        "CATEGORIES_OF": categories_of,
        "RESULT_KIND": result_kind,
    }
    globals().update(tables)
    return tables[attr]


def decode_entry(ctx: CallContext) -> Decoded | None:
    """Decode a call at its entry stop; None when it is not worth reporting (skip its exit stop)."""
    decoder = _decoder_of.get(ctx.name) or decoder_of(ctx.name)
    if decoder is None:
        if not ctx.report_all:
            return None
        from boxtrace.tracer.decoders.generic import decode_generic

        return decode_generic(ctx)
    try:
        return decoder(ctx)
    except Exception as exc:  # a decoder bug must never stop the trace: report the raw call instead
        from boxtrace.tracer.decoders.generic import decode_raw

        decoded = decode_raw(ctx, _category_of(ctx.name))
        decoded.detail["decode_error"] = f"{type(exc).__name__}: {exc}"
        return decoded


def decode_exit(decoded: Decoded, ctx: CallContext, retval: int) -> Completed:
    """The call's result: ``-1 EPERM (Operation not permitted)`` on error, else the value."""
    value = s64(retval)
    if -MAX_ERRNO <= value < 0:
        return number_result(value)
    kind = decoded.state.get("result_kind") or _result_kind(ctx.name)
    if kind == "fd":
        # strace -y: the new fd with what it refers to (a path, or anon_inode:[fscontext]...).
        return Completed(fd_text(value, ctx.proc.fd_path(value)), detail={"fd": value})
    if kind == "pid":
        return Completed(str(value), detail={"child_pid": value})
    return Completed(str(value))


def number_result(value: int) -> Completed:
    """The result of a call whose value is a plain number (every call the generic decoder shows):
    ``-1 EPERM (Operation not permitted)`` for an error, else the value. ``value`` is signed."""
    if -MAX_ERRNO <= value < 0:
        from boxtrace.tracer.tables.errnos import errno_name, errno_text

        err = -value
        return Completed(f"-1 {errno_text(err)}", errno=errno_name(err))
    return Completed(str(value))
