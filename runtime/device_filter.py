"""OCI device rules compiled to an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE (cgroup v2).

cgroup v2 has no devices controller: the kernel runs the programs attached to a process's cgroup
(and its ancestors) whenever the process opens a device node or creates one with mknod(2), with
``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}`` as context, where
``access_type = (access << 16) | type``. The program returns 1 to allow, 0 to refuse with EPERM.

The semantics are runc's and crun's: the LAST rule that matches decides, and a request no rule
matches is refused. The program checks the rules in reverse order and returns at the first match.
A rule matches when the type is the same (type "a" matches both), the major and minor are equal
(-1 or null matches any), and every access bit asked for is in the rule's access ("rw" matches an
open for reading, for writing, or both; a mknod needs "m"). A rule that matches everything
("a *:* rwm") ends the program: the rules before it can never decide.

Registers: R1 = the context, R2 = type, R3 = access, R4 = major, R5 = minor, R0 = the verdict.
"""

from __future__ import annotations

from boxtrace.runtime.ebpf import Program
from boxtrace.runtime.spec import DeviceRule

# linux/bpf.h: enum bpf_devcg_dev_type and the BPF_DEVCG_ACC_* bits.
DEVCG_DEV_TYPE = {"b": 1, "c": 2}
DEVCG_ACC = {"m": 1, "r": 2, "w": 4}
ACC_ALL = 7

R0, R1, R2, R3, R4, R5 = range(6)
ALLOW, DENY = 1, 0


def parse_rule(text: str, allow: bool = True) -> DeviceRule:
    """A rule in the v1 devices.allow syntax: "c 1:3 rwm", "c 136:* rwm", "a"."""
    kind, _, rest = text.partition(" ")
    if kind == "a":
        return DeviceRule(allow=allow)
    numbers, _, access = rest.partition(" ")
    major, _, minor = numbers.partition(":")
    return DeviceRule(
        allow=allow,
        type=kind,
        major=None if major == "*" else int(major),
        minor=None if minor == "*" else int(minor),
        access=access,
    )


def access_bits(access: str) -> int:
    bits = 0
    for letter in access:
        bits |= DEVCG_ACC[letter]
    return bits


def compile_rules(rules: list[DeviceRule]) -> bytes:
    """The program for ``rules`` (spec order: the last match wins, no match is refused)."""
    program = Program()
    # The context's fields into registers once: the rules only compare.
    program.load_word(R2, R1, 0)
    program.alu32("and", R2, 0xFFFF)  # type: the low 16 bits of access_type
    program.load_word(R3, R1, 0)
    program.alu32("rsh", R3, 16)  # access: the high 16 bits
    program.load_word(R4, R1, 4)
    program.load_word(R5, R1, 8)
    for index, rule in enumerate(reversed(rules)):
        access = access_bits(rule.access)
        if not access:
            continue  # no access at all matches no request
        next_rule = f"rule{len(rules) - 1 - index}.next"
        conditions = 0
        if rule.type != "a":
            program.jump("jne", R2, DEVCG_DEV_TYPE[rule.type], next_rule)
            conditions += 1
        if access != ACC_ALL:
            # One test for "asked is a subset of allowed": any asked bit outside the rule's skips it.
            program.jump("jset", R3, ACC_ALL & ~access, next_rule)
            conditions += 1
        for register, number in ((R4, rule.major), (R5, rule.minor)):
            if number is not None and number >= 0:
                program.jump("jne", register, number, next_rule)
                conditions += 1
        program.mov64(R0, ALLOW if rule.allow else DENY)
        program.exit()
        if not conditions:
            return program.assemble()  # matches every request: nothing after it is reached
        program.label(next_rule)
    program.mov64(R0, DENY)
    program.exit()
    return program.assemble()
