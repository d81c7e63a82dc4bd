"""Every guided lesson's checks can pass on arm64 too: a call they match by name exists there, or
the check also names the form arm64 has (mkdirat for mkdir, unlinkat for rmdir)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from boxtrace.tracer.arch import ARCHES

GUIDED = sorted((Path(__file__).parents[2] / "lessons" / "guided").glob("*.toml"))


def _matched_names(node: Any) -> list[list[str]]:
    """The ``syscall = ...`` values of every matcher table in a lesson file."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        names = node.get("syscall")
        if isinstance(names, str | list) and (node.get("type", "syscall") == "syscall"):
            found.append([names] if isinstance(names, str) else list(names))
        for value in node.values():
            found += _matched_names(value)
    elif isinstance(node, list):
        for value in node:
            found += _matched_names(value)
    return found


@pytest.mark.parametrize("path", GUIDED, ids=lambda p: p.stem)
@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_every_check_matches_a_call_the_arch_has(path: Path, arch: str) -> None:
    numbers = ARCHES[arch].syscall_numbers
    matchers = _matched_names(tomllib.loads(path.read_text()))
    assert matchers
    for names in matchers:
        assert any(n in numbers for n in names), f"{path.name}: {names} has no {arch} call"
