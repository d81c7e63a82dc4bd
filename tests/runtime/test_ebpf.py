"""The eBPF encoder and the device-rule compiler, byte for byte (no kernel needed).

The expected bytes are worked out by hand from linux/bpf.h: code, then dst_reg in the low and
src_reg in the high nibble (little-endian), a signed 16-bit offset and a signed 32-bit immediate.
"""

from __future__ import annotations

import sys

import pytest

from boxtrace.runtime import oci_update
from boxtrace.runtime.cgroups import DEFAULT_ALLOWED_DEVICES, effective_device_rules
from boxtrace.runtime.device_filter import access_bits, compile_rules, parse_rule
from boxtrace.runtime.ebpf import Program, disassemble, encode
from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.spec import DeviceRule, device_rule_from_json

pytestmark = pytest.mark.skipif(sys.byteorder != "little", reason="hand-computed bytes are little-endian")

PROLOGUE = bytes.fromhex(
    "6112000000000000"  # r2 = *(u32 *)(r1 + 0)
    "54020000ffff0000"  # w2 &= 0xffff
    "6113000000000000"  # r3 = *(u32 *)(r1 + 0)
    "7403000010000000"  # w3 >>= 16
    "6114040000000000"  # r4 = *(u32 *)(r1 + 4)
    "6115080000000000"  # r5 = *(u32 *)(r1 + 8)
)
DENY = bytes.fromhex("b7000000000000009500000000000000")  # r0 = 0; exit
ALLOW = bytes.fromhex("b7000000010000009500000000000000")  # r0 = 1; exit


def test_encode_fields() -> None:
    assert encode(0x61, dst=2, src=1, off=4) == bytes.fromhex("6112040000000000")
    assert encode(0x05, off=-1) == bytes.fromhex("0500ffff00000000")  # ja -1
    assert encode(0xB7, dst=0, imm=-1) == bytes.fromhex("b7000000ffffffff")
    assert encode(0x55, dst=10, src=0, off=0x1234, imm=0x7FFFFFFF) == bytes.fromhex("550a3412ffffff7f")


def test_program_labels_and_errors() -> None:
    program = Program()
    program.jump("jne", 2, 2, "end")
    program.goto("end")
    program.label("end")
    program.exit()
    assert program.assemble() == bytes.fromhex("550201000200000005000000000000009500000000000000")
    missing = Program()
    missing.goto("nowhere")
    with pytest.raises(ValueError, match="never placed"):
        missing.assemble()
    with pytest.raises(ValueError, match="placed twice"):
        program.label("end")


def test_one_allow_rule_by_hand() -> None:
    """c 1:3 rwm: type, major, minor compared; a match jumps to the allow block at the end."""
    assert (
        compile_rules([parse_rule("c 1:3 rwm")])
        == PROLOGUE
        + bytes.fromhex(
            "5502030002000000"  # if r2 != 2 (char) goto +3
            "5504020001000000"  # if r4 != 1 goto +2
            "5505010003000000"  # if r5 != 3 goto +1
            "0500020000000000"  # goto allow (+2)
        )
        + DENY
        + ALLOW
    )


def test_partial_access_by_hand() -> None:
    """An allow of "r" clears the r bit from the bits asked for (R3); a deny of "w" refuses a
    request that still asks for w (jset)."""
    allow_read = compile_rules([parse_rule("b 7:* r")])
    assert (
        allow_read
        == PROLOGUE
        + bytes.fromhex(
            "5502030001000000"  # if r2 != 1 (block) goto +3
            "5504020007000000"  # if r4 != 7 goto +2
            "5403000005000000"  # w3 &= 5 (~r)
            "1503020000000000"  # if r3 == 0 goto allow (+2, past the deny block)
        )
        + DENY
        + ALLOW
    )
    deny_write = compile_rules([DeviceRule(allow=True), parse_rule("c 10:200 w", allow=False)])
    assert (
        deny_write
        == PROLOGUE
        + bytes.fromhex(
            "5502030002000000"  # if r2 != 2 goto +3
            "550402000a000000"  # if r4 != 10 goto +2
            "55050100c8000000"  # if r5 != 200 goto +1
            "4503020004000000"  # if r3 & 4 goto deny (+2)
        )
        + ALLOW
        + DENY
    )  # "a rwm" allows everything else: allow is what the rules fall into


