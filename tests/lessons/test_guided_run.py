"""Every lesson run for real (root): its checks must pass. Plus the lessons and export CLIs."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from boxtrace.lesson_runner import run_lesson
from boxtrace.lessons.guided import Check, find_lesson, load_lessons, missing_requirements
from tests.conftest import IS_ROOT, boxtrace, needs_root

LESSON_IDS = [lesson.id for lesson in load_lessons()]


@needs_root
@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_lesson_checks_pass(lesson_id: str) -> None:
    lesson = find_lesson(lesson_id)
    assert lesson is not None
    missing = missing_requirements(lesson)
    if missing:
        pytest.skip(f"lesson {lesson_id} needs {', '.join(missing)}")
    out = io.StringIO()
    run = run_lesson(lesson, out, io.StringIO(), color=False)
    failed = [f"{r.check.claim}: {r.detail}" for r in run.checks if not r.passed]
    assert not failed, "\n".join(failed) + "\n--- output ---\n" + out.getvalue()[-3000:]
    assert run.events


@needs_root
@pytest.mark.root
def test_a_false_claim_fails_the_run() -> None:
    lesson = find_lesson("pid-namespace")
    assert lesson is not None
    wrong = Check(claim="the shell is pid 2", kind="output", spec={"line": "my pid: 2"})
    run = run_lesson(dataclasses.replace(lesson, checks=(wrong,)), io.StringIO(), io.StringIO(), color=False)
    assert not run.passed
    assert run.checks[0].detail.startswith("no stdout line matching")


@needs_root
@pytest.mark.root
def test_lessons_run_cli_prints_checks_and_exit_status(tmp_path: Path) -> None:
    record = tmp_path / "lesson.jsonl"
    proc = boxtrace("lessons", "run", "pid-namespace", "--plain", "-o", str(record))
    assert proc.returncode == 0, proc.stderr
    assert "## Live trace" in proc.stdout
    assert "PASS  inside the new PID namespace the shell is pid 1" in proc.stdout
    assert "checks passed" in proc.stdout and "FAIL" not in proc.stdout
    assert "▶ " in proc.stdout  # a breakpoint's explanation under its line
    assert record.read_text().startswith('{"type":"header"')


@pytest.mark.skipif(IS_ROOT, reason="checks the message given to a user who is not root")
def test_lessons_run_without_root_says_why() -> None:
    proc = boxtrace("lessons", "run", "pid-namespace", "--plain")
    assert proc.returncode == 3
    assert "needs root" in proc.stderr


def test_lessons_list_one_line_each_id_first() -> None:
    proc = boxtrace("lessons", "list")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == LESSON_IDS
    assert len(lines) >= 8


def test_lessons_show_prints_text_and_questions() -> None:
    proc = boxtrace("lessons", "show", "pivot-root-vs-chroot")
    assert proc.returncode == 0
    assert proc.stdout.startswith("# pivot_root vs chroot")
    assert "## Questions" in proc.stdout and "chroot(2)" in proc.stdout
    assert "*Answer:*" not in proc.stdout
    assert "*Answer:*" in boxtrace("lessons", "show", "pivot-root-vs-chroot", "--answers").stdout


@pytest.mark.parametrize("action", ["show", "run"])
def test_unknown_lesson_is_one_line_exit_2(action: str) -> None:
    proc = boxtrace("lessons", action, "no-such-lesson")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no lesson 'no-such-lesson'" in proc.stderr
    assert proc.stdout == ""


def test_lessons_without_action_is_a_usage_error() -> None:
    proc = boxtrace("lessons")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


# ---- boxtrace export with the annotated formats ----


def trace_file(tmp_path: Path) -> Path:
    from boxtrace.tracer.tracefile import TraceWriter
    from tests.lessons.export_fixtures import HEADER, events

    path = tmp_path / "t.jsonl"
    with TraceWriter(str(path), HEADER) as writer:
        writer.write_events(events())
    return path


@pytest.mark.parametrize("fmt", ["md", "html", "json", "perfetto", "strace"])
def test_export_cli_writes_each_format(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    proc = boxtrace("export", str(trace_file(tmp_path)), "--format", fmt, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "mount(" in text or '"mount"' in text
    if fmt in ("json", "perfetto"):
        json.loads(text)


def test_export_cli_errors_are_one_line(tmp_path: Path) -> None:
    proc = boxtrace("export", str(tmp_path / "missing.jsonl"), "--format", "md")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    proc = boxtrace("export", str(trace_file(tmp_path)), "--format", "pdf")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    proc = boxtrace("export", str(bad), "--format", "html")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
