"""Guided lessons: data files under ``lessons/guided/`` (TOML), loaded, validated and checked here.

A lesson is a text to read, one command to run under the tracer, the syscalls it discusses
(breakpoints), questions for the student, and *checks*: claims the text makes, each confirmed against
the recorded events and the command's output and exit status, so a lesson that stops being true (a new
kernel, a changed runtime) fails loudly instead of teaching something false. ``docs/lessons.md``
describes the file format; :func:`validate` enforces it and names the file and field of any mistake.

This module only reads files, prepares a working directory and evaluates checks; running the command
under the tracer is the CLI's job (``boxtrace lessons run``), since ``lessons`` imports no tracer
session (DESIGN.md, "Who may import whom").
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxtrace.tracer.events import Event, ExecEvent, ExitEvent, OutputEvent, SpawnEvent, SyscallEvent

GUIDED_DIR = Path(__file__).resolve().parent / "guided"

# Placeholders a lesson's command and files may use; anything else in braces is left alone (shell
# scripts are full of braces).
PLACEHOLDERS = ("python", "workdir", "bundle", "rootfs", "id")

EVENT_TYPES = ("syscall", "spawn", "exec", "exit", "output")
# matcher key -> (types it applies to, expected TOML type(s))
MATCHER_KEYS: dict[str, tuple[tuple[str, ...], tuple[type, ...]]] = {
    "type": (EVENT_TYPES, (str,)),
    "syscall": (("syscall",), (str, list)),
    "category": (("syscall",), (str,)),
    "flags": (("syscall", "spawn"), (list,)),
    "args": (("syscall",), (str,)),
    "ok": (("syscall",), (bool,)),
    "errno": (("syscall",), (str,)),
    "detail": (("syscall",), (dict,)),
    "ns_changed": (("syscall",), (list,)),
    "comm": (EVENT_TYPES, (str,)),
    "inner_pid": (EVENT_TYPES, (int,)),
    "path": (("exec",), (str,)),
    "argv": (("exec",), (str,)),
    "thread": (("spawn",), (bool,)),
    "status": (("exit",), (int,)),
    "signal": (("exit",), (str,)),
    "text": (("output",), (str,)),
    "at_least": (EVENT_TYPES, (int,)),
    "at_most": (EVENT_TYPES, (int,)),
}
OUTPUT_KEYS: dict[str, tuple[type, ...]] = {
    "line": (str,),
    "contains": (str,),
    "stream": (str,),
    "absent": (bool,),
}
EXIT_KEYS: dict[str, tuple[type, ...]] = {"code": (int,), "status": (int,), "signal": (str,)}
CHECK_KINDS = ("event", "output", "exit", "order")
TOP_KEYS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "title": (str,),
    "summary": (str,),
    "text": (str,),
    "command": (list,),
    "man": (list,),
    "requires": (list,),
    "root": (bool,),
    "timeout": (int, float),
    "breakpoints": (dict,),
    "questions": (list,),
    "checks": (list,),
    "bundle": (dict,),
    "files": (list,),
    "order": (int,),
}
REQUIRED_TOP = ("id", "title", "summary", "text", "command", "questions", "checks")


class LessonError(ValueError):
    """A lesson file that does not follow the format; the message names the file and the field."""

    def __init__(self, path: Path | str, field: str | None, problem: str) -> None:
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Question:
    ask: str
    answer: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """One claim of the lesson and how to confirm it (exactly one of the four kinds is set)."""

    claim: str
    kind: str  # event | output | exit | order
    spec: Any  # the matcher table (event, output, exit) or the list of matchers (order)


@dataclass(frozen=True, slots=True)
class LessonFile:
    name: str
    text: str
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class Lesson:
    id: str
    title: str
    summary: str
    text: str
    command: tuple[str, ...]
    questions: tuple[Question, ...]
    checks: tuple[Check, ...]
    path: Path
    man: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    root: bool = True
    timeout: float = 120.0
    break_syscalls: frozenset[str] = frozenset()
    break_categories: frozenset[str] = frozenset()
    bundle: dict[str, Any] | None = None
    files: tuple[LessonFile, ...] = ()
    order: int = 100

    def is_breakpoint(self, event: Event) -> bool:
        """Whether the lesson discusses this event (the TUI stops here; ``--plain`` explains it)."""
        if not isinstance(event, SyscallEvent):
            return False
        return event.name in self.break_syscalls or event.category_name in self.break_categories


@dataclass(slots=True)
class Outcome:
    """How the lesson's command ended: the exit code in the shell convention (128+N when killed)."""

    exit_code: int
    exit_status: int | None = None
    signal: str | None = None


