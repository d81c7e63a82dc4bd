"""Text for the side panes: explanation (Markdown), processes and namespaces, mounts, cgroups, output.

Pure functions from the model's facts to Markdown or rich Text, so that the live app, the replay,
the presenter and the tests render the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text

from boxtrace.lessons.model import Explanation
from boxtrace.tracer.events import Event, OutputEvent, SyscallEvent
from boxtrace.tui.mountinfo import MountEntry
from boxtrace.tui.render import describe, who
from boxtrace.tui.world import Proc, World

NS_ORDER = ("user", "mnt", "pid", "net", "uts", "ipc", "cgroup", "time")


def explain_event(event: Event) -> Explanation | None:
    """The catalogue's explanation; None if explaining fails (a catalogue bug must not kill the UI)."""
    from boxtrace.lessons.explain import explain

    try:
        return explain(event)
    except Exception:
        return None


def explanation_markdown(
    event: Event | None,
    phase: str,
    *,
    held: bool,
    intro: str = "",
    explainer: Callable[[Event], Explanation | None] = explain_event,
) -> str:
    if event is None:
        return intro or "Waiting for the first event…"
    exp = explainer(event)
    call = describe(event).replace("`", "'")
    lines = [f"**{phase}** · #{event.seq} · {who(event)}", "", f"`{call}`", ""]
    if exp is None:
        lines += ["No explanation available for this event."]
        return "\n".join(lines)
    lines[0:0] = [f"## {exp.title}", ""]
    lines += [exp.what, "", f"**Why:** {exp.why}", ""]
    if exp.without:
        lines += [f"**Without it:** {exp.without}", ""]
    if exp.flags:
        lines += ["**Flags and values**", ""]
        lines += [f"- `{f.name}`: {f.meaning}" for f in exp.flags]
        lines += [""]
    if held:
        lines += ["> ⏸ **Held at syscall entry**: the call has not run yet. Step to see its result.", ""]
    elif isinstance(event, SyscallEvent):
        outcome = exp.result or ("It failed." if event.errno else "It succeeded.")
        lines += [f"**Result:** `{event.result_text}` — {outcome}", ""]
    if exp.runtimes:
        lines += [f"**What runc, crun and Docker do:** {exp.runtimes}", ""]
    if exp.man:
        lines += ["**Man pages:** " + ", ".join(exp.man)]
    return "\n".join(lines)


def _ns_label(p: Proc) -> Text:
    text = Text()
    for kind in NS_ORDER:
        if kind in p.ns:
            style = "bold magenta" if kind in p.new_ns else "dim"
            mark = "new " if kind in p.new_ns else ""
            text.append(f" {mark}{kind}:[{p.ns[kind]}]", style)
    return text


def process_tree(world: World, selected_pid: int | None = None, limit: int = 60) -> Text:
    """Each process under its parent, with the namespaces it got anew in magenta."""
    out = Text(no_wrap=True)
    children: dict[int | None, list[Proc]] = {}
    for p in world.procs.values():
        children.setdefault(p.parent if p.parent in world.procs else None, []).append(p)
    lines = 0

    def walk(p: Proc, depth: int) -> None:
        nonlocal lines
        if lines >= limit:
            return
        lines += 1
        style = "reverse" if p.pid == selected_pid else ""
        inner = f"/{p.inner_pid}" if p.inner_pid is not None else ""
        out.append("  " * depth + ("└ " if depth else ""), "dim")
        out.append(f"{p.comm}[{p.pid}{inner}]", style or ("dim" if p.ended else "bold"))
        if p.ended:
            out.append(f" ({p.ended})", "dim")
        out.append_text(_ns_label(p))
        out.append("\n")
        for child in children.get(p.pid, ()):
            walk(child, depth + 1)

    # Newest first: in a long trace the processes of interest are the latest ones.
    for root in reversed(children.get(None, [])):
        walk(root, 0)
    if lines >= limit:
        out.append(f"… {len(world.procs) - limit} more processes\n", "dim")
    if not world.procs:
        out.append("no process yet", "dim")
    if world.hostname:
        out.append(f"\nhostname: {world.hostname}", "yellow")
    return out


