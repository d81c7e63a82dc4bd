"""Running a guided lesson: its command under the tracer with the console printer, the explanation
of each call it discusses under its line, then its checks. Used by `boxtrace lessons`."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from boxtrace.lessons.guided import CheckResult, Lesson
    from boxtrace.tracer.events import Event
    from boxtrace.tracer.messages import Message, TraceResult

# A fixed PATH: the trace then shows one execve per program, not one failed try per PATH entry of
# whoever runs the lesson, and the lesson runs the same programs everywhere.
LESSON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

EXIT_CHECK_FAILED = 1
EXIT_CANNOT_RUN = 3


def lesson_text(lesson: Lesson, answers: bool = False) -> str:
    """The lesson as Markdown: title, summary, text, the command, questions (and answers)."""
    import shlex

    lines = [f"# {lesson.title}", "", f"*{lesson.summary}*", "", lesson.text.strip(), ""]
    lines += ["## The command", "", "```sh", shlex.join(lesson.command), "```", ""]
    lines += ["## Questions", ""]
    for i, q in enumerate(lesson.questions, 1):
        lines.append(f"{i}. {q.ask}")
        if answers and q.answer:
            lines.append(f"   *Answer:* {q.answer}")
    if lesson.man:
        lines += ["", "See " + ", ".join(lesson.man) + "."]
    return "\n".join(lines) + "\n"


@dataclass
class LessonRun:
    """What running a lesson produced: every event, how the command ended, each check's result."""

    lesson: Lesson
    result: TraceResult
    events: list[Event] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


class _LessonPrinter:
    """The console printer, plus the explanation of each event the lesson discusses, under its line."""

    def __init__(self, lesson: Lesson, out: TextIO, err: TextIO, color: bool | None) -> None:
        from boxtrace.console import PlainPrinter
        from boxtrace.lessons.explain import explain

        self.lesson = lesson
        self.out = out
        self.printer = PlainPrinter(out, err, color)
        self.explain = explain
        self.events: list[Event] = []
        self.lock = threading.Lock()
        self.explain_error: str | None = None

    def __call__(self, batch: list[Message]) -> None:
        from boxtrace.tracer.messages import ProcessEvent, SyscallFinished

        pending: list[Message] = []
        for msg in batch:
            pending.append(msg)
            if isinstance(msg, SyscallFinished | ProcessEvent):
                with self.lock:
                    self.events.append(msg.event)
                if self.lesson.is_breakpoint(msg.event):
                    self.printer(pending)
                    pending = []
                    self._explain(msg.event)
        if pending:
            self.printer(pending)

    def _explain(self, event: Event) -> None:
        if self.explain_error is not None:
            return
        try:
            ex = self.explain(event)
        except Exception as exc:
            # The lesson's trace and checks matter more than its commentary: go on without it.
            self.explain_error = f"{type(exc).__name__}: {exc}"
            self.printer._note(f"explanations unavailable: {self.explain_error}")
            return
        style = self.printer.style
        text = " ".join(ex.what.split())
        self.out.write(style(f"          ▶ {ex.title}", "bold cyan") + "\n")
        if text:
            self.out.write(f"            {text}\n")
        if ex.man:
            self.out.write(style(f"            man {', '.join(ex.man)}", "dim") + "\n")
        self.out.flush()


def run_lesson(
    lesson: Lesson,
    out: TextIO | None = None,
    err: TextIO | None = None,
    color: bool | None = None,
    record: str | None = None,
) -> LessonRun:
    """Run ``lesson``'s command under the tracer, print it live, and evaluate the checks.

    Raises ``RuntimeError`` naming what is missing when the lesson cannot run here (not root, no runc...).
    """
    from boxtrace.lessons.guided import Outcome, evaluate, missing_requirements, prepare
    from boxtrace.tracer.session import CommandNotFound, TraceConfig, TraceSession

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    missing = missing_requirements(lesson)
    if missing:
        raise RuntimeError(f"lesson {lesson.id} needs {', '.join(missing)}")
    printer = _LessonPrinter(lesson, out, err, color)
    # The lesson's bundle, files and runc state live in a fresh directory, removed afterwards.
    with tempfile.TemporaryDirectory(prefix=f"boxtrace-lesson-{lesson.id}-") as work:
        os.chmod(work, 0o755)  # a lesson may drop privileges (setpriv) and still need its files
        command = prepare(lesson, work, f"bxlesson-{uuid.uuid4().hex[:10]}")
        try:
            config = TraceConfig(
                command=command, output=record, cwd=work, env=dict(os.environ, PATH=LESSON_PATH)
            )
            session = TraceSession(config, printer)
        except CommandNotFound as exc:
            raise RuntimeError(f"lesson {lesson.id}: {exc}") from None
        session.start()
        result = session.wait(lesson.timeout)
        if result is None:
            session.stop()
            result = session.wait(15)
            if result is None:
                session.stop(force=True)
                result = session.wait(15)
            assert result is not None, "the traced lesson did not end"
            printer.printer._note(f"lesson {lesson.id}: stopped after {lesson.timeout:g} s")
    if session.consumer_error is not None:
        raise RuntimeError(f"lesson {lesson.id}: printing the trace failed: {session.consumer_error!r}")
    with printer.lock:
        events = list(printer.events)
    outcome = Outcome(result.exit_code, result.exit_status, result.signal)
    return LessonRun(lesson, result, events, evaluate(lesson, events, outcome))


