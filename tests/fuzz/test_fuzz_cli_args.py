"""Fuzzing the command line of every `boxtrace` subcommand (COMMANDS in boxtrace/commands/__init__.py,
and the runtime's own commands behind `boxtrace runtime`): random argvs made from each command's
option table (its options, with valid, invalid and missing values, unknown options, stray words,
"--") run in-process through ``boxtrace.cli.main``. The outcome is exit status 0 (parsed) or 2 (a
usage error in one line on stderr), never a traceback.

The choice: the function each command runs once its arguments are parsed (``main(args)`` of every
command module, the runtime's COMMANDS table) is replaced for the test by one that records what it
was given and returns 0. A fuzzed argv therefore can never start a trace, a container, a server or a
pull, whatever it says: what is fuzzed is parsing and its usage errors, which is what this target
is about (what commands do with bad files and bad registries is fuzzed by the other targets here).
The test runs in a temp directory and its words contain no "/": the one thing parsing may write, the
runtime's --log file when a usage error is logged, lands there.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given

from boxtrace.commands import COMMANDS
from boxtrace.runtime import cli as runtime_cli
from tests.fuzz.cli_argvs import argvs, run_argv


class Recorder:
    """Stands in for what each command runs: records the parsed arguments, returns 0."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def command(self, args: Any) -> int:
        self.calls.append((str(args.command), args))
        return 0

    def runtime(self, args: Any, after: list[str], log: Any) -> int:
        self.calls.append((f"runtime {args.command}", args))
        return 0


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    record = Recorder()
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory(prefix="fuzz-cli-") as tmp:
        for name in COMMANDS:
            patch.setattr(importlib.import_module(f"boxtrace.commands.{name}"), "main", record.command)
        for name in runtime_cli.COMMANDS:
            patch.setitem(runtime_cli.COMMANDS, name, record.runtime)
        patch.chdir(tmp)
        yield record
        assert os.getcwd() == tmp


@given(argvs(COMMANDS))
@example(["serve", "x", "--port", "99999999999999999999"])
@example(["lessons", "run"])
@example(["traces", "--last", "-1"])
@example(["runtime", "--log", "log", "--no-such-option"])
@example([])
@example(["runtime", "--log", "", "--no-such-option"])
def test_any_command_line(recorder: Recorder, argv: list[str]) -> None:
    recorder.calls.clear()
    status, out, err = run_argv(argv)
    assert "Traceback" not in err, (argv, err)
    own = argv[: argv.index("--")] if "--" in argv else argv
    if status == 2 and not err and (not own or own[0] == "runtime"):
        # No command named (`boxtrace`, `boxtrace -- x`, `boxtrace runtime --debug`): the help, on
        # stdout, and status 2.
        assert out.startswith("usage:"), (argv, out)
        return
    assert status in (0, 2), (argv, status, err)
    if status == 2:
        # the error, after any warnings (the runtime's --log that cannot be written)
        lines = [line for line in err.strip().splitlines() if ": warning: " not in line]
        assert len(lines) == 1 and "error" in lines[0], (argv, err)
        assert not recorder.calls, argv  # a usage error stops before the command runs
    elif recorder.calls:
        (called, _), *rest = recorder.calls
        assert not rest
        assert called.split()[0] == argv[0], (argv, called)
    else:  # --help, --version: printed, nothing run
        assert out and not err, (argv, out, err)
