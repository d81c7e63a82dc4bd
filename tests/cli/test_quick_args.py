"""boxtrace/quick_args.py reads `boxtrace trace`'s usual command lines as argparse does, and leaves
every other one to argparse."""

from __future__ import annotations

import itertools

import pytest

from boxtrace import cli
from boxtrace.quick_args import quick_run_args, quick_trace_args
from boxtrace.runtime.usage import split_command
from boxtrace.usage import UsageError

# Words the option lists below are combined from: each option, with good and bad values.
PIECES = [
    [],
    ["-q"],
    ["--quiet"],
    ["-o", "t.jsonl"],
    ["--output", "out dir/t.jsonl"],
    ["--output", ""],
    ["--all"],
    ["--plain"],
    ["--step"],
    ["--present"],
    ["--pace", "1.5"],
    ["--pace", "1_0"],
    ["--pace", "inf"],
    ["--grace", " 2 "],
    ["--grace", "0"],
    ["-p", "1"],
    ["--pid", "12"],
]
# What only argparse may read (abbreviations, joined forms, values that start with "-", bad
# numbers, --help, positional commands, other commands): the quick parser must answer None.
ARGPARSE_ONLY = [
    ["trace", "--out", "t.jsonl"],
    ["trace", "--output=t.jsonl"],
    ["trace", "-ot.jsonl"],
    ["trace", "-qo", "t.jsonl"],
    ["trace", "--qu"],
    ["trace", "-o"],
    ["trace", "-o", "-q"],
    ["trace", "--grace", "-1"],
    ["trace", "--grace", "soon"],
    ["trace", "--pid", "0x10"],
    ["trace", "--pid", "-"],
    ["trace", "-h"],
    ["trace", "--help"],
    ["trace", "/bin/true"],
    ["trace", "-q", "-o", "t", "sh", "-c", "true"],
    ["run", "-q", "-o", "t"],
    ["--version"],
    [],
]


def argparse_namespace(argv: list[str]) -> dict[str, object] | str:
    """What boxtrace's argparse parser makes of argv: the namespace's fields, or the usage error."""
    own, command_argv = split_command(argv)
    try:
        parsed = cli._parse(own, command_argv)
    except UsageError as exc:
        return f"error: {exc}"
    except SystemExit as exc:  # --help, --version
        return f"exit {exc.code}"
    assert parsed is not None
    return vars(parsed[0])


def option_lists() -> list[list[str]]:
    """Every pair of pieces in both orders (a repeated option included: the last one counts)."""
    return [a + b for a, b in itertools.product(PIECES, repeat=2)]


@pytest.mark.parametrize("tail", [["--", "/bin/true"], ["--", "sh", "-c", "echo -q"], ["--"]])
def test_quick_parser_gives_argparse_namespace(tail: list[str]) -> None:
    checked = 0
    for options in option_lists():
        argv = ["trace", *options, *tail]
        quick = quick_trace_args(*split_command(argv))
        assert quick is not None, argv
        assert vars(quick) == argparse_namespace(argv), argv
        checked += 1
    assert checked == len(PIECES) ** 2


@pytest.mark.parametrize("argv", ARGPARSE_ONLY, ids=" ".join)
def test_other_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert quick_trace_args(*split_command([*argv, "--", "/bin/true"])) is None
    assert quick_trace_args(*split_command(argv)) is None


def test_argparse_only_lines_are_errors_or_different_for_argparse() -> None:
    # The fallback is real: argparse reads these, and the bad ones are its one-line errors.
    assert argparse_namespace(["trace", "--grace", "soon", "--", "x"]) == (
        "error: argument --grace: invalid float value: 'soon' (see 'boxtrace trace --help')"
    )
    assert argparse_namespace(["trace", "--out", "t", "--", "x"])["output"] == "t"  # type: ignore[index]
    assert argparse_namespace(["trace", "--grace", "-1", "--", "x"])["grace"] == -1.0  # type: ignore[index]


# `boxtrace run`'s options (runtime/options.py, commands/run.py, tui_args.py), good and bad values.
RUN_PIECES = [
    [],
    ["/tmp/bundle"],
    ["--no-trace"],
    ["--memory", "64m"],
    ["-m", "1g"],
    ["--pids", "16"],
    ["--pids", " 2 "],
    ["--cpus", "0.5"],
    ["--hostname", "box"],
    ["--env", "A=1"],
    ["-e", "B=2"],
    ["--workdir", "/tmp"],
    ["-w", "/"],
    ["--user", "1000:1000"],
    ["-u", "nobody"],
    ["--rootless"],
    ["--keep"],
    ["--name", "c1"],
    ["--seccomp", "unconfined"],
    ["--without", "pivot_root"],
    ["-o", "t.jsonl"],
    ["--all"],
    ["--plain"],
    ["-q"],
    ["--step"],
    ["--present"],
    ["--pace", "1.5"],
]
RUN_ARGPARSE_ONLY = [
    ["run", "--mem", "64m"],
    ["run", "--memory=64m"],
    ["run", "-m64m"],
    ["run", "--pids", "many"],
    ["run", "--pids", "-1"],
    ["run", "--name"],
    ["run", "--env", "-x"],
    ["run", "a", "b"],
    ["run", ""],
    ["run", "-"],
    ["run", "--help"],
    ["run", "-h"],
    ["trace", "--no-trace"],
]


@pytest.mark.parametrize("tail", [["--", "/bin/true"], ["--", "sh", "-c", "echo -q"], []])
def test_quick_run_parser_gives_argparse_namespace(tail: list[str]) -> None:
    checked = 0
    for a, b in itertools.product(RUN_PIECES, repeat=2):
        if a == b == ["/tmp/bundle"]:
            continue  # two images: argparse's error, checked below
        argv = ["run", *a, *b, *tail]
        quick = quick_run_args(*split_command(argv))
        assert quick is not None, argv
        assert vars(quick) == argparse_namespace(argv), argv
        checked += 1
    assert checked == len(RUN_PIECES) ** 2 - 1


@pytest.mark.parametrize("argv", RUN_ARGPARSE_ONLY, ids=" ".join)
def test_other_run_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert quick_run_args(*split_command([*argv, "--", "/bin/true"])) is None
    assert quick_run_args(*split_command(argv)) is None


def test_two_images_are_argparse_s_error() -> None:
    assert str(argparse_namespace(["run", "a", "b"])).startswith("error: unrecognized arguments: b")
