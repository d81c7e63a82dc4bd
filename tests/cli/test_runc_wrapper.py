"""boxtrace-runc: runc recorded in the background, the caller never held up by the recording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxtrace.runc_wrapper import WrapperError, split_own_options, subcommand
from boxtrace.tracer.spool import list_traces
from boxtrace.tracer.tracefile import read_trace
from tests.conftest import make_busybox_bundle, needs_program, needs_root
from tests.engines import busybox_tarball, docker_daemon, podman_store

WRAPPER = Path(sys.executable).with_name("boxtrace-runc")


def test_own_options_come_first_and_win_over_the_environment() -> None:
    env = {"BOXTRACE_RUNTIME": "/env/runc", "BOXTRACE_SPOOL": "/env/spool"}
    settings, rest = split_own_options(
        ["--boxtrace-runtime=/opt/runc", "--boxtrace-record", "create", "--root", "/r", "create", "x"], env
    )
    assert settings == {"runtime": "/opt/runc", "spool": "/env/spool", "record": "create"}
    assert rest == ["--root", "/r", "create", "x"]
    # podman puts --runtime-flag flags after its own global options.
    settings, rest = split_own_options(
        ["--root", "/r", "--boxtrace-spool=/s", "--log", "/l", "start", "x"], {}
    )
    assert settings["spool"] == "/s" and rest == ["--root", "/r", "--log", "/l", "start", "x"]
    # After the subcommand everything is runc's, even what looks like ours.
    assert split_own_options(["start", "--boxtrace-spool=/s"], {})[1] == ["start", "--boxtrace-spool=/s"]
    with pytest.raises(WrapperError, match="unknown option --boxtrace-nope"):
        split_own_options(["--boxtrace-nope=1"], {})
    with pytest.raises(WrapperError, match="needs a value"):
        split_own_options(["--boxtrace-spool"], {})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["create", "--bundle", "/b", "--pid-file", "/p", "abc"], ("create", "abc")),
        (["--root", "/run/x", "--log", "/l", "--log-format", "json", "start", "abc"], ("start", "abc")),
        (["--systemd-cgroup", "delete", "--force", "abc"], ("delete", "abc")),
        (["--version"], ("", "")),
        (["features"], ("features", "")),
    ],
)
def test_subcommand_and_container_id(args: list[str], expected: tuple[str, str]) -> None:
    assert subcommand(args) == expected


def test_a_runtime_that_cannot_be_found_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(WRAPPER), "--boxtrace-runtime", str(tmp_path / "nothing"), "state", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("boxtrace-runc: cannot find the runtime")
    assert len(done.stderr.strip().splitlines()) == 1


_no_runc = needs_program("runc", "runc", "Docker's containerd.io, which brings one")
needs_runc = pytest.mark.skipif(_no_runc is not None, reason=_no_runc or "")


@pytest.fixture
def runc_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, Path]]:
    """An environment for the wrapper with its own spool, and runc state of the test's own."""
    spool = tmp_path / "spool"
    root = tmp_path / "runc-root"
    env = dict(os.environ, BOXTRACE_SPOOL=str(spool))
    try:
        yield env, spool, root
    finally:
        for name in os.listdir(root) if root.is_dir() else []:
            subprocess.run(["runc", "--root", str(root), "delete", "--force", name], check=False, timeout=30)
        wait_for_recorders_to_end(str(root))


def recorders(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (our wrappers and their recorders)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(name))
            except OSError:
                continue
    return found


