"""The OCI runtime CLI without containers: parsing, signals, ids, logs, spec, state rules, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boxtrace.runtime import cli, oci
from boxtrace.runtime.oci_log import RuntimeLog
from boxtrace.runtime.spec import load_bundle_spec
from boxtrace.runtime.spec_template import runc_spec, write_spec
from boxtrace.runtime.state import EXEC_FIFO, process_start_time
from boxtrace.runtime.usage import UsageError


def runtime(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxtrace.runtime", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_global_options_before_the_command_as_conmon_and_containerd_pass_them() -> None:
    args = cli.build_cli().parse_args(
        [
            "--root",
            "/run/x",
            "--log",
            "/tmp/log.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s",
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "2",
            "abc",
        ]
    )
    assert (args.root, args.log, args.log_format, args.systemd_cgroup) == (
        "/run/x",
        "/tmp/log.json",
        "json",
        True,
    )
    assert (args.command, args.id, args.bundle, args.pid_file, args.console_socket) == (
        "create",
        "abc",
        "/b",
        "/p",
        "/s",
    )
    assert args.no_pivot and args.no_new_keyring and args.preserve_fds == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kill", "c1"], ("c1", "SIGTERM", False)),
        (["kill", "c1", "9"], ("c1", "9", False)),
        (["kill", "--all", "c1", "KILL"], ("c1", "KILL", True)),
        (["kill", "-a", "c1", "sigint"], ("c1", "sigint", True)),
    ],
)
def test_kill_arguments(argv: list[str], expected: tuple[str, str, bool]) -> None:
    args = cli.build_cli().parse_args(argv)
    assert (args.id, args.signal, args.all) == expected


@pytest.mark.parametrize(
    ("text", "number"), [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("term", 15), ("SIGUSR1", 10)]
)
def test_signals_by_number_or_name_with_or_without_sig(text: str, number: int) -> None:
    assert oci.parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGKIL", "0", "999", "", "-9"])
def test_unknown_signals_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="unknown signal"):
        oci.parse_signal(text)


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "a b", "x;y", ""])
def test_container_ids_are_checked(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid container id"):
        oci.check_id(bad)


def test_runc_ids_are_accepted() -> None:
    for good in ("abc", "a.b-c_d+e", "1187b1384506b32d059946f743552f8c5ee9a43fd10bfdcc9c65c7f81986a1fe"):
        assert oci.check_id(good) == good


def test_json_log_line_is_runcs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = RuntimeLog(str(tmp_path / "log.json"), "json")
    log.error('container "x" does not exist')
    log.warning("linux.seccomp is not supported")
    lines = [json.loads(line) for line in (tmp_path / "log.json").read_text().splitlines()]
    assert [list(line) for line in lines] == [["level", "msg", "time"]] * 2
    assert lines[0]["level"] == "error" and lines[0]["msg"] == 'container "x" does not exist'
    assert lines[1]["level"] == "warning"
    assert lines[0]["time"].endswith("Z")
    # errors also reach stderr, in one line; warnings only the log (create's stderr is the container's)
    assert capsys.readouterr().err == 'boxtrace-runtime: error: container "x" does not exist\n'


def test_text_log_line_is_logrus_text(tmp_path: Path) -> None:
    log = RuntimeLog(str(tmp_path / "log"), "text")
    log.error('bad "thing"')
    line = (tmp_path / "log").read_text().strip()
    assert line.startswith('time="') and line.endswith(' level=error msg="bad \\"thing\\""')


def test_spec_writes_runcs_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    write_spec(str(tmp_path), rootless=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"] == {"path": "rootfs", "readonly": True}
    (tmp_path / "rootfs").mkdir()
    spec = load_bundle_spec(str(tmp_path))  # our own reader takes it without a warning
    assert spec.warnings == []
    result = runtime("spec", "--bundle", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"boxtrace-runtime: error: {tmp_path}/config.json exists: remove it first"
    ]


@pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc to compare with")
@pytest.mark.parametrize("rootless", [False, True])
def test_spec_matches_runc_spec(tmp_path: Path, rootless: bool) -> None:
    subprocess.run(
        ["runc", "spec", "--bundle", str(tmp_path), *(["--rootless"] if rootless else [])], check=True
    )
    theirs = json.loads((tmp_path / "config.json").read_text())
    ours = runc_spec(rootless)
    # The intended differences (see spec_template.py): version string, hostname, terminal.
    for config in (theirs, ours):
        del config["ociVersion"], config["hostname"]
        config["process"]["terminal"] = None
    assert ours == theirs


def test_state_rules(tmp_path: Path) -> None:
    me = os.getpid()
    facts = {"pid": me, "pid_start": process_start_time(me)}
    assert oci.container_status(str(tmp_path), facts) == "running"
    (tmp_path / EXEC_FIFO).touch()
    assert oci.container_status(str(tmp_path), facts) == "created"
    # Same pid, another start time: the pid was recycled, the container is gone.
    assert oci.container_status(str(tmp_path), {"pid": me, "pid_start": 1}) == "stopped"
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert oci.container_status(str(tmp_path), {"pid": dead.pid, "pid_start": 5}) == "stopped"
    assert oci.container_status(str(tmp_path), {"runtime_pid": me}) == "creating"


def test_state_output_has_runcs_keys_in_runcs_order(tmp_path: Path) -> None:
    (tmp_path / "c1").mkdir()
    me = os.getpid()
    (tmp_path / "c1" / "state.json").write_text(
        json.dumps(
            {
                "id": "c1",
                "pid": me,
                "pid_start": process_start_time(me),
                "bundle": "/b",
                "rootfs": "/b/rootfs",
                "created": "2026-11-28T06:43:00.689137844Z",
                "annotations": {"k": "v"},
                "oci_version": "1.0.2",
            }
        )
    )
    result = runtime("--root", str(tmp_path), "state", "c1")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert list(state) == [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "annotations",
        "owner",
    ]
    assert (state["pid"], state["status"], state["annotations"]) == (me, "running", {"k": "v"})


@pytest.mark.parametrize("command", [["state"], ["start"], ["kill"], ["delete"], ["ps", "--format", "json"]])
def test_unknown_container_is_one_line_exit_1_saying_does_not_exist(
    tmp_path: Path, command: list[str]
) -> None:
    # podman and containerd look for "does not exist" in the output of a failed command
    result = runtime("--root", str(tmp_path), *command, "nosuch")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"boxtrace-runtime: error: container 'nosuch' does not exist in {tmp_path} "
        "(see 'boxtrace-runtime list')"
    ]


def test_delete_force_of_unknown_container_succeeds(tmp_path: Path) -> None:
    (tmp_path / "leftover").mkdir()  # a create killed before it wrote state.json
    assert runtime("--root", str(tmp_path), "delete", "--force", "nosuch").returncode == 0
    assert runtime("--root", str(tmp_path), "delete", "--force", "leftover").returncode == 0
    assert not (tmp_path / "leftover").exists()


def test_error_goes_to_the_json_log_too(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    result = runtime("--root", str(tmp_path), "--log", str(log), "--log-format", "json", "state", "x")
    assert result.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_bad_bundle_is_one_line_exit_1(tmp_path: Path) -> None:
    result = runtime("--root", str(tmp_path / "state"), "create", "--bundle", str(tmp_path), "c1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"boxtrace-runtime: error: cannot read {tmp_path}/config.json: No such file or directory"
    ]
    assert not (tmp_path / "state" / "c1").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["state"], "the following arguments are required: CONTAINER_ID"),
        (["kill", "c1", "NOPE"], "unknown signal 'NOPE'"),
        (["state", "bad/id"], "invalid container id 'bad/id'"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_usage_errors_exit_2_in_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    result = runtime("--root", str(tmp_path), *argv)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_version_and_features() -> None:
    version = runtime("--version")
    assert version.returncode == 0 and version.stdout.startswith("boxtrace-runtime version ")
    assert "spec: 1.0.2" in version.stdout
    features = json.loads(runtime("features").stdout)
    assert features["ociVersionMax"] == "1.0.2"
    assert "prestart" in features["hooks"] and "pid" in features["linux"]["namespaces"]
    seccomp = features["linux"]["seccomp"]
    assert seccomp["enabled"] is True and seccomp["archs"] == ["SCMP_ARCH_X86_64"]
    assert "SCMP_ACT_KILL_PROCESS" in seccomp["actions"] and "SCMP_ACT_NOTIFY" not in seccomp["actions"]
    assert "SCMP_CMP_MASKED_EQ" in seccomp["operators"]
