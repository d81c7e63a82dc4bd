"""``boxtrace-runc``: an OCI runtime for podman and Docker that runs the real runc under boxtrace's
tracer and records what it does to the trace spool (``boxtrace traces`` lists the recordings).

    podman --runtime /usr/local/bin/boxtrace-runc run --rm IMAGE ...
    dockerd --add-runtime boxtrace=/usr/local/bin/boxtrace-runc ... ; docker run --runtime boxtrace ...

The caller must not be held up. ``runc create`` returns as soon as runc's own main process exits,
leaving the container's init waiting for ``runc start``; a plain ``strace -f runc create`` keeps the
caller waiting for the container's whole life, and Docker deadlocks on that. So this process forks a
recorder that traces runc in the background and tells this process runc's exit status the moment
runc's main process ends; this process exits with it. The recorder goes on tracing the container's
init until it execs the container's program (in the container's mount namespace), detaches from it
there, and files the trace. It installs no seccomp filter (a filter would stay in the container and
fail its calls with ENOSYS once detached), so runc stops at every syscall while recorded.

Options go among runc's global options, before the subcommand (where Docker's runtimeArgs and
podman's --runtime-flag put them), or come from the environment (podman does not pass its own
environment on to the runtime; Docker does):
  --boxtrace-runtime=PATH   the runtime to run (BOXTRACE_RUNTIME; default: runc on PATH)
  --boxtrace-spool=DIR      where traces go (BOXTRACE_SPOOL; default /var/lib/boxtrace/traces)
  --boxtrace-record=LIST    subcommands recorded, comma-separated (BOXTRACE_RECORD_COMMANDS;
                            default create,run,start,exec,delete; "none" records nothing)
Other subcommands (state, kill, features, ...) run the runtime directly, untraced.
"""

from __future__ import annotations

import os
import sys

from boxtrace import loaded

PROG = "boxtrace-runc"
DEFAULT_RECORD = "create,run,start,exec,delete"
# runc's subcommands that start no process meant to outlive runc (the others, create, run, exec,
# restore, and any unknown one, may leave a container process running): recorded with the seccomp
# filter, a few dozen stops instead of ~1,000 (docs/benchmarks.md, "## podman").
_NO_CONTAINER_PROCESS = frozenset({"start", "delete", "kill", "pause", "resume", "state", "update"})
# runc's global options that take a value as the next argument (runc main.go).
_GLOBAL_WITH_VALUE = frozenset({"--root", "--log", "--log-format", "--criu", "--rootless"})
# Subcommands whose container is removed again when our caller dies before it got their status.
_MAKES_CONTAINERS = frozenset({"create", "run"})


class WrapperError(Exception):
    """A configuration problem: one line, exit 2."""


def split_own_options(argv: list[str], environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Our ``--boxtrace-NAME=VALUE`` options (over the environment), and runc's arguments.

    Ours may sit anywhere among runc's global options, before the subcommand: podman appends its
    ``--runtime-flag`` flags after its own ``--root``/``--log``."""
    settings = {
        "runtime": environ.get("BOXTRACE_RUNTIME", ""),
        "spool": environ.get("BOXTRACE_SPOOL", ""),
        "record": environ.get("BOXTRACE_RECORD_COMMANDS", DEFAULT_RECORD),
    }
    keys = {"--boxtrace-runtime": "runtime", "--boxtrace-spool": "spool", "--boxtrace-record": "record"}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):  # the subcommand: everything from here on is runc's
            rest += argv[i:]
            break
        if not arg.startswith("--boxtrace-"):
            rest.append(arg)
            if arg in _GLOBAL_WITH_VALUE and i + 1 < len(argv):
                rest.append(argv[i + 1])
                i += 1
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in keys:
            raise WrapperError(f"unknown option {name} (known: {', '.join(sorted(keys))})")
        if not eq:
            if i + 1 >= len(argv):
                raise WrapperError(f"{name} needs a value ({name}=VALUE)")
            i += 1
            value = argv[i]
        settings[keys[name]] = value
        i += 1
    return settings, rest


def _subcommand_index(args: list[str]) -> int:
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            break
        if arg in _GLOBAL_WITH_VALUE:
            i += 1
        i += 1
    return i


def subcommand(args: list[str]) -> tuple[str, str]:
    """runc's subcommand and the container id (its last positional argument), '' if none."""
    i = _subcommand_index(args)
    if i >= len(args):
        return "", ""
    positional = [a for a in args[i + 1 :] if not a.startswith("-")]
    return args[i], positional[-1] if positional else ""


def undo_command(runtime: str, args: list[str]) -> list[str] | None:
    """What removes the container a ``create`` or ``run`` makes, with the same global options
    (--root ...): run by the recorder when our caller dies before it got the runtime's status."""
    sub, container = subcommand(args)
    if sub not in _MAKES_CONTAINERS or not container:
        return None
    return [runtime, *args[: _subcommand_index(args)], "delete", "--force", container]


def find_runtime(configured: str, environ: dict[str, str]) -> str:
    """The runtime to run: as configured, else runc on PATH (never this wrapper itself)."""
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if configured:
        candidates = [configured] if "/" in configured else _on_path(configured, environ)
    else:
        candidates = _on_path("runc", environ)
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK) and os.path.realpath(path) != me:
            return path
    raise WrapperError(
        f"cannot find the runtime {configured or 'runc'} (set --boxtrace-runtime=PATH or BOXTRACE_RUNTIME)"
    )


def _on_path(name: str, environ: dict[str, str]) -> list[str]:
    return [os.path.join(d or ".", name) for d in environ.get("PATH", os.defpath).split(os.pathsep)]


def main(argv: list[str] | None = None) -> int:
    loaded()
    args = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ)
    try:
        settings, runc_args = split_own_options(args, environ)
        runtime = find_runtime(settings["runtime"], environ)
    except WrapperError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    sub, container = subcommand(runc_args)
    recorded = {s.strip() for s in settings["record"].split(",")}
    if sub not in recorded:
        os.execv(runtime, [runtime, *runc_args])
    if settings["spool"]:
        os.environ["BOXTRACE_SPOOL"] = settings["spool"]
    label = "-".join(p for p in (os.path.basename(runtime), sub, container) if p)
    from boxtrace.recorder import record_in_background

    return record_in_background(
        [runtime, *runc_args],
        label,
        PROG,
        starts_container=sub not in _NO_CONTAINER_PROCESS,
        undo=undo_command(runtime, runc_args),
    )


if __name__ == "__main__":
    sys.exit(main())
