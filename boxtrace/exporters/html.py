"""One self-contained HTML page: the trace as chapters, each event with its explanation, for a
classroom projector or a printed handout.

* No network: CSS and JS are inline, nothing is loaded (no fonts, images, scripts or links out).
* Every string from the trace and from the catalogue goes through ``html.escape`` before any markup is
  added (the catalogue's Markdown is converted after escaping, so a path like ``<script>`` stays text).
* Step-by-step: ``→``/``j``/``n``/space next, ``←``/``k``/``p`` previous, ``c`` collapse or open the
  current chapter, ``e`` open all, ``+``/``-`` text size, ``Home``/``End``; buttons do the same.
* Print: the navigation hides, every chapter and explanation opens, events do not split across pages.

Explanations repeat (the same call with the same flags): each distinct explanation is rendered once
and reused, which keeps a 100,000-event export to a few seconds.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Iterable
from html import escape
from typing import TYPE_CHECKING, TextIO

from boxtrace.exporters.annotate import (
    Annotated,
    annotate,
    plain_describer,
    process_label,
    write_parts,
)
from boxtrace.lessons.model import PHASES, Explanation
from boxtrace.tracer.events import Event, SyscallEvent, TraceHeader

if TYPE_CHECKING:
    from boxtrace.annotate import Classify, Explain

DESCRIPTION = "self-contained HTML page: chapters, explanations, step-by-step navigation, printable"

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_EM = re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])")


# The catalogue's sentences recur across explanations (one "why" for every call of an entry).
@functools.lru_cache(maxsize=4096)
def inline_md(text: str) -> str:
    """The catalogue's inline Markdown (code, bold, emphasis) as HTML; escaped first, so it is inert."""
    out = escape(text)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _EM.sub(r"<em>\1</em>", out)


def paragraphs(text: str) -> str:
    return "".join(f"<p>{inline_md(p)}</p>" for p in text.split("\n\n") if p.strip())


def explanation_html(ex: Explanation) -> str:
    parts = [paragraphs(ex.what)]
    if ex.why:
        parts.append(f'<p class="why"><b>Why:</b> {inline_md(ex.why)}</p>')
    if ex.without:
        parts.append(f'<p class="without"><b>Without it:</b> {inline_md(ex.without)}</p>')
    if ex.result:
        parts.append(f'<p class="result"><b>Result:</b> {inline_md(ex.result)}</p>')
    if ex.flags:
        items = "".join(f"<li><code>{escape(f.name)}</code>: {inline_md(f.meaning)}</li>" for f in ex.flags)
        parts.append(f'<ul class="flags">{items}</ul>')
    if ex.runtimes:
        parts.append(f'<p class="rt"><b>runc, crun, Docker:</b> {inline_md(ex.runtimes)}</p>')
    refs = []
    if ex.man:
        refs.append("man " + ", ".join(escape(m) for m in ex.man))
    if ex.entries:
        refs.append("catalogue " + ", ".join(f"<code>{escape(e)}</code>" for e in ex.entries))
    if ex.fallback:
        refs.append("generic explanation (no specific catalogue entry)")
    if refs:
        parts.append(f'<p class="refs">{"; ".join(refs)}</p>')
    return "".join(parts)


CSS = """
:root{--fg:#1d1f21;--bg:#fff;--muted:#666;--accent:#0b5cad;--cur:#fff4c2;--line:#e3e3e3;--err:#b00020}
*{box-sizing:border-box}
body{font:17px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
 margin:0 auto;max-width:70rem;padding:0 1rem 40vh}
header h1{font-size:1.5em;margin:.6em 0 .2em}
.meta{color:var(--muted);font-size:.9em}.meta code{font-size:.95em}
nav{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:.4em 0;z-index:2;
 display:flex;flex-wrap:wrap;gap:.4em;align-items:center}
nav button{font:inherit;padding:.2em .8em;border:1px solid var(--accent);background:var(--bg);
 color:var(--accent);border-radius:.3em;cursor:pointer}
nav button:hover{background:var(--accent);color:var(--bg)}
#pos{margin-left:auto;color:var(--muted);font-variant-numeric:tabular-nums}
.toc{font-size:.9em;margin:.4em 0}.toc a{color:var(--accent);margin-right:.8em;text-decoration:none}
details.phase{border-top:2px solid var(--accent);margin-top:1em}
details.phase>summary{font-size:1.25em;font-weight:600;padding:.3em 0;cursor:pointer;color:var(--accent)}
ol.events{list-style:none;margin:0;padding:0}
li.ev{border-bottom:1px solid var(--line);padding:.35em .5em;scroll-margin-top:4em}
li.ev.cur{background:var(--cur);outline:2px solid #e0b400}
.who{color:var(--muted);font-size:.85em}
.seq{color:var(--muted);font-size:.85em;margin-right:.5em;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.88em}
.call{white-space:pre-wrap;word-break:break-all}
.err .call{color:var(--err)}
.cat{display:inline-block;min-width:8em;margin-right:.6em;font-size:.75em;text-transform:uppercase;letter-spacing:.05em;
 color:var(--muted)}
details.ex>summary{cursor:pointer;font-weight:600}
details.ex>summary::marker{color:var(--accent)}
.ex p{margin:.3em 0}.ex .refs{color:var(--muted);font-size:.85em}.ex ul{margin:.2em 0 .2em 1.2em;padding:0}
.fallback>summary{font-weight:400;color:var(--muted)}
body.big{font-size:24px;max-width:none}
@media print{
 nav,.toc{display:none}
 body{font-size:11pt;max-width:none;padding:0}
 li.ev{break-inside:avoid}li.ev.cur{background:none;outline:none}
 details.phase>summary{break-after:avoid}
 a{color:inherit;text-decoration:none}
}
"""

