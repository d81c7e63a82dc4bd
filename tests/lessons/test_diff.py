"""lessons.diff on crafted traces: a real recorded start (tests/tui/data) changed one way at a time."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from boxtrace.lessons.diff import CHANGED, CONCERNS, ONLY_A, ONLY_B, SAME, concern, diff_traces, steps_of
from boxtrace.tracer.events import Arg, Event, SyscallEvent, TraceHeader
from boxtrace.tracer.tracefile import read_trace

TRACE = Path(__file__).resolve().parents[1] / "tui" / "data" / "container-start.jsonl"


def trace() -> tuple[TraceHeader, list[Event]]:
    return read_trace(str(TRACE))


def rewritten(old: str, new: str, tmp_path: Path, pid_shift: int = 0) -> tuple[TraceHeader, list[Event]]:
    """The recorded trace with every ``old`` replaced by ``new`` and every pid moved by ``pid_shift``."""
    out = tmp_path / f"{new.strip('/').replace('/', '_')}.jsonl"
    lines = []
    for line in TRACE.read_text().splitlines():
        data = json.loads(line.replace(old, new))
        if pid_shift and data.get("type") != "header":
            data["pid"] += pid_shift
            data["tid"] += pid_shift
        lines.append(json.dumps(data))
    out.write_text("\n".join(lines) + "\n")
    return read_trace(str(out))


def syscalls(events: list[Event], name: str) -> list[SyscallEvent]:
    return [e for e in events if isinstance(e, SyscallEvent) and e.name == name]


def test_the_same_trace_twice_is_no_difference() -> None:
    diff = diff_traces(trace(), trace())
    assert diff.identical
    assert diff.rows(SAME) and not diff.rows(ONLY_A) and not diff.rows(ONLY_B) and not diff.rows(CHANGED)


def test_container_id_and_pids_are_normalised(tmp_path: Path) -> None:
    # Another run of the same start: another container id (in /run/boxtrace/ID, the cgroup
    # boxtrace-ID, the overlay's options) and other pids.
    other = rewritten("4e84dd5ab4c4", "0123456789ab", tmp_path, pid_shift=1000)
    diff = diff_traces(trace(), other)
    assert diff.identical, [(r.kind, r.step.label, r.changes()) for r in diff.rows() if r.kind != SAME]


def test_a_missing_step_is_only_on_one_side() -> None:
    header, events = trace()
    hostname = syscalls(events, "sethostname")[0]
    diff = diff_traces((header, events), (header, [e for e in events if e is not hostname]))
    only = diff.rows(ONLY_A)
    assert [r.a.event.name for r in only if r.a is not None] == ["sethostname"]
    assert not diff.rows(ONLY_B) and not diff.rows(CHANGED)
    assert only[0].step.phase == "identity and hardening"
    assert only[0].step.title.startswith("Set the container's hostname")


def _propagation_to_slave(event: SyscallEvent) -> SyscallEvent:
    changed = copy.deepcopy(event)
    changed.args[3] = Arg("mountflags", 0x84000, "MS_REC|MS_SLAVE", ["MS_REC", "MS_SLAVE"])
    changed.detail["propagation"] = "slave"
    return changed


def test_one_argument_changed_is_the_same_step_with_other_arguments() -> None:
    header, events = trace()
    private = next(e for e in syscalls(events, "mount") if e.detail.get("operation") == "propagation")
    other = [_propagation_to_slave(e) if e is private else e for e in events]
    diff = diff_traces((header, events), (header, other))
    changed = diff.rows(CHANGED)
    assert len(changed) == 1 and not diff.rows(ONLY_A) and not diff.rows(ONLY_B)
    assert ("propagation", "private", "slave") in changed[0].changes()
    assert ("flags", "MS_PRIVATE|MS_REC", "MS_REC|MS_SLAVE") in changed[0].changes()
    # The summary ranks it: a mount (isolation) before anything else that differs.
    assert diff.ranked(CHANGED)[0] is changed[0]


def test_reordered_steps_are_moved_not_missing_twice() -> None:
    header, events = trace()
    mounts = [e for e in syscalls(events, "mount") if e.detail.get("fstype") in ("mqueue", "sysfs")]
    assert len(mounts) == 2
    i, j = events.index(mounts[0]), events.index(mounts[1])
    other = list(events)
    other[i], other[j] = other[j], other[i]
    diff = diff_traces((header, events), (header, other))
    assert not diff.rows(ONLY_A) and not diff.rows(ONLY_B) and not diff.rows(CHANGED)
    moved = [r for r in diff.rows() if r.moved]
    assert len(moved) == 1 and moved[0].kind == SAME
    assert not diff.identical


def test_clone_and_unshare_of_the_same_namespaces_are_one_step() -> None:
    header, events = trace()
    clone = next(e for e in events if isinstance(e, SyscallEvent) and e.category_name == "namespace")
    unshare = copy.deepcopy(clone)
    unshare.name = "unshare"
    unshare.args = [a for a in clone.args if a.name == "flags"]
    diff = diff_traces((header, events), (header, [unshare if e is clone else e for e in events]))
    (row,) = diff.rows(CHANGED)
    assert row.a is not None and row.b is not None
    assert (row.a.event.name, row.b.event.name) == (clone.name, "unshare")
    assert [c[0] for c in row.changes()] == ["syscall"]


def test_a_limit_with_another_value(tmp_path: Path) -> None:
    header, events = trace()
    procs = next(e for e in syscalls(events, "write") if e.detail.get("cgroup_file") == "cgroup.procs")
    limit = copy.deepcopy(procs)
    limit.detail["cgroup_file"] = "pids.max"
    limit.detail["value"] = "16"
    other_limit = copy.deepcopy(limit)
    other_limit.detail["value"] = "32"
    a = [limit if e is procs else e for e in events]
    b = [other_limit if e is procs else e for e in events]
    (row,) = diff_traces((header, a), (header, b)).rows(CHANGED)
    assert row.changes() == [("value", "16", "32")]


def test_security_steps_rank_before_identity_bookkeeping() -> None:
    """The summary's order inside security and identity steps (CONCERNS): seccomp, capabilities,
    no_new_privs, device rules, masked paths, read-only paths, then the rest by category (setuid,
    sethostname: bookkeeping of who the container runs as)."""
    header, events = trace()
    calls = [e for e in events if isinstance(e, SyscallEvent)]

    def first(name: str, **detail: str) -> SyscallEvent:
        return next(
            e for e in calls if e.name == name and all(e.detail.get(k) == v for k, v in detail.items())
        )

    procs = first("write", cgroup_file="cgroup.procs")
    deny = copy.deepcopy(procs)
    deny.detail.update(controller="devices", cgroup_file="devices.deny", value="a")
    left = [
        first("sethostname"),
        first("setresuid") if any(e.name == "setresuid" for e in calls) else first("setuid"),
        first(
            "mount",
            target=next(
                e.detail["target"] for e in calls if str(e.detail.get("target", "")).endswith("/proc/sys")
            ),
        ),
        first(
            "mount",
            target=next(
                e.detail["target"] for e in calls if str(e.detail.get("target", "")).endswith("/proc/keys")
            ),
        ),
        first("prctl", option="PR_SET_NO_NEW_PRIVS"),
        first("capset"),
    ]
    a = [*events[: events.index(procs)], deny, *events[events.index(procs) :]]
    b = [e for e in events if all(e is not x for x in left)]
    ranked = [r.step.label for r in diff_traces((header, a), (header, b)).ranked(ONLY_A)]
    assert ranked == [
        "capset",
        "prctl PR_SET_NO_NEW_PRIVS",
        "write devices.deny a",
        "mount mount /proc/keys",
        "mount mount /proc/sys",
        "sethostname",
        "set uid",
    ]


def test_titles_name_no_container_id(tmp_path: Path) -> None:
    """A title names what its call acts on (``mkdir boxtrace-ID``): it is normalised as the steps are."""
    other = rewritten("4e84dd5ab4c4", "0123456789ab", tmp_path)
    header, events = other
    without_hostname = [e for e in events if not (isinstance(e, SyscallEvent) and e.name == "mkdir")]
    diff = diff_traces(trace(), (header, without_hostname))
    titles = [s.title for r in diff.rows() for s in (r.a, r.b) if s is not None and s.title]
    assert titles and any("<id>" in t for t in titles), titles
    assert not [t for t in titles if "4e84dd5ab4c4" in t or "0123456789ab" in t]


def test_device_programs_are_device_rules_not_cgroup_writes() -> None:
    """bpf(2) calls on a cgroup are filed under "cgroup" by the tracer: the diff still keys them by
    their command (a program loaded, attached) and ranks them as device rules. The trace: the program
    of tests/tracer/test_bpf_real.py (load, attach, query, get by id, detach, a map), recorded here."""
    header, events = read_trace(str(TRACE.parents[2] / "lessons" / "data" / "bpf-device.jsonl"))
    steps = {s.key: s for s in steps_of(header, events) if s.event.name == "bpf"}
    device_rules = [name for name, _ in CONCERNS].index("device rules")
    load, attach = steps[("bpf", "BPF_PROG_LOAD")], steps[("bpf", "BPF_PROG_ATTACH")]
    assert load.category == "cgroup" and concern(load.key) == concern(attach.key) == device_rules
    # Addresses, fd numbers and pipe inodes differ at every run: they are placeholders.
    texts = " ".join(v for s in steps.values() for _, v in s.variant)
    assert "insns=<ptr>" in texts and "target_fd=<n><" in texts and "pipe:[<ino>]" in texts
