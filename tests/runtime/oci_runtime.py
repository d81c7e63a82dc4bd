"""`boxtrace-runtime --root ROOT ...` for the OCI tests, and the ``rt`` fixture's helpers.

The container's stdout and stderr go to files, as conmon and containerd pass pipes or fifos: with
a pipe, waiting for the create command's output would wait for the container's end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import make_busybox_bundle

RUNTIME = [sys.executable, "-m", "boxtrace.runtime"]
# Every container id of the OCI tests starts with one of these: the fixture looks for their cgroups.
TEST_ID_PREFIXES = ("lc-", "ex-")


class Runtime:
    """`boxtrace-runtime --root ROOT ...`, the container's output in files."""

    def __init__(self, root: Path, out_dir: Path) -> None:
        self.root = root
        self.out = out_dir / "container.out"
        self.err = out_dir / "container.err"
        # The cgroup directories of every container this runtime created: gone by the test's end.
        self.cgroups: set[str] = set()

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        with open(self.out, "a") as out, open(self.err, "a") as err:
            done = subprocess.run(
                [sys.executable, "-m", "boxtrace.runtime", "--root", str(self.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=timeout,
                check=False,
            )
        if done.returncode == 0 and args and args[0] in ("create", "run"):
            self._track(args[-1])
        # What the command itself printed is the tail of the files; tests read the files.
        return subprocess.CompletedProcess(done.args, done.returncode, "", "")

    def _track(self, container_id: str) -> None:
        try:
            facts = json.loads((self.root / container_id / "state.json").read_text())
        except (OSError, ValueError):
            return  # a runc-form run that has ended removed its state already
        self.cgroups.update(facts.get("cgroups", []))

    def json(self, *args: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-m", "boxtrace.runtime", "--root", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        loaded: dict[str, object] = json.loads(result.stdout)
        return loaded

    def fails(self, *args: str) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", "boxtrace.runtime", "--root", str(self.root), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        return result.returncode, result.stderr

    def capture(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command that ends by itself (exec without --detach) with its output captured."""
        return subprocess.run(
            [sys.executable, "-m", "boxtrace.runtime", "--root", str(self.root), *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def status(self, container_id: str) -> str:
        return str(self.json("state", container_id)["status"])

    def output(self) -> str:
        return self.out.read_text() if self.out.exists() else ""


def bundle_with(path: Path, args: list[str], **changes: object) -> Path:
    bundle = make_busybox_bundle(path, args)
    config = json.loads((bundle / "config.json").read_text())
    config.update(changes)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def wait_for(predicate: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
