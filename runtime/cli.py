"""`boxtrace-runtime`: the built-in runtime on its own, without the tracer (what `boxtrace run`
starts under ptrace), and an OCI runtime with runc's command line for podman and Docker.

    boxtrace-runtime [--root DIR] [--log FILE] [--log-format text|json] COMMAND ...

Imports stdlib only, so that it starts as fast as possible; each command imports what it uses.
"""

from __future__ import annotations

import os
import sys

from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.machine import unsupported
from boxtrace.runtime.oci_log import LOG_FORMATS, RuntimeLog
from boxtrace.runtime.options import add_run_arguments, options_from_args
from boxtrace.runtime.quick_args import quick_oci_args
from boxtrace.runtime.usage import UsageError, exit_at_once, fail_usage, split_command

# typing costs milliseconds of every start; argparse (with re, enum, gettext) and json are
# imported only by the commands and command lines that need them (runtime/quick_args.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from boxtrace.runtime.container import Container
    from boxtrace.runtime.parser import OneLineParser

PROG = "boxtrace-runtime"


# --- the parser ---------------------------------------------------------------------------------------


def _add_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="CONTAINER_ID", help="the container's id")


def _add_create_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle", "-b", metavar="DIR", help="the bundle: a directory with config.json (default: here)"
    )
    parser.add_argument("--pid-file", metavar="FILE", help="write the container's first pid to FILE")
    parser.add_argument(
        "--console-socket",
        metavar="SOCKET",
        help="unix socket that receives the pty master (process.terminal: true), as runc sends it",
    )
    parser.add_argument(
        "--no-pivot", action="store_true", help="move the rootfs over / and chroot instead of pivot_root"
    )
    parser.add_argument("--no-new-keyring", action="store_true", help="keep the caller's session keyring")
    parser.add_argument(
        "--preserve-fds", metavar="N", type=int, default=0, help="pass N more fds (3, 4, ...) to the process"
    )


def _add_exec_arguments(parser: argparse.ArgumentParser) -> None:
    """runc exec's flags (runc-exec(8)); --process replaces the command and the process flags."""
    import argparse

    for flags, kwargs in (
        (("--process", "-p"), {"metavar": "FILE", "help": "the process as OCI JSON (podman, containerd)"}),
        (("--tty", "-t"), {"action": "store_true", "help": "allocate a pseudo-terminal"}),
        (("--console-socket",), {"metavar": "SOCKET", "help": "with --detach --tty: gets the pty master"}),
        (("--pid-file",), {"metavar": "FILE", "help": "write the new process's pid to FILE"}),
        (("--detach", "-d"), {"action": "store_true", "help": "do not wait for the process"}),
        (("--cwd",), {"metavar": "DIR", "help": "working directory in the container"}),
        (
            ("--env", "-e"),
            {"metavar": "NAME=VALUE", "action": "append", "default": [], "help": "add a variable"},
        ),
        (("--user", "-u"), {"metavar": "UID[:GID]", "help": "run as this user (numbers)"}),
        (
            ("--additional-gids", "-g"),
            {"metavar": "GID", "type": int, "action": "append", "default": [], "help": "add a group"},
        ),
        (("--cap", "-c"), {"metavar": "CAP", "action": "append", "default": [], "help": "add a capability"}),
        (("--no-new-privs",), {"action": "store_true", "help": "set no_new_privs for the process"}),
        (
            ("--preserve-fds",),
            {"metavar": "N", "type": int, "default": 0, "help": "pass N more fds (3, ...)"},
        ),
        (("--ignore-paused",), {"action": "store_true", "help": "exec even into a paused container"}),
    ):
        parser.add_argument(*flags, **kwargs)
    _add_id(parser)
    parser.add_argument(
        "exec_command", nargs=argparse.REMAINDER, metavar="COMMAND", help="the command and its arguments"
    )


