"""Lesson files: every shipped lesson validates, broken files name file and field, checks evaluate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from boxtrace.lessons.guided import (
    GUIDED_DIR,
    Lesson,
    LessonError,
    Outcome,
    evaluate,
    find_lesson,
    load_lesson,
    load_lessons,
    substitute,
)
from tests.lessons.export_fixtures import events

TOPICS = {
    "pid-namespace": {"unshare", "clone", "mount"},
    "mount-namespace": {"unshare", "mount"},
    "pivot-root-vs-chroot": {"chroot", "pivot_root", "umount2"},
    "overlay-layers": {"mount"},
    "cgroup-limits": set(),
    "user-namespaces": {"unshare", "sethostname"},
    "capabilities-seccomp": {"capset", "seccomp"},
    "docker-run": {"pivot_root", "unshare", "execve"},
}


def test_at_least_eight_lessons_with_the_required_topics() -> None:
    lessons = load_lessons()
    assert len(lessons) >= 8
    ids = [lesson.id for lesson in lessons]
    assert len(set(ids)) == len(ids)
    for lesson_id, syscalls in TOPICS.items():
        lesson = find_lesson(lesson_id)
        assert lesson is not None, lesson_id
        assert syscalls <= lesson.break_syscalls, lesson_id
        assert lesson.questions and lesson.checks and lesson.man


def test_every_lesson_confirms_its_claims_with_more_than_exit_codes() -> None:
    for lesson in load_lessons():
        kinds = {c.kind for c in lesson.checks}
        assert kinds & {"event", "order"}, f"{lesson.id}: no check looks at the trace"
        assert len(lesson.checks) >= 5, lesson.id


def test_lesson_text_cites_man_pages() -> None:
    for lesson in load_lessons():
        assert "(2)" in lesson.text or "(7)" in lesson.text, lesson.id


GOOD = """
id = "demo"
title = "Demo"
summary = "a demo"
text = "## Text"
command = ["true"]
questions = ["Why?"]

[[checks]]
claim = "it ran"
exit = { code = 0 }
"""


def write(tmp_path: Path, body: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_minimal_lesson_loads(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, GOOD))
    assert isinstance(lesson, Lesson) and lesson.command == ("true",) and lesson.root


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (lambda s: s.replace('title = "Demo"\n', ""), "title", "missing"),
        (lambda s: s.replace('title = "Demo"', "title = 3"), "title", "expected a string, got an integer"),
        (lambda s: s.replace('id = "demo"', 'id = "other"'), "id", "must match the file name"),
        (lambda s: "colour = 1\n" + s, "colour", "unknown key"),
        (
            lambda s: s.replace("exit = { code = 0 }", "exit = { cod = 0 }"),
            "checks[0].exit.cod",
            "unknown key",
        ),
        (
            lambda s: s.replace("exit = { code = 0 }", 'event = { syscall = "mount", flgs = [] }'),
            "checks[0].event.flgs",
            "unknown key",
        ),
        (
            lambda s: s.replace("exit = { code = 0 }", 'event = { args = "(" }'),
            "checks[0].event.args",
            "bad regular expression",
        ),
        (
            lambda s: s.replace("exit = { code = 0 }", 'event = { type = "exit", args = "x" }'),
            "checks[0].event.args",
            "does not apply to exit events",
        ),
        (
            lambda s: s.replace("exit = { code = 0 }", 'output = { line = "a", contains = "b" }'),
            "checks[0].output",
            "exactly one of line, contains",
        ),
        (lambda s: s.replace("exit = { code = 0 }", "order = [ {} ]"), "checks[0].order", "at least two"),
        (
            lambda s: s.replace("exit = { code = 0 }", "order = [ {}, [] ]"),
            "checks[0].order[1]",
            "an empty list",
        ),
        (
            lambda s: s.replace("exit = { code = 0 }", "order = [ {}, [ { bogus = 1 } ] ]"),
            "checks[0].order[1][0].bogus",
            "unknown key",
        ),
        (lambda s: s.replace('claim = "it ran"\n', ""), "checks[0].claim", "missing"),
        (lambda s: s.replace('questions = ["Why?"]', "questions = []"), "questions", "at least one question"),
        (
            lambda s: s.replace('questions = ["Why?"]', 'questions = [{ answer = "x" }]'),
            "questions[0].ask",
            "missing",
        ),
        (lambda s: s + '[bundle]\nimage = "x"\n', "bundle.image", "unknown key"),
    ],
)
def test_broken_lesson_names_file_and_field(tmp_path: Path, change, field: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, change(GOOD))
    with pytest.raises(LessonError) as info:
        load_lesson(path)
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "id = ")
    with pytest.raises(LessonError, match=f"^{path}: not valid TOML"):
        load_lesson(path)


def test_find_lesson_refuses_paths() -> None:
    assert find_lesson("../guided/pid-namespace") is None
    assert find_lesson("no-such-lesson") is None
    assert (GUIDED_DIR / "pid-namespace.toml").is_file()


def test_placeholders_are_filled_and_other_braces_kept() -> None:
    assert substitute("{python} -c '{print}' ${x}", {"python": "/py"}) == "/py -c '{print}' ${x}"


CHECKS = """
id = "checks"
title = "t"
summary = "s"
text = "x"
command = ["true"]
questions = ["q"]

