"""boxtrace's own modules served from one file per command, past the import system's search.

A command starts by loading ~40 of boxtrace's modules. Found and read through the import system
(a search of the package's directory, a stat, an open and a read of the module's .pyc), each costs
~150,000 instructions before any of its code runs: ~6 M of the ~59 M of `boxtrace trace -q -o F --
/bin/true` (docs/benchmarks.md, "Start-up"). A pack holds the compiled code of the modules one
command imported, in one file of the cache directory; the next start reads that file once and
a meta path finder hands each module its code after one stat that checks its source is unchanged.
A module that changed or is new is imported as usual, and the pack is written again at exit.

Only the scripts in bin/ install a pack (``python -m boxtrace`` and code importing boxtrace import
as usual). BOXTRACE_MODULE_PACK=0 turns packs off, BOXTRACE_MODULE_PACK=/DIR keeps them in DIR. A
pack is trusted as a .pyc is: it is read only when this user owns it and no one else may write it.
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import MAGIC_NUMBER

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from types import ModuleType

# The file: _MAGIC, the index's length (4 bytes, little-endian), the index (marshal), then each
# module's code (marshal) at the offset the index gives, counted from the end of the index.
_MAGIC = b"BXPK"
_FORMAT = 1
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Code objects are valid for one interpreter version only: a pack of another is not read.
_VERSION = (_FORMAT, sys.version, MAGIC_NUMBER, _PACKAGE_DIR)

# One index entry: source path, is it a package, source size and mtime (ns), code offset and length.
Entry = tuple[str, bool, int, int, int, int]


def install(command: str) -> None:
    """Serve this process's boxtrace modules from ``command``'s pack, if there is one; write the
    pack at exit if a module had to be imported without it."""
    path = pack_path(command)
    if path is None:
        return
    index, blob = read_pack(path)
    finder = PackFinder(path, index, blob)
    sys.meta_path.insert(0, finder)
    import atexit  # a built-in module: free

    atexit.register(finder.save_if_changed)


def pack_path(command: str) -> str | None:
    """Where ``command``'s pack is: the cache directory the explanation catalogue uses too, or the
    directory BOXTRACE_MODULE_PACK names; None when that is 0 (no pack) or there is no directory."""
    setting = os.environ.get("BOXTRACE_MODULE_PACK", "")
    if setting == "0":
        return None
    if setting.startswith("/"):
        base = setting
    elif os.geteuid() == 0:
        base = "/var/cache/boxtrace"
    elif os.environ.get("XDG_CACHE_HOME"):
        base = os.path.join(os.environ["XDG_CACHE_HOME"], "boxtrace")
    elif os.environ.get("HOME"):
        base = os.path.join(os.environ["HOME"], ".cache", "boxtrace")
    else:
        return None
    # One pack per install and interpreter: a venv and a checkout must not rewrite each other's.
    where = _PACKAGE_DIR.replace(os.sep, "_")
    return os.path.join(base, f"modules-{command}-{sys.implementation.cache_tag}{where}.pack")


def read_pack(path: str) -> tuple[dict[str, Entry], memoryview]:
    """The pack's index and its bytes; empty when it is missing, foreign, unsafe or damaged."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return {}, memoryview(b"")
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return {}, memoryview(b"")
        blob = os.read(fd, info.st_size)  # one read: a regular file gives it all at once
    except OSError:
        return {}, memoryview(b"")
    finally:
        os.close(fd)
    try:
        if len(blob) != info.st_size or blob[:4] != _MAGIC:
            return {}, memoryview(b"")
        size = int.from_bytes(blob[4:8], "little")
        version, index = marshal.loads(blob[8 : 8 + size])
    except (ValueError, EOFError, TypeError):
        return {}, memoryview(b"")
    if version != _VERSION or type(index) is not dict:
        return {}, memoryview(b"")
    if not all(type(entry) is tuple and len(entry) == 6 for entry in index.values()):
        return {}, memoryview(b"")  # not what write_pack wrote: never let an import fail on it
    return index, memoryview(blob)[8 + size :]  # the code: the index's offsets count from here


