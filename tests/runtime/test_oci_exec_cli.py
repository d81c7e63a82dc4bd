"""exec, pause, resume and update without containers: their arguments, the process they build,
the writes update computes, the freezer's files, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from boxtrace.runtime import cli, freezer, oci_exec, oci_update
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.oci_exec import ExecOptions
from boxtrace.runtime.state import process_start_time
from boxtrace.runtime.usage import UsageError


def runtime(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxtrace.runtime", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- exec's arguments ---------------------------------------------------------------------------------------


def test_exec_flags_as_podman_and_containerd_pass_them() -> None:
    podman = ["exec", "--pid-file", "/p", "--process", "/proc.json", "--detach", "--tty"]
    args = cli.build_cli().parse_args([*podman, "--console-socket", "/s", "--preserve-fds", "2", "abc"])
    assert (args.command, args.id, args.process, args.pid_file, args.console_socket) == (
        "exec",
        "abc",
        "/proc.json",
        "/p",
        "/s",
    )
    assert args.detach and args.tty and args.preserve_fds == 2 and args.exec_command == []


def test_exec_command_keeps_its_own_options() -> None:
    """As runc: everything after the container id is the command, flags like -c included."""
    args = cli.build_cli().parse_args(["exec", "-t", "-e", "A=1", "-e", "B=2", "abc", "sh", "-c", "ls -l"])
    assert (args.id, args.exec_command, args.env) == ("abc", ["sh", "-c", "ls -l"], ["A=1", "B=2"])
    assert args.tty
    argv = ["exec", "-u", "1:2", "-g", "5", "-g", "6", "-c", "NET_ADMIN", "x", "id"]
    args = cli.build_cli().parse_args(argv)
    assert (args.user, args.additional_gids, args.cap) == ("1:2", [5, 6], ["NET_ADMIN"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["exec", "abc"], "exec needs a command after the container id, or --process FILE"),
        (["exec", "--process", "/p.json", "abc", "sh"], "exec takes a command or --process, not both"),
        (["exec", "-u", "root", "abc", "id"], "--user wants UID[:GID] as numbers, got 'root'"),
        (["exec", "--cap", "CAP_NOPE", "abc", "id"], "--cap: unknown capability 'CAP_NOPE'"),
        (["exec", "-e", "NOEQUALS", "abc", "id"], "--env wants NAME=VALUE, got 'NOEQUALS'"),
        (["exec", "--cwd", "relative", "abc", "id"], "--cwd must be an absolute path"),
        (["update", "--memory", "lots", "abc"], "--memory wants a size like 64m"),
        (["update", "--pids-limit", "0", "abc"], "--pids-limit must be at least 1 (or -1 for none)"),
        (["update", "--cpu-share", "x", "abc"], "--cpu-share wants a whole number"),
        (["pause"], "the following arguments are required: CONTAINER_ID"),
    ],
)
def test_usage_errors_exit_2_in_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    bundle = _bundle(tmp_path)
    state = tmp_path / "state" / "abc"
    state.mkdir(parents=True)
    # A running container's facts (this process stands in for its first process).
    facts = {"pid": os.getpid(), "pid_start": process_start_time(os.getpid()), "bundle": str(bundle)}
    (state / "state.json").write_text(json.dumps({**facts, "namespaces": ["pid", "mount"]}))
    result = runtime("--root", str(tmp_path / "state"), *argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_exec_refuses_a_container_whose_namespaces_are_not_recorded(tmp_path: Path) -> None:
    """Joining no namespace would run the command on the host: an older state.json is refused."""
    state = tmp_path / "old"
    state.mkdir()
    bundle = _bundle(tmp_path)
    facts = {"pid": os.getpid(), "pid_start": process_start_time(os.getpid()), "bundle": str(bundle)}
    (state / "state.json").write_text(json.dumps(facts))
    result = runtime("--root", str(tmp_path), "exec", "old", "true")
    assert result.returncode == 255 and "did not record its namespaces" in result.stderr


def _bundle(tmp_path: Path, process: dict[str, object] | None = None) -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    config = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": process
        or {
            "args": ["sleep", "60"],
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "terminal": True,
            "user": {"uid": 0, "gid": 7, "additionalGids": [1]},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": False,
        },
    }
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def test_exec_process_from_config_json_and_flags_like_runc(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    opts = ExecOptions(
        command=["id"],
        cwd="/tmp",
        env=["A=1"],
        user="1000",
        additional_gids=[5],
        caps=["net_admin"],
        no_new_privs=True,
    )
    process = oci_exec.exec_process_spec(opts, str(bundle))
    assert process.args == ["id"] and process.cwd == "/tmp"
    assert process.env == ["PATH=/bin", "TERM=xterm", "A=1"]
    assert (process.user.uid, process.user.gid, process.user.additional_gids) == (1000, 7, [1, 5])
    assert process.capabilities.bounding == ["CAP_KILL", "CAP_NET_ADMIN"]
    assert process.capabilities.ambient == []  # no inheritable set: runc adds no ambient either
    assert process.no_new_privileges
    assert not process.terminal  # config.json's terminal does not count: only -t does


def test_exec_process_file_is_checked_like_config_json(tmp_path: Path) -> None:
    path = tmp_path / "process.json"
    path.write_text('{"args": ["ls"], "cwd": "/", "env": ["X=1"], "apparmorProfile": "p", "terminal": true}')
    process = oci_exec.read_process_file(str(path))
    assert (process.args, process.env, process.terminal) == (["ls"], ["X=1"], True)
    path.write_text('{"args": [], "cwd": "/"}')
    with pytest.raises(RuntimeUsageError, match=r"process\.args: must name the command to run"):
        oci_exec.read_process_file(str(path))
    path.write_text('{"args": ["ls"],\n "cwd": }')
    with pytest.raises(RuntimeUsageError, match=r"process\.json, line 2: malformed JSON"):
        oci_exec.read_process_file(str(path))
    with pytest.raises(RuntimeUsageError, match=r"cannot read --process .*: No such file"):
        oci_exec.read_process_file(str(tmp_path / "missing.json"))


def test_exec_process_file_warns_about_fields_it_does_not_apply(tmp_path: Path) -> None:
    seen: list[str] = []
    path = tmp_path / "p.json"
    path.write_text('{"args": ["ls"], "cwd": "/", "oomScoreAdj": 0, "selinuxLabel": ""}')
    oci_exec.read_process_file(str(path), seen.append)
    # oomScoreAdj is read (exec applies the container's own, as runc does): no warning
    assert [w.split(": ", 1)[1] for w in seen] == [
        "process.selinuxLabel is not supported by boxtrace yet: ignored"
    ]


@pytest.mark.parametrize(
    ("terminal", "detach", "socket_path", "error"),
    [
        (True, True, "/s", None),
        (True, False, None, None),  # runc relays the terminal itself
        (False, False, None, None),
        (True, True, None, "cannot allocate tty if runc will detach without setting console socket"),
        (False, True, "/s", "cannot use console socket if runc will not detach or allocate tty"),
        (True, False, "/s", "cannot use console socket if runc will not detach or allocate tty"),
    ],
)
def test_terminal_rules_are_runcs(
    tmp_path: Path, terminal: bool, detach: bool, socket_path: str | None, error: str | None
) -> None:
    process = oci_exec.exec_process_spec(ExecOptions(command=["sh"], tty=terminal), str(_bundle(tmp_path)))
    opts = ExecOptions(command=["sh"], tty=terminal, detach=detach, console_socket=socket_path)
    if error is None:
        oci_exec.check_terminal(process, opts)
    else:
        with pytest.raises(ContainerError, match=error):
            oci_exec.check_terminal(process, opts)


def test_exec_failures_exit_255_like_runc(tmp_path: Path) -> None:
    result = runtime("--root", str(tmp_path), "exec", "nothere", "true")
    assert result.returncode == 255
    assert result.stderr == (
        f"boxtrace-runtime: error: exec failed: container 'nothere' does not exist in {tmp_path} "
        "(see 'boxtrace-runtime list')\n"
    )


# --- pause, resume ----------------------------------------------------------------------------------------


def test_pause_and_resume_of_unknown_containers(tmp_path: Path) -> None:
    for command in ("pause", "resume", "update"):
        result = runtime("--root", str(tmp_path), command, "nothere")
        assert result.returncode == 1 and "does not exist" in result.stderr


def test_freezer_file_is_found_in_either_version(tmp_path: Path) -> None:
    v1 = tmp_path / "freezer" / "c"
    v1.mkdir(parents=True)
    memory = tmp_path / "memory" / "c"
    memory.mkdir(parents=True)
    assert freezer.freezer_file([str(memory)]) is None
    (v1 / "freezer.state").write_text("THAWED\n")
    assert freezer.freezer_file([str(memory), str(v1)]) == str(v1 / "freezer.state")
    assert not freezer.is_frozen([str(memory), str(v1)])
    (v1 / "freezer.state").write_text("FROZEN\n")
    (v1 / "freezer.self_freezing").write_text("0\n")
    assert not freezer.is_frozen([str(v1)])  # frozen by a parent, not paused by us (runc's rule)
    (v1 / "freezer.self_freezing").write_text("1\n")
    assert freezer.is_frozen([str(v1)])
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cgroup.freeze").write_text("1\n")
    assert freezer.freezer_file([str(v2)]) == str(v2 / "cgroup.freeze") and freezer.is_frozen([str(v2)])
    with pytest.raises(ContainerError, match="cannot pause: the container has no freezer cgroup"):
        freezer.freeze([str(memory)])


# --- update ----------------------------------------------------------------------------------------------


def test_update_reads_dockers_resources_json() -> None:
    docker = {
        "memory": {"limit": 64 << 20, "reservation": 0, "swap": 128 << 20, "kernel": 0},
        "cpu": {"shares": 512, "quota": 0, "period": 0, "cpus": "", "mems": "0"},
        "pids": {"limit": -1},
        "blockIO": {"weight": 0},
        "hugepageLimits": [],
    }
    changes = oci_update.changes_from_json(docker)
    assert (changes.memory_limit, changes.memory_swap, changes.cpu_shares) == (64 << 20, 128 << 20, 512)
    assert (changes.cpu_quota, changes.cpu_period, changes.pids_limit) == (None, None, -1)
    assert changes.ignored == ["cpu.mems"]  # zeros and empty values mean "unchanged"
    with pytest.raises(RuntimeUsageError, match=r"memory\.limit must be a number >= -1"):
        oci_update.changes_from_json({"memory": {"limit": "64m"}})


def test_update_flags() -> None:
    changes = oci_update.changes_from_flags(memory="64m", memory_swap="-1", cpu_quota="-1", pids_limit="20")
    assert (changes.memory_limit, changes.memory_swap, changes.cpu_quota, changes.pids_limit) == (
        64 << 20,
        -1,
        -1,
        20,
    )
    with pytest.raises(UsageError, match="--cpu-period must be at least 1000"):
        oci_update.changes_from_flags(cpu_period="10")


def _memory_v1(tmp_path: Path, limit: int, memsw: int | None) -> list[str]:
    directory = tmp_path / "memory" / "c"
    directory.mkdir(parents=True)
    (directory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    if memsw is not None:
        (directory / "memory.memsw.limit_in_bytes").write_text(f"{memsw}\n")
    return [str(directory)]


def test_v1_memory_raised_writes_memory_plus_swap_first(tmp_path: Path) -> None:
    dirs = _memory_v1(tmp_path, 64 << 20, 64 << 20)
    changes = oci_update.ResourceChanges(memory_limit=128 << 20)
    # no swap before, none after: memsw follows, and goes first or the kernel refuses the limit
    assert oci_update._v1_writes(changes, dirs) == [
        ("memory.memsw.limit_in_bytes", str(128 << 20)),
        ("memory.limit_in_bytes", str(128 << 20)),
    ]


def test_v1_memory_lowered_writes_memory_first(tmp_path: Path) -> None:
    dirs = _memory_v1(tmp_path, 128 << 20, 256 << 20)
    changes = oci_update.ResourceChanges(memory_limit=32 << 20, memory_swap=64 << 20, pids_limit=-1)
    assert oci_update._v1_writes(changes, dirs) == [
        ("memory.limit_in_bytes", str(32 << 20)),
        ("memory.memsw.limit_in_bytes", str(64 << 20)),
        ("pids.max", "max"),
    ]


def test_v1_swap_without_swap_accounting_is_refused(tmp_path: Path) -> None:
    dirs = _memory_v1(tmp_path, 64 << 20, None)
    assert oci_update._v1_writes(oci_update.ResourceChanges(memory_limit=32 << 20), dirs) == [
        ("memory.limit_in_bytes", str(32 << 20))
    ]
    with pytest.raises(ContainerError, match="does not account swap"):
        oci_update._v1_writes(oci_update.ResourceChanges(memory_swap=32 << 20), dirs)


def test_v2_writes_keep_the_other_half_of_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    dirs = [str(tmp_path)]
    changes = oci_update.ResourceChanges(cpu_quota=25000, cpu_shares=1024, memory_limit=64 << 20)
    changes.memory_swap = 96 << 20
    assert oci_update._v2_writes(changes, dirs) == [
        ("memory.max", str(64 << 20)),
        ("memory.swap.max", str(32 << 20)),  # v2 counts swap alone; OCI's swap is memory + swap
        ("cpu.weight", "39"),
        ("cpu.max", "25000 100000"),
    ]
    (tmp_path / "cpu.max").write_text("25000 100000\n")
    assert oci_update._v2_writes(oci_update.ResourceChanges(cpu_period=50000), dirs) == [
        ("cpu.max", "25000 50000")
    ]
