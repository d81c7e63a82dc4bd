"""A usage error stays one line whatever the arguments hold (found by tests/fuzz/test_fuzz_cli_args.py:
an argument "\r" split `boxtrace traces`'s error in two, a newline in a name `boxtrace explain`'s): control
characters are escaped."""

from __future__ import annotations

import pytest

from boxtrace import cli
from boxtrace.runtime.usage import one_line


@pytest.mark.parametrize(
    "argv",
    [
        ["traces", "\r"],
        ["explain", "--coverage", "\n"],
        ["pull", "a\x1b[31m", "b"],
        ["runtime", "--x\u2028y"],
    ],
)
def test_an_argument_with_control_characters(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "error: " in err, err
    assert "\x1b" not in err and "\r" not in err


def test_an_unknown_name_to_explain_with_a_newline(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "mount\nx"]) == 1
    assert capsys.readouterr().err == "no entry for mount\\x0ax\n"


def test_one_line_escapes_controls_only() -> None:
    assert one_line("a\r\nb\x1b[0m\x85\u2028 é\u00a0") == "a\\x0d\\x0ab\\x1b[0m\\x85\\u2028 é\u00a0"


def test_a_log_that_cannot_be_written_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["runtime", "--log", "", "--no-such-option"]) == 2
    warning, error = capsys.readouterr().err.splitlines()
    assert warning.startswith("boxtrace-runtime: warning: cannot write --log '': ")
    assert error.startswith("boxtrace-runtime: error: unrecognized arguments: --no-such-option")