JS = """
(function(){
var evs=Array.prototype.slice.call(document.querySelectorAll('li.ev')),i=-1;
var pos=document.getElementById('pos');
function show(n){if(!evs.length)return;n=Math.max(0,Math.min(evs.length-1,n));
 if(i>=0)evs[i].classList.remove('cur');i=n;var e=evs[i];e.classList.add('cur');
 var ph=e.closest('details.phase');if(ph)ph.open=true;var ex=e.querySelector('details.ex');if(ex)ex.open=true;
 e.scrollIntoView({block:'center'});pos.textContent=(i+1)+' / '+evs.length;
 history.replaceState(null,'','#'+e.id);}
function phase(){var e=evs[Math.max(i,0)];return e?e.closest('details.phase'):null;}
function all(open){document.querySelectorAll('details').forEach(function(d){d.open=open;});}
var act={next:function(){show(i+1);},prev:function(){show(i-1);},first:function(){show(0);},
 last:function(){show(evs.length-1);},fold:function(){var p=phase();if(p)p.open=!p.open;},
 open:function(){all(true);},close:function(){all(false);},
 big:function(){document.body.classList.toggle('big');}};
document.querySelectorAll('nav button[data-act]').forEach(function(b){
 b.addEventListener('click',function(){act[b.dataset.act]();});});
var keys={ArrowRight:'next',j:'next',n:'next',' ':'next',ArrowLeft:'prev',k:'prev',p:'prev',Home:'first',
 End:'last',c:'fold',e:'open',x:'close','+':'big','-':'big'};
document.addEventListener('keydown',function(ev){if(ev.ctrlKey||ev.metaKey||ev.altKey)return;
 var a=keys[ev.key];if(a){ev.preventDefault();act[a]();}});
evs.forEach(function(e,n){e.addEventListener('click',function(){if(i!==n)show(n);});});
window.addEventListener('beforeprint',function(){all(true);});
var h=location.hash.slice(1);if(h){var n=evs.findIndex(function(e){return e.id===h;});if(n>=0)show(n);}
pos.textContent=(i+1)+' / '+evs.length;
})();
"""


# Events gathered before one write: a few large writes instead of one per event.
_CHUNK = 32


def _phase_id(phase: str) -> str:
    return "phase-" + phase.replace(" ", "-")


class _Chapters:
    """The page's body: one collapsible chapter per run of a phase, each event with its explanation.

    Everything it keeps between events is in its attributes, so that the body can be written in two
    halves (``boxtrace.exporters.split``): the second half starts from what the first left.
    """

    def __init__(self, current: str | None = None, seen: Iterable[str] = ()) -> None:
        self.current = current  # the phase of the open chapter
        self.seen = set(seen)  # phases that have had a chapter (the first one keeps the anchor)
        # Each distinct explanation is rendered once, keyed by identity and holding the object so
        # that an id cannot be reused while the export runs (hashing a frozen Explanation walks all
        # its fields).
        self._rendered: dict[int, tuple[Explanation, str]] = {}
        # Process labels and categories repeat for every event of a process or a kind: escaped once.
        self._escaped: dict[str, str] = {}

    def feed(self, annotated: Iterable[Annotated], write: Callable[[str], object]) -> None:
        rendered, escaped, seen_phase = self._rendered, self._escaped, self.seen
        describe_event = plain_describer()
        parts: list[str] = []
        current = self.current
        for a in annotated:
            ev = a.event
            if a.phase != current:
                if current is not None:
                    parts.append("</ol></details>\n")
                current = a.phase
                # A phase can recur (a second container in one trace); the first keeps the anchor.
                anchor = "" if current in seen_phase else f' id="{_phase_id(current)}"'
                seen_phase.add(current)
                parts.append(
                    f'<details class="phase" open{anchor}><summary>{escape(current.capitalize())}</summary>'
                    '<ol class="events">\n'
                )
            ex = a.explanation
            found = rendered.get(id(ex))
            if found is None:
                cls = "ex fallback" if ex.fallback else "ex"
                summary = f"<summary>{inline_md(ex.title)}</summary>"
                body = f'<details class="{cls}">{summary}{explanation_html(ex)}</details>'
                found = rendered[id(ex)] = (ex, body)
            label = process_label(ev)
            who = escaped.get(label)
            if who is None:
                who = escaped[label] = escape(label)
            category = ev.category
            cat = escaped.get(category)
            if cat is None:
                cat = escaped[category] = escape(category)
            failed = isinstance(ev, SyscallEvent) and ev.errno is not None
            parts.append(
                f'<li class="ev{" err" if failed else ""}" id="e{ev.seq}">'
                f'<span class="seq">#{ev.seq}</span><span class="who">{who}</span><br>'
                f'<span class="cat">{cat}</span>'
                f'<code class="call">{escape(describe_event(ev))}</code>{found[1]}</li>\n'
            )
            if len(parts) >= _CHUNK:
                write_parts(write, parts)
                parts.clear()
        self.current = current
        write_parts(write, parts)

    def finish(self, write: Callable[[str], object]) -> None:
        """Close the last chapter."""
        if self.current is not None:
            write("</ol></details>\n")


