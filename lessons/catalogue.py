"""The explanation catalogue: TOML files under ``lessons/catalogue/``, loaded and validated once.

Each file holds ``[[entry]]`` tables and, optionally, one ``[defaults]`` table whose keys fill in any
entry of that file that leaves them out (a family of flags shares its man page and most of its "why").
An entry's id is ``KIND.NAME``: ``syscall.mount``, ``flag.MS_REC``, ``value.PR_SET_NO_NEW_PRIVS``,
``cap.CAP_SYS_ADMIN``, ``cgroup.pids.max``, ``idmap.uid_map``, ``device.null``, ``fs.overlay``,
``errno.EPERM``, ``error.pivot_root.EINVAL``... (``KINDS`` lists them all).

A bad file raises :class:`CatalogueError`, whose message names the file and the entry, so a typo in
teaching material fails the test suite instead of showing a half-empty explanation in class.
"""

from __future__ import annotations

import os
from marshal import dumps as _marshal_dumps
from marshal import loads as _marshal_loads
from types import MappingProxyType

from boxtrace.lessons.model import FlagNote
from boxtrace.tracer.plain import Frozen

# typing, collections.abc, re, string, json and tomllib cost milliseconds to import, on the
# delivery thread of `boxtrace trace` (docs/benchmarks.md, "Start-up"): the regular expressions and
# the template parser are needed only to check files again (a stale cache), when they are imported.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from re import Pattern
    from typing import Any

CATALOGUE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalogue")
# Bump when the cache's layout changes.
_CACHE_VERSION = 4  # 4: marshal, rows of Entry's fields and its here_fields

if TYPE_CHECKING:
    StrPath = str | os.PathLike[str]

# What an id's first part may be, and what it names.
KINDS: Mapping[str, str] = MappingProxyType(
    {
        "syscall": "a system call",
        "flag": "one bit of a flag argument (CLONE_NEWPID, MS_REC, MOUNT_ATTR_RDONLY, ...)",
        "value": "one value of an enumerated argument (PR_SET_NO_NEW_PRIVS, FSCONFIG_SET_STRING, ...)",
        "cap": "a capability",
        "field": "a field of a struct argument (clone_args.set_tid)",
        "cgroup": "a cgroup file, or a cgroup operation (create, remove)",
        "idmap": "a user namespace's /proc/PID/{uid_map,gid_map,setgroups}",
        "device": "a device node a runtime creates in the container's /dev",
        "devlink": "a symbolic link a runtime creates in the container's /dev",
        "devdir": "a directory a runtime creates in the container's /dev",
        "fs": "a filesystem type given to mount or fsopen",
        "option": "a mount option in mount's data string or fsconfig's key",
        "errno": "an error number, in general",
        "error": "an error of one system call (error.SYSCALL.ERRNO)",
        "event": "a process event: spawn, exec, exit, output",
        "skip": "a step of the built-in runtime left out on purpose (boxtrace run --without STEP)",
    }
)

REQUIRED: tuple[str, ...] = ("id", "title", "what", "why", "without", "man", "runtimes")
# ``here``: a sentence with {placeholders} filled from the event's facts (detail keys and a few
# derived values); left out when a placeholder has no value. ``result``: what a successful return
# value means. ``fix``: for an error, how to avoid it. ``docs``: kernel documentation paths.
# ``since``: the kernel version that added it.
# ``context``: a table CALL -> text: what the flag or value means as an argument of that call, where
# it differs from ``what`` (CLONE_NEWNS asks clone for a new mount namespace, tells setns which kind
# of namespace the fd must be). ``calls``: the calls ``what`` is true for. A flag several calls can
# report names each of them in one of the two (tests/lessons/test_flag_context.py checks it against
# the decoders), so a call that starts reporting it cannot silently borrow another call's meaning.
OPTIONAL: tuple[str, ...] = ("here", "result", "fix", "docs", "since", "context", "calls")
_STRING_KEYS = frozenset(
    {"id", "title", "what", "why", "without", "runtimes", "here", "result", "fix", "since"}
)
_ALLOWED = frozenset(REQUIRED) | frozenset(OPTIONAL)
_DEFAULTABLE = _ALLOWED - {"id", "title", "what", "context"}

