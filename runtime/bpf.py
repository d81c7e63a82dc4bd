"""A classic-BPF assembler with labels: what a seccomp filter is written in (seccomp_profile.py).

A classic-BPF instruction is ``struct sock_filter {u16 code; u8 jt; u8 jf; u32 k;}``: a conditional
jump skips ``jt`` or ``jf`` instructions forward, so a jump reaches at most 255 instructions ahead.
Instructions here name their targets by label and ``assemble`` resolves them; a jump that does not
fit raises ContainerError instead of wrapping around into a different filter.
"""

from __future__ import annotations

import struct

from boxtrace.runtime.errors import ContainerError

# linux/bpf_common.h: class | size | mode, class | op | source.
LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k
ALU_AND_K = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K: A &= k
JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
JGT_K = 0x05 | 0x20 | 0x00  # BPF_JMP | BPF_JGT | BPF_K (unsigned)
JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K (unsigned)
RET_K = 0x06 | 0x00  # BPF_RET | BPF_K: return k

MAX_JUMP = 255  # jt and jf are u8
MAX_INSTRUCTIONS = 4096  # BPF_MAXINSNS: the kernel refuses longer filters with EINVAL

SOCK_FILTER = struct.Struct("=HBBI")

# A jump target: a label, or None for the next instruction.
Target = str | None


class Program:
    """Instructions in order; jumps name labels, placed with ``label``."""

    def __init__(self) -> None:
        self.code: list[tuple[int, Target, Target, int]] = []
        self.labels: dict[str, int] = {}
        self._counter = 0

    def new_label(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}#{self._counter}"

    def label(self, name: str) -> None:
        if name in self.labels:
            raise ValueError(f"label {name!r} placed twice")
        self.labels[name] = len(self.code)

    def load(self, offset: int) -> None:
        self.code.append((LD_W_ABS, None, None, offset))

    def and_(self, mask: int) -> None:
        self.code.append((ALU_AND_K, None, None, mask))

    def jump(self, op: int, k: int, true: Target, false: Target) -> None:
        self.code.append((op, true, false, k))

    def ret(self, value: int) -> None:
        self.code.append((RET_K, None, None, value))

    def assemble(self) -> bytes:
        """The program as the kernel takes it (an array of struct sock_filter, native byte order)."""
        if len(self.code) > MAX_INSTRUCTIONS:
            raise ContainerError(
                f"seccomp profile too large: {len(self.code)} BPF instructions, the kernel takes at most "
                f"{MAX_INSTRUCTIONS}: give fewer rules"
            )
        out = bytearray()
        for pc, (code, true, false, k) in enumerate(self.code):
            out += SOCK_FILTER.pack(code, self._offset(pc, true), self._offset(pc, false), k)
        return bytes(out)

    def _offset(self, pc: int, target: Target) -> int:
        if target is None:
            return 0
        offset = self.labels[target] - (pc + 1)
        if not 0 <= offset <= MAX_JUMP:
            raise ContainerError(
                f"seccomp profile too large: instruction {pc} would jump {offset} instructions to "
                f"{target.split('#')[0]}, classic BPF jumps reach at most {MAX_JUMP}: give fewer rules "
                "or fewer conditions for one syscall"
            )
        return offset
