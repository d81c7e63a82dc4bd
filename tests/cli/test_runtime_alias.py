"""`boxtrace runtime ...` is boxtrace-runtime's command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import boxtrace


def test_runtime_alias_passes_everything_through(tmp_path: Path) -> None:
    done = boxtrace("runtime", "spec", "--bundle", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "config.json").read_text())["ociVersion"]
    version = boxtrace("runtime", "--version")
    assert version.returncode == 0 and version.stdout.startswith("boxtrace-runtime version")
    # The runtime's own global options are its, not boxtrace's.
    listed = boxtrace("runtime", "--root", str(tmp_path / "state"), "list")
    assert listed.returncode == 0 and listed.stdout.split()[:2] == ["ID", "PID"]


def test_runtime_alias_errors_are_the_runtimes() -> None:
    done = boxtrace("runtime", "no-such-command")
    assert done.returncode == 2
    assert done.stderr.startswith("boxtrace-runtime: error:") and "Traceback" not in done.stderr


def test_help_lists_the_runtime_alias() -> None:
    assert "runtime" in boxtrace("--help").stdout