@dataclass(slots=True)
class CheckResult:
    check: Check
    passed: bool
    detail: str  # what was found, in one line


# ---- loading and validation ----


def _expect(value: Any, types: tuple[type, ...], path: Path, fld: str) -> None:
    # bool is an int in Python; a TOML `true` where a number is expected is a mistake.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        names = " or ".join(_toml_type(t) for t in types)
        raise LessonError(path, fld, f"expected {names}, got {_toml_type(type(value))}")


def _toml_type(t: type) -> str:
    return {str: "a string", list: "an array", dict: "a table", bool: "a boolean", int: "an integer"}.get(
        t, "a float" if t is float else t.__name__
    )


def _strings(value: Any, path: Path, fld: str) -> tuple[str, ...]:
    _expect(value, (list,), path, fld)
    for i, item in enumerate(value):
        _expect(item, (str,), path, f"{fld}[{i}]")
    return tuple(value)


def _regex(value: str, path: Path, fld: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise LessonError(path, fld, f"bad regular expression: {exc}") from None


def _matcher(data: Any, path: Path, fld: str) -> dict[str, Any]:
    _expect(data, (dict,), path, fld)
    kind = data.get("type", "syscall")
    if kind not in EVENT_TYPES:
        raise LessonError(
            path, f"{fld}.type", f"unknown event type {kind!r} (one of {', '.join(EVENT_TYPES)})"
        )
    for key, value in data.items():
        if key not in MATCHER_KEYS:
            raise LessonError(path, f"{fld}.{key}", f"unknown key (known: {', '.join(MATCHER_KEYS)})")
        applies, types = MATCHER_KEYS[key]
        _expect(value, types, path, f"{fld}.{key}")
        if kind not in applies:
            raise LessonError(path, f"{fld}.{key}", f"does not apply to {kind} events")
        if key in ("args", "comm", "path", "argv", "text"):
            _regex(value, path, f"{fld}.{key}")
        if key in ("flags", "ns_changed") or (key == "syscall" and isinstance(value, list)):
            _strings(value, path, f"{fld}.{key}")
        if key == "detail":
            for k, v in value.items():
                _expect(v, (str,), path, f"{fld}.detail.{k}")
                _regex(v, path, f"{fld}.detail.{k}")
    return dict(data)


def _order_step(data: Any, path: Path, fld: str) -> dict[str, Any] | list[dict[str, Any]]:
    """One step of an order check: a table, or a list of tables when the step may happen in more
    than one way (a process joins its cgroup through cgroup.procs, or is cloned into it)."""
    if not isinstance(data, list):
        return _matcher(data, path, fld)
    if not data:
        raise LessonError(path, fld, "an empty list (a step is a table, or a list of tables: any of them)")
    return [_matcher(m, path, f"{fld}[{i}]") for i, m in enumerate(data)]


def _check(data: Any, path: Path, fld: str) -> Check:
    _expect(data, (dict,), path, fld)
    claim = data.get("claim")
    if claim is None:
        raise LessonError(path, f"{fld}.claim", "missing: say what the check confirms")
    _expect(claim, (str,), path, f"{fld}.claim")
    kinds = [k for k in CHECK_KINDS if k in data]
    unknown = [k for k in data if k not in (*CHECK_KINDS, "claim")]
    if unknown:
        raise LessonError(
            path, f"{fld}.{unknown[0]}", f"unknown key (a check has claim and one of {CHECK_KINDS})"
        )
    if len(kinds) != 1:
        raise LessonError(path, fld, f"needs exactly one of {', '.join(CHECK_KINDS)}, has {len(kinds)}")
    kind = kinds[0]
    spec = data[kind]
    if kind == "event":
        spec = _matcher(spec, path, f"{fld}.event")
    elif kind == "order":
        _expect(spec, (list,), path, f"{fld}.order")
        if len(spec) < 2:
            raise LessonError(path, f"{fld}.order", "needs at least two events")
        spec = [_order_step(m, path, f"{fld}.order[{i}]") for i, m in enumerate(spec)]
    else:
        known = OUTPUT_KEYS if kind == "output" else EXIT_KEYS
        _expect(spec, (dict,), path, f"{fld}.{kind}")
        if not spec:
            raise LessonError(path, f"{fld}.{kind}", f"empty (known keys: {', '.join(known)})")
        for key, value in spec.items():
            if key not in known:
                raise LessonError(path, f"{fld}.{kind}.{key}", f"unknown key (known: {', '.join(known)})")
            _expect(value, known[key], path, f"{fld}.{kind}.{key}")
        if kind == "output":
            if ("line" in spec) == ("contains" in spec):
                raise LessonError(path, f"{fld}.output", "needs exactly one of line, contains")
            if "line" in spec:
                _regex(spec["line"], path, f"{fld}.output.line")
            if spec.get("stream", "stdout") not in ("stdout", "stderr", "any"):
                raise LessonError(path, f"{fld}.output.stream", "must be stdout, stderr or any")
    return Check(claim=claim, kind=kind, spec=spec)


def validate(data: dict[str, Any], path: Path) -> Lesson:
    """A :class:`Lesson` from a parsed lesson file; :class:`LessonError` naming the field if it is wrong."""
    for key in data:
        if key not in TOP_KEYS:
            raise LessonError(path, key, f"unknown key (known: {', '.join(TOP_KEYS)})")
    for key in REQUIRED_TOP:
        if key not in data:
            raise LessonError(path, key, "missing")
    for key, value in data.items():
        _expect(value, TOP_KEYS[key], path, key)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", data["id"]):
        raise LessonError(path, "id", "use lower-case letters, digits and dashes")
    if data["id"] != path.stem:
        raise LessonError(path, "id", f"must match the file name ({path.stem!r})")
    command = _strings(data["command"], path, "command")
    if not command:
        raise LessonError(path, "command", "empty")
    questions = []
    for i, q in enumerate(data["questions"]):
        fld = f"questions[{i}]"
        if isinstance(q, str):
            questions.append(Question(q))
            continue
        _expect(q, (dict,), path, fld)
        for key in q:
            if key not in ("ask", "answer"):
                raise LessonError(path, f"{fld}.{key}", "unknown key (known: ask, answer)")
        if "ask" not in q:
            raise LessonError(path, f"{fld}.ask", "missing")
        _expect(q["ask"], (str,), path, f"{fld}.ask")
        _expect(q.get("answer", ""), (str,), path, f"{fld}.answer")
        questions.append(Question(q["ask"], q.get("answer", "")))
    if not questions:
        raise LessonError(path, "questions", "a lesson asks the student at least one question")
    checks = tuple(_check(c, path, f"checks[{i}]") for i, c in enumerate(data["checks"]))
    if not checks:
        raise LessonError(path, "checks", "a lesson confirms at least one of its claims")
    bp = data.get("breakpoints", {})
    for key in bp:
        if key not in ("syscalls", "categories"):
            raise LessonError(path, f"breakpoints.{key}", "unknown key (known: syscalls, categories)")
    files = []
    for i, f in enumerate(data.get("files", [])):
        fld = f"files[{i}]"
        _expect(f, (dict,), path, fld)
        for key in ("name", "text"):
            if key not in f:
                raise LessonError(path, f"{fld}.{key}", "missing")
            _expect(f[key], (str,), path, f"{fld}.{key}")
        if "/" in f["name"] or f["name"] in ("", ".", ".."):
            raise LessonError(path, f"{fld}.name", "a plain file name (written into the lesson's {workdir})")
        mode = f.get("mode", "644")
        _expect(mode, (str,), path, f"{fld}.mode")
        files.append(LessonFile(f["name"], f["text"], int(mode, 8)))
    bundle = data.get("bundle")
    if bundle is not None:
        for key in bundle:
            if key not in ("args", "config"):
                raise LessonError(path, f"bundle.{key}", "unknown key (known: args, config)")
        if "args" in bundle:
            _strings(bundle["args"], path, "bundle.args")
        if "config" in bundle:
            _expect(bundle["config"], (dict,), path, "bundle.config")
    return Lesson(
        id=data["id"],
        title=data["title"],
        summary=data["summary"],
        text=data["text"],
        command=command,
        questions=tuple(questions),
        checks=checks,
        path=path,
        man=_strings(data.get("man", []), path, "man"),
        requires=_strings(data.get("requires", []), path, "requires"),
        root=data.get("root", True),
        timeout=float(data.get("timeout", 120)),
        break_syscalls=frozenset(_strings(bp.get("syscalls", []), path, "breakpoints.syscalls")),
        break_categories=frozenset(_strings(bp.get("categories", []), path, "breakpoints.categories")),
        bundle=bundle,
        files=tuple(files),
        order=data.get("order", 100),
    )


def load_lesson(path: Path | str) -> Lesson:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(path, None, f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise LessonError(path, None, exc.strerror or str(exc)) from None
    return validate(data, path)


def load_lessons(directory: Path | str = GUIDED_DIR) -> list[Lesson]:
    """Every lesson of ``directory``, in teaching order (``order``, then id)."""
    lessons = [load_lesson(p) for p in sorted(Path(directory).glob("*.toml"))]
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.id))


