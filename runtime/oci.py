"""The OCI runtime commands: create, start, state, kill, delete, ps, pause, resume, and the
runc-form run (exec is in runtime/oci_exec.py, update in runtime/oci_update.py).

What podman (through conmon) and Docker (through containerd's runc shim) call, with runc's
behaviour (runtime-spec runtime.md, runc 1.1): `create` leaves the container's first process
blocked on exec.fifo and exits; `start` opens the fifo for reading, which lets it exec; `state`
tells created / running / stopped from the recorded pid, its start time and whether the fifo
still exists (paused when its cgroup is frozen); `kill` signals it; `pause` and `resume` freeze
and thaw its cgroup; `delete` kills what is left and removes its cgroup and state.

Errors keep runc's wording where callers match on it: podman and containerd look for "does not
exist" and "container not running" in a failed command's output.
"""

from __future__ import annotations

import os
import select

from boxtrace.runtime import freezer, quick_json
from boxtrace.runtime.cgroups import remove_cgroup_dir
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.quiet import suppress
from boxtrace.runtime.state import EXEC_FIFO, process_start_time, remove_tree
from boxtrace.runtime.usage import UsageError, print_warning

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from typing import Any

    from boxtrace.runtime.container import Container, Warn
else:
    # signal's C part (plain ints): signal.py's enums cost every `start`, `kill` and `delete` ~16 M
    # instructions.
    import _signal as signal

_ID_PUNCTUATION = frozenset("_+.-")
# How long delete waits for a killed container's first process to exit.
KILL_WAIT_SECONDS = 10.0


def _valid_id(container_id: str) -> bool:
    """The pattern ^[\\w+.-]+$, its usual ids checked without re (~5 M instructions to import)."""
    if container_id and all(c.isalnum() or c in _ID_PUNCTUATION for c in container_id):
        return True
    import re  # what else the pattern takes (a last newline, which $ lets through)

    return re.match(r"^[\w+.-]+$", container_id) is not None


def check_id(container_id: str) -> str:
    if not _valid_id(container_id) or container_id in (".", ".."):
        raise UsageError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-' and '.'")
    return container_id


def build_container(
    root: str,
    container_id: str,
    bundle: str | None,
    *,
    pid_file: str | None = None,
    console_socket: str | None = None,
    no_pivot: bool = False,
    no_new_keyring: bool = False,
    preserve_fds: int = 0,
    rootless: bool | None = None,
    warn: Warn = print_warning,
) -> Container:
    """A Container for BUNDLE/config.json (the current directory by default, as runc)."""
    # The container's steps and the spec reader here, not at the top: `start`, `state`, `kill`
    # and `delete` need neither (~14 M instructions of each of podman's calls).
    from boxtrace.runtime.container import Container
    from boxtrace.runtime.left_out import from_annotation
    from boxtrace.runtime.spec import load_bundle_spec

    check_id(container_id)
    bundle = os.path.abspath(bundle or os.getcwd())
    spec = load_bundle_spec(bundle)
    rootless = os.geteuid() != 0 if rootless is None else rootless
    return Container(
        id=container_id,
        spec=spec,
        without=from_annotation(spec.annotations, rootless),
        rootless=rootless,
        lower=None,
        state_root=root,
        bundle=bundle,
        no_pivot=no_pivot,
        new_keyring=not no_new_keyring,
        preserve_fds=preserve_fds,
        console_socket=os.path.abspath(console_socket) if console_socket else None,
        pid_file=os.path.abspath(pid_file) if pid_file else None,
        warn=warn,
    )


# --- create, start -----------------------------------------------------------------------------------


def create(container: Container) -> None:
    """Everything up to the container's execve; returns once its first process waits on exec.fifo."""
    from boxtrace.runtime import container as container_steps

    container_steps.create(container)