[[checks]]
claim = "unshare with CLONE_NEWPID"
event = { syscall = "unshare", flags = ["CLONE_NEWPID"], ok = true }

[[checks]]
claim = "no CLONE_NEWUSER anywhere"
event = { syscall = "unshare", flags = ["CLONE_NEWUSER"], at_most = 0, at_least = 0 }

[[checks]]
claim = "pivot_root failed with EINVAL (wrongly claimed to succeed)"
event = { syscall = "pivot_root", ok = true }

[[checks]]
claim = "the pids.max write"
event = { syscall = "write", detail = { cgroup_file = "pids\\\\.max", value = "64" } }

[[checks]]
claim = "unshare, then a fork, then an exec as pid 1"
order = [ { syscall = "unshare" }, { type = "spawn" }, { type = "exec", inner_pid = 1 } ]

[[checks]]
claim = "the exec came before the unshare (false)"
order = [ { type = "exec" }, { syscall = "unshare" } ]

[[checks]]
claim = "unshare, then a mount or a spawn (either way)"
order = [ { syscall = "unshare" }, [ { syscall = "mount" }, { type = "spawn" } ] ]

[[checks]]
claim = "the exec, then a mount or an unshare (neither)"
order = [ { type = "exec" }, [ { syscall = "mount" }, { syscall = "unshare" } ] ]

[[checks]]
claim = "the shell was killed"
event = { type = "exit", signal = "SIGKILL" }

[[checks]]
claim = "output has the script"
output = { contains = "alert(1)" }

[[checks]]
claim = "stderr is empty of it"
output = { line = ".*alert.*", stream = "stderr", absent = true }

[[checks]]
claim = "exit code 137"
exit = { code = 137 }
"""


def test_checks_pass_and_fail_as_the_events_say(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, CHECKS, "checks"))
    results = evaluate(lesson, events(), Outcome(exit_code=0, exit_status=0))
    verdict = {r.check.claim: r.passed for r in results}
    assert verdict == {
        "unshare with CLONE_NEWPID": True,
        "no CLONE_NEWUSER anywhere": True,
        "pivot_root failed with EINVAL (wrongly claimed to succeed)": False,
        "the pids.max write": True,
        "unshare, then a fork, then an exec as pid 1": True,
        "the exec came before the unshare (false)": False,
        "unshare, then a mount or a spawn (either way)": True,
        "the exec, then a mount or an unshare (neither)": False,
        "the shell was killed": True,
        "output has the script": True,
        "stderr is empty of it": True,
        "exit code 137": False,
    }
    failed = next(r for r in results if r.check.claim.startswith("the exec came"))
    assert failed.detail == "no syscall event with syscall=unshare after #6"
    neither = next(r for r in results if r.check.claim.startswith("the exec, then"))
    assert neither.detail == (
        "no syscall event with syscall=mount or syscall event with syscall=unshare after #6"
    )
