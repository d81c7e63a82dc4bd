"""tools/apt_install.py: which packages `make demo` and `make test` may install. The samples are
`apt-get -s install` output as apt 2.6 (Debian 12) prints it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools import apt_install
from tools.apt_install import Change, Simulation, parse_simulation, refusal

# Debian's docker.io on a machine with Docker's own packages (docker-ce, docker-ce-cli, containerd.io).
DOCKER_IO_OVER_DOCKER_CE = """\
NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
      Keep also in mind that locking is deactivated,
      so don't depend on the relevance to the real current situation!
Reading package lists...
Building dependency tree...
Reading state information...
The following additional packages will be installed:
  containerd runc tini
Suggested packages:
  aufs-tools btrfs-progs cgroupfs-mount | cgroup-lite debootstrap docker-doc rinse zfs-fuse | zfsutils
The following packages will be REMOVED:
  containerd.io docker-ce docker-ce-cli
The following NEW packages will be installed:
  containerd docker.io runc tini
0 upgraded, 4 newly installed, 3 to remove and 0 not upgraded.
Remv docker-ce [5:24.0.7-1~debian.12~bookworm]
Remv containerd.io [1.6.26-1]
Remv docker-ce-cli [5:24.0.7-1~debian.12~bookworm]
Inst containerd (1.6.20~ds1-1+b1 Debian:12.5/stable [amd64])
Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Inst tini (0.19.0-1 Debian:12.5/stable [amd64])
Inst docker.io (20.10.24+dfsg1-1+b3 Debian:12.5/stable [amd64])
Conf containerd (1.6.20~ds1-1+b1 Debian:12.5/stable [amd64])
Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
Conf tini (0.19.0-1 Debian:12.5/stable [amd64])
Conf docker.io (20.10.24+dfsg1-1+b3 Debian:12.5/stable [amd64])
"""

# New packages only (captured on this project's machine).
NEW_ONLY = """\
Reading package lists...
Building dependency tree...
Reading state information...
The following NEW packages will be installed:
  cowsay libtext-charwidth-perl sl
0 upgraded, 3 newly installed, 0 to remove and 117 not upgraded.
Inst libtext-charwidth-perl (0.04-11 Debian:12.15/oldstable [amd64])
Inst cowsay (3.03+dfsg2-8 Debian:12.15/oldstable [all])
Inst sl (5.02-1+b1 Debian:12.15/oldstable [amd64])
Conf libtext-charwidth-perl (0.04-11 Debian:12.15/oldstable [amd64])
Conf cowsay (3.03+dfsg2-8 Debian:12.15/oldstable [all])
Conf sl (5.02-1+b1 Debian:12.15/oldstable [amd64])
"""

# A new package that pulls a newer libc (an upgrade in place: allowed).
WITH_UPGRADE = """\
Inst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64]) []
Inst strace (6.1-0.1 Debian:12.5/stable [amd64])
Conf libc6 (2.36-9+deb12u4 Debian-Security:12/stable-security [amd64])
Conf strace (6.1-0.1 Debian:12.5/stable [amd64])
"""

# A backport installed by hand would be replaced by the older version a dependency pins.
WITH_DOWNGRADE = """\
Inst libcrun1 [1.14.4-1~bpo12+1] (1.8.1-1+deb12u1 Debian:12.5/stable [amd64])
Inst crun (1.8.1-1+deb12u1 Debian:12.5/stable [amd64])
"""

ALREADY_INSTALLED = """\
Reading package lists...
Building dependency tree...
Reading state information...
docker.io is already the newest version (20.10.24+dfsg1-1+deb12u1+b6).
0 upgraded, 0 newly installed, 0 to remove and 117 not upgraded.
"""


def older(version: str, than: str) -> bool:
    """dpkg's order for the versions in the samples (a tilde sorts before anything)."""
    order = ["1.8.1-1+deb12u1", "1.14.4-1~bpo12+1", "2.36-9+deb12u3", "2.36-9+deb12u4"]
    return order.index(version) < order.index(than)


def test_a_removal_is_refused_and_named() -> None:
    simulation = parse_simulation(DOCKER_IO_OVER_DOCKER_CE)
    assert simulation.removes == ["docker-ce", "containerd.io", "docker-ce-cli"]
    assert [c.package for c in simulation.changes] == ["containerd", "runc", "tini", "docker.io"]
    assert refusal(simulation, older) == "installing it would remove docker-ce, containerd.io, docker-ce-cli"


def test_new_packages_are_allowed() -> None:
    simulation = parse_simulation(NEW_ONLY)
    assert simulation.removes == []
    assert Change("cowsay", "", "3.03+dfsg2-8") in simulation.changes
    assert refusal(simulation, older) is None


def test_an_upgrade_in_place_is_allowed_a_downgrade_is_not() -> None:
    upgrade = parse_simulation(WITH_UPGRADE)
    assert upgrade.changes[0] == Change("libc6", "2.36-9+deb12u3", "2.36-9+deb12u4")
    assert refusal(upgrade, older) is None
    assert refusal(parse_simulation(WITH_DOWNGRADE), older) == "installing it would downgrade libcrun1"


def test_nothing_to_do() -> None:
    assert parse_simulation(ALREADY_INSTALLED) == Simulation([], [])


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg (a Debian machine)")
def test_dpkg_orders_versions() -> None:
    assert apt_install.dpkg_older("1.8.1-1+deb12u1", "1.14.4-1~bpo12+1")
    assert not apt_install.dpkg_older("2.36-9+deb12u4", "2.36-9+deb12u3")


def test_a_conflict_skips_one_package_not_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = {"docker.io": DOCKER_IO_OVER_DOCKER_CE, "podman": NEW_ONLY, "busybox-static": NEW_ONLY}
    installs: list[list[str]] = []
    monkeypatch.setattr(apt_install.os, "geteuid", lambda: 0)
    monkeypatch.setattr(apt_install.Apt, "installed", staticmethod(lambda package: package == "tmux"))
    monkeypatch.setattr(apt_install.Apt, "simulate", lambda self, p: (parse_simulation(samples[p]), ""))
    monkeypatch.setattr(apt_install.Apt, "install", lambda self, packages: installs.append(packages) or True)
    skipped = tmp_path / "skipped.json"
    args = ["--log", str(tmp_path / "log"), "--skipped", str(skipped)]
    assert apt_install.main([*args, "busybox-static tmux", "podman docker.io"]) == 0
    assert installs == [["busybox-static"], ["podman"]]
    out = capsys.readouterr().out.splitlines()
    assert (
        "apt: skipping docker.io: installing it would remove docker-ce, containerd.io, docker-ce-cli" in out
    )
    assert json.loads(skipped.read_text()) == {
        "docker.io": "installing it would remove docker-ce, containerd.io, docker-ce-cli"
    }


def test_a_test_that_needs_a_skipped_package_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests import conftest

    record = tmp_path / "apt-skipped.json"
    record.write_text(json.dumps({"docker.io": "installing it would remove docker-ce, docker-ce-cli"}))
    monkeypatch.setattr(conftest, "APT_SKIPPED", record)
    monkeypatch.setenv("PATH", str(tmp_path))  # no dockerd, no podman
    assert conftest.needs_program("dockerd", "docker.io", "Docker's docker-ce") == (
        "needs dockerd (Debian package docker.io, or Docker's docker-ce); "
        "make test did not install docker.io: installing it would remove docker-ce, docker-ce-cli"
    )
    assert conftest.needs_program("podman", "podman") == "needs podman (Debian package podman)"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert conftest.needs_program("sh", "dash") is None