def find_lesson(lesson_id: str, directory: Path | str = GUIDED_DIR) -> Lesson | None:
    path = Path(directory) / f"{lesson_id}.toml"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", lesson_id) or not path.is_file():
        return None
    return load_lesson(path)


# ---- preparing a run ----


def missing_requirements(lesson: Lesson) -> list[str]:
    """Why the lesson cannot run here (empty when it can)."""
    missing = []
    if lesson.root and os.geteuid() != 0:
        missing.append("root (it creates namespaces, mounts and cgroups)")
    for program in lesson.requires:
        if shutil.which(program) is None:
            missing.append(f"the program {program!r} on PATH")
    if lesson.bundle is not None and shutil.which("busybox") is None:
        missing.append("busybox (Debian package busybox-static) for the lesson's bundle")
    return missing


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def build_bundle(path: Path, spec: dict[str, Any]) -> Path:
    """A busybox OCI bundle at ``path``: ``runc spec``'s config with the lesson's ``args``/``config``."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise FileNotFoundError("busybox not found (Debian package busybox-static)")
    rootfs = path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            # Relative links: `busybox --install -s` would point at the host's path of the binary.
            (rootfs / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        (rootfs / d).mkdir(exist_ok=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    if shutil.which("runc") is not None:
        subprocess.run(["runc", "spec", "--bundle", str(path)], check=True, capture_output=True)
        config = json.loads((path / "config.json").read_text())
        config["process"]["terminal"] = False
        if "args" in spec:
            config["process"]["args"] = list(spec["args"])
        _merge(config, spec.get("config", {}))
        (path / "config.json").write_text(json.dumps(config, indent=2))
    return path


def substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def prepare(lesson: Lesson, workdir: Path | str, run_id: str) -> list[str]:
    """Write the lesson's files and bundle into ``workdir``; the command to run, placeholders filled."""
    workdir = Path(workdir)
    values = {
        "python": sys.executable,
        "workdir": str(workdir),
        "bundle": str(workdir / "bundle"),
        "rootfs": str(workdir / "bundle" / "rootfs"),
        "id": run_id,
    }
    if lesson.bundle is not None:
        build_bundle(workdir / "bundle", lesson.bundle)
    for f in lesson.files:
        target = workdir / f.name
        target.write_text(substitute(f.text, values))
        target.chmod(f.mode)
    return [substitute(arg, values) for arg in lesson.command]