def derived_mounts(world: World, limit: int = 80) -> Text:
    """The container's mounts as the trace made them (no /proc needed)."""
    out = Text(no_wrap=True)
    if not world.mounts and not world.propagation:
        out.append("no mount yet", "dim")
        return out
    for target, kind in world.propagation.items():
        out.append(f"{target}  propagation {kind}\n", "yellow")
    for m in world.mounts[-limit:]:
        if m.old_root:
            out.append(f"{m.target:<28} {m.source} (detach it with umount2)\n", "bold red")
            continue
        out.append(f"{m.target:<28} ", "bold blue")
        out.append(f"{m.fstype:<8} {m.source}", "")
        if m.readonly:
            out.append(" ro", "yellow")
        if m.options:
            out.append(f"  {m.options}", "dim")
        out.append("\n")
    return out


def live_mounts(entries: Sequence[MountEntry], host_keys: set[tuple[str, str, str]], pid: int) -> Text:
    """A live process's mount table: what differs from boxtrace's own namespace is in bold."""
    out = Text(no_wrap=True)
    inherited = 0
    for e in entries:
        if e.key in host_keys:
            inherited += 1
            continue
        out.append(f"{e.mount_point:<28} ", "bold blue")
        out.append(f"{e.fstype:<8} {e.source}")
        if e.options.startswith("ro"):
            out.append(" ro", "yellow")
        out.append(f"  {e.propagation or 'private'}\n", "dim")
    out.append(f"(/proc/{pid}/mountinfo; {inherited} mounts as on the host not shown)", "dim")
    return out


def cgroups(world: World) -> Text:
    out = Text(no_wrap=True)
    if not world.cgroups:
        out.append("no cgroup yet", "dim")
        return out
    for group in world.cgroups.values():
        out.append(group.key, "dim strike" if group.removed else "bold green")
        if group.version is not None:
            out.append(f"  v{group.version}", "dim")
        if group.removed:
            out.append("  removed", "dim")
        out.append("\n")
        for name, value in group.files.items():
            out.append(f"  {name} = ", "")
            out.append(f"{value}\n", "yellow" if name != "cgroup.procs" else "")
    return out


def output_text(events: Sequence[Event], indices: Sequence[int], limit: int = 200) -> Text:
    out = Text(no_wrap=True)
    for i in indices[-limit:]:
        ev = events[i]
        if isinstance(ev, OutputEvent):
            out.append(ev.text.rstrip("\n") + "\n", "red" if ev.stream == "stderr" else "")
    if not indices:
        out.append("(the container has written nothing yet)", "dim")
    return out


def namespace_diagram(world: World) -> Text:
    """Presenter mode: one box per namespace type, new ones filled, with the processes inside."""
    out = Text()
    new = world.new_namespaces()
    for kind in NS_ORDER:
        pids = new.get(kind)
        if pids:
            out.append(f" {kind:^8} ", "bold white on magenta")
            out.append(f" new for {', '.join(str(p) for p in pids[:4])}\n")
        else:
            out.append(f" {kind:^8} ", "dim reverse")
            out.append(" shared with the host\n", "dim")
    return out


def mount_diagram(world: World, limit: int = 14) -> Text:
    """Presenter mode: the mount points so far as a short tree."""
    out = Text()
    mounts = [m for m in world.mounts if not m.old_root]
    if not mounts:
        out.append("no mounts yet", "dim")
        return out
    for m in mounts[-limit:]:
        depth = 0 if m.target == "/" else m.target.count("/")
        out.append("  " * depth + "▸ ", "blue")
        out.append(m.target, "bold")
        out.append(f"  {m.fstype}{' ro' if m.readonly else ''}\n", "dim")
    if len(mounts) > limit:
        out.append(f"… and {len(mounts) - limit} earlier\n", "dim")
    return out
