"""Each container's state directory: overlay upper/work/merged dirs and a state.json.

Two roots. `boxtrace run` keeps its containers under /run/boxtrace: state.json records the
runtime's pid and the cgroups it created, so that a later run can remove what a killed runtime
left behind (``sweep_stale_containers``). The OCI runtime CLI (`boxtrace-runtime create` ...)
keeps them under its --root (/run/boxtrace-runtime by default), never swept: a created container
outlives the process that made it, and only `boxtrace-runtime delete` removes it, as with runc.
"""

from __future__ import annotations

import errno
import os

from boxtrace.runtime import quick_json
from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

OCI_STATE_ROOT = "/run/boxtrace-runtime"
EXEC_FIFO = "exec.fifo"


def oci_state_root() -> str:
    """The default --root of the OCI runtime CLI (runc's is /run/runc)."""
    if os.geteuid() == 0:
        return OCI_STATE_ROOT
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.access(runtime_dir, os.W_OK):
        return os.path.join(runtime_dir, "boxtrace-runtime")
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"boxtrace-runtime-{os.getuid()}")


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None
    when it is gone or a zombie: with the pid it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def state_root(rootless: bool) -> str:
    if not rootless and os.geteuid() == 0:
        return "/run/boxtrace"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.access(runtime_dir, os.W_OK):
        return os.path.join(runtime_dir, "boxtrace")
    import tempfile  # only for users without a runtime dir: keep it off the start path

    return os.path.join(tempfile.gettempdir(), f"boxtrace-{os.getuid()}", "run")


@record
class StateDir:
    path: str

    @property
    def upper(self) -> str:
        return os.path.join(self.path, "upper")

    @property
    def work(self) -> str:
        return os.path.join(self.path, "work")

    @property
    def merged(self) -> str:
        return os.path.join(self.path, "rootfs")

    def record(self, **facts: object) -> None:
        """Merge facts into state.json (written whole each time: it is tiny)."""
        path = os.path.join(self.path, "state.json")
        try:
            with open(path) as handle:
                state = quick_json.loads(handle.read())
        except (OSError, ValueError):
            state = {}
        state.update(facts)
        # Written aside and renamed: a runtime killed mid-write never leaves an empty state.json,
        # which the sweeper could not read and would never remove.
        with open(f"{path}.tmp", "w") as handle:
            handle.write(quick_json.dumps(state))
        os.replace(f"{path}.tmp", path)


def create_state_dir(
    container_id: str, rootless: bool, overlay: bool, root: str | None = None, keep: bool = False
) -> StateDir:
    """``root``: the OCI CLI's --root (never swept); None for boxtrace run's own root.

    The directory is built aside (".ID~PID") and renamed into place once its state.json exists:
    a state directory under its own name always says which runtime made it, even if that runtime
    was killed a moment later (the guard and the sweeper read it)."""
    oci = root is not None
    if root is None:
        root = state_root(rootless)
    os.makedirs(root, mode=0o700, exist_ok=True)
    path = os.path.join(root, container_id)
    aside = os.path.join(root, f".{container_id}~{os.getpid()}")
    if os.path.lexists(path) and not oci:
        # The name may be a dead container's: sweep now. Otherwise the sweep waits until the
        # container's process is on its way (container.sweep_while_the_child_works).
        sweep_stale_containers(root)
    if os.path.lexists(path):
        _already_exists(container_id, root, oci)
    os.mkdir(aside, 0o711 if oci else 0o700)
    state = StateDir(aside)
    try:
        state.record(runtime_pid=os.getpid(), **({"keep": True} if keep else {}))
        if overlay:
            for sub in (state.upper, state.work, state.merged):
                os.mkdir(sub, 0o755)
        try:
            os.rename(aside, path)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            _already_exists(container_id, root, oci)
    except BaseException:  # an interrupt before the caller holds the StateDir: it cannot clean up
        remove_tree(aside)
        raise
    return StateDir(path)


def _already_exists(container_id: str, root: str, oci: bool) -> NoReturn:
    if oci:
        raise RuntimeUsageError(
            f"container {container_id!r} already exists in {root}: pick another id, or remove it "
            f"with 'boxtrace-runtime delete {container_id}'"
        )
    raise RuntimeUsageError(f"a container named {container_id!r} is already running; pick another --name")


def remove_state_dir(state: StateDir, keep_upper: bool = False) -> None:
    if keep_upper:
        for sub in (state.work, state.merged, os.path.join(state.path, "state.json")):
            remove_tree(sub)
        return
    remove_tree(state.path)


def remove_tree(path: str) -> None:
    """rm -rf without importing shutil on the start path.

    Directories are made writable first: overlayfs leaves work/work with mode 000 (owned by the
    container's root when rootless).
    """
    if not os.path.isdir(path) or os.path.islink(path):
        if os.path.lexists(path):
            os.unlink(path)
        return
    os.chmod(path, 0o700)
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)
    os.rmdir(path)


def sweep_stale_containers(root: str) -> None:
    """Remove what containers whose runtime process no longer exists left in root, and boxtrace-*
    cgroups no container owns (runtime/leftovers.py)."""
    from boxtrace.runtime.leftovers import sweep

    sweep(root)
