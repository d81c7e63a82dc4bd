"""OCI device rules compiled to an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE (cgroup v2).

cgroup v2 has no devices controller: the kernel runs the programs attached to a process's cgroup
(and its ancestors) whenever the process opens a device node or creates one with mknod(2), with
``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor;}`` as context, where
``access_type = (access << 16) | type``. The program returns 1 to allow, 0 to refuse with EPERM.

The semantics are runc's and crun's: the LAST rule that matches decides, and a request no rule
matches is refused. The program checks the rules in reverse order and stops at the first match.
A rule matches when the type is the same (type "a" matches both), the major and minor are equal
(-1 or null matches any), and it names an access bit asked for. The decision is made per access
bit, as the v1 devices controller does: an open for reading and writing asks for r and w, and is
allowed only when the last rule naming r and the last rule naming w both allow (so "allow rwm"
then "deny w" refuses O_RDWR, and "allow r" then "allow w" allows it). mknod asks for m alone.
A rule that matches everything ("a *:* rwm") ends the program: the rules before it can never
decide.

Registers: R1 = the context, R2 = type, R3 = the access bits asked for and not yet allowed,
R4 = major, R5 = minor, R0 = the verdict.
"""

from __future__ import annotations

import os
import sys

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
    used: set[str] = set()
    last = "deny"  # the verdict when no rule decides: default deny
    for index, rule in enumerate(reversed(rules)):
        access = access_bits(rule.access)
        if not access:
            continue  # names no access: matches no request
        verdict = "allow" if rule.allow else "deny"
        next_rule = f"rule{len(rules) - 1 - index}.next"
        matches_any_device = rule.type == "a" and _wildcard(rule.major) and _wildcard(rule.minor)
        if matches_any_device and access == ACC_ALL:
            last = verdict  # decides every request: the rules before it are never reached
            break
        if rule.type != "a":
            program.jump("jne", R2, DEVCG_DEV_TYPE[rule.type], next_rule)
        for register, number in ((R4, rule.major), (R5, rule.minor)):
            if number is not None and number >= 0:
                program.jump("jne", register, number, next_rule)
        if access == ACC_ALL:
            program.goto(verdict)
        elif rule.allow:
            # These bits are allowed; the request is, once no bit asked for is left.
            program.alu32("and", R3, ACC_ALL & ~access)
            program.jump("jeq", R3, 0, "allow")
        else:
            program.jump("jset", R3, access, "deny")  # one bit asked for is refused: all is
        used.add(verdict)
        program.label(next_rule)
    # The verdict the last instruction falls into, then the other one if a rule jumps to it (the
    # verifier refuses a program with unreachable instructions).
    for verdict in (last, "allow" if last == "deny" else "deny"):
        if verdict == last or verdict in used:
            program.label(verdict)
            program.mov64(R0, ALLOW if verdict == "allow" else DENY)
            program.exit()
    return program.assemble()


def _wildcard(number: int | None) -> bool:
    return number is None or number < 0


def main(argv: list[str]) -> int:
    """`python3 -m boxtrace.runtime.device_filter [config.json]`: the program the runtime would
    attach on cgroup v2 for a bundle's linux.resources.devices (or for `boxtrace run`'s defaults),
    one instruction a line, in the verifier log's notation."""
    from boxtrace.runtime.cgroups import effective_device_rules
    from boxtrace.runtime.ebpf import disassemble
    from boxtrace.runtime.errors import RuntimeUsageError
    from boxtrace.runtime.spec import default_spec, load_bundle_spec

    try:
        spec = load_bundle_spec(os.path.dirname(os.path.abspath(argv[0]))) if argv else default_spec("/")
    except RuntimeUsageError as exc:
        print(f"device_filter: error: {exc}", file=sys.stderr)
        return 2
    rules = effective_device_rules(spec.resources.devices)
    program = compile_rules(rules)
    print(f"# {len(rules)} rules (the spec's, then the default devices), {len(program) // 8} instructions")
    print("\n".join(disassemble(program)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
