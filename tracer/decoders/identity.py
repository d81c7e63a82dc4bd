"""Identity: sethostname, setdomainname, set*id, setgroups."""

from __future__ import annotations

from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.decoders.common import U32, EntryDecoder, id_arg, int_arg, ptr_arg, quote, read_u32s, s32
from boxtrace.tracer.events import Arg

# __NEW_UTS_LEN: longer names fail with EINVAL.
UTS_LEN = 64
# NGROUPS_MAX is 65536; a container's list is a handful, so cap what is read.
GROUPS_SHOWN = 1024


def _uts_name(ctx: CallContext, field: str) -> Decoded:
    addr, length = ctx.args[0], ctx.args[1] & U32
    want = min(length, UTS_LEN)
    data = ctx.mem.read_bytes(addr, want) if addr and want else (b"" if addr else None)
    len_a = Arg("len", length, str(length))
    if data is None:
        return Decoded(category="identity", args=[ptr_arg("name", addr), len_a], detail={field: None})
    value = data.decode("utf-8", "surrogateescape")
    name_a = Arg("name", addr, quote(value, truncated=length > UTS_LEN))
    return Decoded(category="identity", args=[name_a, len_a], detail={field: value})


def _sethostname(ctx: CallContext) -> Decoded:
    return _uts_name(ctx, "hostname")


def _setdomainname(ctx: CallContext) -> Decoded:
    return _uts_name(ctx, "domainname")


def _id_value(raw: int) -> int | None:
    """None for -1, the "leave unchanged" value."""
    value = raw & U32
    return None if value == U32 else value


def _ids(*names: str) -> EntryDecoder:
    def decode(ctx: CallContext) -> Decoded:
        args = [id_arg(name, raw) for name, raw in zip(names, ctx.args, strict=False)]
        detail = {name: _id_value(raw) for name, raw in zip(names, ctx.args, strict=False)}
        return Decoded(category="identity", args=args, detail=detail)

    return decode


def _setgroups(ctx: CallContext) -> Decoded:
    size = s32(ctx.args[0])
    addr = ctx.args[1]
    size_a = int_arg("size", ctx.args[0])
    if size == 0:
        return Decoded(category="identity", args=[size_a, Arg("list", addr, "[]")], detail={"groups": []})
    shown = min(size, GROUPS_SHOWN) if size > 0 else 0
    gids = read_u32s(ctx, addr, shown) if shown else None
    if gids is None:
        return Decoded(category="identity", args=[size_a, ptr_arg("list", addr)], detail={"groups": None})
    text = "[" + ", ".join(str(g) for g in gids) + (", ...]" if size > shown else "]")
    return Decoded(
        category="identity",
        args=[size_a, Arg("list", addr, text)],
        detail={"groups": list(gids)},
    )


DECODERS = {
    "sethostname": _sethostname,
    "setdomainname": _setdomainname,
    "setuid": _ids("uid"),
    "setgid": _ids("gid"),
    "setreuid": _ids("ruid", "euid"),
    "setregid": _ids("rgid", "egid"),
    "setresuid": _ids("ruid", "euid", "suid"),
    "setresgid": _ids("rgid", "egid", "sgid"),
    "setgroups": _setgroups,
}
CATEGORIES = {name: "identity" for name in DECODERS}
RESULTS: dict[str, str] = {}
