"""`boxtrace run`: run a container with the built-in runtime, traced (default) or not."""

from __future__ import annotations

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.options import add_run_arguments, options_from_args
from boxtrace.tui_args import add_trace_arguments, check_tui_arguments
from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms: `boxtrace run` starts the runtime and must start fast
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace
    from typing import Any

DESCRIPTION = """\
Run a container with boxtrace's built-in runtime and show every namespace, mount and cgroup
system call it makes to build it.

IMAGE is an OCI runtime bundle (a directory with config.json, as 'runc spec' makes), an OCI image
layout (DIR or DIR:TAG), a 'docker save' archive, a rootfs tarball or directory, or an image in the
local store ('boxtrace images'); without it the embedded default image is used (busybox).
The container's command goes after --. On a terminal the trace opens in the TUI; --plain (or a
pipe) prints it as annotated lines. The exit status is the container's (128+N when killed by signal N).

examples:
  boxtrace run                                  the default container, explained
  boxtrace run -- sh -c 'echo hi; hostname'     your own command in the default image
  boxtrace run --memory 64m --pids 32 -- sh     with limits
  boxtrace run --step -- sh -c 'echo hi'        held before the first call: step with n
  boxtrace run --no-trace ./bundle              just run an OCI bundle, like runc run
  boxtrace run ./alpine-oci:latest -- ls /      an OCI image layout (skopeo copy ... oci:DIR:TAG)
  boxtrace run --without pivot_root             leave a step out and see what breaks (--without list)
"""


def add_parser(sub: Any) -> str:
    import argparse  # not on the quick path (boxtrace/quick_args.py): ~5 M instructions

    parser = sub.add_parser(
        "run",
        help="run a container and explain how it is built",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="boxtrace run [IMAGE] [options] [-- CMD [ARG...]]",
    )
    add_run_arguments(parser)
    tracing = parser.add_argument_group("tracing")
    tracing.add_argument("--no-trace", action="store_true", help="run the container without tracing it")
    add_trace_arguments(tracing)
    return "run"


def main(args: argparse.Namespace | SimpleNamespace) -> int:
    if "list" in args.without:
        from boxtrace.runtime.left_out import listing

        print("Steps 'boxtrace run --without STEP' can leave out (the container is deliberately weakened):")
        print(listing(), end="")
        return 0
    try:
        opts = options_from_args(args, list(args.command_argv))
    except RuntimeUsageError as exc:
        raise UsageError(str(exc), prog="boxtrace run") from None
    if opts.without:
        from boxtrace.without import with_probes

        opts = with_probes(opts)
    if args.no_trace:
        if args.output or args.all or args.step or args.present or args.quiet:
            raise UsageError(
                "-o, --all, --quiet, --step and --present need tracing: drop --no-trace", prog="boxtrace run"
            )
        from boxtrace.runtime.launch import run_with_options

        # The collector stays off through the container's start, as in boxtrace-runtime: the
        # runtime turns it on once it waits for the container (runtime/container.py).
        return run_with_options(opts)

    from boxtrace.runtime.options import runtime_argv
    from boxtrace.tracing import check_output_path, trace_plain, trace_tui, use_tui

    if args.output is not None:
        check_output_path(args.output, "boxtrace run")
    # The runtime runs as its own process under the tracer: what is traced is exactly what
    # `boxtrace run --no-trace` (or `boxtrace-runtime run`) does.
    command = [*_runtime_command(), "run", *runtime_argv(opts)]
    if check_tui_arguments(args, use_tui(args.plain), "boxtrace run"):
        return trace_tui(
            command,
            "boxtrace run",
            all_syscalls=args.all,
            output=args.output,
            grace=5.0,
            step=args.step,
            present=args.present,
            pace=args.pace,
        )
    return trace_plain(
        command, "boxtrace run", all_syscalls=args.all, output=args.output, grace=5.0, quiet=args.quiet
    )


def _runtime_command() -> list[str]:
    """The installed ``boxtrace-runtime`` beside this ``boxtrace`` (or this interpreter, in a
    venv): it starts from its module pack and reads as itself in the trace. ``python -m
    boxtrace.runtime`` (runpy, no pack: ~3 ms more a traced run) where there is none, as when
    boxtrace itself runs as ``python -m boxtrace``."""
    import os
    import sys

    places = [os.path.dirname(sys.executable)]
    if os.path.basename(sys.argv[0]) == "boxtrace":
        places.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    for place in places:
        script = os.path.join(place, "boxtrace-runtime")
        if os.path.isfile(script) and os.access(script, os.X_OK):
            return [script]
    return [sys.executable, "-m", "boxtrace.runtime"]
