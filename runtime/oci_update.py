"""`boxtrace-runtime update`: change a running container's limits in its cgroup (runc update;
`docker update` reaches it as `update --resources - ID` with linux.resources JSON on stdin).

The limits boxtrace sets at create can be changed: memory (and memory+swap), CPU shares, CFS
quota and period, pids, device rules. As in runc, 0 or a missing field means "leave it as it is"
and -1 means "no limit". Other linux.resources fields get a warning and are not applied.

Each value goes to the file of the cgroup directory that has it: on v1 every controller has its
own directory (memory/..., cpu/..., pids/...), on v2 there is one. Device rules on v2 are an eBPF
program: the new one is attached, then the old one detached (runc's order).
"""

from __future__ import annotations

import json
import os
import sys

from boxtrace.runtime.cgroups import CFS_PERIOD_US, set_v2_device_rules, shares_to_weight, v1_device_writes
from boxtrace.runtime.container import print_warning
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.options import parse_size
from boxtrace.runtime.records import field, record
from boxtrace.runtime.spec import DeviceRule, device_rule_from_json
from boxtrace.runtime.usage import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from boxtrace.runtime.container import Warn

UNLIMITED = -1
_PROG = "boxtrace-runtime update"


@record
class ResourceChanges:
    """None: unchanged; -1: unlimited."""

    memory_limit: int | None = None
    memory_swap: int | None = None  # memory + swap, as OCI's memory.swap and v1's memsw
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    pids_limit: int | None = None
    devices: list[DeviceRule] = field(default_factory=list)  # empty: unchanged
    ignored: list[str] = field(default_factory=list)


# linux.resources fields `update` applies: JSON path -> ResourceChanges attribute.
SUPPORTED_FIELDS: dict[tuple[str, str], str] = {
    ("memory", "limit"): "memory_limit",
    ("memory", "swap"): "memory_swap",
    ("cpu", "shares"): "cpu_shares",
    ("cpu", "quota"): "cpu_quota",
    ("cpu", "period"): "cpu_period",
    ("pids", "limit"): "pids_limit",
}


# --- reading what to change ------------------------------------------------------------------------------


