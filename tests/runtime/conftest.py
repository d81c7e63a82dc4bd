"""The ``rt`` fixture of the OCI tests: a boxtrace-runtime with a --root of the test's own, and a
check that the test left no container, cgroup or mount of its own behind; ``nobody_env``, what the
rootless tests run the runtime with as the user nobody."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, boxtrace_cgroups, host_mounts
from tests.runtime.oci_runtime import TEST_ID_PREFIXES, Runtime


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(tmp_path / "state", tmp_path)
    mounts_before = host_mounts()
    cgroups_before = boxtrace_cgroups()
    yield runtime
    leftovers = sorted(os.listdir(runtime.root)) if runtime.root.exists() else []
    for name in leftovers:
        runtime("delete", "--force", name)
    assert not leftovers, f"test left containers: {leftovers}"
    assert not [d for d in runtime.cgroups if os.path.exists(d)], "test left cgroups of its containers"
    if os.environ.get("BOXTRACE_TESTS_CONCURRENT") != "1":
        # Also those of a create that failed; another session's tests would use the same names.
        ours = tuple(f"boxtrace-{prefix}" for prefix in TEST_ID_PREFIXES)
        assert not {c for c in boxtrace_cgroups() - cgroups_before if os.path.basename(c).startswith(ours)}
    assert not {m for m in host_mounts() - mounts_before if str(tmp_path) in m}


@pytest.fixture(scope="session")
def nobody_package() -> Iterator[Path]:
    """A directory for PYTHONPATH that the user nobody can read, holding ``boxtrace.runtime``: copies
    of the package's ``__init__.py`` and of runtime/, every directory 0755 and file 0644 whatever
    the checkout's own modes are."""
    top = Path(tempfile.mkdtemp(prefix="boxtrace-rootless-pkg-"))
    package = top / "boxtrace"
    package.mkdir()
    shutil.copyfile(REPO / "boxtrace" / "__init__.py", package / "__init__.py")
    shutil.copytree(REPO / "runtime", package / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    for directory, _subdirs, files in os.walk(top):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    yield top
    shutil.rmtree(top)


@pytest.fixture
def nobody_env(nobody_package: Path) -> Iterator[dict[str, str]]:
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    # pytest's own tmp_path lives under a 0700 directory that nobody cannot enter.
    tmp_path = Path(tempfile.mkdtemp(prefix="boxtrace-rootless-test-"))
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    tmp_path.chmod(0o755)
    yield {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(nobody_package),
        "XDG_RUNTIME_DIR": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    shutil.rmtree(tmp_path)