def test_a_wildcard_rule_ends_the_program() -> None:
    """The rules are read last to first; "deny a" decides everything, so the rules before it
    (here an allow of loop0) are not emitted at all."""
    rules = [parse_rule("b 7:0 rwm"), DeviceRule(allow=False), parse_rule("c 10:200 rwm")]
    assert (
        compile_rules(rules)
        == PROLOGUE
        + bytes.fromhex("5502030002000000550402000a00000055050100c80000000500020000000000")
        + DENY
        + ALLOW
    )
    assert compile_rules([DeviceRule(allow=True)]) == PROLOGUE + ALLOW
    assert compile_rules([]) == PROLOGUE + DENY
    assert compile_rules([DeviceRule(allow=True, access="")]) == PROLOGUE + DENY  # names nothing


def test_default_program_and_its_readable_form() -> None:
    program = compile_rules(effective_device_rules([DeviceRule(allow=False)]))
    assert len(program) // 8 == 41
    lines = disassemble(program)
    assert lines[:8] == [
        "  0: r2 = *(u32 *)(r1 +0)",
        "  1: w2 &= 65535",
        "  2: r3 = *(u32 *)(r1 +0)",
        "  3: w3 >>= 16",
        "  4: r4 = *(u32 *)(r1 +4)",
        "  5: r5 = *(u32 *)(r1 +8)",
        "  6: if r2 != 0x2 goto pc+2",  # the last default (c 136:* rwm) is checked first
        "  7: if r4 != 0x88 goto pc+1",
    ]
    assert lines[-4:] == [" 37: r0 = 0", " 38: exit", " 39: r0 = 1", " 40: exit"]


def test_rule_text_and_access_bits() -> None:
    assert parse_rule("c 136:* rwm") == DeviceRule(allow=True, type="c", major=136, minor=None, access="rwm")
    assert parse_rule("a", allow=False) == DeviceRule(allow=False)
    assert [parse_rule(d).type for d in DEFAULT_ALLOWED_DEVICES] == ["c"] * len(DEFAULT_ALLOWED_DEVICES)
    assert (access_bits("m"), access_bits("r"), access_bits("w"), access_bits("rwm")) == (1, 2, 4, 7)


def test_device_rules_from_json_are_checked() -> None:
    assert device_rule_from_json({"allow": True, "type": "c", "major": 10, "minor": -1, "access": "rw"}) == (
        DeviceRule(allow=True, type="c", major=10, minor=None, access="rw")
    )
    assert device_rule_from_json({"allow": False}) == DeviceRule(allow=False, type="a", access="rwm")
    for bad, words in (
        ({"allow": "yes"}, "needs 'allow'"),
        ({"allow": True, "type": "p"}, "type must be"),
        ({"allow": True, "access": "rx"}, "access must be letters of 'rwm'"),
        ({"allow": True, "major": "10"}, "major must be a device number"),
        ({"allow": True, "minor": 1 << 31}, "minor must be a device number"),
    ):
        with pytest.raises(ValueError, match=words):
            device_rule_from_json(bad)


def test_update_reads_device_rules() -> None:
    changes = oci_update.changes_from_json(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 10, "minor": 200},
            ]
        }
    )
    assert changes.devices == [DeviceRule(allow=False), DeviceRule(allow=True, type="c", major=10, minor=200)]
    assert changes.ignored == []
    assert oci_update.changes_from_json({"devices": []}).devices == []  # unchanged
    with pytest.raises(RuntimeUsageError, match=r"--resources: devices item 1: type must be"):
        oci_update.changes_from_json({"devices": [{"allow": False}, {"allow": True, "type": "x"}]})
