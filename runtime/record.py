"""`boxtrace-runtime --record ...` (or BOXTRACE_RECORD=1): the same command, run again under
``boxtrace-runc``, which records what the runtime does to the trace spool (``boxtrace traces``)
without holding the caller up (docs/tracing.md). podman passes it as ``--runtime-flag record``,
Docker as ``"runtimeArgs": ["--record"]``.

The runtime layer does not import the tracer: recording is a re-exec, not a call.
"""

from __future__ import annotations

import os
import sys

RECORD_FLAG = "--record"
RECORD_ENV = "BOXTRACE_RECORD"
# The runtime's global options that take a value as the next argument.
_GLOBAL_WITH_VALUE = frozenset({"--root", "--log", "--log-format"})


def wants_recording(argv: list[str], environ: dict[str, str]) -> bool:
    return environ.get(RECORD_ENV) == "1" or RECORD_FLAG in _global_options(argv)


def _global_options(argv: list[str]) -> list[str]:
    """The arguments before the subcommand."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _GLOBAL_WITH_VALUE else 1
    return argv[:i]


def recorder_command(argv: list[str], me: str, environ: dict[str, str]) -> list[str]:
    """The command line that runs ``me argv`` under the recorder (``--record`` taken out)."""
    head = _global_options(argv)
    rest = [a for a in head if a != RECORD_FLAG] + argv[len(head) :]
    wrapper = os.path.join(os.path.dirname(me), "boxtrace-runc")
    # Not installed side by side (a checkout): the wrapper's module, with this interpreter.
    launcher = [wrapper] if os.access(wrapper, os.X_OK) else [sys.executable, "-m", "boxtrace.runc_wrapper"]
    return [*launcher, f"--boxtrace-runtime={me}", *rest]


def exec_recorded(argv: list[str]) -> None:
    """Replace this process with the recorded run of the same command; returns only on failure
    (OSError), or raises RuntimeError when this runtime cannot be named by a path."""
    me = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not (os.path.isfile(me) and os.access(me, os.X_OK)) or me.endswith(".py"):
        raise RuntimeError("--record needs boxtrace-runtime run as an installed command (not python -m)")
    command = recorder_command(argv, me, dict(os.environ))
    os.environ.pop(RECORD_ENV, None)  # the runtime run by the recorder must not record again
    os.execv(command[0], command)
