"""How one event reads as one line of the event list (plain text for search, rich Text for display).

Kept free of textual so that the list's text, the search index and the tests share one formatter.
"""

from __future__ import annotations

from rich.text import Text

from boxtrace.lessons.explain import left_out_step
from boxtrace.tracer.events import (
    CATEGORY_STYLES,
    Event,
    ExecEvent,
    ExitEvent,
    OutputEvent,
    SpawnEvent,
    SyscallEvent,
)

# `boxtrace run --without STEP`: the marker of a step left out and the probe's verdict stand out.
LEFT_OUT_STYLE = "bold white on red"
PROBE_STYLE = "bold yellow"
PROBE_PREFIXES = ("probe: ", "claim: ", "saw:   ", "held:  ")

MAX_ARG_TEXT = 160  # one argument longer than this is cut: lines are for scanning, the pane has the rest


def _short(text: str) -> str:
    return text if len(text) <= MAX_ARG_TEXT else text[: MAX_ARG_TEXT - 1] + "…"


def describe(ev: Event) -> str:
    """What happened, strace-like: ``mount("proc", "/proc", "proc", MS_NOSUID, NULL) = 0``."""
    if isinstance(ev, SyscallEvent):
        args = ", ".join(_short(a.text) for a in ev.args)
        result = "…" if ev.result_text is None else ev.result_text
        line = f"{ev.name}({args}) = {result}"
        if ev.ns_changed:
            line += "  new " + ", ".join(f"{k}:[{v}]" for k, v in sorted(ev.ns_changed.items()))
        return line
    if isinstance(ev, SpawnEvent):
        what = "thread" if ev.thread else "process"
        flags = f" [{'|'.join(ev.flags)}]" if ev.flags else ""
        return f"{ev.how} → new {what} {ev.child}{flags}"
    if isinstance(ev, ExecEvent):
        return f"exec {ev.path}  " + " ".join(_short(a) for a in ev.argv)
    if isinstance(ev, ExitEvent):
        return f"killed by {ev.signal}" if ev.signal else f"exited with {ev.status}"
    if isinstance(ev, OutputEvent):
        return f"{ev.stream}: {ev.text.rstrip()}"
    return ev.kind


def who(ev: Event) -> str:
    """``comm[pid]``, with the pid seen inside a new pid namespace when it differs (``sh[812/1]``)."""
    inner = f"/{ev.nspid[-1]}" if ev.nspid and len(ev.nspid) > 1 else ""
    return f"{ev.comm}[{ev.pid}{inner}]"


def plain_line(ev: Event) -> str:
    return f"{ev.time:8.4f} {who(ev)} {ev.category} {describe(ev)}"


def styled_line(ev: Event, who_width: int = 16) -> Text:
    """The list's line for one event: time, process, category, then the call."""
    cat = ev.category
    text = Text(no_wrap=True, end="")
    text.append(f"{ev.time:8.4f} ", "dim")
    text.append(f"{who(ev):<{who_width}} ", "cyan")
    text.append(f"{cat:<9} ", CATEGORY_STYLES.get(cat, ""))
    step = left_out_step(ev)
    if step is not None:
        text.append(f" LEFT OUT ON PURPOSE: {step} ", LEFT_OUT_STYLE)
        text.append(f"  {describe(ev)}", "dim")
    elif isinstance(ev, OutputEvent) and ev.text.startswith(PROBE_PREFIXES):
        text.append(describe(ev), PROBE_STYLE)
    elif isinstance(ev, SyscallEvent):
        text.append(ev.name, "bold")
        text.append("(" + ", ".join(_short(a.text) for a in ev.args) + ") = ")
        if ev.result_text is None:
            text.append("…", "yellow")
        elif ev.errno:
            text.append(ev.result_text, "bold red")
        else:
            text.append(ev.result_text, "green")
        if ev.ns_changed:
            text.append(
                "  new " + ", ".join(f"{k}:[{v}]" for k, v in sorted(ev.ns_changed.items())), "magenta"
            )
    else:
        text.append(describe(ev), CATEGORY_STYLES.get(cat, ""))
    return text