# ---- checks ----


def _flags_of(event: Event) -> set[str]:
    if isinstance(event, SpawnEvent):
        return set(event.flags)
    names: set[str] = set()
    if isinstance(event, SyscallEvent):
        for arg in event.args:
            if arg.flags:
                names.update(arg.flags)
            if arg.fields:
                for value in arg.fields.values():
                    if isinstance(value, list) and all(isinstance(v, str) for v in value):
                        names.update(value)
        flags = event.detail.get("flags")
        if isinstance(flags, list):
            names.update(f for f in flags if isinstance(f, str))
    return names


def _detail_matches(value: Any, pattern: str) -> bool:
    if isinstance(value, list):
        return any(_detail_matches(v, pattern) for v in value)
    return value is not None and re.fullmatch(pattern, str(value)) is not None


def matches(event: Event, m: dict[str, Any]) -> bool:
    """Whether ``event`` fits the matcher table ``m`` (docs/lessons.md, "Checks")."""
    if event.kind != m.get("type", "syscall"):
        return False
    if "comm" in m and not re.fullmatch(m["comm"], event.comm):
        return False
    if "inner_pid" in m and (not event.nspid or event.nspid[-1] != m["inner_pid"]):
        return False
    if "flags" in m and not set(m["flags"]) <= _flags_of(event):
        return False
    if isinstance(event, SyscallEvent):
        names = m.get("syscall")
        if names is not None and event.name not in ([names] if isinstance(names, str) else names):
            return False
        if "category" in m and event.category_name != m["category"]:
            return False
        if "args" in m and not re.search(m["args"], ", ".join(a.text for a in event.args)):
            return False
        if "ok" in m and (event.result is not None and event.errno is None) != m["ok"]:
            return False
        if "errno" in m and event.errno != m["errno"]:
            return False
        if "ns_changed" in m and not set(m["ns_changed"]) <= set(event.ns_changed):
            return False
        for key, pattern in m.get("detail", {}).items():
            if not _detail_matches(event.detail.get(key), pattern):
                return False
    elif isinstance(event, ExecEvent):
        if "path" in m and not re.fullmatch(m["path"], event.path):
            return False
        if "argv" in m and not re.search(m["argv"], shlex.join(event.argv)):
            return False
    elif isinstance(event, SpawnEvent):
        if "thread" in m and event.thread != m["thread"]:
            return False
    elif isinstance(event, ExitEvent):
        if "status" in m and event.status != m["status"]:
            return False
        if "signal" in m and event.signal != m["signal"]:
            return False
    elif isinstance(event, OutputEvent) and "text" in m and not re.search(m["text"], event.text):
        return False
    return True


