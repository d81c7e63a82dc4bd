"""tracer/spool.py: recordings' names (what `boxtrace traces` and `replay --latest` read back)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from boxtrace.tracer.spool import finish_trace, label_parts, new_trace_path

LABELS = [
    "runc-create-84c08b3921450ed5",
    "boxtrace-runtime-delete-my ctr",
    "a//b  c",
    "--x--",
    "é€ x",
    "",
    "___",
    "tab\there\nnewline",
]


@pytest.mark.parametrize("label", LABELS)
def test_a_label_keeps_only_what_a_file_name_may_hold(tmp_path: Path, label: str) -> None:
    path = new_trace_path(label, str(tmp_path))
    name = os.path.basename(path)
    # Each run of other characters is one "_", none at either end, "trace" if nothing is left.
    expected = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:80] or "trace"
    assert name.startswith(".") and name.endswith(f"-{expected}-{os.getpid()}.jsonl")
    assert Path(path).parent == tmp_path


def test_a_finished_runtime_call_is_read_back_as_runtime_subcommand_and_container(tmp_path: Path) -> None:
    path = new_trace_path("runc-create-df4a821a", str(tmp_path))
    Path(path).write_text("")
    final = finish_trace(path)
    assert not os.path.basename(final).startswith(".")
    assert label_parts(os.path.basename(final)) == ("runc", "create", "df4a821a")
    assert label_parts(os.path.basename(path)) == ("runc", "create", "df4a821a")  # in progress too
    assert label_parts("notes.txt") is None
    assert label_parts("20261128-065558.411415-trace-1330.jsonl") is None  # not a runtime call