def start(root: str, container_id: str, warn: Warn = print_warning) -> None:
    """Open exec.fifo for reading: the waiting process writes a byte and execs its command.

    The fifo is opened non-blocking and watched together with a pidfd, so that a process that died
    while created gives an error instead of a start that hangs (runc polls the same way)."""
    path, facts = load_state(root, container_id)
    status = container_status(path, facts)
    if status == "stopped":
        raise ContainerError("cannot start a container that has stopped", 1)
    if status != "created":
        raise ContainerError(f"cannot start an already {status} container", 1)
    fifo_path = os.path.join(path, EXEC_FIFO)
    try:
        fifo = os.open(fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerError("cannot start an already running container", 1) from None
    try:
        data = _read_handshake(fifo, int(facts["pid"]))
    finally:
        os.close(fifo)
    if not data:
        # Someone else's start read the byte first (runc's readFromExecFifo says the same).
        raise ContainerError("cannot start an already running container", 1)
    with suppress(FileNotFoundError):
        os.unlink(fifo_path)
    run_state_hooks(facts, "poststart", "running", warn)


def _read_handshake(fifo: int, pid: int) -> bytes:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return _read_nonblocking(fifo)
    try:
        while True:
            ready, _, _ = select.select([fifo, pidfd], [], [])
            data = _read_nonblocking(fifo)
            if data or fifo in ready:
                return data
            if pidfd in ready:
                raise ContainerError("the container's first process is already dead: cannot start it", 1)
    finally:
        os.close(pidfd)


def _read_nonblocking(fd: int) -> bytes:
    try:
        return os.read(fd, 64)
    except BlockingIOError:
        return b""


# --- state ----------------------------------------------------------------------------------------------


def load_state(root: str, container_id: str) -> tuple[str, dict[str, Any]]:
    check_id(container_id)
    path = os.path.join(root, container_id)
    try:
        with open(os.path.join(path, "state.json")) as handle:
            facts = quick_json.loads(handle.read())
    except (FileNotFoundError, NotADirectoryError):
        raise ContainerError(
            f"container {container_id!r} does not exist in {root} (see 'boxtrace-runtime list')", 1
        ) from None
    except (OSError, ValueError) as exc:
        raise ContainerError(f"cannot read the state of container {container_id!r}: {exc}", 1) from None
    return path, facts


def container_status(path: str, facts: dict[str, Any]) -> str:
    """created (its first process waits on exec.fifo), running, paused (its cgroup is frozen),
    stopped; creating while create runs."""
    pid = facts.get("pid")
    if not pid:
        runtime_pid = facts.get("runtime_pid")
        return "creating" if runtime_pid and process_start_time(int(runtime_pid)) else "stopped"
    start_time = process_start_time(int(pid))
    if start_time is None or start_time != facts.get("pid_start"):
        return "stopped"
    if freezer.is_frozen(facts.get("cgroups", [])):
        return "paused"
    return "created" if os.path.exists(os.path.join(path, EXEC_FIFO)) else "running"


def state(root: str, container_id: str) -> dict[str, Any]:
    """The state `runc state` prints, with its keys in runc's order."""
    path, facts = load_state(root, container_id)
    status = container_status(path, facts)
    out: dict[str, Any] = {
        "ociVersion": facts.get("oci_version", "1.0.2"),
        "id": container_id,
        "pid": int(facts.get("pid") or 0) if status in ("created", "running", "paused") else 0,
        "status": status,
        "bundle": facts.get("bundle", ""),
        "rootfs": facts.get("rootfs", ""),
        "created": facts.get("created", ""),
    }
    if facts.get("annotations"):
        out["annotations"] = facts["annotations"]
    out["owner"] = facts.get("owner", "")
    return out


def list_containers(root: str) -> list[dict[str, Any]]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        with suppress(ContainerError, RuntimeUsageError):
            found.append(state(root, name))
    return found


# --- kill -----------------------------------------------------------------------------------------------


def parse_signal(text: str) -> int:
    """9, KILL, SIGKILL, kill: runc accepts a number or a name, with or without SIG."""
    if text.isdigit():
        number = int(text)
        if not 0 < number < signal.NSIG:
            raise UsageError(f"unknown signal {text!r}: signals are 1 to {signal.NSIG - 1}")
        return number
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    # The names signal.Signals has: _signal's SIG* numbers, without SIG_DFL, SIG_BLOCK...
    found = None if name.startswith("SIG_") else getattr(signal, name, None)
    if not isinstance(found, int):
        raise UsageError(f"unknown signal {text!r} (try TERM, KILL, HUP, INT or a number)")
    return found


def kill(root: str, container_id: str, signum: int, all_processes: bool = False) -> None:
    path, facts = load_state(root, container_id)
    status = container_status(path, facts)
    if status == "stopped" and not all_processes:
        raise ContainerError(f"cannot signal {container_id!r}: container not running", 1)
    if all_processes:
        for pid in container_pids(facts):
            with suppress(ProcessLookupError):
                os.kill(pid, signum)
        return
    _signal_first_process(facts, signum)


def _signal_first_process(facts: dict[str, Any], signum: int) -> int | None:
    """Signal through a pidfd opened after checking the start time: a recycled pid is never hit.
    Returns the pidfd (the caller closes it), or None when the process is already gone."""
    pid = int(facts.get("pid") or 0)
    if not pid:
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if process_start_time(pid) != facts.get("pid_start"):
        os.close(pidfd)
        return None
    with suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signum)
    return pidfd


