"""`boxtrace run` as a user meets it: help, one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import boxtrace


def test_help_is_written_for_a_user() -> None:
    result = boxtrace("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "namespace, mount and cgroup" in result.stdout
    result = boxtrace("run", "--help")
    assert result.returncode == 0
    for option in (
        "--memory",
        "--pids",
        "--cpus",
        "--hostname",
        "--env",
        "--workdir",
        "--user",
        "--rootless",
        "--keep",
        "--no-trace",
        "--seccomp",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "--no-trace", "--memory", "lots"], "--memory wants a size"),
        (["run", "--no-trace", "--pids", "many"], "argument --pids: invalid int value"),
        (["run", "--no-trace", "--cpus", "0"], "--cpus must be between"),
        (["run", "--no-trace", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["run", "--no-trace", "no-such-image"], "unknown image 'no-such-image'"),
        (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
        (
            ["run", "--no-trace", "--seccomp", "/no/such/profile.json"],
            "--seccomp /no/such/profile.json: No such",
        ),
    ],
)
def test_user_mistakes_are_one_line_exit_2(argv: list[str], fragment: str) -> None:
    result = boxtrace(*argv)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_empty_rootfs_directory_needs_a_command(tmp_path: Path) -> None:
    # A directory without config.json is a rootfs; an empty one has no image config to run.
    result = boxtrace("run", "--no-trace", str(tmp_path))
    assert result.returncode == 2
    assert "has no command" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_malformed_bundle_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(
        '{"ociVersion": "1.0.2",\n "process": {"args": [], "cwd": "/"},\n "root": {"path": "rootfs"}}'
    )
    result = boxtrace("run", "--no-trace", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"boxtrace: error: {tmp_path}/config.json, line 2: process.args: "
        "must name the command to run (at least one item)"
    ]


@pytest.mark.parametrize(
    ("profile", "fragment"),
    [
        ("{not json", "not valid JSON (Expecting property name"),
        ("[]", "must hold a JSON object"),
        ('{"defaultAction": "SCMP_ACT_MAYBE"}', "unknown value 'SCMP_ACT_MAYBE'"),
        ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "SCMP_ACT_NOTIFY is not supported by boxtrace"),
    ],
)
def test_a_seccomp_profile_that_cannot_be_loaded_is_one_line_exit_2(
    tmp_path: Path, profile: str, fragment: str
) -> None:
    path = tmp_path / "profile.json"
    path.write_text(profile)
    result = boxtrace("run", "--no-trace", "--seccomp", str(path), "--", "true")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