def wait_for_recorders_to_end(marker: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while recorders(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not recorders(marker), "a recorder process was left running"


def wrapped(env: dict[str, str], root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the wrapper with its output in files, not pipes: ``runc create`` hands its stdio to the
    container, so reading a pipe to its end would wait for the container (as with runc itself)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            [str(WRAPPER), "--root", str(root), *args], env=env, stdout=out, stderr=err, timeout=60
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())


def tracer_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("TracerPid:"))


@needs_root
@needs_runc
def test_one_containers_traces_are_found_by_its_id_and_merge_into_one_story(
    tmp_path: Path, runc_env: tuple[dict[str, str], Path, Path]
) -> None:
    env, _spool, root = runc_env
    bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/echo", "merged"])
    for args in (("create", "--bundle", str(bundle), "story1"), ("start", "story1")):
        done = wrapped(env, root, *args)
        assert done.returncode == 0, done.stderr
    wrapped(env, root, "create", "--bundle", str(bundle), "other2")  # another container's trace
    deadline = time.monotonic() + 20
    while wrapped(env, root, "state", "story1").stdout.count('"stopped"') == 0:
        assert time.monotonic() < deadline, "the container did not end"
        time.sleep(0.05)
    assert wrapped(env, root, "delete", "story1").returncode == 0
    wait_for_recorders_to_end("story1")  # other2's recorder waits for its start (the fixture ends it)

    listed = boxtrace_cli(env, "traces", "--container", "stor", "--paths")
    paths = listed.stdout.split()
    assert [p.rsplit("-", 3)[1] for p in paths] == ["create", "start", "delete"]
    story = tmp_path / "story.jsonl"
    merged = boxtrace_cli(env, "merge", *paths, "-o", str(story))
    assert merged.returncode == 0, merged.stderr
    assert "events from 3 traces" in merged.stderr
    header, events = read_trace(str(story))
    assert [s["command"][3] for s in header.extra["merged_from"]] == ["create", "start", "delete"]
    # --container finds the same traces itself.
    again = tmp_path / "again.jsonl"
    assert boxtrace_cli(env, "merge", "--container", "story1", "-o", str(again)).returncode == 0
    assert read_trace(str(again))[1] == events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    times = [e.time for e in events]
    assert times == sorted(times)
    # One story: runc create, then runc start, then the container's program, then runc delete.
    execs = [" ".join(e.argv) for e in events if e.kind == "exec"]
    order = [
        next(i for i, argv in enumerate(execs) if "runc" in argv and " create " in f"{argv} "),
        next(i for i, argv in enumerate(execs) if "runc" in argv and " start " in f"{argv} "),
        execs.index("/bin/echo merged"),
        next(i for i, argv in enumerate(execs) if "runc" in argv and " delete " in f"{argv} "),
    ]
    assert order == sorted(order), execs


def boxtrace_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("boxtrace")
    return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, timeout=60)


@needs_root
@needs_runc
def test_create_returns_while_init_waits_and_start_lets_the_container_go(
    tmp_path: Path, runc_env: tuple[dict[str, str], Path, Path]
) -> None:
    env, spool, root = runc_env
    bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/sleep", "3"])
    created = wrapped(env, root, "create", "--bundle", str(bundle), "--pid-file", str(tmp_path / "pid"), "w1")
    assert created.returncode == 0, created.stderr
    # runc create has returned: the container waits in "created", its init still traced by the
    # recorder, whose trace is still in progress.
    state = json.loads(wrapped(env, root, "state", "w1").stdout)
    assert state["status"] == "created"
    init = int((tmp_path / "pid").read_text())
    assert init == state["pid"] and tracer_of(init) != 0
    [entry] = list_traces(str(spool))
    assert entry.in_progress and "runc-create-w1" in entry.name

    started = wrapped(env, root, "start", "w1")
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 20
    while any(e.in_progress for e in list_traces(str(spool))) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The container's program runs untraced (let go at its exec), and is still running, on the
    # cpus it would have had (the recorder ran runc on one cpu: tracer/session.py).
    assert tracer_of(init) == 0
    assert os.sched_getaffinity(init) == os.sched_getaffinity(0)
    assert json.loads(wrapped(env, root, "state", "w1").stdout)["status"] == "running"
    names = [e.name for e in list_traces(str(spool))]
    assert len(names) == 2 and "runc-create-w1" in names[0] and "runc-start-w1" in names[1]

    # runc start leaves no process behind: recorded with the seccomp filter, every process of it
    # traced to its end; runc create's init is let go, so that trace has no filter (fallback).
    start_header, start_events = read_trace(str(spool / names[1]))
    assert start_header.mode == "filtered"
    assert [e.name for e in start_events if getattr(e, "name", None) == "execve"] == ["execve"]
    header, events = read_trace(str(spool / names[0]))
    assert header.mode == "fallback" and header.command[1:3] == ["--root", str(root)]
    calls = [e.name for e in events if getattr(e, "name", None)]
    for expected in ("unshare", "mount", "pivot_root"):
        assert expected in calls
    # The last thing recorded of the init is the exec of the container's program, which succeeded.
    execs = [e for e in events if getattr(e, "name", None) == "execve" and e.pid == init]
    assert execs and execs[-1].result == 0

    assert wrapped(env, root, "kill", "w1", "KILL").returncode == 0
    deleted = wrapped(env, root, "delete", "--force", "w1")
    assert deleted.returncode == 0, deleted.stderr


