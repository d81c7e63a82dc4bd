"""The annotated exports (md, html, json, perfetto) on crafted events: structure, escaping, round trips."""

from __future__ import annotations

import io
import itertools
import json
import re
from html.parser import HTMLParser

import pytest

from boxtrace.exporters import FORMATS, get_exporter
from boxtrace.exporters.json_export import load
from boxtrace.exporters.perfetto import STORY_PID
from boxtrace.tracer.events import SpawnEvent, SyscallEvent
from tests.lessons.export_fixtures import EVIL, EVIL_ARGV, HEADER, classify, events, explain


def export(fmt: str) -> str:
    out = io.StringIO()
    get_exporter(fmt).export(HEADER, events(), out, explain=explain, classify=classify)  # type: ignore[call-arg]
    return out.getvalue()


def test_every_format_is_registered() -> None:
    assert {"md", "html", "json", "perfetto", "strace"} <= set(FORMATS)


# ---- json ----


def test_json_round_trips_the_events() -> None:
    header, back = load(export("json"))
    assert back == events()
    assert header == HEADER


def test_json_carries_explanation_and_phase() -> None:
    data = json.loads(export("json"))
    assert data["format"] == "boxtrace-annotated"
    mount = next(e for e in data["events"] if e.get("name") == "mount")
    ex = mount["explanation"]
    assert ex["title"] == f"Mount {EVIL} on /proc"
    assert ex["entries"] == ["syscall.mount", "fstype.proc", "flag.MS_NOSUID"]
    assert ex["fallback"] is False
    assert "**Why:**" in ex["text"] and ex["flags"][0]["name"] == "MS_NOSUID"
    assert mount["phase"] == "filesystem"
    exit_group = data["events"][-1]
    assert exit_group["explanation"]["fallback"] is True and exit_group["phase"] == "run"


# ---- markdown ----


def test_markdown_lists_every_event_by_seq_and_name() -> None:
    md = export("md")
    for ev in events():
        assert f"#{ev.seq} " in md
        if isinstance(ev, SyscallEvent):
            assert f"#{ev.seq} {ev.name}(" in md


def test_markdown_chapters_follow_the_phases() -> None:
    md = export("md")
    headings = re.findall(r"^## \d+\. (.+)$", md, flags=re.M)
    assert headings == ["Namespaces", "Filesystem", "Pivot", "Cgroups", "Exec", "Run"]
    assert "[Namespaces](#1-namespaces)" in md


def test_markdown_keeps_traced_strings_in_code() -> None:
    md = export("md")
    outside_code = re.sub(r"(`{3,})text\n.*?\n\1\n", "", md, flags=re.S)
    outside_code = re.sub(r"(`+).*?\1", "", outside_code)
    # The only raw traced string left outside code is the catalogue's title, which we bold as text;
    # the argv with backticks must sit in a block whose fence is longer than its ``` run.
    assert "````text" in md
    assert "echo '</code>" not in outside_code


# ---- html ----


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if not self.in_script:
            self.text.append(data)


def test_html_parses_and_is_self_contained() -> None:
    page = export("html")
    parser = Collect()
    parser.feed(page)
    parser.close()
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 1  # ours, inline
    assert "link" not in tags and "img" not in tags and "iframe" not in tags
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), f"<{tag} {name}={value}> loads from the network"
        assert "src" not in attrs, f"<{tag}> loads a resource"
    assert "@import" not in page and "url(" not in page
    assert not re.search(r"https?://", page)
    assert "@media print" in page  # printable


def test_html_escapes_every_traced_string() -> None:
    page = export("html")
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "</code>&" not in page.replace("</code>&nbsp;", "")
    parser = Collect()
    parser.feed(page)
    text = "".join(parser.text)
    assert EVIL in text  # shown to the reader as text, in the call, comm, output and the title
    assert text.count(EVIL) >= 4
    assert "".join(EVIL_ARGV[2].split("'")[1:2]) in text


def test_html_has_step_navigation_and_chapters() -> None:
    page = export("html")
    assert page.count('<li class="ev') == len(events())
    assert 'data-act="next"' in page and 'data-act="prev"' in page and "ArrowRight" in page
    assert page.count('<details class="phase"') == 6
    assert 'id="phase-pivot"' in page
    assert 'class="ev err"' in page  # pivot_root failed with EINVAL


# ---- perfetto ----


def test_perfetto_has_the_fields_the_format_needs() -> None:
    data = json.loads(export("perfetto"))
    trace = data["traceEvents"]
    assert isinstance(trace, list) and trace
    for ev in trace:
        assert {"ph", "pid", "tid", "name"} <= set(ev), ev
        if ev["ph"] != "M":
            assert isinstance(ev["ts"], int | float)
        if ev["ph"] == "X":
            assert ev["dur"] >= 0
    slices = [e for e in trace if e["ph"] == "X" and e.get("cat") not in ("phase", "process")]
    assert {s["name"] for s in slices} == {"unshare", "mount", "pivot_root", "write", "exit_group"}
    mount = next(s for s in slices if s["name"] == "mount")
    assert (
        mount["args"]["source"] == f'"{EVIL}"'
        and mount["args"]["mountflags"] == "MS_NOSUID|MS_NODEV|MS_NOEXEC"
    )
    assert mount["ts"] == pytest.approx(3000) and mount["dur"] == pytest.approx(100)


def test_perfetto_names_processes_and_threads() -> None:
    trace = json.loads(export("perfetto"))["traceEvents"]
    names = {(e["name"], e["pid"], e["tid"]) for e in trace if e["ph"] == "M"}
    for ev in events():
        assert ("process_name", ev.pid, ev.pid) in names
        assert ("thread_name", ev.pid, ev.tid) in names
    assert ("process_name", STORY_PID, STORY_PID) in names


def test_perfetto_spawn_is_a_flow_arrow() -> None:
    trace = json.loads(export("perfetto"))["traceEvents"]
    spawn = next(e for e in events() if isinstance(e, SpawnEvent))
    starts = [e for e in trace if e["ph"] == "s"]
    ends = [e for e in trace if e["ph"] == "f"]
    assert len(starts) == len(ends) == 1
    assert starts[0]["id"] == ends[0]["id"]
    assert starts[0]["tid"] == spawn.tid and ends[0]["tid"] == spawn.child and ends[0]["bp"] == "e"
    assert ends[0]["ts"] >= starts[0]["ts"]


def test_perfetto_phases_are_slices_on_their_own_track_without_overlap() -> None:
    trace = json.loads(export("perfetto"))["traceEvents"]
    phases = [e for e in trace if e.get("cat") == "phase"]
    assert [p["name"] for p in phases] == ["namespaces", "filesystem", "pivot", "cgroups", "exec", "run"]
    assert all(p["pid"] == STORY_PID and p["ph"] == "X" for p in phases)
    for a, b in itertools.pairwise(phases):
        assert a["ts"] + a["dur"] <= b["ts"] + 1e-6
