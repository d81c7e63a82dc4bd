"""What the start paths load: `boxtrace trace -q` and the runtime start without the slow modules.

dataclasses (which imports inspect, ast, dis, tokenize), typing, rich, textual and the explanation
catalogue cost most of a start that should be close to the bare interpreter's (docs/benchmarks.md,
"Start-up"). Each check runs in a fresh interpreter and reads ``sys.modules``: no timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.test_layering import loaded_after_import

# Module prefixes no start path may load (the catalogue is for explained lines, never under -q).
SLOW = ("dataclasses", "inspect", "typing", "rich", "textual", "boxtrace.lessons", "boxtrace.tui")

TRACE_PATH = [
    "boxtrace.cli",
    "boxtrace.commands.trace",
    "boxtrace.commands.run",
    "boxtrace.tracing",
    "boxtrace.console",
    "boxtrace.tracer.session",
    "boxtrace.tracer.decoders",
    "boxtrace.tracer.tables.default_set",
    "boxtrace.tracer.tracefile",
]
RUNTIME_PATH = ["boxtrace.runtime.cli", "boxtrace.runtime.launch", "boxtrace.runtime.container"]


def slow_ones(loaded: list[str]) -> list[str]:
    return [m for m in loaded if any(m == s or m.startswith(s + ".") for s in SLOW)]


def test_trace_and_runtime_modules_load_nothing_slow() -> None:
    assert slow_ones(loaded_after_import(TRACE_PATH + RUNTIME_PATH)) == []


def test_quiet_trace_of_a_command_loads_nothing_slow(tmp_path: Path) -> None:
    loaded = _quiet_trace_modules(tmp_path)
    assert "boxtrace.tracer.session" in loaded  # the check saw the trace path itself
    assert slow_ones(loaded) == []


# What `boxtrace trace -q -o FILE -- CMD` no longer loads (docs/benchmarks.md, "Start-up": each was
# millions of instructions): argparse (boxtrace/quick_args.py reads the usual command lines), re and
# the json package (the trace file's encoder is _json's), enum (signal.py's enums: the tracer uses
# _signal), shutil (argparse's help formatter); threading, contextlib and with them functools and
# collections (tracer/lean.py), importlib (__import__ does), ctypes (tracer/lean_ctypes.py: the
# same types and functions from _ctypes).
LEAN = (
    "argparse",
    "re",
    "json",
    "enum",
    "signal",
    "shutil",
    "gettext",
    "locale",
    "threading",
    "contextlib",
    "functools",
    "collections",
    "importlib",
    "ctypes",
)
# The trace path also takes the C modules under three Python wrappers directly (_struct, _operator)
# and types.SimpleNamespace as sys.implementation's type: ~2.4 M instructions together. (The
# runtime's and the recorder's paths still load them.)
LEAN_TRACE = (*LEAN, "struct", "operator", "types")
LEAN_ALL = ("argparse", "re", "json", "enum", "signal", "shutil", "gettext", "locale")
# Whole modules never loaded: find_library runs programs (ldconfig, gcc); the CLI checks the
# machine with the tracer's tables, not the runtime's record classes; the trap rules, whose filter is
# compiled ahead (tracer/default_filters.py).
NEVER = (
    "ctypes.util",
    "boxtrace.runtime.records",
    "boxtrace.runtime.machine",
    "boxtrace.tracer.tables.default_set",
)


def test_quiet_trace_of_a_command_loads_no_parser_regex_or_enum(tmp_path: Path) -> None:
    # Measured against the bare interpreter's own start: an editable install's import hook (make
    # dev) loads re before any boxtrace code runs.
    at_start = set(_modules_after("pass"))
    added = set(_quiet_trace_modules(tmp_path)) - at_start
    assert sorted(m for m in added if m.split(".")[0] in LEAN_TRACE) == []
    assert sorted(m for m in added if m in NEVER) == []


def test_quiet_trace_of_true_loads_only_the_execve_decoders(tmp_path: Path) -> None:
    # A decoder family (and its flag tables) is imported at its first call: /bin/true makes one
    # decoded call, its execve. All eleven at once were ~15 M instructions of every start.
    loaded = _quiet_trace_modules(tmp_path)
    decoders = sorted(m.rsplit(".", 1)[1] for m in loaded if m.startswith("boxtrace.tracer.decoders."))
    assert decoders == ["base", "common", "execve"]
    assert "boxtrace.tracer.tables.errnos" not in loaded  # no call failed


def test_all_quiet_trace_loads_no_enum_regex_or_python_ptrace_package(tmp_path: Path) -> None:
    # --all reads python-ptrace's prototype table from its file alone (decoders/generic.py): the
    # package's __init__ would bring its binding, subprocess, socket, datetime, enum, re...
    at_start = set(_modules_after("pass"))
    added = set(_quiet_trace_modules(tmp_path, "--all")) - at_start
    assert "boxtrace.tracer.writer_process" in added  # the check saw --all's own path
    # (--all's writer process and the prototype loader still use threading's and importlib's kin:
    # ~2 M of a start that traces thousands of stops; the -q path above is kept leaner.)
    assert sorted(m for m in added if m.split(".")[0] in (*LEAN_ALL, "ptrace", "traceback")) == []


# What the explained lines (`boxtrace trace -- CMD` to a file or pipe) load on top of the bare
# interpreter: the annotator, the phases and the catalogue are loaded at the first event, on the
# session's delivery thread, where every import competes with the trace loop for the GIL. Their
# classes are lean `__slots__` classes (tracer/plain.py), the catalogue's cache is marshal, the
# regular expressions and the template parser are for checking files again only (a stale cache).
EXPLAINED_LEAN = (
    "dataclasses",
    "typing",
    "inspect",
    "re",
    "json",
    "enum",
    "copy",
    "string",
    "functools",
    "collections",
    "tomllib",
)


def test_explained_trace_of_a_command_loads_no_dataclasses_typing_regex_or_json(tmp_path: Path) -> None:
    at_start = set(_modules_after("pass"))
    # The catalogue's cache warm, as after a first run (a stale one is read again with tomllib, re).
    _modules_after("from boxtrace.lessons.catalogue import catalogue\ncatalogue()")
    code = (
        "from boxtrace.cli import main\n"
        "status = main(['trace', '--', '/bin/true'])\n"
        "assert status == 0, status"
    )
    result = subprocess.run(  # stdout a pipe: plain explained lines, no colours (no rich)
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n' + ' '.join(sorted(sys.modules)))\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    added = set(result.stdout.splitlines()[-1].split()) - at_start
    assert "boxtrace.lessons.explain" in added  # the check saw the explained path itself
    assert "↳ " in result.stdout  # and the lines it explained
    assert sorted(m for m in added if m.split(".")[0] in EXPLAINED_LEAN) == []
    assert slow_ones(sorted(added - {m for m in added if m.startswith("boxtrace.lessons")})) == []


def _modules_after(code: str) -> list[str]:
    """sys.modules after running ``code`` in a fresh interpreter, listed without importing json."""
    script = f"{code}\nimport sys\nprint('\\n' + ' '.join(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return result.stdout.splitlines()[-1].split()


def _quiet_trace_modules(tmp_path: Path, *options: str) -> list[str]:
    # The whole command, in process: main() given argv returns instead of leaving with os._exit.
    out = tmp_path / "t.jsonl"
    code = (
        "from boxtrace.cli import main\n"
        f"status = main(['trace', *{list(options)!r}, '-q', '-o', {str(out)!r}, '--', '/bin/true'])\n"
        "assert status == 0, status"
    )
    loaded = _modules_after(code)
    assert "exec" in [json.loads(line)["type"] for line in out.read_text().splitlines()]
    return loaded


def test_only_this_machines_syscall_table_is_loaded() -> None:
    # Each architecture's table is ~1.5 M instructions to import; a trace needs its machine's alone.
    machine = os.uname().machine
    loaded = loaded_after_import(
        [*TRACE_PATH, "boxtrace.runtime.guard"],
        then="from boxtrace.tracer.arch import get_arch\n"
        "from boxtrace.tracer.seccomp_filter import default_program\n"
        "arch = get_arch(); default_program(arch.audit_arch, arch.syscall_numbers)",
    )
    tables = sorted(m for m in loaded if m.startswith("boxtrace.tracer.arch."))
    assert tables == [f"boxtrace.tracer.arch.{machine}"]


def test_filter_names_x86_64s_audit_arch_as_its_table_does() -> None:
    from boxtrace.tracer.arch import x86_64
    from boxtrace.tracer.seccomp_filter import AUDIT_ARCH_X86_64

    assert AUDIT_ARCH_X86_64 == x86_64.AUDIT_ARCH


def test_installed_boxtrace_script_imports_no_regex(tmp_path: Path) -> None:
    # pip's console scripts import re before anything else; bin/boxtrace (pyproject.toml's
    # script-files) does not. -X importtime lists every module the whole command imports.
    script = Path(sys.executable).parent / "boxtrace"
    if not script.is_file() or "import re" in script.read_text():
        pytest.skip(f"{script}: not bin/boxtrace installed by this checkout (run make venv)")

    def imported(*argv: str) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True
        )
        return {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}

    out = tmp_path / "t.jsonl"
    added = imported(str(script), "trace", "-q", "-o", str(out), "--", "/bin/true") - imported("-c", "pass")
    assert "boxtrace.tracer.session" in added
    # Not enum and signal (nor functools and collections, which enum imports, nor ctypes) here: the
    # cleanup guard, forked from this process, imports signal and ctypes, and its -X importtime
    # lines share our stderr (the in-process test above covers them).
    lean = set(LEAN) - {"enum", "signal", "functools", "collections", "ctypes"}
    assert sorted(m for m in added if m.split(".")[0] in lean) == []


# `boxtrace run --no-trace BUNDLE` (docs/benchmarks.md, "Runtime"): the quick parser reads its
# command line (boxtrace/quick_args.py), the runtime parses and writes JSON with _json
# (runtime/quick_json.py), uses _signal and its own suppress (runtime/quiet.py).
# (The runtime calls its syscalls through ctypes itself: it may not import the tracer's lean one.)
RUN_LEAN = tuple(name for name in LEAN if name != "ctypes")


@needs_root
def test_untraced_run_loads_no_parser_regex_json_enum_or_contextlib(busybox_bundle: Path) -> None:
    at_start = set(_modules_after("pass"))
    code = (
        "from boxtrace.cli import main\n"
        f"status = main(['run', '--no-trace', '--name', 'imports-{os.getpid()}', {str(busybox_bundle)!r}])\n"
        "assert status == 0, status"
    )
    added = set(_modules_after(code)) - at_start
    assert "boxtrace.runtime.container" in added
    assert sorted(m for m in added if m.split(".")[0] in RUN_LEAN) == []


@pytest.mark.parametrize("command", ["start", "delete", "kill"])
def test_oci_commands_podman_calls_load_no_parser_regex_json_or_enum(tmp_path: Path, command: str) -> None:
    # What podman and conmon call several times per container (runtime/quick_args.py reads the
    # command line); a missing container is enough: the whole CLI and the command's module load.
    at_start = set(_modules_after("pass"))
    code = (
        "from boxtrace.runtime.cli import main\n"
        f"status = main(['--root', {str(tmp_path)!r}, '--log-format', 'json', {command!r}, 'nothere'])\n"
        "assert status == 1, status"
    )
    added = set(_modules_after(code)) - at_start
    assert "boxtrace.runtime.oci" in added
    assert sorted(m for m in added if m.split(".")[0] in RUN_LEAN) == []


def test_a_recorded_runtime_call_loads_no_regex_enum_threading_or_subprocess() -> None:
    # boxtrace-runc (podman and Docker call it several times per container, and wait): the wrapper,
    # and in its recorder the caller watch, the spool and the trace session.
    at_start = set(_modules_after("pass"))
    code = (
        "import boxtrace.runc_wrapper, boxtrace.recorder, boxtrace.caller_watch, boxtrace.tracer.spool\n"
        "import boxtrace.tracer.session"
    )
    added = set(_modules_after(code)) - at_start
    assert "boxtrace.caller_watch" in added
    assert sorted(m for m in added if m.split(".")[0] in (*LEAN, "subprocess")) == []


@pytest.mark.parametrize("command", [["explain", "mount"], ["trace", "-q", "-o", "OUT", "--", "/bin/true"]])
def test_the_collector_is_on_again_once_a_commands_modules_are_in(tmp_path: Path, command: list[str]) -> None:
    # bin/boxtrace starts with the garbage collector off; each command turns it back on once its
    # modules are loaded (boxtrace.runtime.usage.collect_from_here), leaving them out of later collections.
    argv = [str(tmp_path / "t.jsonl") if word == "OUT" else word for word in command]
    code = (
        "import gc\n"
        "gc.disable()\n"
        "from boxtrace.cli import main\n"
        f"status = main({argv!r})\n"
        "print('\\n', status, gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split()[-3:] == ["0", "True", "True"]


@needs_root
@pytest.mark.parametrize(
    "entry",
    [
        "boxtrace.runtime.cli main(['run', '--', '/bin/true'])",
        "boxtrace.cli main(['run', '--no-trace', '--', '/bin/true'])",
    ],
    ids=["boxtrace-runtime", "boxtrace-run-no-trace"],
)
def test_the_runtime_turns_the_collector_on_again_once_its_container_runs(entry: str) -> None:
    # bin/boxtrace-runtime (and bin/boxtrace, for `run --no-trace`) start with the collector off,
    # for the modules and the container's start (the container's process, forked meanwhile,
    # inherits it off until its exec); the wait for the container, which may last for hours,
    # collects.
    module, call = entry.split(" ", 1)
    code = (
        "import gc\n"
        "gc.disable()\n"
        f"from {module} import main\n"
        f"status = {call}\n"
        "print('\\n', status, gc.isenabled(), gc.get_freeze_count() > 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split()[-3:] == ["0", "True", "True"]