def describe_matcher(m: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in m.items() if k not in ("type", "at_least", "at_most")]
    return f"{m.get('type', 'syscall')} event" + (f" with {', '.join(parts)}" if parts else "")


def _check_event(m: dict[str, Any], events: Sequence[Event]) -> tuple[bool, str]:
    found = [e for e in events if matches(e, m)]
    at_least = m.get("at_least", 1)
    at_most = m.get("at_most")
    ok = len(found) >= at_least and (at_most is None or len(found) <= at_most)
    what = describe_matcher(m)
    if not found:
        return ok, f"no {what}" if at_least else f"no {what}, as expected"
    first = found[0]
    return ok, f"{len(found)} × {what} (first: #{first.seq})"


def _output_lines(events: Iterable[Event], stream: str) -> list[str]:
    text = "".join(e.text for e in events if isinstance(e, OutputEvent) and stream in ("any", e.stream))
    return text.splitlines()


def _check_output(spec: dict[str, Any], events: Sequence[Event]) -> tuple[bool, str]:
    stream = spec.get("stream", "stdout")
    lines = _output_lines(events, stream)
    if "line" in spec:
        hit = next((ln for ln in lines if re.fullmatch(spec["line"], ln.strip())), None)
        what = f"{stream} line matching {spec['line']!r}"
    else:
        hit = next((ln for ln in lines if spec["contains"] in ln), None)
        what = f"{stream} containing {spec['contains']!r}"
    absent = spec.get("absent", False)
    if hit is None:
        return absent, f"no {what} in {len(lines)} lines"
    return not absent, f"{what}: {hit.strip()!r}"


def _check_exit(spec: dict[str, Any], outcome: Outcome) -> tuple[bool, str]:
    got = f"exit code {outcome.exit_code}" + (
        f" (killed by {outcome.signal})" if outcome.signal else f" (status {outcome.exit_status})"
    )
    ok = (
        ("code" not in spec or outcome.exit_code == spec["code"])
        and ("status" not in spec or outcome.exit_status == spec["status"])
        and ("signal" not in spec or outcome.signal == spec["signal"])
    )
    return ok, got


def _check_order(
    spec: list[dict[str, Any] | list[dict[str, Any]]], events: Sequence[Event]
) -> tuple[bool, str]:
    ordered = sorted(events, key=lambda e: e.seq)
    start = 0
    seqs: list[int] = []
    for step in spec:
        either = step if isinstance(step, list) else [step]
        index = next(
            (i for i in range(start, len(ordered)) if any(matches(ordered[i], m) for m in either)), None
        )
        if index is None:
            after = f" after #{seqs[-1]}" if seqs else ""
            return False, f"no {' or '.join(describe_matcher(m) for m in either)}{after}"
        seqs.append(ordered[index].seq)
        start = index + 1
    return True, "in order: " + " → ".join(f"#{s}" for s in seqs)


def evaluate(lesson: Lesson, events: Sequence[Event], outcome: Outcome) -> list[CheckResult]:
    """Each of the lesson's checks against a recorded run."""
    results = []
    for check in lesson.checks:
        if check.kind == "event":
            ok, detail = _check_event(check.spec, events)
        elif check.kind == "output":
            ok, detail = _check_output(check.spec, events)
        elif check.kind == "exit":
            ok, detail = _check_exit(check.spec, outcome)
        else:
            ok, detail = _check_order(check.spec, events)
        results.append(CheckResult(check, ok, detail))
    return results
