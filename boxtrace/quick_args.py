"""`boxtrace trace`'s and `boxtrace run`'s options read without argparse, for the usual command
lines only.

argparse costs a third of `boxtrace trace -q -o FILE -- CMD`'s start-up (docs/benchmarks.md,
"Start-up"): its import pulls in re, gettext, enum and, on the first add_argument, shutil with
bz2 and lzma; building the parser calls gettext's catalogue look-up for every help string. A
command line made only of `trace`'s own options, each spelled in full and followed by its value
as the next word, is read here into the namespace argparse would give (tests/cli/test_quick_args.py
compares the two on many command lines). Anything else (--help, an abbreviation, `--opt=value`,
joined short options, a value that starts with "-", a bad number, a command without "--", a second
IMAGE) returns None, and argparse reads it: its errors and help stay the only ones. `boxtrace run
--no-trace` is the runtime's own start: argparse was a fifth of its instructions.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import SimpleNamespace
else:
    # What types.py itself defines it as, without importing types (~0.9 M instructions).
    SimpleNamespace = type(sys.implementation)

# `boxtrace trace`'s options as commands/trace.py and tui_args.py declare them to argparse:
# option -> (destination, converter of its value; None for a flag that stores True).
# The tracing options `trace` and `run` share (tui_args.py and each command's -o/--all/-q).
_TRACING_OPTIONS: dict[str, tuple[str, type | None]] = {
    "-o": ("output", str),
    "--output": ("output", str),
    "--all": ("all", None),
    "--plain": ("plain", None),
    "-q": ("quiet", None),
    "--quiet": ("quiet", None),
    "--step": ("step", None),
    "--present": ("present", None),
    "--pace": ("pace", float),
}
_TRACING_DEFAULTS: dict[str, object] = {
    "output": None,
    "all": False,
    "plain": False,
    "quiet": False,
    "step": False,
    "present": False,
    "pace": 3.0,
}
_OPTIONS: dict[str, tuple[str, type | None]] = {
    **_TRACING_OPTIONS,
    "-p": ("pid", int),
    "--pid": ("pid", int),
    "--grace": ("grace", float),
}
# argparse's defaults for them (the same declarations).
_DEFAULTS: dict[str, object] = {**_TRACING_DEFAULTS, "pid": None, "grace": 5.0}


def quick_trace_args(own: list[str], command_argv: list[str]) -> SimpleNamespace | None:
    """The namespace of `boxtrace trace OPTIONS -- CMD...` (``own`` is what comes before "--",
    ``command_argv`` what follows it), or None when argparse must read the command line."""
    if own[:1] != ["trace"]:
        return None
    values: dict[str, object] = dict(_DEFAULTS)
    words = iter(own[1:])
    for word in words:
        option = _OPTIONS.get(word)
        if option is None or not _read_option(option, words, values, {}):
            return None
    return SimpleNamespace(command="trace", cmd=[], command_argv=command_argv, **values)


def _read_option(
    option: tuple[str, type | None],
    words: Iterator[str],
    values: dict[str, object],
    lists: dict[str, list[str]],
) -> bool:
    """Store one option (taking its value from the next word); False when argparse must read the
    command line (no value, a value that looks like an option, a bad number)."""
    dest, convert = option
    if convert is None:
        values[dest] = True
        return True
    value = next(words, None)
    if value is None or value.startswith("-"):
        return False
    if convert is list:
        lists[dest].append(value)
        return True
    try:
        values[dest] = convert(value)
    except ValueError:
        return False
    return True


# `boxtrace run`'s options as runtime/options.py (add_run_arguments), commands/run.py and
# tui_args.py declare them; a list destination is argparse's action="append".
_RUN_OPTIONS: dict[str, tuple[str, type | None]] = {
    "--memory": ("memory", str),
    "-m": ("memory", str),
    "--pids": ("pids", int),
    "--cpus": ("cpus", str),
    "--hostname": ("hostname", str),
    "--env": ("env", list),
    "-e": ("env", list),
    "--workdir": ("workdir", str),
    "-w": ("workdir", str),
    "--user": ("user", str),
    "-u": ("user", str),
    "--rootless": ("rootless", None),
    "--keep": ("keep", None),
    "--name": ("name", str),
    "--seccomp": ("seccomp", str),
    "--without": ("without", list),
    "--no-trace": ("no_trace", None),
    **_TRACING_OPTIONS,
}
_RUN_DEFAULTS: dict[str, object] = {
    "memory": None,
    "pids": None,
    "cpus": None,
    "hostname": None,
    "workdir": None,
    "user": None,
    "rootless": False,
    "keep": False,
    "name": None,
    "seccomp": None,
    "no_trace": False,
    **_TRACING_DEFAULTS,
}


def quick_run_args(own: list[str], command_argv: list[str]) -> SimpleNamespace | None:
    """The namespace of `boxtrace run [IMAGE] OPTIONS [-- CMD...]`, or None when argparse must
    read the command line."""
    if own[:1] != ["run"]:
        return None
    values: dict[str, object] = dict(_RUN_DEFAULTS)
    lists: dict[str, list[str]] = {"env": [], "without": []}
    image: str | None = None
    words = iter(own[1:])
    for word in words:
        if not word.startswith("-"):
            if image is not None or not word:
                return None
            image = word
            continue
        option = _RUN_OPTIONS.get(word)
        if option is None or not _read_option(option, words, values, lists):
            return None
    return SimpleNamespace(command="run", image=image, **lists, **values, command_argv=command_argv)
