"""The commands that only read (or write only inside the test's own directories) run for real on
fuzzed command lines: explain, traces, images, rmi, lessons list/show, export, merge, and pull with
its network step replaced. Their own checks of the parsed arguments (a reference's syntax, --last,
an unknown lesson, a missing trace file) end in exit status 0, 1 or 2 and one line on stderr, never a
traceback.

Safety: the commands that trace, run a container, serve, remove leftovers or open the TUI (run,
trace, replay, diff, serve, cleanup, runtime, lessons run) are not generated here (their parsing is
fuzzed in test_fuzz_cli_args.py); `pull` gets its argument checks and reference parsing, and then
``boxtrace.runtime.images.pull.pull`` is a stand-in that records the reference and returns nothing
pulled (status 1): no registry is contacted. The image store (BOXTRACE_STORE), the trace spool
(XDG_DATA_HOME, XDG_RUNTIME_DIR) and the working directory are temp dirs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given

from boxtrace.commands import COMMANDS
from boxtrace.runtime.images import pull as pull_module
from boxtrace.runtime.images.registry import RegistryError
from tests.fuzz.cli_argvs import argvs, run_argv

REAL = ("explain", "traces", "images", "rmi", "lessons", "export", "merge", "pull")


class _NoNetwork:
    def __init__(self) -> None:
        self.refs: list[Any] = []

    def __call__(self, ref: Any, *args: Any, **kwargs: Any) -> Any:
        self.refs.append(ref)
        raise RegistryError(f"not pulled: {ref} (the fuzz test contacts no registry)")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[_NoNetwork]:
    stand_in = _NoNetwork()
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory(prefix="fuzz-cli-real-") as tmp:
        for name in ("work", "store", "data", "run"):
            os.mkdir(os.path.join(tmp, name), 0o700)
        patch.setenv("BOXTRACE_STORE", os.path.join(tmp, "store"))
        patch.setenv("XDG_DATA_HOME", os.path.join(tmp, "data"))
        patch.setenv("XDG_RUNTIME_DIR", os.path.join(tmp, "run"))
        patch.setattr(pull_module, "pull", stand_in)
        patch.chdir(os.path.join(tmp, "work"))
        yield stand_in


@given(argvs(REAL, exclude=("lessons run",)))
@example(["pull", "UPPER/Case:tag"])
@example(["pull", "127.0.0.1:1/x:y"])
@example(["pull", "a@sha256:12"])
@example(["explain", "mount", "MS_NOPE", "--coverage"])
@example(["lessons", "show", "no-such-lesson"])
@example(["traces", "--last", "-3"])
@example(["rmi", "sha256:xyz"])
def test_read_only_commands_for_real(sandbox: _NoNetwork, argv: list[str]) -> None:
    # never a command that acts (a typo of one name must not be another command's name)
    assert not argv or argv[0] in REAL or argv[0] not in COMMANDS, argv
    assert argv[:2] != ["lessons", "run"], argv
    status, _, err = run_argv(argv)
    assert "Traceback" not in err, (argv, err)
    assert status in (0, 1, 2), (argv, status, err)
    if status != 0 and err:
        lines = [line for line in err.strip().splitlines() if ": warning: " not in line]
        # rmi, as docker rmi, says one line for each name it could not remove
        allowed = max(1, len(argv) - 1) if argv[0] == "rmi" else 1
        assert 1 <= len(lines) <= allowed, (argv, err)
