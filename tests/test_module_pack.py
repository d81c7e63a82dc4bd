"""The commands' module packs (boxtrace/module_pack.py): served when fresh, never when stale,
foreign or damaged, written again only when something changed, and only by the process that
installed the pack. Each check runs fresh interpreters with their packs in a temporary directory."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

from boxtrace.module_pack import Entry, write_pack

MODULE = "boxtrace.tracer.plain"
# What a process of a command does: install the pack, import, say how the module was loaded.
PROBE = f"""\
import sys
from boxtrace.module_pack import install
install("probe")
import {MODULE} as module
print(type(module.__spec__.loader).__name__, module.__file__, module.Frozen.__name__)
"""


def _run(pack_dir: Path, code: str = PROBE, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOXTRACE_MODULE_PACK": str(pack_dir)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _pack(pack_dir: Path) -> Path:
    (path,) = pack_dir.glob("modules-probe-*.pack")
    return path


def _index(pack: Path) -> tuple[str, dict[str, Entry]]:
    """The package directory a pack was made for, and its index, read as the format says (not with
    read_pack: the probe's boxtrace may be the install's, not the one this test imported)."""
    blob = pack.read_bytes()
    (_, _, _, package_dir), index = marshal.loads(blob[8 : 8 + int.from_bytes(blob[4:8], "little")])
    return package_dir, index


def test_the_second_start_is_served_by_the_pack_and_does_not_write_it(tmp_path: Path) -> None:
    first = _run(tmp_path).stdout.split()
    assert first[0] != "PackFinder"
    pack = _pack(tmp_path)
    _, index = _index(pack)
    assert MODULE in index and index[MODULE][0] == first[1]
    written = pack.stat().st_mtime_ns

    second = _run(tmp_path).stdout.split()
    assert second == ["PackFinder", first[1], "Frozen"]  # same file, same code
    assert pack.stat().st_mtime_ns == written  # nothing changed: not written again


def _poisoned_pack(pack_dir: Path, *, stale: bool) -> Path:
    """The probe's pack, its code for MODULE replaced by code that exits with status 99 if it is
    ever run; its source's size and mtime as they are, or (``stale``) an mtime that is not."""
    source = _run(pack_dir).stdout.split()[1]
    path = _pack(pack_dir)
    info = os.stat(source)
    poison = marshal.dumps(compile("raise SystemExit(99)", source, "exec"))
    mtime = info.st_mtime_ns - 1 if stale else info.st_mtime_ns
    write_pack(str(path), {MODULE: (source, False, info.st_size, mtime, poison)})
    return path


def test_a_module_whose_source_changed_is_imported_as_usual_and_the_pack_rewritten(tmp_path: Path) -> None:
    path = _poisoned_pack(tmp_path, stale=True)
    out = _run(tmp_path).stdout.split()
    assert out[0] != "PackFinder" and out[2] == "Frozen"  # the poisoned code never ran
    _, index = _index(path)
    assert index[MODULE][3] == os.stat(out[1]).st_mtime_ns  # written again, with the source's
    assert _run(tmp_path).stdout.split()[0] == "PackFinder"


def test_a_pack_others_may_write_is_not_read(tmp_path: Path) -> None:
    path = _poisoned_pack(tmp_path, stale=False)
    path.chmod(0o666)
    out = _run(tmp_path).stdout.split()
    assert out[0] != "PackFinder" and out[2] == "Frozen"
    assert path.stat().st_mode & 0o777 == 0o644  # replaced by a pack of its own


def test_a_damaged_pack_is_not_read(tmp_path: Path) -> None:
    _run(tmp_path)
    pack = _pack(tmp_path)
    pack.write_bytes(pack.read_bytes()[:100])
    assert _run(tmp_path).stdout.split()[0] != "PackFinder"
    assert _run(tmp_path).stdout.split()[0] == "PackFinder"  # written whole again


def test_only_the_process_that_installed_the_pack_writes_it(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from boxtrace.module_pack import install\n"
        "install('probe')\n"
        "if os.fork() == 0:\n"
        f"    import {MODULE}\n"
        "    sys.exit(0)\n"  # runs the atexit handlers the parent installed
        "os.wait()\n"
        "os._exit(0)\n"
    )
    _run(tmp_path, code)
    assert list(tmp_path.glob("modules-probe-*")) == []


def test_packs_can_be_turned_off(tmp_path: Path) -> None:
    env = {**os.environ, "BOXTRACE_MODULE_PACK": "0", "XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] != "PackFinder"
    assert list(tmp_path.rglob("*.pack")) == []


def test_the_installed_command_runs_with_its_pack(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "boxtrace"
    env = {**os.environ, "BOXTRACE_MODULE_PACK": str(tmp_path)}
    runs = [
        subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, check=False)
        for _ in range(2)
    ]
    assert [(r.returncode, r.stdout) for r in runs] == [(0, runs[0].stdout)] * 2
    assert "boxtrace" in runs[0].stdout
    (pack,) = tmp_path.glob("modules-boxtrace-*.pack")
    package_dir, index = _index(pack)
    assert "boxtrace.cli" in index and index["boxtrace.cli"][0].startswith(package_dir)


def test_code_from_a_pyc_compiled_under_another_name_gets_the_files_name(tmp_path: Path) -> None:
    """compileall of a relative path (as `make venv` runs it) stores that relative name in each
    .pyc; the import system renames the code at every load, and so must the pack, once, or its
    tracebacks name a file that is not there from another directory, and show no source line."""
    import py_compile
    import types

    from boxtrace.module_pack import _code_of

    source = tmp_path / "mod.py"
    source.write_text("def f():\n    return 1\n")
    cached = tmp_path / "mod.pyc"
    py_compile.compile(str(source), cfile=str(cached), dfile="build/elsewhere/mod.py", doraise=True)
    code = marshal.loads(_code_of(str(source), str(cached), os.stat(source)))
    inner = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    assert (code.co_filename, inner.co_filename) == (str(source), str(source))
