"""The layering rule of DESIGN.md: who may import whom, checked in a fresh interpreter per package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# package folder -> module prefixes it must never load (directly or through its imports)
FORBIDDEN = {
    "runtime": ("rich", "textual", "ptrace", "boxtrace.tracer", "boxtrace.lessons", "boxtrace.tui"),
    "tracer": ("rich", "textual", "boxtrace.runtime", "boxtrace.lessons", "boxtrace.tui"),
    "lessons": ("textual", "boxtrace.runtime", "boxtrace.tui"),
    # The TUI sits under the CLI: exporters and commands are handed to it, never imported.
    "tui": ("boxtrace.runtime", "boxtrace.commands", "boxtrace.exporters", "boxtrace.cli"),
}


def modules_of(folder: str) -> list[str]:
    names = []
    for path in sorted((REPO / folder).rglob("*.py")):
        relative = path.relative_to(REPO / folder).with_suffix("")
        parts = [p for p in relative.parts if p != "__init__"]
        if parts and parts[-1] == "__main__":
            continue
        names.append(".".join(["boxtrace", folder, *parts]))
    return names


def loaded_after_import(modules: list[str], then: str = "") -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"{then}\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(folder: str) -> None:
    if not (REPO / folder).is_dir():
        pytest.skip(f"no {folder}/ yet")
    loaded = loaded_after_import(modules_of(folder))
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN[folder])]
    assert not bad, f"{folder}/ loads {bad}"


# Modules whose import costs milliseconds every start: no command may load them before its main().
# (shutil is not listed: argparse's help formatter imports it for every parser it builds.)
SLOW_TO_IMPORT = (
    "rich",
    "textual",
    "ptrace",
    "dataclasses",
    "inspect",
    "typing",
    "tempfile",
    "uuid",
)


def test_untraced_run_path_loads_no_ui_or_tracer() -> None:
    # Building the whole parser (every subcommand's add_parser) is part of every start.
    build = (
        "import contextlib, io\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        "    sys.modules['boxtrace.cli'].main(['run', '--no-trace', '--pids', '0'])"
    )
    loaded = loaded_after_import(
        ["boxtrace.cli", "boxtrace.runtime.launch", "boxtrace.runtime.container"], build
    )
    bad = [
        m
        for m in loaded
        if m.split(".")[0] in SLOW_TO_IMPORT
        or m.startswith(("boxtrace.tracer", "boxtrace.lessons", "boxtrace.tui.", "boxtrace.exporters."))
    ]
    assert not bad, f"`boxtrace run --no-trace` would load {bad}"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = {
        "boxtrace": "boxtrace",
        "tracer": "boxtrace.tracer",
        "runtime": "boxtrace.runtime",
        "lessons": "boxtrace.lessons",
        "tui": "boxtrace.tui",
    }
    for folder, package in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            sub = init.parent.relative_to(REPO / folder).parts
            assert ".".join([package, *sub]) in listed, f"{init.parent} is missing from pyproject packages"


def test_folders_exist() -> None:
    for folder in ("boxtrace", "tracer", "runtime", "lessons", "tui", "tests", "bench", "docs"):
        assert Path(REPO, folder).is_dir(), folder
