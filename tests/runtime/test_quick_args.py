"""runtime/quick_args.py reads podman's, conmon's and Docker's usual `boxtrace-runtime` command
lines as argparse does (runtime/cli.py's build_cli), and leaves every other one to argparse."""

from __future__ import annotations

import itertools

import pytest

from boxtrace.runtime.cli import build_cli
from boxtrace.runtime.quick_args import quick_oci_args
from boxtrace.runtime.usage import UsageError

GLOBALS = [
    [],
    ["--root", "/run/x"],
    ["--root=/run/y"],
    ["--log", "/tmp/log.json"],
    ["--log=/tmp/l"],
    ["--log-format", "json"],
    ["--log-format=text"],
    ["--debug"],
    ["--systemd-cgroup"],
    ["--rootless", "false"],
    ["--rootless=true"],
]
COMMANDS = [
    ["create", "--bundle", "/b", "c1"],
    ["create", "c1", "-b", "/b", "--pid-file", "/p"],
    ["create", "--bundle=/b", "--pid-file=/p", "--console-socket", "/s", "c1"],
    ["create", "--no-pivot", "--no-new-keyring", "--preserve-fds", "2", "c1"],
    ["create", "--preserve-fds=0", "c1"],
    ["create", "c1"],
    ["start", "c1"],
    ["state", "c1"],
    ["delete", "c1"],
    ["delete", "--force", "c1"],
    ["delete", "c1", "-f"],
    ["kill", "c1"],
    ["kill", "c1", "9"],
    ["kill", "--all", "c1", "SIGKILL"],
    ["kill", "-a", "c1", "KILL"],
]
ARGPARSE_ONLY = [
    [],
    ["--version"],
    ["--help"],
    ["start"],
    ["start", "a", "b"],
    ["start", ""],
    ["kill", "c1", "-9"],
    ["kill", "c1", "9", "x"],
    ["--syst", "start", "c1"],
    ["--root"],
    ["--root", "-x", "start", "c1"],
    ["--log-format", "yaml", "start", "c1"],
    ["--rootless", "maybe", "start", "c1"],
    ["--debug=1", "start", "c1"],
    ["create", "--bund", "/b", "c1"],
    ["create", "-b=/b", "c1"],
    ["create", "--preserve-fds", "two", "c1"],
    ["create", "--force", "c1"],
    ["delete", "--force=yes", "c1"],
    ["start", "--root", "/r", "c1"],
    ["--record", "start", "c1"],
    ["exec", "c1", "sh"],
    ["run", "-b", "/b", "c1"],
    ["pause", "c1"],
]


def argparse_namespace(argv: list[str]) -> dict[str, object] | str:
    try:
        return vars(build_cli().parse_args(argv))
    except UsageError as exc:
        return f"error: {exc}"
    except SystemExit as exc:  # --help
        return f"exit {exc.code}"


def test_quick_reader_gives_argparse_namespace() -> None:
    checked = 0
    for options, command in itertools.product(itertools.product(GLOBALS, repeat=2), COMMANDS):
        argv = [*options[0], *options[1], *command]
        quick = quick_oci_args(argv)
        assert quick is not None, argv
        assert vars(quick) == argparse_namespace(argv), argv
        checked += 1
    assert checked == len(GLOBALS) ** 2 * len(COMMANDS)


@pytest.mark.parametrize("argv", ARGPARSE_ONLY, ids=" ".join)
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert quick_oci_args(argv) is None


def test_the_fallback_is_argparse_s_error() -> None:
    assert str(argparse_namespace(["start", "a", "b"])).startswith("error: unrecognized arguments: b")
    assert argparse_namespace(["--syst", "start", "c1"])["systemd_cgroup"] is True  # type: ignore[index]
