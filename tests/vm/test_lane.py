"""The lane's own parts, natively: the kernel package it resolves, the vng command line it builds,
the pytest selection it passes, the guest's cgroup check, the accelerator probe and its cache, and
a boot that fails saying why in one line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.vm import accel, guest, kernel, lane, selection
from tests.vm.command import Boot, vng_command
from tests.vm.errors import LaneError

DEPENDS = """linux-image-amd64
  Depends: linux-image-6.1.0-57-amd64
"""
SHOW = """Package: linux-image-6.1.0-57-amd64
Source: linux-signed-amd64 (6.1.192+3)
Version: 6.1.192-3
Installed-Size: 408613
"""


def test_the_versioned_kernel_package_is_read_from_apt_cache_depends() -> None:
    assert kernel.versioned_package(DEPENDS) == "linux-image-6.1.0-57-amd64"
    assert (
        kernel.versioned_package("x\n |Depends: linux-image-6.1.0-99-amd64\n") == "linux-image-6.1.0-99-amd64"
    )
    with pytest.raises(LaneError, match="which kernel linux-image-amd64 depends on"):
        kernel.versioned_package("linux-image-amd64\n  Depends: linux-base\n")


def test_the_version_and_the_names_derived_from_it() -> None:
    package = kernel.KernelPackage(kernel.versioned_package(DEPENDS), kernel.package_version(SHOW))
    assert package.version == "6.1.192-3"
    assert package.release == "6.1.0-57-amd64"
    assert package.directory == "kernel-6.1.0-57-amd64_6.1.192-3"
    unpacked = kernel.Kernel(package, Path("/b/kernel-6.1.0-57-amd64_6.1.192-3/root"))
    assert unpacked.image == Path("/b/kernel-6.1.0-57-amd64_6.1.192-3/root/boot/vmlinuz-6.1.0-57-amd64")
    assert unpacked.modules == Path("/b/kernel-6.1.0-57-amd64_6.1.192-3/root/lib/modules/6.1.0-57-amd64")
    with pytest.raises(LaneError, match="no Version line"):
        kernel.package_version("Package: x\n")


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="needs apt (Debian)")
def test_resolve_finds_debians_kernel_here() -> None:
    package = kernel.resolve()
    assert re.fullmatch(r"linux-image-\d+\.\d+\.\d+-\d+-amd64", package.name), package
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+\S*", package.version), package


def test_an_unpacked_version_is_reused_without_apt(tmp_path: Path) -> None:
    package = kernel.KernelPackage("linux-image-6.1.0-57-amd64", "6.1.192-3")
    ready = tmp_path / package.directory
    ready.mkdir()
    (ready / kernel.READY).write_text("x\n")
    unpacked, fetched = kernel.prepare(tmp_path, package)
    assert (unpacked.root, fetched) == (ready / "root", False)


def test_vng_command_under_tcg_and_kvm() -> None:
    boot = Boot(vng=Path("/v/bin/vng"), kernel_image=Path("/k/vmlinuz"), repo=Path("/repo"), accel="tcg")
    command = vng_command(boot, ["/v/bin/python", "-m", "tests.vm.guest", "-k", "a b"])
    assert command == [
        "/v/bin/vng",
        "--run",
        "/k/vmlinuz",
        "--force-9p",
        "--memory",
        "2G",
        "--cpus",
        "2",
        "--user",
        "root",
        "--rwdir",
        "/repo",
        "--cwd",
        "/repo",
        "--disable-kvm",
        "--",
        "/v/bin/python -m tests.vm.guest -k 'a b'",
    ]
    kvm = vng_command(Boot(boot.vng, boot.kernel_image, boot.repo, "kvm"), None, shell=Path("/b/sh"))
    assert "--disable-kvm" not in kvm and "--" not in kvm  # no command: an interactive shell
    assert kvm[-2:] == ["--shell", "/b/sh"]


def test_lane_options_come_first_and_the_rest_is_pytests() -> None:
    assert lane.split_args(["--shell"]) == ({"--shell"}, [])
    assert lane.split_args(["--tcg", "--", "-x", "--shell"]) == ({"--tcg"}, ["-x", "--shell"])
    assert lane.split_args(["-k", "crun", "--boot"]) == (set(), ["-k", "crun", "--boot"])


def test_the_marked_tests_run_unless_tests_are_named() -> None:
    files = lane.lane_files()
    assert lane.pytest_args([]) == ["-p", "tests.vm.plugin", "-m", "cgroup_v2", "--durations=5", *files]
    assert lane.pytest_args(["-x", "-k", "crun"])[-3:] == ["-x", "-k", "crun"]
    one = "tests/runtime/test_cgroup_v2.py::test_limits_read_back_inside_the_container"
    assert lane.pytest_args([one, "-v"]) == ["-p", "tests.vm.plugin", one, "-v"]
    assert lane.pytest_args(["tests/runtime"]) == ["-p", "tests.vm.plugin", "tests/runtime"]


def test_the_lane_collects_the_files_that_mention_the_mark_or_are_selected(tmp_path: Path) -> None:
    files = lane.lane_files()
    assert "tests/runtime/test_cgroup_v2.py" in files and "tests/runtime/test_container.py" in files
    assert "tests/tui/test_snapshots.py" not in files
    (tmp_path / "tests" / "other").mkdir(parents=True)
    (tmp_path / "tests" / "other" / "test_new_v2.py").write_text(
        "@pytest.mark.cgroup_v2\ndef test_x(): ...\n"
    )
    (tmp_path / "tests" / "other" / "test_v1.py").write_text("def test_y(): ...\n")
    assert "tests/other/test_new_v2.py" in lane.lane_files(tmp_path)
    assert "tests/other/test_v1.py" not in lane.lane_files(tmp_path)


def test_every_test_the_lane_also_runs_exists() -> None:
    for nodeid in selection.ALSO_IN_LANE:
        path, _, name = nodeid.partition("::")
        assert (REPO / path).is_file(), nodeid
        function = name.split("[", 1)[0]  # one parametrized case: test_x[case]
        assert re.search(rf"^def {re.escape(function)}\(", (REPO / path).read_text(), re.MULTILINE), nodeid
    assert len(set(selection.ALSO_IN_LANE)) == len(selection.ALSO_IN_LANE)


def test_selection_takes_parametrized_cases_and_nothing_else() -> None:
    listed = selection.ALSO_IN_LANE[0]
    assert selection.selected(listed) and selection.selected(listed + "[case]")
    assert not selection.selected(listed + "_more") and not selection.selected("tests/x.py::y")


@pytest.mark.parametrize(
    ("mounts", "controllers", "problem"),
    [
        ([("/sys/fs/cgroup", "cgroup2")], "cpuset cpu io memory pids\n", None),
        (
            [("/sys/fs/cgroup/unified", "cgroup2"), ("/sys/fs/cgroup/memory", "cgroup")],
            None,
            "/sys/fs/cgroup is not a cgroup2 mount",
        ),
        (
            [("/sys/fs/cgroup", "cgroup2"), ("/sys/fs/cgroup/pids", "cgroup")],
            "cpu memory\n",
            "hybrid cgroups: v1 hierarchies at /sys/fs/cgroup/pids",
        ),
        ([("/sys/fs/cgroup", "cgroup2")], "cpuset io\n", "cgroup.controllers lacks cpu memory pids"),
        ([("/sys/fs/cgroup", "cgroup2")], None, "cgroup.controllers cannot be read"),
    ],
)
def test_the_guests_cgroup_check(
    mounts: list[tuple[str, str]], controllers: str | None, problem: str | None
) -> None:
    found = guest.cgroup_problem(mounts, controllers)
    assert found == problem if problem is None else problem in (found or "")


def test_this_hosts_cgroups_are_seen_as_they_are() -> None:
    on_this_host = guest.cgroup_problem(
        guest.cgroup_mounts(), guest.read("/sys/fs/cgroup/cgroup.controllers")
    )
    assert (on_this_host is None) == lane.host_is_pure_v2()


def test_a_cached_accelerator_is_not_probed_again(tmp_path: Path) -> None:
    def no_probe(name: str) -> list[str]:
        raise AssertionError("probed although cached")

    accel.cache_file(tmp_path, "6.1.0-57-amd64").write_text(
        "tcg a KVM guest did not finish booting in 60 s\n"
    )
    found = accel.detect(tmp_path, "6.1.0-57-amd64", no_probe, {})
    assert found == accel.Accel("tcg", "a KVM guest did not finish booting in 60 s", cached=True)


def test_the_probe_reports_a_failed_or_hung_boot_in_one_line() -> None:
    assert accel.probe(["true"], {}) is None
    failed = accel.probe(
        ["sh", "-c", "echo booting; echo 'qemu: error: no MSR' >&2; exit 3"], {"PATH": "/bin"}
    )
    assert failed == "a KVM boot failed (exit 3): qemu: error: no MSR"
    # sh and its child sleep: the whole group is killed at the timeout, not only sh
    hung = accel.probe(["sh", "-c", "sleep 600 & wait"], {"PATH": "/bin:/usr/bin"}, timeout=0.5)
    assert hung == "a KVM guest did not finish booting in 0 s"


def test_a_vm_that_does_not_boot_is_one_line_and_not_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["sh", "-c", "echo 'virtme-ng: starting'; echo 'qemu: could not load kernel' >&2; exit 4"]
    status = lane.run(command, {"PATH": "/bin:/usr/bin"}, "tcg", tmp_path / "boot.log")
    out = capsys.readouterr()
    assert status == 4
    assert out.err == ""
    assert out.out.splitlines() == [
        f"lane-v2: cannot boot: the VM did not start under tcg (vng exit 4): "
        f"qemu: could not load kernel (see {tmp_path / 'boot.log'})"
    ]


def test_the_guests_output_and_status_pass_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = f"echo boot noise; echo '{guest.MARKER} ok'; echo '1 passed'; echo warn >&2; exit 1"
    status = lane.run(["sh", "-c", script], {"PATH": "/bin:/usr/bin"}, "tcg", tmp_path / "boot.log")
    out = capsys.readouterr()
    assert status == 1
    lines = out.out.splitlines()
    assert lines[0].startswith("lane-v2: booted in ") and lines[1:] == [f"{guest.MARKER} ok", "1 passed"]
    assert "boot noise" in (tmp_path / "boot.log").read_text()


def test_the_lane_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(LaneError, match=r"virtme-ng is not in .*pip install -e '\.\[test\]'"):
        lane.tools(tmp_path)


def test_on_a_pure_v2_host_the_lane_says_the_tests_ran_natively(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(lane, "host_is_pure_v2", lambda: True)
    monkeypatch.setattr(lane, "tools", lambda venv_bin: pytest.fail("a VM would boot"))
    assert lane.main([]) == 0
    assert capsys.readouterr().out == (
        "lane-v2: this host has pure cgroup v2: the cgroup_v2 tests ran natively in pytest; "
        "no VM booted (--boot)\n"
    )