_CALL = r"^[a-z][a-z0-9_]*$"
MAN_PAGE = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\([1-8][a-z]*\)$"
_ID = r"^([a-z]+)\.(\S+)$"
TITLE_MAX = 80


def _patterns() -> tuple[Pattern[str], Pattern[str], Pattern[str]]:
    """(call name, man page, id) as compiled patterns: re is imported only to check files (and
    keeps compiled patterns itself: the entries after the first find them in its cache)."""
    import re

    return re.compile(_CALL), re.compile(MAN_PAGE), re.compile(_ID)


def _placeholders(template: str) -> tuple[str, ...]:
    """The {names} of a ``here`` template (only for entries not read from the cache)."""
    import string

    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)


class CatalogueError(ValueError):
    """A catalogue file that cannot be used: the message names the file and the entry."""

    def __init__(self, path: StrPath, entry: str | None, problem: str) -> None:
        where = f"{path}: entry {entry}" if entry is not None else f"{path}"
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.entry = entry
        self.problem = problem


class Entry(Frozen):
    """One catalogue entry. ``kind`` and ``name`` are the two parts of ``id``."""

    __slots__ = (
        "_note",
        "calls",
        "context",
        "context_notes",
        "docs",
        "fix",
        "here",
        "here_fields",
        "id",
        "kind",
        "man",
        "name",
        "result",
        "runtimes",
        "since",
        "source",
        "title",
        "what",
        "why",
        "without",
    )
    id: str
    kind: str
    name: str
    title: str
    what: str
    why: str
    without: str
    man: tuple[str, ...]
    runtimes: str
    here: str | None
    result: str | None
    fix: str | None
    docs: tuple[str, ...]
    since: str | None
    calls: tuple[str, ...]
    context: tuple[tuple[str, str], ...]
    source: str
    # Not fields (not compared, hashed or shown), made once so that explaining an event only looks
    # entries up (exports explain 100,000 events): the ``here`` template's placeholders (kept in the
    # cache, so that loading it parses no template), and CALL -> the note with the context text
    # (empty for most entries: one falsy check per flag).
    here_fields: tuple[str, ...]
    context_notes: dict[str, FlagNote]
    _note: FlagNote

    def __init__(
        self,
        id: str,
        kind: str,
        name: str,
        title: str,
        what: str,
        why: str,
        without: str,
        man: tuple[str, ...],
        runtimes: str,
        here: str | None = None,
        result: str | None = None,
        fix: str | None = None,
        docs: tuple[str, ...] = (),
        since: str | None = None,
        calls: tuple[str, ...] = (),
        context: tuple[tuple[str, str], ...] = (),
        source: str = "",
        *,
        here_fields: tuple[str, ...] | None = None,  # keyword-only: not a field
    ) -> None:
        # Written out: ~450 are built at every load of the catalogue.
        setattr_ = object.__setattr__
        setattr_(self, "id", id)
        setattr_(self, "kind", kind)
        setattr_(self, "name", name)
        setattr_(self, "title", title)
        setattr_(self, "what", what)
        setattr_(self, "why", why)
        setattr_(self, "without", without)
        setattr_(self, "man", man)
        setattr_(self, "runtimes", runtimes)
        setattr_(self, "here", here)
        setattr_(self, "result", result)
        setattr_(self, "fix", fix)
        setattr_(self, "docs", docs)
        setattr_(self, "since", since)
        setattr_(self, "calls", calls)
        setattr_(self, "context", context)
        setattr_(self, "source", source)
        if here_fields is None:
            here_fields = _placeholders(here) if here else ()
        setattr_(self, "here_fields", here_fields)
        setattr_(
            self,
            "context_notes",
            {call: FlagNote(name, text, id) for call, text in context} if context else _NO_NOTES,
        )

    @property
    def note(self) -> FlagNote:
        """The entry as a flag note (made at first use: most entries never are one)."""
        try:
            return self._note
        except AttributeError:
            note = FlagNote(self.name, self.what, self.id)
            object.__setattr__(self, "_note", note)
            return note

    def what_in(self, call: str | None) -> str:
        """``what``, or the text for ``call`` when the entry has one."""
        note = self.context_notes.get(call) if call and self.context_notes else None
        return note.meaning if note is not None else self.what

    def note_in(self, call: str | None) -> FlagNote:
        """The flag note as an argument of ``call``."""
        if call and self.context_notes:
            return self.context_notes.get(call, self.note)
        return self.note

    @property
    def meaning(self) -> str:
        """An error entry as a result: what it means here, and how to avoid it when known."""
        return f"{self.what} {self.fix}" if self.fix else self.what


