"""The exports' fast paths give what the plain ones give: an export read from a trace file equals the
export of the same events from memory, output does not depend on how it is chunked, the json export
copies each event's text from the file, and the annotator's memo tells apart what explanations quote.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from boxtrace.annotate import Annotator, _signature
from boxtrace.exporters import FORMATS, get_exporter
from boxtrace.exporters import annotate as shared
from boxtrace.exporters.json_export import load
from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Arg, Event, ExitEvent, SyscallEvent, TraceHeader
from boxtrace.tracer.tracefile import TraceReader, TraceWriter, encode_line, read_trace
from tests.conftest import boxtrace
from tests.lessons.export_fixtures import HEADER
from tests.tracer.test_tracefile import sample_events

REAL_TRACE = Path(__file__).parent.parent / "tui" / "data" / "container-start.jsonl"


def export(fmt: str, header: TraceHeader, events: Any) -> str:
    out = io.StringIO()
    get_exporter(fmt).export(header, events, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_export_of_the_file_equals_export_from_memory(fmt: str) -> None:
    header, events = read_trace(str(REAL_TRACE))
    with TraceReader(str(REAL_TRACE)) as reader:
        streamed = export(fmt, reader.header, reader)
    assert streamed == export(fmt, header, events)


@pytest.mark.parametrize("fmt", ["md", "html", "json", "perfetto"])
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_output_does_not_depend_on_the_chunk_size(
    fmt: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, events = read_trace(str(REAL_TRACE))
    whole = export(fmt, header, events)
    monkeypatch.setattr(get_exporter(fmt), "_CHUNK", chunk)
    assert export(fmt, header, events) == whole


def test_json_export_copies_each_event_as_the_file_has_it(tmp_path: Path) -> None:
    events = sample_events()
    lines = [encode_line(e.to_json()).rstrip("\n") for e in events]
    # Valid, but not how boxtrace writes it: fields in another order and one this version ignores.
    obj = json.loads(lines[2])
    lines[2] = json.dumps({"note": "added by hand", **dict(reversed(obj.items()))}, separators=(",", ":"))
    path = tmp_path / "t.jsonl"
    path.write_text(encode_line(HEADER.to_json()) + "\n".join(lines) + "\n", encoding="utf-8")
    with TraceReader(str(path)) as reader:
        text = export("json", reader.header, reader)
    rows = text.splitlines()[1:-1]
    assert len(rows) == len(events)
    for row, line in zip(rows, lines, strict=True):
        assert row.startswith(line[:-1] + ',"phase":')
    assert load(text) == (HEADER, events)


def test_json_export_of_a_file_boxtrace_wrote_is_unchanged_by_the_copy(tmp_path: Path) -> None:
    """Surrogate escapes, non-ASCII, every event type: the copied text is what encoding gives."""
    path = tmp_path / "t.jsonl"
    with TraceWriter(str(path), HEADER) as writer:
        writer.write_events(sample_events())
    with TraceReader(str(path)) as reader:
        copied = export("json", reader.header, reader)
    assert copied == export("json", HEADER, sample_events())
    assert "\\udce9" in copied and "héllo" in copied


@pytest.mark.parametrize(
    "obj",
    [
        {"a": 1, "b": [1.5, -0.0, 1e-05, 1e22], "c": None, "d": True, "e": {"x": "y"}},
        {"nan": math.nan, "inf": math.inf, "-inf": -math.inf},
        {"s": 'quote " backslash \\ tab \t nl \n é ü 中 \udcff', 5: "int key"},
        ["list", 2**70, -(2**63)],
        "just a string",
    ],
)
def test_compact_json_with_and_without_the_c_encoder(obj: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    with_c = "".join(shared._compact_encoder()(obj, 0))
    monkeypatch.setattr(shared, "c_make_encoder", None)
    without_c = "".join(shared._compact_encoder()(obj, 0))
    assert with_c == without_c == expected
    assert shared.json_text(obj) == expected.encode("utf-8", "backslashreplace").decode("utf-8")


def test_compact_json_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        shared.json_text({"x": object()})


def unshare(seq: int, inode: int, detail: dict[str, Any] | None = None) -> SyscallEvent:
    return SyscallEvent(
        seq=seq,
        time=seq / 1000,
        pid=10,
        tid=10,
        comm="runc",
        nspid=[10],
        name="unshare",
        nr=272,
        category_name="namespace",
        args=[Arg("flags", 0x20000, "CLONE_NEWNS", ["CLONE_NEWNS"])],
        result=0,
        result_text="0",
        ns_changed={"mnt": inode},
        detail={"flags": ["CLONE_NEWNS"], "namespaces": ["mnt"]} if detail is None else detail,
    )


def test_each_call_is_explained_with_its_own_new_namespaces() -> None:
    annotator = Annotator()
    first, second, again = (annotator.explain(unshare(i, inode)) for i, inode in enumerate((111, 222, 111)))
    assert "mnt:[111]" in (first.result or "") and "mnt:[222]" in (second.result or "")
    assert again is first  # the memo still serves a repeated call


def test_equal_explanations_come_out_as_one_object() -> None:
    annotator = Annotator()
    exits = [ExitEvent(seq=i, time=0.0, pid=5, tid=5, comm="sh", nspid=[5], status=0) for i in range(3)]
    found = [annotator.explain(e) for e in exits]
    assert found[0] is found[1] is found[2]
    made: list[Explanation] = []

    def fresh(event: Event) -> Explanation:
        # a new but equal object for every call, as a catalogue lookup makes
        made.append(Explanation("t", "w", "", "", (), ""))
        return made[-1]

    annotator = Annotator(explain=fresh)
    assert annotator.explain(unshare(1, 1)) is annotator.explain(unshare(2, 2)) is made[0]
    assert len(made) == 2


def test_signature_tells_apart_what_str_would() -> None:
    keys = {_signature(unshare(1, 1, {"x": value})) for value in (1, True, 1.0, "1", [1], None)}
    assert len(keys) == 6
    # The order a decoder filled detail in is kept, as str() kept it.
    assert _signature(unshare(1, 1, {"a": 1, "b": 2})) != _signature(unshare(1, 1, {"b": 2, "a": 1}))
    # What marshal cannot write is keyed by its str().
    odd = _signature(unshare(1, 1, {"x": object()}))
    assert isinstance(odd[4], str) and odd[4].startswith("{'x': <object object")


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_undecodable_bytes_are_written_as_escapes(fmt: str, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    with TraceWriter(str(trace), HEADER) as writer:
        writer.write_events(sample_events())  # an argv with the undecodable byte \xe9
    out = tmp_path / f"t.{fmt}"
    proc = boxtrace("export", str(trace), "--format", fmt, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "caf\\udce9" in out.read_text(encoding="utf-8")
    stdout = boxtrace("export", str(trace), "--format", fmt)
    assert stdout.returncode == 0, stdout.stderr
    assert stdout.stdout == out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("pid", "time", "name"),
    [
        (10, 0.5, "mount"),
        (10, math.nan, "mount"),  # json writes NaN
        (10, math.inf, "mount"),
        (True, 0.5, "mount"),  # json writes true
        (10, 0.5, "caf\udce9"),  # an undecodable byte, written \udce9
        (10, 0.5, "mönt"),
        (10, 1, "mount"),  # an int time: round() of it is a float all the same
    ],
)
def test_perfetto_syscall_slices_are_what_the_encoder_writes(pid: Any, time: Any, name: str) -> None:
    from boxtrace.exporters.perfetto import _syscall_slice

    ev = unshare(1, 1)
    ev.name = name
    ts, dur = round(time * 1e6, 3), round(0.0001 * 1e6, 3)
    args = {"flags": "CLONE_NEWNS", "result": "0", "seq": 1}
    whole = {"ph": "X", "name": name, "cat": "namespace", "dur": dur, "pid": pid, "tid": pid, "ts": ts}
    assert _syscall_slice(ev, pid, pid, ts, dur, args) == shared.json_text({**whole, "args": args})
