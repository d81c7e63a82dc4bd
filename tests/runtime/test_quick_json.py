"""runtime/quick_json.py gives what json gives: the same values, text and errors."""

from __future__ import annotations

import json

import pytest

from boxtrace.runtime import quick_json
from boxtrace.runtime.quiet import suppress

TEXTS = [
    '{"a": [1, 2.5, "x\\u00e9\\n", null, true, false, {"b": {}}]}',
    " [1] ",
    '\n{"ociVersion": "1.0.2"}\n',
    '"s"',
    "1e400",
    "-0",
    "NaN",
    "-Infinity",
    '{"a": 1, "a": 2}',
    "[]",
    "{}",
    '"\\ud83d\\ude00"',
]
BAD = ["", " ", "{", "[1,]", '{"a" 1}', "1 2", "\ufeff{}", '{"a": nan}', '"\x01"', "tru", "[[[", "{} x"]
VALUES = [
    {"a": [1, 2.5, "é\n", None, True, False]},
    "x\n",
    1,
    2.5,
    None,
    [],
    {},
    {"k": float("inf")},
    {1: 2, None: 3},
    {"pid": 12, "cgroups": ["/sys/fs/cgroup/pids/boxtrace-x"], "seccomp": {"filter": "", "flags": 0}},
]


@pytest.mark.parametrize("text", TEXTS)
def test_loads_gives_jsons_value(text: str) -> None:
    assert repr(quick_json.loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", BAD)
def test_loads_raises_jsons_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        quick_json.loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_nesting_too_deep_is_a_recursion_error_as_with_json() -> None:
    with pytest.raises(RecursionError):
        quick_json.loads("[" * 100_000)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_dumps_gives_jsons_text(value: object) -> None:
    assert quick_json.dumps(value) == json.dumps(value)


def test_dumps_with_separators_gives_jsons_text() -> None:
    value = {"level": "error", "msg": 'é " x', "time": "2026"}
    assert quick_json.dumps(value, separators=(",", ":")) == json.dumps(value, separators=(",", ":"))


def test_dumps_errors_are_jsons_and_leave_no_trace() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        quick_json.dumps({"a": object()})
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference detected"):
        quick_json.dumps(looped)
    assert quick_json.dumps({"a": [1]}) == '{"a": [1]}'  # a failed encoding left nothing behind


def test_suppress_ends_the_block_quietly_for_the_listed_exceptions_only() -> None:
    with suppress(KeyError, OSError):
        raise FileNotFoundError("gone")  # an OSError
    with pytest.raises(ValueError), suppress(OSError):
        raise ValueError("not listed")
