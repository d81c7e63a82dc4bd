"""capset(2): the header (version, pid) and the effective/permitted/inheritable sets."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import ptr_arg, read_u32s, s32
from boxtrace.tracer.events import Arg
from boxtrace.tracer.tables.capability import CAP_DATA_COUNT, CAP_VERSIONS, cap_set_hex, cap_set_names
from boxtrace.tracer.tables.xlat import enum_text

TYPE_CHECKING = False  # typing costs ~8 M instructions to import: only type checkers see it
if TYPE_CHECKING:
    from typing import Any


SETS: tuple[str, ...] = ("effective", "permitted", "inheritable")


def _set_text(mask: int) -> str:
    names = cap_set_names(mask)
    return "|".join(names) if names else "0"


def _capset(ctx: CallContext) -> Decoded:
    hdr_addr, data_addr = ctx.args[0], ctx.args[1]
    header = read_u32s(ctx, hdr_addr, 2)
    if header is None:
        return Decoded(category="security", args=[ptr_arg("hdrp", hdr_addr), ptr_arg("datap", data_addr)])
    version, pid = header[0], s32(header[1])
    version_text = enum_text(version, CAP_VERSIONS)
    hdr_a = Arg(
        "hdrp",
        hdr_addr,
        f"{{version={version_text}, pid={pid}}}",
        fields={"version": version_text, "pid": pid},
    )
    detail: dict[str, Any] = {"version": CAP_VERSIONS.name(version), "pid": pid}
    count = CAP_DATA_COUNT.get(version)
    # An unknown version makes the kernel fail with EINVAL without reading the data.
    words = read_u32s(ctx, data_addr, 3 * count) if count else None
    if words is None:
        return Decoded(category="security", args=[hdr_a, ptr_arg("datap", data_addr)], detail=detail)
    fields: dict[str, str] = {}
    for i, name in enumerate(SETS):
        mask = 0
        for struct_index in range(count or 0):
            mask |= words[3 * struct_index + i] << (32 * struct_index)
        detail[name] = cap_set_names(mask)
        detail[f"{name}_hex"] = cap_set_hex(mask)
        fields[name] = _set_text(mask)
    text = "{" + ", ".join(f"{k}={v}" for k, v in fields.items()) + "}"
    return Decoded(
        category="security",
        args=[hdr_a, Arg("datap", data_addr, text, fields=fields)],
        detail=detail,
    )


DECODERS = {"capset": _capset}
CATEGORIES = {"capset": "security"}
RESULTS: dict[str, str] = {}
