"""The cgroups pane's folded state: every write call that carries a value sets the file's value."""

from __future__ import annotations

import pytest

from boxtrace.tracer.events import Arg, SyscallEvent
from boxtrace.tui.world import World


def cgroup_write(name: str, value: str, errno: str | None = None) -> SyscallEvent:
    return SyscallEvent(
        seq=1,
        time=0.0,
        pid=100,
        tid=100,
        comm="rt",
        nspid=[100],
        name=name,
        nr=0,
        category_name="cgroup",
        args=[Arg("fd", 5, "5</sys/fs/cgroup/box/pids.max>")],
        result=-1 if errno else len(value),
        result_text="-1" if errno else str(len(value)),
        errno=errno,
        detail={
            "path": "/sys/fs/cgroup/box/pids.max",
            "cgroup": "/box",
            "version": 2,
            "controller": "pids",
            "cgroup_file": "pids.max",
            "value": value,
        },
    )


@pytest.mark.parametrize("name", ["write", "writev", "pwrite64", "pwritev", "pwritev2"])
def test_a_write_call_sets_the_cgroup_file(name: str) -> None:
    world = World()
    world.apply(cgroup_write(name, "64"))
    world.apply(cgroup_write(name, "99", errno="EINVAL"))  # a failed write changes nothing
    assert world.cgroups["pids:/box"].files == {"pids.max": "64"}


def test_an_open_of_a_cgroup_file_sets_no_value() -> None:
    world = World()
    opened = cgroup_write("openat2", "")
    opened.detail.pop("value")
    world.apply(opened)
    assert world.cgroups["pids:/box"].files == {}
