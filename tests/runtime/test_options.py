"""Run options: sizes, CPUs, users, and how they override a spec."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.options import (
    add_run_arguments,
    apply_options,
    options_from_args,
    parse_cpus,
    parse_size,
    resolve_user,
)
from boxtrace.runtime.spec import default_spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64m", 64 << 20),
        ("1g", 1 << 30),
        ("512k", 512 << 10),
        ("100000", 100000),
        ("1.5G", 3 << 29),
        ("64MiB", 64 << 20),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text, "--memory") == expected


@pytest.mark.parametrize("text", ["lots", "-5m", "12x", "1k"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(RuntimeUsageError, match="--memory"):
        parse_size(text, "--memory")


def test_parse_cpus() -> None:
    assert parse_cpus("0.5") == 0.5
    for bad in ("half", "0", "5000"):
        with pytest.raises(RuntimeUsageError, match="--cpus"):
            parse_cpus(bad)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_override_spec(tmp_path: Path) -> None:
    opts = options_from_args(
        parse(
            "--memory", "64m", "--pids", "8", "--cpus", "0.5", "-e", "A=1", "-w", "/tmp", "--hostname", "box"
        ),
        ["echo", "hi"],
    )
    spec = default_spec(str(tmp_path))
    apply_options(spec, opts)
    assert spec.process.args == ["echo", "hi"]
    assert spec.resources.memory_limit == 64 << 20 and spec.resources.pids_limit == 8
    assert (spec.resources.cpu_quota, spec.resources.cpu_period) == (50000, 100000)
    assert "A=1" in spec.process.env and spec.process.cwd == "/tmp" and spec.hostname == "box"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pids", "0"], "--pids must be at least 1"),
        (["-e", "NOEQUALS"], "--env wants NAME=VALUE"),
        (["-w", "relative"], "--workdir must be an absolute path"),
        (["--hostname", "bad host"], "not a valid hostname"),
        (["--name", "../x"], "--name"),
    ],
)
def test_bad_option_values(argv: list[str], message: str) -> None:
    with pytest.raises(RuntimeUsageError, match=message):
        options_from_args(parse(*argv), [])


def test_resolve_user_by_name_and_number(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    assert (resolve_user("nobody", str(tmp_path)).uid, resolve_user("nobody", str(tmp_path)).gid) == (
        65534,
        65533,
    )
    user = resolve_user("1000:staff", str(tmp_path))
    assert (user.uid, user.gid) == (1000, 50)
    with pytest.raises(RuntimeUsageError, match="no user 'ghost'"):
        resolve_user("ghost", str(tmp_path))
    with pytest.raises(RuntimeUsageError, match="no group 'ghosts'"):
        resolve_user("0:ghosts", str(tmp_path))
