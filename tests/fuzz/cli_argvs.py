"""Command lines for the fuzz tests of boxtrace's argument parsing, made from each command's option
table (argparse's actions): its options with valid, invalid and missing values, unknown options,
stray words, "--", subcommands. Words contain no "/" (nothing a command may write leaves the test's
working directory) and no NUL (not in an argv)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io

from hypothesis import strategies as st

from boxtrace.cli import main
from boxtrace.commands import COMMANDS
from boxtrace.runtime import cli as runtime_cli
from boxtrace.runtime.parser import build_parser

WORDS = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)), max_size=10)
ODD_VALUES = [
    "busybox",
    "a:b",
    "127.0.0.1:1/x@sha256:" + "0" * 64,
    "",
    "-",
    "--",
    "-1",
    "0",
    "99999999999999999999",
    "nan",
    "1e3",
    "=",
    "-x",
    "--help",
    " ",
]


def _tables() -> dict[str, argparse.ArgumentParser]:
    """Each command's parser as `boxtrace` builds it, and the runtime's under "runtime"."""
    parser = build_parser("boxtrace", "")
    sub = parser.add_subparsers(dest="command")
    for name in COMMANDS:
        importlib.import_module(f"boxtrace.commands.{name}").add_parser(sub)
    tables = {name: sub.choices[name] for name in COMMANDS}
    tables["runtime"] = runtime_cli.build_cli()
    return tables


TABLES = _tables()


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@st.composite
def words_for(draw: st.DrawFn, parser: argparse.ArgumentParser, depth: int = 0) -> list[str]:
    """Up to six pieces: an option with its values (valid, invalid, too few), an unknown option, a
    stray word, a subcommand and its own words."""
    words: list[str] = []
    options = _options(parser)
    subs = _subparsers(parser)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["option", "option", "word", "unknown", "sub", "dashdash"]))
        if kind == "option" and options:
            action = draw(st.sampled_from(options))
            flag = draw(st.sampled_from(action.option_strings))
            count = action.nargs if isinstance(action.nargs, int) else 1 if action.nargs is None else 0
            values = [
                draw(st.sampled_from([str(c) for c in action.choices]) | WORDS | st.sampled_from(ODD_VALUES))
                if action.choices
                else draw(WORDS | st.sampled_from(ODD_VALUES))
                for _ in range(draw(st.integers(0, count + 1)))
            ]
            if values and flag.startswith("--") and draw(st.booleans()):
                words += [f"{flag}={values[0]}", *values[1:]]
            else:
                words += [flag, *values]
        elif kind == "unknown":
            words.append(draw(st.sampled_from(["--no-such-option", "-Z", "--", "---", "-", "--=x"])))
        elif kind == "sub" and subs and depth < 2:
            name = draw(st.sampled_from(sorted(subs)))
            words += [name, *draw(words_for(subs[name], depth + 1))]
        elif kind == "dashdash":
            words += ["--", *draw(st.lists(WORDS, max_size=3))]
        else:
            words.append(draw(WORDS))
    return words


@st.composite
def argvs(draw: st.DrawFn, commands: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[str]:
    """``boxtrace`` argvs for one of ``commands`` (now and then mistyped or missing); a subcommand
    named in ``exclude`` ("lessons run") is never generated."""
    name = draw(st.sampled_from(commands))
    # A mistyped name that is no other command ("traces"[:-1] is `trace`, which would trace).
    typo = name[:-1] if name[:-1] not in COMMANDS else name + "z"
    head = draw(st.sampled_from([*[[name]] * 6, [], [typo], ["--version"], [name.upper()]]))
    argv = head + draw(words_for(TABLES[name]))
    if argv and argv[0] in COMMANDS and argv[0] != name:
        # a word that happens to name another command ("trace", a value of some option) is not
        # where the command line starts: that command is not one asked for
        argv = [name, *argv]
    for excluded in exclude:
        command, sub = excluded.split()
        if argv[:1] == [command] and sub in argv:
            argv = argv[: argv.index(sub)]
    return argv


def run_argv(argv: list[str]) -> tuple[int, str, str]:
    """(status, stdout, stderr) of ``boxtrace ARGV`` in this process."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's --help and --version
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()