# The context notes of every entry without a context (shared, never written to).
_NO_NOTES: dict[str, FlagNote] = {}


class Catalogue:
    """The loaded catalogue: entries by id, read-only after loading."""

    __slots__ = ("_by_id", "_by_name", "by_id", "files", "note_of")

    def __init__(self, entries: Mapping[str, Entry], files: tuple[str, ...]) -> None:
        # Plain dicts for the hot path (explain looks entries up for every event); never mutated.
        self.by_id: dict[str, Entry] = dict(entries)
        self._by_id: Mapping[str, Entry] = MappingProxyType(self.by_id)
        # A bare flag or value name -> its entry (flag first, then value, then capability): the
        # decoders report flags by name without saying which kind of catalogue entry explains them.
        # One pass: the catalogue is loaded at a trace's first event, beside the trace loop.
        caps: dict[str, Entry] = {}
        values: dict[str, Entry] = {}
        flags: dict[str, Entry] = {}
        by_kind = {"cap": caps, "value": values, "flag": flags}
        for entry in self.by_id.values():
            kind = by_kind.get(entry.kind)
            if kind is not None:
                kind[entry.name] = entry
        self.note_of: dict[str, Entry] = {**caps, **values, **flags}
        self._by_name: Mapping[str, tuple[str, ...]] | None = None  # made at the first find()
        self.files = files

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._by_id.values())

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def get(self, entry_id: str) -> Entry | None:
        return self.by_id.get(entry_id)

    def __getitem__(self, entry_id: str) -> Entry:
        return self._by_id[entry_id]

    def ids(self, kind: str | None = None) -> list[str]:
        return sorted(e.id for e in self._by_id.values() if kind is None or e.kind == kind)

    def find(self, name: str) -> tuple[Entry, ...]:
        """Every entry named ``name`` whatever its kind (``MS_REC`` -> flag.MS_REC), case-insensitive.

        An id (``cgroup.pids.max``) finds itself; a bare cgroup file name (``pids.max``) finds its entry.
        """
        direct = self._by_id.get(name)
        if direct is not None:
            return (direct,)
        by_name = self._by_name
        if by_name is None:
            lists: dict[str, list[str]] = {}
            for entry in self.by_id.values():
                lists.setdefault(entry.name.lower(), []).append(entry.id)
            by_name = self._by_name = MappingProxyType({name: tuple(ids) for name, ids in lists.items()})
        ids = by_name.get(name.lower(), ())
        return tuple(self._by_id[i] for i in ids)


