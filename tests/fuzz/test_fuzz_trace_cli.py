"""The commands that read traces (export in every format, explain --coverage, merge) over fuzzed
trace files: exit status 0, 1 (a bad trace) or 2 (a usage error), one line on stderr, no traceback."""

from __future__ import annotations

import json
import os
import tempfile

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.cli_helpers import assert_clean, run_cli
from tests.fuzz.profile import examples
from tests.fuzz.trace_inputs import REAL_LINES, TRACE_BYTES, mutated_trace

HEADER = REAL_LINES[0]
SYSCALL = json.loads(next(line for line in REAL_LINES if b'"name":"mount"' in line))


def _syscall(**changes: object) -> bytes:
    event = dict(SYSCALL, **changes)
    return HEADER + (json.dumps(event) + "\n").encode()


COMMANDS = st.sampled_from(
    [
        ["export", "{t}", "--format", "md"],
        ["export", "{t}", "--format", "html"],
        ["export", "{t}", "--format", "json"],
        ["export", "{t}", "--format", "perfetto"],
        ["export", "{t}", "--format", "strace"],
        ["explain", "--coverage", "{t}"],
        ["merge", "{t}", "{real}", "-o", "{out}"],
    ]
)


def _run_on(data: bytes, command: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        trace, real, out = (os.path.join(tmp, name) for name in ("t.jsonl", "real.jsonl", "out.jsonl"))
        with open(trace, "wb") as f:
            f.write(data)
        with open(real, "wb") as f:
            f.write(b"".join(REAL_LINES[:20]))
        argv = [a.format(t=trace, real=real, out=out) for a in command]
        if argv[0] == "export":
            argv += ["-o", out]
        status, stderr = run_cli(argv)
        assert_clean(status, stderr)
        # An export or merge that failed leaves no half-written output behind.
        if status != 0:
            assert not os.path.exists(out), argv
        assert sorted(os.listdir(tmp)) in (["out.jsonl", "real.jsonl", "t.jsonl"], ["real.jsonl", "t.jsonl"])


@examples(60)
@given(mutated_trace(), COMMANDS)
@example(_syscall(name={"x": 1}), ["export", "{t}", "--format", "md"])  # unhashable name in phases
@example(_syscall(args=[{"name": "source", "raw": 1, "text": 5}]), ["export", "{t}", "--format", "strace"])
@example(_syscall(nspid="abc"), ["export", "{t}", "--format", "html"])
@example(_syscall(result="x", errno=3, duration="s"), ["export", "{t}", "--format", "perfetto"])
@example(_syscall(detail={"flags": 5, "target": [1]}), ["export", "{t}", "--format", "md"])
@example(_syscall(seq=10**400), ["export", "{t}", "--format", "json"])
def test_commands_over_mutated_traces(data: bytes, command: list[str]) -> None:
    _run_on(data, command)


@examples(30)
@given(TRACE_BYTES, COMMANDS)
def test_commands_over_any_bytes(data: bytes, command: list[str]) -> None:
    _run_on(data, command)