def container_pids(facts: dict[str, Any]) -> list[int]:
    """The processes in the container's cgroup; its first process alone when it has no cgroup."""
    for directory in facts.get("cgroups", []):
        try:
            with open(os.path.join(directory, "cgroup.procs")) as handle:
                return [int(line) for line in handle if line.strip()]
        except OSError:
            continue
    pid = int(facts.get("pid") or 0)
    return [pid] if pid and process_start_time(pid) == facts.get("pid_start") else []


# --- pause, resume ---------------------------------------------------------------------------------------


def pause(root: str, container_id: str) -> None:
    """Freeze every process of the container (runc pauses a created container too)."""
    path, facts = load_state(root, container_id)
    if container_status(path, facts) not in ("created", "running"):
        raise ContainerError("container not running", 1)  # runc's ErrNotRunning
    freezer.freeze(facts.get("cgroups", []))


def resume(root: str, container_id: str) -> None:
    path, facts = load_state(root, container_id)
    if container_status(path, facts) != "paused":
        raise ContainerError("container not paused", 1)  # runc's ErrNotPaused
    freezer.thaw(facts.get("cgroups", []))


# --- delete ---------------------------------------------------------------------------------------------


def delete(root: str, container_id: str, force: bool = False, warn: Warn = print_warning) -> None:
    """Remove a stopped container; a created one is killed first (as runc), a running one only
    with --force. What is removed: its processes, its cgroup directories, its state directory
    (the container's mounts live in its own mount namespace and went with its last process)."""
    try:
        path, facts = load_state(root, container_id)
    except ContainerError:
        leftover = os.path.join(root, container_id)
        if _valid_id(container_id) and os.path.isdir(leftover):
            remove_tree(leftover)  # a create that died before its first record (runc does this too)
        if force:
            return
        raise
    status = container_status(path, facts)
    if status in ("running", "creating", "paused") and not force:
        stop = "resume it and stop it" if status == "paused" else "stop it"
        raise ContainerError(
            f"cannot delete container {container_id} that is not stopped: {status} "
            f"({stop} with 'boxtrace-runtime kill {container_id}', or use delete --force)",
            1,
        )
    if status != "stopped":
        _kill_and_wait(facts, thaw=status == "paused")
    if not facts.get("new_pid_namespace", True):
        # Without its own pid namespace the container's other processes outlive its first one.
        for pid in container_pids(facts):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    errors = []
    for directory in reversed(facts.get("cgroups", [])):
        try:
            remove_cgroup_dir(directory, timeout=KILL_WAIT_SECONDS)
        except OSError as exc:
            errors.append(f"{directory}: {exc.strerror}")
    run_state_hooks(facts, "poststop", "stopped", warn)
    if facts.get("without"):
        # A weakened container's mounts may have reached the host (private left out) and its
        # /.oldroot stays in the bundle's rootfs (detach left out): as `run` does after it.
        from boxtrace.runtime.left_out import clean_host

        clean_host(path, facts.get("rootfs", ""), True, warn)
    remove_tree(path)
    if errors:
        raise ContainerError(f"could not remove the cgroup of {container_id}: {'; '.join(errors)}", 1)


def _kill_and_wait(facts: dict[str, Any], thaw: bool = False) -> None:
    """SIGKILL the first process and wait for its end. A frozen process dies only once thawed:
    a paused container is thawed after the signal, so that nothing runs in between (runc too)."""
    pidfd = _signal_first_process(facts, signal.SIGKILL)
    if thaw:
        freezer.thaw(facts.get("cgroups", []))
    if pidfd is None:
        return
    try:
        # A pidfd turns readable when the process exits, child of ours or not (pidfd_open(2)).
        select.select([pidfd], [], [], KILL_WAIT_SECONDS)
    finally:
        os.close(pidfd)


# --- hooks recorded at create -----------------------------------------------------------------------------


def run_state_hooks(facts: dict[str, Any], point: str, status: str, warn: Warn = print_warning) -> None:
    """poststart (after start) and poststop (in delete): a failure is a warning (runtime-spec)."""
    hooks = facts.get("hooks", {}).get(point, [])
    if not hooks:
        return
    from boxtrace.runtime.hooks import run_hook

    payload = {
        "ociVersion": facts.get("oci_version", "1.0.2"),
        "id": facts.get("id", ""),
        "status": status,
        "pid": int(facts.get("pid") or 0),
        "bundle": facts.get("bundle", ""),
        "annotations": facts.get("annotations", {}),
    }
    for hook in hooks:
        failure = run_hook(hook, payload)
        if failure:
            warn(f"{point} hook {hook['path']} failed: {failure}")