def read_resources(source: str) -> dict[str, Any]:
    """--resources FILE, or '-' for stdin."""
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise RuntimeUsageError(f"cannot read --resources {source}: {exc.strerror}") from None
    where = "stdin" if source == "-" else source
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuntimeUsageError(f"--resources {where}, line {exc.lineno}: bad JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RuntimeUsageError(f"--resources {where}: must hold a JSON object (OCI linux.resources)")
    return data


def changes_from_json(data: dict[str, Any]) -> ResourceChanges:
    """OCI linux.resources: the supported fields; any other that is set (not 0, empty or null)
    is listed in ``ignored``."""
    changes = ResourceChanges()
    for group, values in data.items():
        if group == "devices" and isinstance(values, list):
            changes.devices = _device_rules(values)
            continue
        if not isinstance(values, dict):
            if _is_set(values):
                changes.ignored.append(group)
            continue
        for key, value in values.items():
            attribute = SUPPORTED_FIELDS.get((group, key))
            if attribute is None:
                if _is_set(value):
                    changes.ignored.append(f"{group}.{key}")
                continue
            if value is None or value == 0:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < UNLIMITED:
                raise RuntimeUsageError(f"--resources: {group}.{key} must be a number >= -1, got {value!r}")
            setattr(changes, attribute, value)
    return changes


def changes_from_flags(
    *,
    memory: str | None = None,
    memory_swap: str | None = None,
    cpu_shares: str | None = None,
    cpu_quota: str | None = None,
    cpu_period: str | None = None,
    pids_limit: str | None = None,
) -> ResourceChanges:
    return ResourceChanges(
        memory_limit=_size(memory, "--memory"),
        memory_swap=_size(memory_swap, "--memory-swap"),
        cpu_shares=_number(cpu_shares, "--cpu-share", minimum=2),
        cpu_quota=_number(cpu_quota, "--cpu-quota", minimum=1000),
        cpu_period=_number(cpu_period, "--cpu-period", minimum=1000),
        pids_limit=_number(pids_limit, "--pids-limit", minimum=1),
    )


def _device_rules(items: list[object]) -> list[DeviceRule]:
    rules = []
    for i, item in enumerate(items):
        try:
            rules.append(device_rule_from_json(item))
        except ValueError as exc:
            raise RuntimeUsageError(f"--resources: devices item {i}: {exc}") from None
    return rules


def _is_set(value: object) -> bool:
    return value not in (None, 0, "", False, [], {})


def _size(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if text.strip() == "-1":
        return UNLIMITED
    try:
        return parse_size(text, option)
    except RuntimeUsageError as exc:
        raise UsageError(str(exc), _PROG) from None


def _number(text: str | None, option: str, minimum: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{option} wants a whole number, got {text!r}", _PROG) from None
    if value == UNLIMITED and option in ("--cpu-quota", "--pids-limit"):
        return value
    if value < minimum:
        raise UsageError(f"{option} must be at least {minimum} (or -1 for none), got {value}", _PROG)
    return value


# --- writing it ---------------------------------------------------------------------------------------


def update(root: str, container_id: str, changes: ResourceChanges, warn: Warn = print_warning) -> None:
    from boxtrace.runtime import oci

    path, facts = oci.load_state(root, container_id)
    if oci.container_status(path, facts) not in ("created", "running", "paused"):
        raise ContainerError("container not running", 1)  # runc's ErrNotRunning
    for name in changes.ignored:
        warn(f"update: linux.resources {name} is not supported by boxtrace yet: ignored")
    dirs = list(facts.get("cgroups", []))
    if not dirs:
        raise ContainerError(f"cannot update {container_id}: it has no cgroup (created without root?)", 1)
    v2 = any(os.path.exists(os.path.join(d, "cgroup.controllers")) for d in dirs)
    writes = _v2_writes(changes, dirs) if v2 else _v1_writes(changes, dirs)
    for filename, value in writes:
        _write(dirs, filename, value)
    if changes.devices:
        _update_devices(changes.devices, dirs, v2)


def _update_devices(rules: list[DeviceRule], dirs: list[str], v2: bool) -> None:
    """v2: a new eBPF program replaces the old one; v1: the rules written to devices.deny/allow in
    order (a first "deny a" clears the old ones)."""
    if v2:
        why = set_v2_device_rules(dirs[0], rules)
        if why:
            raise ContainerError(f"cannot update device rules: {why}", 1)
        return
    if _find(dirs, "devices.allow") is None:
        raise ContainerError(
            f"cannot set device rules: the container has no devices cgroup ({', '.join(dirs)})", 1
        )
    for filename, value in v1_device_writes(rules):
        _write(dirs, filename, value)


def _v1_writes(changes: ResourceChanges, dirs: list[str]) -> list[tuple[str, str]]:
    writes = _v1_memory_writes(changes, dirs)
    if changes.cpu_shares is not None:
        writes.append(("cpu.shares", str(changes.cpu_shares)))
    if changes.cpu_period is not None:
        writes.append(("cpu.cfs_period_us", str(changes.cpu_period)))
    if changes.cpu_quota is not None:
        writes.append(("cpu.cfs_quota_us", str(changes.cpu_quota)))
    if changes.pids_limit is not None:
        writes.append(("pids.max", _max_or(changes.pids_limit)))
    return writes


def _v1_memory_writes(changes: ResourceChanges, dirs: list[str]) -> list[tuple[str, str]]:
    """v1 refuses a memory limit above memory+swap, and memory+swap below the memory limit, so
    the order of the two writes depends on the direction (runc's setMemoryAndSwap). A memory
    change without a swap value keeps a container that had no swap (memsw == limit, boxtrace's
    and Docker's default) without swap."""
    memory, swap = changes.memory_limit, changes.memory_swap
    if memory is None and swap is None:
        return []
    has_swap_file = _find(dirs, "memory.memsw.limit_in_bytes") is not None
    current = _read_int(dirs, "memory.limit_in_bytes")
    if swap is None and memory is not None and has_swap_file:
        if memory == UNLIMITED:
            swap = UNLIMITED
        elif _read_int(dirs, "memory.memsw.limit_in_bytes") == current:
            swap = memory
    memory_write = [("memory.limit_in_bytes", str(memory))] if memory is not None else []
    swap_write = [("memory.memsw.limit_in_bytes", str(swap))] if swap is not None else []
    if swap is not None and not has_swap_file:
        raise ContainerError("memory+swap limit: this kernel does not account swap (no memory.memsw.*)", 1)
    if swap is not None and (swap == UNLIMITED or swap > current):
        return swap_write + memory_write
    return memory_write + swap_write


def _v2_writes(changes: ResourceChanges, dirs: list[str]) -> list[tuple[str, str]]:
    writes = []
    if changes.memory_limit is not None:
        writes.append(("memory.max", _max_or(changes.memory_limit)))
    if changes.memory_swap is not None:
        if changes.memory_swap == UNLIMITED:
            writes.append(("memory.swap.max", "max"))
        else:
            limit = changes.memory_limit or _read_int(dirs, "memory.max")
            if limit == UNLIMITED:
                raise ContainerError("memory+swap limit without a memory limit: give --memory too", 1)
            writes.append(("memory.swap.max", str(max(0, changes.memory_swap - limit))))
    if changes.cpu_shares is not None:
        writes.append(("cpu.weight", str(shares_to_weight(changes.cpu_shares))))
    if changes.cpu_quota is not None or changes.cpu_period is not None:
        # cpu.max holds both: the one not given keeps its value.
        quota_text, _, period_text = (_read(dirs, "cpu.max") or f"max {CFS_PERIOD_US}").partition(" ")
        quota = quota_text if changes.cpu_quota is None else _max_or(changes.cpu_quota)
        period = period_text if changes.cpu_period is None else str(changes.cpu_period)
        writes.append(("cpu.max", f"{quota} {period}"))
    if changes.pids_limit is not None:
        writes.append(("pids.max", _max_or(changes.pids_limit)))
    return writes


def _max_or(value: int) -> str:
    return "max" if value == UNLIMITED else str(value)


def _find(dirs: list[str], filename: str) -> str | None:
    for directory in dirs:
        path = os.path.join(directory, filename)
        if os.path.exists(path):
            return path
    return None


def _read(dirs: list[str], filename: str) -> str | None:
    path = _find(dirs, filename)
    if path is None:
        return None
    with open(path) as handle:
        return handle.read().strip()


def _read_int(dirs: list[str], filename: str) -> int:
    text = _read(dirs, filename)
    if text is None:
        raise ContainerError(f"the container's cgroups have no {filename}", 1)
    return UNLIMITED if text == "max" else int(text)


def _write(dirs: list[str], filename: str, value: str) -> None:
    path = _find(dirs, filename)
    if path is None:
        controller = filename.split(".", 1)[0]
        raise ContainerError(
            f"cannot set {filename}: the container has no {controller} cgroup ({', '.join(dirs)})", 1
        )
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise ContainerError(f"write {value} to {path}: {exc.strerror}", 1) from None
    finally:
        os.close(fd)
