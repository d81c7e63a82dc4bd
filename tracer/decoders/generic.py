"""The fallback for calls no family decodes (only reported with --all): raw arguments in hex."""

from __future__ import annotations

from boxtrace.tracer.arch import get_arch
from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import Arg

_ARCH = get_arch("x86_64")


def decode_generic(ctx: CallContext, category: str = "other") -> Decoded:
    count = _ARCH.nargs(ctx.name)
    args = [Arg(f"arg{i}", value, f"{value:#x}") for i, value in enumerate(ctx.args[:count])]
    return Decoded(category=category, args=args)