def run_lesson_tui(lesson: Lesson, record: str | None = None) -> LessonRun:
    """Run ``lesson`` in the TUI: its text first, held at the start and at every call it discusses.

    Raises ``RuntimeError`` like :func:`run_lesson` when the lesson cannot run here.
    """
    from boxtrace.lessons.guided import Outcome, evaluate, missing_requirements, prepare
    from boxtrace.tracer.session import CommandNotFound, TraceConfig
    from boxtrace.tracing import tui_export_options
    from boxtrace.tui.launch import load_keymap, run_live
    from boxtrace.tui.options import TuiOptions

    missing = missing_requirements(lesson)
    if missing:
        raise RuntimeError(f"lesson {lesson.id} needs {', '.join(missing)}")
    formats, exporter = tui_export_options()
    options = TuiOptions(
        title=lesson.title,
        intro=lesson.text,
        step=True,
        break_names=lesson.break_syscalls,
        break_categories=lesson.break_categories,
        keymap=load_keymap(),
        export_formats=formats,
        exporter=exporter,  # type: ignore[arg-type]
    )
    with tempfile.TemporaryDirectory(prefix=f"boxtrace-lesson-{lesson.id}-") as work:
        os.chmod(work, 0o755)  # a lesson may drop privileges (setpriv) and still need its files
        command = prepare(lesson, work, f"bxlesson-{uuid.uuid4().hex[:10]}")
        config = TraceConfig(command=command, output=record, cwd=work, env=dict(os.environ, PATH=LESSON_PATH))
        try:
            outcome = run_live(config, options)
        except CommandNotFound as exc:
            raise RuntimeError(f"lesson {lesson.id}: {exc}") from None
    if outcome.result is None:
        raise RuntimeError(f"lesson {lesson.id}: {outcome.error or 'the trace did not finish'}")
    result = outcome.result
    checks = evaluate(lesson, outcome.events, Outcome(result.exit_code, result.exit_status, result.signal))
    return LessonRun(lesson, result, list(outcome.events), checks)


def print_checks(run: LessonRun, out: TextIO, color: bool) -> None:
    from boxtrace.console import _plain, rich_styler

    style = rich_styler() if color else _plain
    out.write("\n" + style("Checks: what this lesson claims, confirmed against the trace", "bold") + "\n")
    for r in run.checks:
        mark = style("PASS", "bold green") if r.passed else style("FAIL", "bold red")
        out.write(f"  {mark}  {r.check.claim}\n        {style(r.detail, 'dim')}\n")
    failed = sum(not r.passed for r in run.checks)
    summary = f"{len(run.checks) - failed}/{len(run.checks)} checks passed"
    out.write(style(summary, "bold green" if not failed else "bold red") + "\n")


def run_command(lesson: Lesson, record: str | None, tui: bool = False) -> int:
    out = sys.stdout
    color = out.isatty()
    if not tui:
        out.write(lesson_text(lesson).split("## Questions")[0])
        out.write("## Live trace\n\n")
        out.flush()
    try:
        run = run_lesson_tui(lesson, record) if tui else run_lesson(lesson, out, sys.stderr, color, record)
    except RuntimeError as exc:
        print(f"boxtrace lessons: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as exc:
        print(f"boxtrace lessons: cannot run lesson {lesson.id}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print_checks(run, out, color)
    out.write("\n## Questions\n\n")
    for i, q in enumerate(lesson.questions, 1):
        out.write(f"{i}. {q.ask}\n")
    out.flush()
    return 0 if run.passed else EXIT_CHECK_FAILED