def _check_entry(path: StrPath, index: int, raw: object, defaults: Mapping[str, Any]) -> Entry:
    label = f"#{index + 1}"
    call_name, man_page, id_pattern = _patterns()
    if not isinstance(raw, dict):
        raise CatalogueError(path, label, "is not a table")
    entry_id = raw.get("id")
    if isinstance(entry_id, str) and entry_id:
        label = entry_id
    data = {**defaults, **raw}
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        raise CatalogueError(path, label, f"unknown key(s) {', '.join(unknown)}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CatalogueError(path, label, f"missing required key(s) {', '.join(missing)}")
    for key in _STRING_KEYS & data.keys():
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(path, label, f"{key} must be a non-empty string")
    match = id_pattern.match(data["id"])
    if match is None:
        raise CatalogueError(path, label, "id must be KIND.NAME, e.g. flag.MS_REC")
    kind, name = match.groups()
    if kind not in KINDS:
        raise CatalogueError(path, label, f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    title = data["title"]
    if "\n" in title or len(title) > TITLE_MAX:
        raise CatalogueError(path, label, f"title must be one line of at most {TITLE_MAX} characters")
    man = data["man"]
    if isinstance(man, str):
        man = [man]
    if not isinstance(man, list) or not man:
        raise CatalogueError(path, label, "man must be a non-empty list of man pages")
    for page in man:
        if not isinstance(page, str) or not man_page.match(page):
            raise CatalogueError(path, label, f"man page {page!r} is not of the form name(N), e.g. mount(2)")
    docs = data.get("docs", [])
    if not isinstance(docs, list) or not all(isinstance(d, str) and d for d in docs):
        raise CatalogueError(path, label, "docs must be a list of strings")
    here = data.get("here")
    if here is not None:
        import string

        try:
            parsed = list(string.Formatter().parse(here))
        except ValueError as exc:
            raise CatalogueError(path, label, f"here: bad template ({exc})") from None
        for _, field_name, spec, conv in parsed:
            if field_name is not None and (not field_name.isidentifier() or spec or conv):
                raise CatalogueError(path, label, f"here: placeholder {{{field_name}}} must be a plain name")
    calls = data.get("calls", [])
    if not isinstance(calls, list) or not all(isinstance(c, str) and call_name.match(c) for c in calls):
        raise CatalogueError(
            path, label, 'calls must be a list of system call names, e.g. ["clone", "clone3"]'
        )
    context = data.get("context", {})
    if not isinstance(context, dict):
        raise CatalogueError(path, label, 'context must be a table CALL = "text"')
    for call, text in context.items():
        if not call_name.match(call):
            raise CatalogueError(path, label, f"context: {call!r} is not a system call name")
        if not isinstance(text, str) or not text.strip():
            raise CatalogueError(path, label, f"context.{call} must be a non-empty string")
        if call in calls:
            raise CatalogueError(path, label, f"{call} is in both calls and context: say which text is true")
    return Entry(
        id=data["id"],
        kind=kind,
        name=name,
        title=title,
        what=data["what"].strip(),
        why=data["why"].strip(),
        without=data["without"].strip(),
        man=tuple(man),
        runtimes=data["runtimes"].strip(),
        here=here.strip() if here is not None else None,
        result=data["result"].strip() if "result" in data else None,
        fix=data["fix"].strip() if "fix" in data else None,
        docs=tuple(docs),
        since=data.get("since"),
        calls=tuple(calls),
        context=tuple((call, " ".join(text.split())) for call, text in context.items()),
        source=os.path.basename(path),
    )


def load_file(path: StrPath) -> list[Entry]:
    """The entries of one catalogue file, validated."""
    return _check_file(path, _parse_toml(path))


def _parse_toml(path: StrPath) -> dict[str, Any]:
    import tomllib  # only when the parsed-file cache is stale: tomllib is slow to import and to run

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(path, None, f"not valid TOML ({exc})") from None


def _check_file(path: StrPath, data: dict[str, Any]) -> list[Entry]:
    unknown = sorted(set(data) - {"entry", "defaults"})
    if unknown:
        raise CatalogueError(path, None, f"unknown top-level key(s) {', '.join(unknown)}; use [[entry]]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise CatalogueError(path, None, "[defaults] must be a table")
    bad_defaults = sorted(set(defaults) - _DEFAULTABLE)
    if bad_defaults:
        raise CatalogueError(path, None, f"[defaults] cannot set {', '.join(bad_defaults)}")
    entries = data.get("entry", [])
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(path, None, "no [[entry]] tables")
    return [_check_entry(path, i, raw, defaults) for i, raw in enumerate(entries)]


def load_catalogue(directory: StrPath | None = None, cache_dir: str | None = None) -> Catalogue:
    """Load and validate every ``*.toml`` in ``directory`` (the packaged catalogue by default).

    Parsing TOML in pure Python and validating ~450 entries take ~30 ms, paid by every traced run;
    the validated entries are kept (marshal) in ``cache_dir`` (for the packaged catalogue: the user's
    cache) and used while the files' sizes and times, and this module's, are unchanged.
    """
    root = os.fspath(directory) if directory is not None else CATALOGUE_DIR
    names = sorted(n for n in os.listdir(root) if n.endswith(".toml")) if os.path.isdir(root) else []
    if not names:
        raise CatalogueError(root, None, "no catalogue files (*.toml)")
    paths = [os.path.join(root, n) for n in names]
    if cache_dir is None and directory is None:
        cache_dir = _cache_dir()  # only the packaged catalogue is cached by default
    cache_file = signature = None
    if cache_dir is not None:
        # One cache file per catalogue directory: two installs (a venv and a checkout, two versions)
        # sharing one file would overwrite each other's cache at every start.
        cache_file = os.path.join(
            cache_dir, f"catalogue-checked{os.path.abspath(root).replace(os.sep, '_')}.marshal"
        )
        signature = _signature(paths)
        cached = _read_cache(cache_file, signature)
        if cached is not None:
            return Catalogue({e.id: e for e in cached}, tuple(names))
    entries: dict[str, Entry] = {}
    for path in paths:
        for entry in _check_file(path, _parse_toml(path)):
            first = entries.get(entry.id)
            if first is not None:
                raise CatalogueError(path, entry.id, f"duplicate id, first defined in {first.source}")
            entries[entry.id] = entry
    if cache_file is not None:
        _write_cache(cache_file, signature, list(entries.values()))
    return Catalogue(entries, tuple(names))


def _cache_dir() -> str:
    if os.geteuid() == 0:
        return "/var/cache/boxtrace"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "boxtrace")


def _signature(paths: list[str]) -> list[object]:
    # This module is part of it: the cache holds entries its checks passed, and new checks (or a
    # new Entry layout) must see the files again.
    files = [*paths, __file__]
    stats = [os.stat(p) for p in files]
    return [_CACHE_VERSION, *([p, st.st_size, st.st_mtime_ns] for p, st in zip(files, stats, strict=True))]


def _read_cache(cache_file: str, signature: list[object]) -> list[Entry] | None:
    try:
        with open(cache_file, "rb") as handle:
            cached_signature, rows = _marshal_loads(handle.read())
        if cached_signature != signature:
            return None
        return [Entry(*fields, here_fields=here_fields) for fields, here_fields in rows]
    except (OSError, ValueError, EOFError, TypeError):  # unreadable, cut short, another layout
        return None


def _write_cache(cache_file: str, signature: list[object] | None, entries: list[Entry]) -> None:
    # marshal, not JSON: loading is one C call that gives the tuples Entry keeps (json would need
    # the json package, and a pass to turn its lists into tuples).
    names = Entry._fields
    rows = [(tuple(getattr(e, name) for name in names), e.here_fields) for e in entries]
    try:  # a cache that cannot be written (read-only home) only costs speed
        os.makedirs(os.path.dirname(cache_file), exist_ok=True)
        tmp = f"{cache_file}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(_marshal_dumps((signature, rows)))
        os.replace(tmp, cache_file)  # readers see the old file or the whole new one
    except (OSError, ValueError):
        pass


_loaded: Catalogue | None = None


def catalogue() -> Catalogue:
    """The packaged catalogue, loaded once per process (it is immutable)."""
    global _loaded
    if _loaded is None:
        _loaded = load_catalogue()
    return _loaded
