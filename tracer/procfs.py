"""What /proc tells about a traced task: identity (tgid, NSpid, comm), fds, cwd, namespace ids.

Everything here is read on demand: the engine reads a task's status once when it first sees it and
again after exec or PR_SET_NAME; fd paths and cwd only when a decoder asks (implements
``decoders.base.ProcView``); namespace ids only around clone/unshare/setns.
"""

from __future__ import annotations

from boxtrace.tracer.quick_calls import readlink

NS_TYPES: tuple[str, ...] = (
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
)


def read_status(tid: int) -> tuple[int, str, list[int] | None]:
    """(tgid, comm, NStgid) of a task; (tid, "?", None) if it is gone."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            data = f.read(2048)
    except OSError:
        return tid, "?", None
    tgid = tid
    comm = "?"
    nspid: list[int] | None = None
    for line in data.split(b"\n"):
        if line.startswith(b"Name:"):
            comm = _unescape_name(line[5:].strip(b"\t"))
        elif line.startswith(b"Tgid:"):
            tgid = int(line[5:])
        elif line.startswith(b"NStgid:"):
            nspid = [int(x) for x in line[7:].split()]
            break
    return tgid, comm, nspid


def _unescape_name(raw: bytes) -> str:
    # /proc escapes "\" and "\n" in Name: as "\\" and "\n".
    text = raw.decode("utf-8", "surrogateescape")
    if "\\" in text:
        text = text.replace("\\n", "\n").replace("\\\\", "\\")
    return text


def read_comm(tid: int) -> str | None:
    try:
        with open(f"/proc/{tid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("utf-8", "surrogateescape")
    except OSError:
        return None


def read_ns_ids(tid: int) -> dict[str, int]:
    """Namespace inode numbers of a task, by type (``/proc/TID/ns/*`` links read ``mnt:[4026531841]``)."""
    out: dict[str, int] = {}
    base = f"/proc/{tid}/ns/"
    for name in NS_TYPES:
        link = readlink(base + name)
        if link is None:
            continue
        start = link.find("[")
        if start >= 0:
            out[name] = int(link[start + 1 : -1])
    return out


def ns_diff(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The namespaces whose id differs, with the new id (like ``strace -e namespace=new``)."""
    return {k: v for k, v in after.items() if before.get(k) != v}


class TaskProcView:
    """fd paths and cwd of one task, read from /proc when a decoder asks (``ProcView``)."""

    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def fd_path(self, fd: int) -> str | None:
        if fd < 0:
            return None
        return readlink(f"/proc/{self.tid}/fd/{fd}")

    def cwd(self) -> str | None:
        return readlink(f"/proc/{self.tid}/cwd")
