"""An eBPF assembler with labels: what a cgroup v2 device program is written in (device_filter.py).

An eBPF instruction is 8 bytes, ``struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off;
s32 imm;}`` (linux/bpf.h). There are eleven 64-bit registers: R1 holds the program's context (for
a device program, a pointer to ``struct bpf_cgroup_dev_ctx``), R0 its return value. A jump skips
``off`` instructions forward from the next one. Only the few instructions a device filter needs are
here; jumps name labels and ``assemble`` turns them into offsets, as runtime/bpf.py does for the
classic BPF of seccomp.
"""

from __future__ import annotations

import struct
import sys

from boxtrace.runtime.errors import ContainerError

# Instruction classes and fields (linux/bpf_common.h, linux/bpf.h): class | size | mode for loads,
# class | op | source for ALU and jumps.
LDX, ALU, JMP, ALU64 = 0x01, 0x04, 0x05, 0x07
SIZE_W = 0x00  # 32-bit word
MEM = 0x60
SRC_K, SRC_X = 0x00, 0x08  # the operand is imm, or src_reg

ALU_OPS = {"and": 0x50, "rsh": 0x70, "mov": 0xB0}
JMP_OPS = {"ja": 0x00, "jeq": 0x10, "jset": 0x40, "jne": 0x50, "exit": 0x90}

LDX_MEM_W = LDX | SIZE_W | MEM  # 0x61: dst = *(u32 *)(src + off)
EXIT = JMP | JMP_OPS["exit"]  # 0x95: return R0

INSN = struct.Struct("=BBhi")
# dst_reg and src_reg share one byte as C bit-fields: the first field is in the low bits on a
# little-endian machine and in the high bits on a big-endian one.
_LITTLE = sys.byteorder == "little"
# The verifier refuses larger programs for unprivileged users; a device filter is far below it.
MAX_INSTRUCTIONS = 4096

# A jump target: a label, or None (not a jump).
Target = str | None


def encode(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn`` in the machine's byte order."""
    regs = (dst | src << 4) if _LITTLE else (dst << 4 | src)
    return INSN.pack(code, regs, off, imm)


class Insn:
    """One instruction before assembly: its jump target is still a label."""

    __slots__ = ("code", "dst", "imm", "off", "src", "target")

    def __init__(
        self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, target: Target = None
    ) -> None:
        self.code, self.dst, self.src, self.off, self.imm, self.target = code, dst, src, off, imm, target


class Program:
    """Instructions in order; jumps name labels, placed with ``label``."""

    def __init__(self) -> None:
        self.code: list[Insn] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        if name in self.labels:
            raise ValueError(f"label {name!r} placed twice")
        self.labels[name] = len(self.code)

    def load_word(self, dst: int, src: int, offset: int) -> None:
        """dst = *(u32 *)(src + offset), zero-extended to 64 bits."""
        self.code.append(Insn(LDX_MEM_W, dst, src, offset))

    def alu32(self, op: str, dst: int, imm: int) -> None:
        """dst = (u32)dst OP imm (and, rsh) or dst = imm (mov); a 32-bit result zero-extended."""
        self.code.append(Insn(ALU | ALU_OPS[op] | SRC_K, dst, imm=imm))

    def mov64(self, dst: int, imm: int) -> None:
        """dst = imm (sign-extended to 64 bits)."""
        self.code.append(Insn(ALU64 | ALU_OPS["mov"] | SRC_K, dst, imm=imm))

    def jump(self, op: str, dst: int, imm: int, target: str) -> None:
        """if (dst OP imm) goto target; OP is jeq, jne or jset (dst & imm != 0), on 64 bits."""
        self.code.append(Insn(JMP | JMP_OPS[op] | SRC_K, dst, imm=imm, target=target))

    def goto(self, target: str) -> None:
        self.code.append(Insn(JMP | JMP_OPS["ja"], target=target))

    def exit(self) -> None:
        self.code.append(Insn(EXIT))

    def assemble(self) -> bytes:
        """The program as bpf(BPF_PROG_LOAD) takes it: an array of struct bpf_insn."""
        if len(self.code) > MAX_INSTRUCTIONS:
            raise ContainerError(
                f"eBPF program too large: {len(self.code)} instructions, at most {MAX_INSTRUCTIONS}: "
                "give fewer device rules"
            )
        out = bytearray()
        for pc, insn in enumerate(self.code):
            off = insn.off if insn.target is None else self._offset(pc, insn.target)
            out += encode(insn.code, insn.dst, insn.src, off, insn.imm)
        return bytes(out)

    def _offset(self, pc: int, target: str) -> int:
        if target not in self.labels:
            raise ValueError(f"jump to label {target!r}, which is never placed")
        offset = self.labels[target] - (pc + 1)
        if offset < 0:
            # A backward jump is a loop: the device-program verifier of older kernels refuses it.
            raise ValueError(f"instruction {pc} jumps backwards to {target!r}")
        return offset


# --- reading a program back, for people --------------------------------------------------------------

_ALU_NAMES = {code: name for name, code in ALU_OPS.items()}
_JMP_NAMES = {code: name for name, code in JMP_OPS.items()}
_JMP_SYMBOLS = {"jeq": "==", "jne": "!=", "jset": "&"}
_ALU_SYMBOLS = {"and": "&=", "rsh": ">>=", "mov": "="}


def decode(program: bytes) -> list[tuple[int, int, int, int, int]]:
    """(code, dst, src, off, imm) of each instruction."""
    out = []
    for code, regs, off, imm in INSN.iter_unpack(program):
        dst, src = (regs & 0xF, regs >> 4) if _LITTLE else (regs >> 4, regs & 0xF)
        out.append((code, dst, src, off, imm))
    return out


def disassemble(program: bytes) -> list[str]:
    """One line per instruction, in the notation of the kernel's verifier log
    (``r2 &= 65535``, ``if r2 != 0x2 goto pc+4``), with w for 32-bit registers."""
    lines = []
    for pc, (code, dst, src, off, imm) in enumerate(decode(program)):
        lines.append(f"{pc:3}: {_text(code, dst, src, off, imm)}")
    return lines


def _text(code: int, dst: int, src: int, off: int, imm: int) -> str:
    cls, op = code & 0x07, code & 0xF0
    if code == LDX_MEM_W:
        return f"r{dst} = *(u32 *)(r{src} {off:+d})"
    if cls in (ALU, ALU64) and op in _ALU_NAMES and not code & SRC_X:
        register = "w" if cls == ALU else "r"
        return f"{register}{dst} {_ALU_SYMBOLS[_ALU_NAMES[op]]} {imm}"
    if cls == JMP and op in _JMP_NAMES and not code & SRC_X:
        name = _JMP_NAMES[op]
        if name == "exit":
            return "exit"
        if name == "ja":
            return f"goto pc{off:+d}"
        return f"if r{dst} {_JMP_SYMBOLS[name]} {imm:#x} goto pc{off:+d}"
    return f"(code {code:#04x} dst r{dst} src r{src} off {off} imm {imm})"
