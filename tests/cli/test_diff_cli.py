"""`boxtrace diff A B`: bad input, the formats, and real traces recorded here as root (boxtrace's
runtime vs runc on one busybox bundle, rootful vs rootless)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import boxtrace, make_busybox_bundle, needs_root

HEX_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])")
TRACE = Path(__file__).resolve().parents[1] / "tui" / "data" / "container-start.jsonl"


def test_the_same_trace_twice_says_no_difference() -> None:
    proc = boxtrace("diff", str(TRACE), str(TRACE))
    assert proc.returncode == 0, proc.stderr
    assert "no difference" in proc.stdout
    assert "only in" not in proc.stdout


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("hello\n"), "not valid JSON"),
        (lambda p: p.write_text('{"type":"header","format":"other"}\n'), "not a boxtrace trace"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, make: object, problem: str) -> None:
    bad = tmp_path / "bad.jsonl"
    make(bad)  # type: ignore[operator]
    proc = boxtrace("diff", str(TRACE), str(bad))
    assert proc.returncode == 2
    assert problem in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_cut_off_last_line_is_a_warning(tmp_path: Path) -> None:
    data = TRACE.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) - 20])
    proc = boxtrace("diff", str(TRACE), str(cut), "--plain")
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "cut off" in proc.stderr
    assert "A: boxtrace (A)" in proc.stdout


def test_formats(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    lines = [ln for ln in TRACE.read_text().splitlines() if '"name":"sethostname"' not in ln]
    other.write_text("\n".join(lines) + "\n")
    text = boxtrace("diff", str(TRACE), str(other), "--plain", "--names", "before,after").stdout
    assert "before also does 1 thing after does not" in text
    assert "Set the container's hostname" in text
    md = boxtrace("diff", str(TRACE), str(other), "--format", "md").stdout
    assert md.startswith("# boxtrace (A) vs boxtrace (B)") and "| only in boxtrace (A) |" in md
    out = tmp_path / "diff.html"
    proc = boxtrace("diff", str(TRACE), str(other), "--format", "html", "-o", str(out))
    assert proc.returncode == 0 and out.read_text().startswith("<!doctype html>")
    data = json.loads(boxtrace("diff", str(TRACE), str(other), "--format", "json").stdout)
    only = [r for p in data["phases"] for r in p["rows"] if r["kind"] == "only_a"]
    assert [r["a"]["syscall"] for r in only] == ["sethostname"]
    assert data["identical"] is False


def test_tui_with_a_format_is_a_usage_error() -> None:
    proc = boxtrace("diff", str(TRACE), str(TRACE), "--tui", "--format", "md")
    assert proc.returncode == 2 and "--tui" in proc.stderr


# --- real traces --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("runc") is None:
        pytest.skip("needs runc (Debian package runc)")
    tmp = tmp_path_factory.mktemp("difftraces")
    bundle = make_busybox_bundle(tmp / "bundle")
    traces = {name: tmp / f"{name}.jsonl" for name in ("boxtrace", "runc", "rootless")}
    runs = {
        "boxtrace": ("run", str(bundle), "--plain", "-q", "-o", str(traces["boxtrace"]), "--", "true"),
        "runc": (
            "trace",
            "-q",
            "-o",
            str(traces["runc"]),
            "--",
            "runc",
            "run",
            "-b",
            str(bundle),
            "btdiff-test",
        ),
        "rootless": ("run", "--rootless", "-q", "-o", str(traces["rootless"]), "--", "true"),
    }
    for name, args in runs.items():
        proc = boxtrace(*args, timeout=120)
        assert proc.returncode == 0, (name, proc.stderr)
    return traces


@needs_root
def test_boxtrace_vs_runc(real_traces: dict[str, Path]) -> None:
    proc = boxtrace("diff", str(real_traces["boxtrace"]), str(real_traces["runc"]), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["a"]["name"], data["b"]["name"]) == ("boxtrace", "runc")
    rows = {p["phase"]: p["rows"] for p in data["phases"]}
    # runc re-executes itself from a sealed copy of its binary before it does anything else.
    prepare_b = [r["b"] for r in rows["prepare"] if r["kind"] == "only_b"]
    assert any(s["syscall"] == "execveat" for s in prepare_b)
    # The root mount's propagation: boxtrace MS_PRIVATE, runc MS_SLAVE: one step, other arguments.
    propagation = [
        r
        for r in rows["filesystem"]
        if r["kind"] == "changed" and r["a"]["key"][:3] == ["mount", "propagation", "/"]
    ]
    assert propagation and {"field": "propagation", "a": "private", "b": "slave"} in propagation[0]["changes"]
    # runc mounts /proc through an O_PATH fd; matched to boxtrace's mount of <rootfs>/proc.
    proc_mount = next(
        r
        for r in rows["filesystem"]
        if r["kind"] == "changed" and r["a"]["key"] == ["mount", "mount", "/proc"]
    )
    assert {"field": "target", "a": "<rootfs>/proc", "b": "/proc/self/fd/<n>"} in proc_mount["changes"]
    # Namespaces: boxtrace clones into them, runc unshares: the same step, another syscall.
    ns = [r for r in rows["namespaces"] if r["kind"] == "changed"]
    assert ns and ns[0]["a"]["syscall"] == "clone" and ns[0]["b"]["syscall"] == "unshare"
    text = boxtrace("diff", str(real_traces["boxtrace"]), str(real_traces["runc"]), "--plain").stdout
    assert "runc also does" in text and "the 5 that matter most" in text
    assert_no_raw_ids(text, "btdiff-test")
    # Cgroups are made and removed by name: runc's "mkdirat <id>", boxtrace's "mkdir <id>".
    assert "(mkdirat <id>)" in text and "(mkdir <id>)" in text and "(unlinkat <id>)" in text


def assert_no_raw_ids(text: str, *names: str) -> None:
    """No container id in a report: boxtrace's are 12 hex digits, the others are given names."""
    leaked = [line for line in text.splitlines() if HEX_ID.search(line) or any(n in line for n in names)]
    assert not leaked, leaked


@needs_root
def test_rootful_vs_rootless(real_traces: dict[str, Path]) -> None:
    proc = boxtrace("diff", str(real_traces["boxtrace"]), str(real_traces["rootless"]), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["b"]["name"] == "boxtrace rootless"
    rows = [r for p in data["phases"] for r in p["rows"]]
    only_b = [r["b"] for r in rows if r["kind"] == "only_b"]
    # Rootless: the id maps are written, which the rootful start never does.
    assert {"uid_map", "gid_map"} <= {s["key"][1] for s in only_b if s["category"] == "idmap"}
    ns = [r for r in rows if r["kind"] == "changed" and r["a"]["key"] == ["new namespaces"]]
    assert any("user" in c["b"] and "user" not in c["a"] for r in ns for c in r["changes"])
    text = boxtrace("diff", str(real_traces["boxtrace"]), str(real_traces["rootless"]), "--plain").stdout
    assert_no_raw_ids(text)
    assert_no_raw_ids(proc.stdout)


@needs_root
def test_two_runs_of_one_runtime_are_no_difference(real_traces: dict[str, Path], tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl"
    proc = boxtrace("run", "--plain", "-q", "-o", str(again), "--", "true", timeout=120)
    assert proc.returncode == 0, proc.stderr
    first = tmp_path / "first.jsonl"
    assert boxtrace("run", "--plain", "-q", "-o", str(first), "--", "true", timeout=120).returncode == 0
    proc = boxtrace("diff", str(first), str(again), "--plain")
    assert proc.returncode == 0 and "no difference" in proc.stdout, proc.stdout
