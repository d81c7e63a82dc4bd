"""The embedded default image: busybox when present, else assembled from host binaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from boxtrace.runtime.image import default_image
from tests.conftest import needs_root


def test_host_binaries_image_is_complete(tmp_path: Path) -> None:
    rootfs = Path(default_image(busybox=None, cache=str(tmp_path)))
    assert rootfs.name.startswith("default-host-")
    for program in (
        "sh",
        "ls",
        "cat",
        "echo",
        "ps",
        "hostname",
        "id",
        "mount",
        "grep",
        "sleep",
        "true",
        "dd",
        "head",
        "wc",
    ):
        assert (rootfs / "bin" / program).is_file(), program
    loader = [p for p in rootfs.rglob("ld-linux*")]
    assert loader, "dynamic loader not copied"
    # a second call reuses the cached image
    assert default_image(busybox=None, cache=str(tmp_path)) == str(rootfs)


@needs_root
def test_container_runs_on_host_binaries_image(tmp_path: Path) -> None:
    rootfs = default_image(busybox=None, cache=str(tmp_path))
    code = (
        "import sys\n"
        "from boxtrace.runtime.container import Container, run\n"
        "from boxtrace.runtime.spec import default_spec\n"
        f"spec = default_spec({rootfs!r})\n"
        "spec.process.args = ['sh', '-c', 'echo pid=$$; hostname; ls /bin | wc -l']\n"
        f"sys.exit(run(Container(id='imgtest{os.getpid()}', spec=spec, rootless=False, lower={rootfs!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout.split()
    assert out[:2] == ["pid=1", "boxtrace"]
    assert int(out[2]) >= 14
