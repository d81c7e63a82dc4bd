"""`boxtrace lessons`: list, show and run the guided lessons (``lessons/guided/*.toml``).

``run`` traces the lesson's command with the same session and console printer as ``boxtrace trace``,
explains the calls the lesson discusses (its breakpoints) right under their lines, then evaluates the
lesson's checks and prints each one's result; the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing and the runner's imports cost start-up time of every boxtrace command
if TYPE_CHECKING:
    from typing import Any

    from boxtrace.lessons.guided import Lesson

DESCRIPTION = """\
Guided lessons: each runs a real container (or unshare, runc...) under the tracer, explains the
system calls it is about, asks questions, and checks that what it teaches really happened.

examples:
  boxtrace lessons list
  boxtrace lessons show pid-namespace
  boxtrace lessons show pid-namespace --answers
  sudo boxtrace lessons run pid-namespace --plain
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "lessons",
        help="guided lessons: list, show, run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="one lesson a line, its id first")
    show = actions.add_parser("show", help="the lesson's text and questions")
    show.add_argument("id", metavar="ID")
    show.add_argument("--answers", action="store_true", help="also print the answers (for teachers)")
    run = actions.add_parser("run", help="run the lesson under the tracer and check its claims")
    run.add_argument("id", metavar="ID")
    run.add_argument(
        "--plain",
        action="store_true",
        help="plain text, not the TUI (the default when stdout is not a terminal)",
    )
    run.add_argument("-o", "--output", metavar="FILE", help="also record the trace to FILE (JSON Lines)")
    return "lessons"


def _lesson(lesson_id: str) -> Lesson:
    from boxtrace.lessons.guided import LessonError, find_lesson

    try:
        lesson = find_lesson(lesson_id)
    except LessonError as exc:
        raise UsageError(str(exc), "boxtrace lessons") from None
    if lesson is None:
        raise UsageError(f"no lesson {lesson_id!r} (see 'boxtrace lessons list')", "boxtrace lessons")
    return lesson


def main(args: argparse.Namespace) -> int:
    if args.action is None:
        raise UsageError("missing ACTION: list, show or run", "boxtrace lessons")
    if args.action == "list":
        from boxtrace.lessons.guided import LessonError, load_lessons

        try:
            lessons = load_lessons()
        except LessonError as exc:
            print(f"boxtrace lessons: {exc}", file=sys.stderr)
            return 1
        width = max((len(lesson.id) for lesson in lessons), default=0)
        for lesson in lessons:
            print(f"{lesson.id:<{width}}  {lesson.title}")
        return 0
    from boxtrace.lesson_runner import lesson_text, run_command

    lesson = _lesson(args.id)
    if args.action == "show":
        sys.stdout.write(lesson_text(lesson, answers=args.answers))
        return 0
    from boxtrace.tracing import use_tui

    return run_command(lesson, args.output, tui=use_tui(args.plain))