@needs_root
@needs_runc
def test_untraced_subcommands_and_runc_errors_pass_through(
    runc_env: tuple[dict[str, str], Path, Path],
) -> None:
    env, spool, root = runc_env
    listed = wrapped(env, root, "list", "--format", "json")
    assert listed.returncode == 0 and listed.stdout.strip() in ("null", "[]")
    assert list_traces(str(spool)) == []  # "list" is not recorded
    # runc's own error and exit status come back through the recorder unchanged.
    missing = wrapped(env, root, "start", "no-such-container")
    direct = subprocess.run(
        ["runc", "--root", str(root), "start", "no-such-container"], capture_output=True, text=True
    )
    assert missing.returncode == direct.returncode != 0
    assert "container does not exist" in missing.stderr


_no_podman = needs_program("podman", "podman")
needs_podman = pytest.mark.skipif(_no_podman is not None, reason=_no_podman or "")


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[list[str]]:
    with podman_store(busybox_tarball(tmp_path / "bb.tar"), "localhost/boxtrace-test-bb:1") as command:
        yield command


@needs_root
@needs_runc
@needs_podman
def test_podman_runs_a_container_through_the_wrapper_and_the_start_is_recorded(
    tmp_path: Path, podman: list[str]
) -> None:
    spool, cleanup_spool = tmp_path / "spool", tmp_path / "cleanup-spool"
    # podman's cleanup process (run by conmon when the container exits) calls the runtime without
    # --runtime-flag: a script gives every call a spool in the environment; the flag wins over it.
    runtime = tmp_path / "boxtrace-runc.sh"
    runtime.write_text(f'#!/bin/sh\nBOXTRACE_SPOOL={cleanup_spool} exec {WRAPPER} "$@"\n')
    runtime.chmod(0o755)
    done = subprocess.run(
        [
            *podman,
            "--runtime",
            str(runtime),
            "--runtime-flag",
            f"boxtrace-spool={spool}",
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "localhost/boxtrace-test-bb:1",
            "echo",
            "hi from podman",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hi from podman"
    deadline = time.monotonic() + 20
    while any(e.in_progress for e in list_traces(str(spool))) and time.monotonic() < deadline:
        time.sleep(0.05)
    traces = list_traces(str(spool))
    kinds = [e.name.split("-")[3] for e in traces]  # STAMP-TIME-runc-SUBCOMMAND-ID-PID.jsonl
    assert kinds[:2] == ["create", "start"] and not any(e.in_progress for e in traces)
    _, events = read_trace(traces[0].path)
    calls = {getattr(e, "name", None) for e in events}
    assert {"unshare", "pivot_root", "mount", "execve"} <= calls
    wait_for_recorders_to_end(str(spool))
    deadline = time.monotonic() + 20  # the cleanup process's delete, recorded into the other spool
    while any(e.in_progress for e in list_traces(str(cleanup_spool))) and time.monotonic() < deadline:
        time.sleep(0.05)


RUN_OPTIONS = ("--runtime", "boxtrace", "--network", "none")


@needs_root
@needs_runc
def test_docker_runs_containers_through_the_wrapper_without_hanging(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    runtimes = {"boxtrace": {"path": str(WRAPPER), "runtimeArgs": [f"--boxtrace-spool={spool}"]}}
    tarball = busybox_tarball(tmp_path / "bb.tar")
    with docker_daemon(runtimes) as docker:
        subprocess.run(
            [*docker, "import", str(tarball), "boxtrace-test/bb:1"], check=True, capture_output=True
        )
        ran = subprocess.run(
            [*docker, "run", "--rm", *RUN_OPTIONS, "boxtrace-test/bb:1", "echo", "hi from docker"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "hi from docker"
        # A detached container keeps running untraced; `docker run -d` returns at once.
        detached = subprocess.run(
            [*docker, "run", "-d", *RUN_OPTIONS, "boxtrace-test/bb:1", "sleep", "30"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert detached.returncode == 0, detached.stderr
        cid = detached.stdout.strip()
        pid = subprocess.run(
            [*docker, "inspect", "-f", "{{.State.Pid}}", cid], capture_output=True, text=True, check=True
        ).stdout.strip()
        deadline = time.monotonic() + 20
        while tracer_of(int(pid)) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracer_of(int(pid)) == 0
        subprocess.run([*docker, "rm", "--force", cid], capture_output=True, timeout=60)
    wait_for_recorders_to_end(str(spool))
    traces = list_traces(str(spool))
    kinds = [e.name.split("-")[3] for e in traces]
    assert kinds.count("create") == 2 and kinds.count("start") == 2
    assert not any(e.in_progress for e in traces)
    _, events = read_trace(traces[0].path)
    assert {"unshare", "pivot_root"} <= {getattr(e, "name", None) for e in events}


RUNTIME = Path(sys.executable).with_name("boxtrace-runtime")


@needs_root
def test_boxtrace_runtime_record_flag_records_its_own_container_start(tmp_path: Path) -> None:
    spool, root = tmp_path / "spool", tmp_path / "state"
    env = dict(os.environ, BOXTRACE_SPOOL=str(spool))
    bundle = make_busybox_bundle(tmp_path / "bundle", ["/bin/sleep", "30"])

    def runtime(*args: str, record: bool = True) -> subprocess.CompletedProcess[str]:
        flags = ["--record"] if record else []
        with tempfile.TemporaryFile("w+") as out:  # create hands its stdio to the container
            done = subprocess.run([str(RUNTIME), "--root", str(root), *flags, *args], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=60)  # fmt: skip
            out.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), "")

    try:
        assert runtime("create", "--bundle", str(bundle), "r1").returncode == 0
        assert runtime("start", "r1").returncode == 0
        state = json.loads(runtime("state", "r1", record=False).stdout)
        deadline = time.monotonic() + 20
        while any(e.in_progress for e in list_traces(str(spool))) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state["status"] == "running" and tracer_of(state["pid"]) == 0
    finally:
        runtime("delete", "--force", "r1")
    wait_for_recorders_to_end(str(spool))
    names = [e.name for e in list_traces(str(spool))]
    assert [n.split("-")[4] for n in names] == ["create", "start", "delete"]  # STAMP-boxtrace-runtime-SUB
    _, events = read_trace(str(spool / names[0]))
    clones = [e for e in events if getattr(e, "name", None) == "clone"]
    assert clones and "CLONE_NEWPID" in clones[0].args[0].flags
    assert "pivot_root" in {getattr(e, "name", None) for e in events}


def test_boxtrace_runtime_record_needs_the_installed_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "boxtrace.runtime", "--record", "state", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--record needs boxtrace-runtime run as an installed command" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