class PackFinder:
    """A meta path finder and loader for the modules of one pack."""

    def __init__(self, path: str, index: dict[str, Entry], code: memoryview) -> None:
        self.path = path
        self.index = index
        self.blob = code
        self.pid = os.getpid()
        self.stale = False
        self.missed = False
        # Imported before the finder was in place (this module, its package): never served by it.
        self.before = frozenset(sys.modules)

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        entry = self.index.get(name)
        if entry is None:
            if name.startswith("boxtrace."):
                self.missed = True  # to be imported as usual, if it exists: the pack may need it
            return None
        origin, is_package, size, mtime_ns = entry[:4]
        if not _unchanged(origin, size, mtime_ns):
            del self.index[name]
            self.stale = True
            return None
        # A loader by its methods (importlib.abc.Loader's module costs more than this whole file).
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)  # type: ignore[arg-type]
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        # __file__ set here rather than by the import system (spec.has_location), which would also
        # work out a .pyc's path for __cached__, a file this module does not come from.
        module.__file__ = self.index[module.__name__][0]
        exec(marshal.loads(self._code(module.__name__)), module.__dict__)

    def _code(self, name: str) -> memoryview:
        offset, length = self.index[name][4:]
        return self.blob[offset : offset + length]

    def save_if_changed(self) -> None:
        """Write the pack again when a module was imported without it or had changed. Only in the
        process that installed it: a forked child leaving through sys.exit runs the same handlers."""
        if os.getpid() != self.pid or not (self.stale or self.missed):
            return
        # name -> (source path, served from the pack, its .pyc's path, is it a package)
        imported: dict[str, tuple[str, bool, str | None, bool]] = {}
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            if not name.startswith("boxtrace.") or name in self.before or spec is None:
                continue
            origin = spec.origin
            if isinstance(origin, str) and origin.endswith(".py"):
                is_package = spec.submodule_search_locations is not None
                imported[name] = (origin, spec.loader is self, spec.cached, is_package)
        if not self.stale and all(served for _, served, _, _ in imported.values()):
            return  # what was missed did not exist
        entries: dict[str, tuple[str, bool, int, int, bytes]] = {}
        # What the pack held and this run did not import stays (another run of the command needs
        # it), while its source is unchanged.
        for name, (origin, is_package, size, mtime_ns, _, _) in self.index.items():
            if name not in imported and _unchanged(origin, size, mtime_ns):
                entries[name] = (origin, is_package, size, mtime_ns, bytes(self._code(name)))
        for name, (origin, served, cached, is_package) in imported.items():
            if served:  # as it was read: a source edited since then is found stale next time
                _, _, size, mtime_ns, _, _ = self.index[name]
                entries[name] = (origin, is_package, size, mtime_ns, bytes(self._code(name)))
                continue
            try:
                info = os.stat(origin)
                code = _code_of(origin, cached, info)
            except (OSError, SyntaxError, ValueError):
                continue
            entries[name] = (origin, is_package, info.st_size, info.st_mtime_ns, code)
        write_pack(self.path, entries)


def _unchanged(origin: str, size: int, mtime_ns: int) -> bool:
    try:
        info = os.stat(origin)
    except OSError:
        return False
    return info.st_size == size and info.st_mtime_ns == mtime_ns


def _code_of(origin: str, cached: str | None, info: os.stat_result) -> bytes:
    """The module's code, marshalled: from its .pyc when that matches the source, else compiled."""
    if cached:
        try:
            with open(cached, "rb") as handle:
                data = handle.read()
        except OSError:
            data = b""
        # A timestamp-based .pyc (PEP 552 flags 0) of this interpreter for this very source.
        if (
            data[:4] == MAGIC_NUMBER
            and data[4:8] == b"\0\0\0\0"
            and int.from_bytes(data[8:12], "little") == int(info.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(data[12:16], "little") == info.st_size & 0xFFFFFFFF
        ):
            code = marshal.loads(data[16:])
            if code.co_filename == origin:
                return data[16:]
            # Compiled under another name (compileall of a relative path, a moved tree): the
            # import system renames such code at every load, a pack once, here; tracebacks and
            # the source lines they show need the file's real name.
            _imp._fix_co_filename(code, origin)  # type: ignore[attr-defined]
            return marshal.dumps(code)
    with open(origin, "rb") as handle:
        source = handle.read()
    return marshal.dumps(compile(source, origin, "exec", dont_inherit=True))


def write_pack(path: str, entries: dict[str, tuple[str, bool, int, int, bytes]]) -> None:
    """Write the pack atomically (a rename); a cache that cannot be written only costs speed."""
    index: dict[str, Entry] = {}
    offset = 0
    for name, (origin, is_package, size, mtime_ns, code) in entries.items():
        index[name] = (origin, is_package, size, mtime_ns, offset, len(code))
        offset += len(code)
    head = marshal.dumps((_VERSION, index))
    codes = [entry[4] for entry in entries.values()]
    data = b"".join([_MAGIC, len(head).to_bytes(4, "little"), head, *codes])
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:  # noqa: SIM105 (contextlib costs every start its functools and collections imports)
            os.unlink(tmp)
        except OSError:
            pass
