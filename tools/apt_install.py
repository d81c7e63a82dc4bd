#!/usr/bin/env python3
"""Install Debian packages for `make demo` and `make test`, never at the cost of another package.

    tools/apt_install.py [--log FILE] [--skipped FILE] GROUP...

Each GROUP is a space-separated list of packages, installed with one `apt-get install`; groups
install one after another, so a group that fails does not stop the others. Before anything is
installed, each missing package's installation is simulated (`apt-get -s install PACKAGE`): one
that would remove a package (Debian's docker.io removes Docker's docker-ce and docker-ce-cli,
runc removes Docker's containerd.io) or downgrade one is skipped with a one-line reason, and the
real installs run with --no-remove as well. What was skipped, and why, is written to --skipped
(JSON) for the tests that need those packages to say why they skip.

Prints one line per step; apt's own output goes to --log. Standard library only: it runs with
whatever python3 the machine has, before the project's venv exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

# The action lines of `apt-get -s`: "Remv docker-ce [5:24.0.7-1~debian.12~bookworm]",
# "Inst runc [1.1.5+ds1-1] (1.1.5+ds1-1+deb12u1 Debian:12.5/stable [amd64])",
# "Conf runc (1.1.5+ds1-1+deb12u1 Debian:12.5/stable [amd64])". [X] is the installed version,
# (Y ...) the version apt would install.
ACTION = re.compile(r"^(Inst|Conf|Remv|Purg) (\S+)(?: \[([^\]]*)\])?(?: \((\S+))?")


class Change(NamedTuple):
    package: str
    installed: str  # the version installed now, "" for a new package
    candidate: str  # the version apt would install


class Simulation(NamedTuple):
    removes: list[str]  # packages that would be removed (Remv, Purg)
    changes: list[Change]  # packages that would be unpacked (Inst)


def parse_simulation(text: str) -> Simulation:
    """The removals and installations in the output of `apt-get -s install ...`."""
    removes: list[str] = []
    changes: list[Change] = []
    for line in text.splitlines():
        found = ACTION.match(line)
        if found is None:
            continue
        action, package, installed, candidate = found.groups()
        if action in ("Remv", "Purg"):
            removes.append(package)
        elif action == "Inst":
            changes.append(Change(package, installed or "", candidate or ""))
    return Simulation(removes, changes)


def dpkg_older(version: str, than: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", version, "lt", than], check=False).returncode == 0


def refusal(simulation: Simulation, older: Callable[[str, str], bool] = dpkg_older) -> str | None:
    """Why a package whose simulated installation is ``simulation`` must not be installed, or None."""
    if simulation.removes:
        return f"installing it would remove {', '.join(simulation.removes)}"
    downgrades = [c.package for c in simulation.changes if c.installed and older(c.candidate, c.installed)]
    if downgrades:
        return f"installing it would downgrade {', '.join(downgrades)}"
    return None


class Apt:
    """apt-get and dpkg-query, their output appended to the log."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(self, argv: list[str], capture: bool = False) -> subprocess.CompletedProcess[str]:
        with self.log.open("a") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            if not capture:
                return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, text=True)
            done = subprocess.run(argv, capture_output=True, env=self.env, text=True)
            out.write(done.stdout + done.stderr)
            return done

    @staticmethod
    def installed(package: str) -> bool:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", package], capture_output=True, text=True
        )
        return done.returncode == 0 and done.stdout.startswith("ii")

    def simulate(self, package: str) -> tuple[Simulation | None, str]:
        """The simulated installation of ``package``, or None and apt's error."""
        done = self.run(["apt-get", "-s", "install", package], capture=True)
        if done.returncode != 0:
            errors = [line[3:] for line in done.stderr.splitlines() if line.startswith("E: ")]
            return None, (errors[-1] if errors else f"apt-get -s failed (exit {done.returncode})")
        return parse_simulation(done.stdout), ""

    def update(self) -> bool:
        return self.run(["apt-get", "update"]).returncode == 0

    def install(self, packages: list[str]) -> bool:
        # --no-remove: even if the simulation missed something, apt stops rather than remove.
        argv = ["apt-get", "install", "-y", "--no-remove", "-o", "Dpkg::Use-Pty=0", *packages]
        return self.run(argv).returncode == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log", type=Path, default=Path("build/setup.log"))
    parser.add_argument("--skipped", type=Path, default=Path("build/apt-skipped.json"))
    parser.add_argument("groups", nargs="+", metavar="GROUP")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.skipped.parent.mkdir(parents=True, exist_ok=True)
    apt = Apt(args.log)

    seen: set[str] = set()
    groups: list[list[str]] = []
    for group in args.groups:
        packages = [p for p in group.split() if p not in seen]
        seen.update(packages)
        groups.append([p for p in packages if not apt.installed(p)])
    missing = [p for group in groups for p in group]
    skipped: dict[str, str] = {}
    if not missing:
        print(f"apt: {len(seen)} packages installed already")
        args.skipped.unlink(missing_ok=True)
        return 0
    if os.geteuid() != 0:
        print(f"apt: not root, cannot install {' '.join(missing)}: install them with sudo apt-get install")
        skipped = dict.fromkeys(missing, "it is not installed and make ran without root")
        args.skipped.write_text(json.dumps(skipped, indent=1) + "\n")
        return 0

    updated = False
    failed: list[str] = []
    for group in groups:
        safe = []
        for package in group:
            simulation, error = apt.simulate(package)
            if simulation is None and not updated:  # not in the package lists yet (a fresh machine)
                print(f"apt: updating the package lists (log: {args.log})")
                updated = apt.update()
                simulation, error = apt.simulate(package)
            reason = refusal(simulation) if simulation is not None else error
            if reason:
                skipped[package] = reason
                print(f"apt: skipping {package}: {reason}")
            else:
                safe.append(package)
        if not safe:
            continue
        print(f"apt: installing {' '.join(safe)} (log: {args.log})")
        ok = apt.install(safe)
        if not ok and not updated:  # stale package lists: files gone from the mirror
            updated = apt.update()
            ok = apt.install(safe)
        if not ok:
            print(f"apt: installing {' '.join(safe)} failed")
            failed.extend(safe)
    for package in failed:
        skipped[package] = f"apt-get install failed (see {args.log})"
    if skipped:
        args.skipped.write_text(json.dumps(skipped, indent=1) + "\n")
    else:
        args.skipped.unlink(missing_ok=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