def _add_update_arguments(parser: argparse.ArgumentParser) -> None:
    """runc update's flags for the limits boxtrace writes (see runtime/oci_update.py)."""
    parser.add_argument(
        "--resources",
        "-r",
        metavar="FILE",
        help="OCI linux.resources JSON ('-': stdin, as containerd passes it); other flags are then ignored",
    )
    for flag, what in (
        ("--memory", "memory limit: bytes or 64m, 1g; -1 for none"),
        ("--memory-swap", "memory plus swap limit; -1 for unlimited swap"),
        ("--cpu-share", "CPU shares (relative weight)"),
        ("--cpu-quota", "CFS quota in microseconds per period; -1 for none"),
        ("--cpu-period", "CFS period in microseconds"),
        ("--pids-limit", "maximum number of processes; -1 for none"),
    ):
        parser.add_argument(flag, metavar="VALUE", help=what)
    _add_id(parser)


def build_cli() -> OneLineParser:
    from boxtrace.runtime.parser import build_parser

    parser = build_parser(
        PROG,
        description=(
            "boxtrace's built-in container runtime, untraced; with runc's commands it is an OCI "
            "runtime for podman (--runtime) and Docker (--add-runtime)."
        ),
        epilog=(
            "Commands create, start, state, kill, delete, exec, pause, resume, update work like "
            "runc's; see docs/runtime.md."
        ),
    )
    parser.add_argument("--version", "-v", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--root", metavar="DIR", help="where container state is kept (default /run/boxtrace-runtime)"
    )
    parser.add_argument("--log", metavar="FILE", help="write warnings and errors to FILE (default stderr)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="text or json (runc's)")
    parser.add_argument("--debug", action="store_true", help="log what each command does")
    parser.add_argument(
        "--record",
        action="store_true",
        help="record this command with boxtrace's tracer into the trace spool (as BOXTRACE_RECORD=1)",
    )
    parser.add_argument(
        "--systemd-cgroup",
        action="store_true",
        help="accepted for runc compatibility: cgroupsPath 'slice:prefix:name' is written with cgroupfs",
    )
    parser.add_argument(
        "--rootless",
        dest="global_rootless",
        choices=("auto", "true", "false"),
        default="auto",
        help="rootless mode (runc's flag)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run_parser = sub.add_parser(
        "run",
        help="run a container and wait for it (runc form: run -b BUNDLE ID)",
        description=(
            "Run a container in one process. Two forms: 'run [options] [IMAGE] [-- CMD]' (as "
            "'boxtrace run --no-trace'), or runc's 'run --bundle DIR [--detach] ID', which keeps "
            "its state under --root so that state, kill and delete see it."
        ),
    )
    add_run_arguments(run_parser)
    runc_form = run_parser.add_argument_group("runc form (with --bundle)")
    for flag, kwargs in (
        (("--bundle", "-b"), {"metavar": "DIR", "help": "run this bundle; IMAGE is then the container id"}),
        (("--pid-file",), {"metavar": "FILE", "help": "write the container's first pid to FILE"}),
        (("--detach", "-d"), {"action": "store_true", "help": "create and start, do not wait"}),
        (("--console-socket",), {"metavar": "SOCKET", "help": "see create"}),
        (("--no-pivot",), {"action": "store_true", "help": "see create"}),
        (("--no-new-keyring",), {"action": "store_true", "help": "see create"}),
        (("--preserve-fds",), {"metavar": "N", "type": int, "default": 0, "help": "see create"}),
    ):
        runc_form.add_argument(*flag, **kwargs)

    create = sub.add_parser("create", help="create a container; its process waits for start")
    _add_create_arguments(create)
    _add_id(create)
    _add_id(sub.add_parser("start", help="let a created container's process run"))
    _add_id(sub.add_parser("state", help="print a container's state as JSON"))
    kill = sub.add_parser("kill", help="send a signal to a container's process (default SIGTERM)")
    kill.add_argument("--all", "-a", action="store_true", help="signal every process in its cgroup")
    _add_id(kill)
    kill.add_argument("signal", nargs="?", default="SIGTERM", metavar="SIGNAL", help="9, KILL or SIGKILL")
    delete = sub.add_parser("delete", help="remove a container (killing it first with --force)")
    delete.add_argument("--force", "-f", action="store_true", help="kill a running container first")
    _add_id(delete)
    ps = sub.add_parser("ps", help="list a container's processes (ps options after --)")
    ps.add_argument("--format", "-f", choices=("table", "json"), default="table")
    _add_id(ps)
    sub.add_parser("list", help="list the containers under --root")
    _add_exec_arguments(sub.add_parser("exec", help="run one more process in a running container"))
    _add_id(sub.add_parser("pause", help="freeze every process of a container"))
    _add_id(sub.add_parser("resume", help="thaw a paused container"))
    _add_update_arguments(sub.add_parser("update", help="change a container's memory, CPU and pids limits"))
    spec = sub.add_parser("spec", help="write a config.json like runc spec")
    spec.add_argument("--bundle", "-b", metavar="DIR", default=".", help="where to write it (default: here)")
    spec.add_argument("--rootless", action="store_true", help="a spec for running without root")
    sub.add_parser("features", help="print what this runtime supports, as JSON (runc features)")
    return parser


# --- commands -----------------------------------------------------------------------------------------


def _root(args: argparse.Namespace) -> str:
    from boxtrace.runtime.state import oci_state_root

    return args.root or oci_state_root()


def _rootless(args: argparse.Namespace) -> bool | None:
    return {"auto": None, "true": True, "false": False}[args.global_rootless]


def _no_command_after_dashes(args: argparse.Namespace, after: list[str]) -> None:
    if after:
        raise UsageError(f"{args.command} takes nothing after '--' (see '{PROG} {args.command} --help')")


def _container_from_args(
    args: argparse.Namespace, root: str, container_id: str, log: RuntimeLog
) -> Container:
    """The Container of `create` and of runc's `run --bundle DIR ID`: the same flags."""
    from boxtrace.runtime import oci

    return oci.build_container(
        root,
        container_id,
        args.bundle,
        pid_file=args.pid_file,
        console_socket=args.console_socket,
        no_pivot=args.no_pivot,
        no_new_keyring=args.no_new_keyring,
        preserve_fds=args.preserve_fds,
        rootless=_rootless(args),
        warn=log.warning,
    )


def cmd_create(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    container = _container_from_args(args, _root(args), args.id, log)
    oci.create(container)
    log.debug(f"create {args.id}: pid {container.pid} waits on exec.fifo")
    return 0


def cmd_start(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    oci.start(_root(args), args.id, log.warning)
    log.debug(f"start {args.id}")
    return 0


def cmd_state(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    import json  # with indent: the json package's encoder

    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    print(json.dumps(oci.state(_root(args), args.id), indent=2))
    return 0


def cmd_kill(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    oci.kill(_root(args), args.id, oci.parse_signal(args.signal), all_processes=args.all)
    return 0


def cmd_delete(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    oci.delete(_root(args), args.id, force=args.force, warn=log.warning)
    return 0


def cmd_ps(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _, facts = oci.load_state(_root(args), args.id)
    pids = oci.container_pids(facts)
    if args.format == "json":
        import json

        print(json.dumps(pids))
        return 0
    import subprocess

    result = subprocess.run(["ps", *(after or ["-ef"])], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContainerError(f"ps {' '.join(after or ['-ef'])}: {result.stderr.strip()}", 1)
    lines = result.stdout.splitlines()
    header = lines[0].split() if lines else []
    if "PID" not in header:
        raise ContainerError("ps printed no PID column: give ps options that include it", 1)
    column = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            print(line)
    return 0


def cmd_list(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED")]
    for entry in oci.list_containers(_root(args)):
        rows.append((entry["id"], str(entry["pid"]), entry["status"], entry["bundle"], entry["created"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_exec(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    """runc's exit codes: the process's status, or 255 when exec itself failed."""
    from boxtrace.runtime import oci_exec

    # Everything after the container id is the command, a "--" in it included (main split it off).
    given = args.exec_command
    command = [*given, "--", *after] if given and after else [*given, *after]
    if args.process and command:
        raise UsageError(f"exec takes a command or --process, not both (see '{PROG} exec --help')", PROG)
    if not args.process and not command:
        raise UsageError(
            f"exec needs a command after the container id, or --process FILE ({PROG} exec ID sh)", PROG
        )
    opts = oci_exec.ExecOptions(
        command=command,
        process_file=args.process,
        tty=args.tty,
        console_socket=args.console_socket,
        pid_file=args.pid_file,
        detach=args.detach,
        cwd=args.cwd,
        env=args.env,
        user=args.user,
        additional_gids=args.additional_gids,
        caps=args.cap,
        no_new_privs=args.no_new_privs,
        preserve_fds=args.preserve_fds,
        ignore_paused=args.ignore_paused,
    )
    try:
        container = oci_exec.build_exec_container(_root(args), args.id, opts, log.warning)
        return oci_exec.exec_in_container(container, args.detach)
    except (ContainerError, RuntimeUsageError, OSError) as exc:
        log.error(f"exec failed: {exc}")
        return oci_exec.EXEC_FAILED_EXIT


def cmd_pause(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    oci.pause(_root(args), args.id)
    return 0


def cmd_resume(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci

    _no_command_after_dashes(args, after)
    oci.resume(_root(args), args.id)
    return 0


def cmd_update(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import oci_update

    _no_command_after_dashes(args, after)
    if args.resources is not None:
        changes = oci_update.changes_from_json(oci_update.read_resources(args.resources))
    else:
        changes = oci_update.changes_from_flags(
            memory=args.memory,
            memory_swap=args.memory_swap,
            cpu_shares=args.cpu_share,
            cpu_quota=args.cpu_quota,
            cpu_period=args.cpu_period,
            pids_limit=args.pids_limit,
        )
    oci_update.update(_root(args), args.id, changes, log.warning)
    return 0


def cmd_spec(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime.spec_template import write_spec

    _no_command_after_dashes(args, after)
    write_spec(args.bundle, args.rootless)
    return 0


def cmd_features(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    import json

    from boxtrace.runtime.features import features

    _no_command_after_dashes(args, after)
    print(json.dumps(features(), indent=4))
    return 0


def cmd_run(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    if args.bundle is None:
        for flag in ("pid_file", "console_socket"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} needs the runc form: run --bundle DIR ID", PROG)
        if "list" in args.without:
            from boxtrace.runtime.left_out import listing

            print(listing(), end="")
            return 0
        opts = options_from_args(args, after)
        from boxtrace.runtime.launch import run_with_options

        return run_with_options(opts)
    return _run_runc_form(args, after, log)


def _run_runc_form(args: argparse.Namespace, after: list[str], log: RuntimeLog) -> int:
    from boxtrace.runtime import container as container_steps
    from boxtrace.runtime import oci

    if args.image is None:
        raise UsageError(f"run --bundle needs a container id: {PROG} run --bundle DIR ID", PROG)
    _no_command_after_dashes(args, after)
    root = _root(args)
    container = _container_from_args(args, root, args.image, log)
    if args.detach:
        oci.create(container)
        oci.start(root, container.id, log.warning)
        return 0
    try:
        return container_steps.run(container)
    except ContainerError as exc:
        log.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; the container was removed")
        return 130


COMMANDS: dict[str, Callable[[argparse.Namespace, list[str], RuntimeLog], int]] = {
    "create": cmd_create,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "ps": cmd_ps,
    "list": cmd_list,
    "spec": cmd_spec,
    "features": cmd_features,
    "run": cmd_run,
    "exec": cmd_exec,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "update": cmd_update,
}


def _log_from_argv(argv: list[str]) -> RuntimeLog:
    """--log and --log-format read before parsing: a usage error is logged too (podman reads it)."""
    path, log_format = None, "text"
    for i, arg in enumerate(argv):
        value = argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("--log="):
            path = arg.split("=", 1)[1]
        elif arg == "--log":
            path = value
        elif arg.startswith("--log-format="):
            log_format = arg.split("=", 1)[1]
        elif arg == "--log-format" and value in LOG_FORMATS:
            log_format = value
    return RuntimeLog(path, log_format if log_format in LOG_FORMATS else "text")


def print_version() -> None:
    import platform

    from boxtrace.runtime.spec_template import OCI_VERSION

    try:
        from importlib.metadata import version

        ours = version("boxtrace")
    except Exception:  # not installed as a distribution (a source tree on sys.path)
        ours = "unknown"
    print(f"{PROG} version {ours}\nspec: {OCI_VERSION}\npython: {platform.python_version()}")


# Subcommands after which the interpreter's teardown is skipped when run as a program (podman and
# Docker call the runtime several times per container; each call is a process).
_EXIT_AT_ONCE = frozenset({"run", "create", "start", "exec", "kill", "delete", "state"})
# Commands that make syscalls by number or compile seccomp filters: they need this machine's tables.
_MAKES_CONTAINERS = frozenset({"run", "create", "exec"})


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C while the modules loaded: boxtrace/__init__.py's one-line exit. From here on it is a
    # KeyboardInterrupt again, which every command handles (stdlib only: no boxtrace import here).
    # _signal, signal's C part: signal.py's enums cost every call ~16 M instructions.
    if TYPE_CHECKING:
        import signal
    else:
        import _signal as signal

    if getattr(signal.getsignal(signal.SIGINT), "__name__", "") == "_interrupted_while_loading":
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = _main(argv)
    except KeyboardInterrupt:
        # A Ctrl-C before a command's own handling (while the parser's modules load): once a
        # command runs, it handles Ctrl-C itself and cleans up what it made.
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    if argv is None:
        own, _ = split_command(list(sys.argv[1:]))
        if _EXIT_AT_ONCE & set(own):
            exit_at_once(status)
    return status


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    from boxtrace.runtime import record

    if record.wants_recording(args_list, dict(os.environ) if argv is None else {}):
        if argv is not None:  # called as a function (`boxtrace runtime`): there is no command to re-run
            return fail_usage(PROG, "--record works only with the boxtrace-runtime command")
        try:
            record.exec_recorded(args_list)
        except (RuntimeError, OSError) as exc:
            return fail_usage(PROG, f"--record: {exc}")
    own, after = split_command(args_list)
    try:
        # The quick reader's namespace has the same fields as argparse's (tests/runtime/test_quick_args.py).
        args: argparse.Namespace = quick_oci_args(own) or build_cli().parse_args(own)  # type: ignore[assignment]
    except UsageError as exc:
        _log_from_argv(own).error(str(exc), to_stderr=False)
        return fail_usage(exc.prog, str(exc))
    log = RuntimeLog(args.log, args.log_format, args.debug)
    if args.version:
        print_version()
        return 0
    if args.command is None:
        build_cli().print_help()
        return 2
    problem = unsupported() if args.command in _MAKES_CONTAINERS else None
    if problem is not None:
        log.error(problem, to_stderr=False)
        return fail_usage(f"{PROG} {args.command}", problem)
    try:
        return COMMANDS[args.command](args, after, log)
    except UsageError as exc:
        log.error(str(exc))
        return 2
    except RuntimeUsageError as exc:
        if args.command == "run" and args.bundle is None:
            return fail_usage(f"{PROG} run", str(exc))
        log.error(str(exc))  # a bad bundle or a duplicate id: runc exits 1 for these
        return 1
    except ContainerError as exc:
        log.error(str(exc))
        return 1
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except OSError as exc:
        log.error(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