def phase_counts(annotated: Iterable[Annotated]) -> dict[str, int]:
    """Events per phase, every phase of PHASES in story order."""
    counts = {p: 0 for p in PHASES}
    for a in annotated:
        counts[a.phase] += 1
    return counts


def write_head(header: TraceHeader, counts: dict[str, int], out: TextIO) -> None:
    """Everything before the first chapter: title, the trace's facts, navigation, contents."""
    command = escape(shlex.join(header.command))
    write = out.write
    write('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    write('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    write(f"<title>boxtrace: {command}</title>\n<style>{CSS}</style>\n</head>\n<body>\n")
    write("<header><h1>How this container was made, one system call at a time</h1>\n")
    write(
        f'<p class="meta">Trace of <code>{command}</code><br>recorded {escape(header.start_time)} · kernel '
        f"{escape(header.kernel)} ({escape(header.arch)}) · boxtrace {escape(header.boxtrace_version)} · "
        f"mode {escape(header.mode)} · {sum(counts.values())} events</p></header>\n"
    )
    write(
        '<nav aria-label="steps"><button data-act="prev" title="previous (← k p)">◀ previous</button>'
        '<button data-act="next" title="next (→ j n space)">next ▶</button>'
        '<button data-act="fold" title="collapse or open this chapter (c)">chapter</button>'
        '<button data-act="open" title="open everything (e)">open all</button>'
        '<button data-act="close" title="close everything (x)">close all</button>'
        '<button data-act="big" title="presenter text size (+)">A+</button>'
        '<span id="pos"></span></nav>\n'
    )
    write('<p class="toc">')
    for phase in PHASES:
        if counts[phase]:
            write(f'<a href="#{_phase_id(phase)}">{escape(phase.capitalize())} ({counts[phase]})</a>')
    write("</p>\n")


def write_tail(out: TextIO) -> None:
    out.write(f"<script>{JS}</script>\n</body>\n</html>\n")


def export(
    header: TraceHeader,
    events: Iterable[Event],
    out: TextIO,
    explain: Explain | None = None,
    classify: Classify | None = None,
) -> None:
    annotated = list(annotate(events, explain, classify))
    write_head(header, phase_counts(annotated), out)
    body = _Chapters()
    body.feed(annotated, out.write)
    body.finish(out.write)
    write_tail(out)


class Halves:
    """The page in two halves (``boxtrace.exporters.split``). The heading counts the events of both,
    so the first half's text is kept until the second's counts are known; the second half goes on in
    the first half's last chapter."""

    keeps_sources = False
    max_bytes: int | None = None  # one process holds the whole trace too

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._parts: list[str] = []

    def hand_over(self, first: list[Annotated]) -> tuple[str | None, set[str]]:
        self._counts = phase_counts(first)
        return (first[-1].phase if first else None), {a.phase for a in first}

    def render_first(self, header: TraceHeader, first: list[Annotated], out: TextIO) -> None:
        _Chapters().feed(first, self._parts.append)  # the last chapter is closed by the second half

    def tally(self, second: list[Annotated]) -> dict[str, int]:
        return phase_counts(second)

    def write_first(self, header: TraceHeader, tally: dict[str, int], out: TextIO) -> None:
        counts = self._counts
        for phase, count in tally.items():
            counts[phase] += count
        write_head(header, counts, out)
        for part in self._parts:
            out.write(part)
        self._parts.clear()

    def render_second(self, state: tuple[str | None, set[str]], second: list[Annotated], out: TextIO) -> None:
        body = _Chapters(*state)
        body.feed(second, out.write)
        body.finish(out.write)

    def finish(self, header: TraceHeader, second: None, out: TextIO, copy_second: Callable[[], None]) -> None:
        copy_second()
        write_tail(out)
