"""bpf(2): the command and its ``union bpf_attr`` member, printed as strace prints them.

A container runtime calls bpf for one job: on cgroup v2, device rules are a program of type
BPF_PROG_TYPE_CGROUP_DEVICE loaded with BPF_PROG_LOAD and attached to the container's cgroup with
BPF_PROG_ATTACH (runc and crun; BPF_PROG_QUERY and BPF_PROG_DETACH when they replace it). Those calls
are filed under "cgroup" with the cgroup's path; every other bpf call under "security". The
commands without a layout in tracer/tables/bpf.py show the attr pointer, like an unknown command.
"""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.classify import cgroup_info
from boxtrace.tracer.decoders.common import (
    U32,
    enum_arg,
    fd_path,
    fd_text,
    ptr_arg,
    ptr_text,
    quote,
    read_string,
    s32,
    uint_arg,
)
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.bpf import (
    ATTR_LAYOUTS,
    ATTR_MAX,
    ATTR_WRAPPER,
    BPF_COMMANDS,
    ENUM_TABLES,
    FD_RESULT_COMMANDS,
    FIELD_SIZE,
    FLAG_TABLES,
)
from boxtrace.tracer.tables.xlat import enum_text, flags_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any

    from boxtrace.tracer.tables.bpf import AttrField

_LICENSE_MAX = 128
# Commands that point at a cgroup through target_fd: attaching, detaching and querying programs.
_TARGET_COMMANDS = frozenset({"BPF_PROG_ATTACH", "BPF_PROG_DETACH", "BPF_PROG_QUERY"})


def _read_field(data: bytes, offset: int, kind: str) -> int | bytes:
    size = FIELD_SIZE.get(kind, 4)
    chunk = data[offset : offset + size].ljust(size, b"\0")  # past the given size the kernel reads zeros
    if kind == "name":
        return chunk
    return int.from_bytes(chunk, "little")


def _field_text(ctx: CallContext, kind: str, value: int | bytes, facts: dict[str, Any], name: str) -> str:
    if isinstance(value, bytes):  # an inline char[16]: up to the first NUL
        text = value.split(b"\0", 1)[0].decode(errors="surrogateescape")
        facts[name] = text
        return quote(text)
    if kind == "fd":
        fd = s32(value)
        path = fd_path(ctx, fd)
        facts[f"{name}_path"] = path
        return fd_text(fd, path)
    if kind == "ptr":
        return ptr_text(value)
    if kind == "str":
        string = read_string(ctx, value, _LICENSE_MAX)
        if string is None:
            return ptr_text(value)
        facts[name] = string
        return quote(string)
    if kind == "kver":
        return f"KERNEL_VERSION({value >> 16}, {(value >> 8) & 0xFF}, {value & 0xFF})"
    if kind == "s32":
        return str(s32(value))
    table = ENUM_TABLES.get(kind)
    if table is not None:
        facts[name] = table.name(value)
        return enum_text(value, table)
    flag_table = FLAG_TABLES.get(kind)
    if flag_table is not None:
        names, text = flags_text(value, flag_table)
        facts[name] = names
        return text
    facts[name] = value
    return str(value)


def _attr_text(ctx: CallContext, data: bytes, size: int, layout: tuple[AttrField, ...]) -> tuple[str, dict]:
    """``{name=value, ...}`` with the fields the given size covers, and the facts read from them."""
    facts: dict[str, Any] = {}
    parts = []
    for name, offset, kind, shown_above in layout:
        if size <= (offset if shown_above is None else shown_above):
            continue
        parts.append(f"{name}={_field_text(ctx, kind, _read_field(data, offset, kind), facts, name)}")
    return "{" + ", ".join(parts) + "}", facts


def _category(command: str, facts: dict[str, Any]) -> str:
    """ "cgroup" for a device program and for programs attached to (or queried on) a cgroup."""
    if command == "BPF_PROG_LOAD":
        return "cgroup" if facts.get("prog_type") == "BPF_PROG_TYPE_CGROUP_DEVICE" else "security"
    if command in _TARGET_COMMANDS:
        attach_type = facts.get("attach_type") or ""
        path = facts.get("target_fd_path")
        on_cgroup = isinstance(path, str) and cgroup_info(path, is_file=False) is not None
        if on_cgroup or attach_type.startswith("BPF_CGROUP_") or attach_type == "BPF_LSM_CGROUP":
            return "cgroup"
    return "security"


def _bpf(ctx: CallContext) -> Decoded:
    cmd, addr, size = ctx.args[0] & U32, ctx.args[1], ctx.args[2] & U32
    command = BPF_COMMANDS.name(cmd)
    cmd_arg = enum_arg("cmd", cmd, BPF_COMMANDS)
    size_arg = uint_arg("size", size)
    detail: dict[str, Any] = {"command": command or cmd}
    # BPF_PROG_LOAD, BPF_MAP_CREATE...: the result is a new fd, shown as strace -y shows it.
    state: dict[str, Any] = {"result_kind": "fd"} if command in FD_RESULT_COMMANDS else {}
    layout = ATTR_LAYOUTS.get(cmd)
    data = ctx.mem.read_bytes(addr, min(size, ATTR_MAX)) if layout is not None and addr else None
    if layout is None or data is None:
        args = [cmd_arg, ptr_arg("attr", addr), size_arg]
        return Decoded(category="security", args=args, detail=detail, state=state)
    text, facts = _attr_text(ctx, data, size, layout)
    wrapper = ATTR_WRAPPER.get(cmd)
    if wrapper is not None:
        text = f"{{{wrapper}={text}}}"
    # The flags runtimes pass (attach and query); program and map flags stay in the text and facts.
    flags = [f for key in ("attach_flags", "query_flags") for f in facts.get(key) or ()]
    fields = {k: v for k, v in facts.items() if v is not None and v != [] and not k.endswith("_path")}
    detail.update(fields)
    if facts.get("target_fd_path"):
        detail["target_path"] = facts["target_fd_path"]
        if cgroup_info(facts["target_fd_path"], is_file=False) is not None:
            detail["cgroup_path"] = facts["target_fd_path"]
    return Decoded(
        category=_category(command or "", facts),
        args=[cmd_arg, Arg("attr", addr, text, flags=flags or None, fields=fields), size_arg],
        detail=detail,
        state=state,
    )


DECODERS = {"bpf": _bpf}
CATEGORIES = {"bpf": "security"}
RESULTS: dict[str, str] = {}  # per command instead: Decoded.state["result_kind"]
