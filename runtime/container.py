"""Start a container, one function per step, in the order the steps run (see docs/runtime.md).

The parent (this process) prepares the rootfs and the cgroup, clones the container's first process
into new namespaces, writes its id maps and puts it into the cgroup. The child finishes the job from
inside: mounts, pivot_root, hostname, limits and privileges, then execve. The parent waits,
forwards signals, returns the container's exit status and removes everything it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from types import FrameType

from boxtrace.runtime import cgroups, mounts, security, syscalls
from boxtrace.runtime.constants import NAMESPACE_FLAGS, PR_SET_PDEATHSIG, SIGCHLD
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.records import field, record
from boxtrace.runtime.spec import IdMapping, Namespace, Spec, namespace_flags
from boxtrace.runtime.state import StateDir, create_state_dir, remove_state_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

# How long a container has to stop after a forwarded SIGINT/SIGTERM before it is killed. A pid-1
# process ignores signals it has no handler for, so without this Ctrl-C could never end it.
STOP_GRACE_SECONDS = 2.0


@record
class Container:
    """What the parent created for one container; everything here is removed on exit."""

    id: str
    spec: Spec
    rootless: bool
    # The overlay's lower layers: one image directory, or an image's layer directories top first
    # (lowerdir=top:...:base); None when the spec's rootfs is used as is.
    lower: str | list[str] | None
    keep: bool = False
    # The copied-rootfs fallback when overlayfs cannot be used: layer directories, base first, copied
    # into the state directory by prepare_rootfs (and removed with it).
    copy_layers: list[str] = field(default_factory=list)
    state: StateDir | None = None
    cgroup: cgroups.Cgroup | None = None
    cgroup_version: str = "v1"
    pid: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rootfs(self) -> str:
        """The directory that becomes the container's /."""
        return self.state.merged if self.state and self.lower else self.spec.root_path


def run(container: Container) -> int:
    """Run the container to completion and return its exit status (128+N if killed by signal N).

    SIGINT, SIGTERM, SIGHUP and SIGQUIT are handled from the first step on: before the container
    exists they abort the start, once it runs they are forwarded to it, and while the runtime
    removes what it made they are ignored, so that an impatient second Ctrl-C (or the tracer's
    SIGTERM) cannot leave a cgroup or a state directory behind.
    """
    with _SignalForwarder() as forwarder:
        try:
            validate_spec(container)
            prepare_rootfs(container)
            create_cgroup_and_set_limits(container)
            for note in container.spec.warnings + container.notes:
                warn(note)
            container.notes.clear()
            release, errors = clone_into_namespaces(container)
            forwarder.target = container.pid
            write_id_maps(container)
            join_cgroup(container)
            os.write(release, b"1")
            os.close(release)
            wait_for_exec(container, errors)
            status = wait_for_container(container, forwarder)
            report_oom(container, status)
            return status
        finally:
            forwarder.ignore()
            remove_container(container)


# --- parent steps ---------------------------------------------------------------------------------


def validate_spec(container: Container) -> None:
    spec = container.spec
    if not spec.has_namespace("mount"):
        raise RuntimeUsageError("the spec has no mount namespace: boxtrace needs one to build the rootfs")
    if container.rootless and (spec.uid_mappings or spec.gid_mappings):
        for mapping in spec.uid_mappings + spec.gid_mappings:
            if mapping.size != 1 or mapping.host_id not in (os.getuid(), os.getgid()):
                raise RuntimeUsageError(
                    "rootless: only your own uid/gid can be mapped without newuidmap; fix linux.uidMappings"
                )
    if container.rootless and not spec.has_namespace("user"):
        spec.namespaces.insert(0, Namespace("user"))
    if container.rootless and not spec.uid_mappings:
        spec.uid_mappings = [IdMapping(0, os.getuid(), 1)]
        spec.gid_mappings = [IdMapping(0, os.getgid(), 1)]
    if container.rootless and spec.process.user.uid != 0:
        raise RuntimeUsageError("rootless: only uid 0 exists in the container's user namespace; drop --user")


def prepare_rootfs(container: Container) -> None:
    """The container's state directory; with an image, an overlay's empty upper and work dirs."""
    with _signals_deferred():
        container.state = create_state_dir(
            container.id, container.rootless, overlay=container.lower is not None
        )
    if container.copy_layers:
        from boxtrace.runtime.images.flatten import flatten_layer_dirs  # parent only, before the clone

        container.spec.root_path = os.path.join(container.state.path, "rootfs-copy")
        flatten_layer_dirs(container.copy_layers, container.spec.root_path)
    lower = container.lower if isinstance(container.lower, str | None) else container.lower[0]
    cwd = mounts.resolve_in_root(lower or container.spec.root_path, container.spec.process.cwd)
    if container.lower is None and not os.path.isdir(cwd):
        os.makedirs(cwd, exist_ok=True)


def create_cgroup_and_set_limits(container: Container) -> None:
    container.cgroup_version = cgroups.detect_cgroup_version()
    resources = container.spec.resources
    asked = [
        name
        for name, value in (
            ("memory", resources.memory_limit),
            ("pids", resources.pids_limit),
            ("cpu", resources.cpu_quota or resources.cpu_shares),
        )
        if value is not None
    ]
    try:
        with _signals_deferred():
            container.cgroup = cgroups.create_cgroup(f"boxtrace-{container.id}", resources)
    except PermissionError:
        if asked:
            container.notes.append(
                f"limits skipped ({', '.join(asked)}): creating a cgroup needs root or a delegated cgroup"
            )
        return
    assert container.state is not None
    container.state.record(cgroups=container.cgroup.dirs)
    container.notes.extend(f"limit skipped: {why}" for why in container.cgroup.skipped)


def clone_into_namespaces(container: Container) -> tuple[int, int]:
    """clone(2) with the CLONE_NEW* flags; the child runs ``init_container``.

    The cgroup namespace is not created here: the child unshares it after the parent moved it into
    its cgroup, so that the container sees that cgroup as its root (runc does the same).
    Returns the parent's ends of the release pipe and the error pipe.
    """
    spec = container.spec
    to_child_r, to_child_w = os.pipe2(os.O_CLOEXEC)
    from_child_r, from_child_w = os.pipe2(os.O_CLOEXEC)
    flags = namespace_flags(spec) & ~NAMESPACE_FLAGS["cgroup"]
    pid_ns = next((ns for ns in spec.namespaces if ns.type == "pid" and ns.path), None)
    if pid_ns is not None:
        # Joining a pid namespace only applies to children, so the parent joins before cloning.
        _setns_path(pid_ns.path or "", NAMESPACE_FLAGS["pid"])
    sys.stdout.flush()
    sys.stderr.flush()
    pid = syscalls.clone(flags | SIGCHLD)
    if pid == 0:
        os.close(to_child_w)
        os.close(from_child_r)
        _child_main(container, to_child_r, from_child_w)
    os.close(to_child_r)
    os.close(from_child_w)
    container.pid = pid
    assert container.state is not None
    container.state.record(pid=pid)
    return to_child_w, from_child_r


def write_id_maps(container: Container) -> None:
    """Map ids of the new user namespace: setgroups must be denied before an unprivileged gid_map."""
    spec = container.spec
    if not spec.uid_mappings and not spec.gid_mappings:
        return
    base = f"/proc/{container.pid}"
    if container.rootless:
        _write_proc(f"{base}/setgroups", "deny")
    _write_proc(f"{base}/uid_map", _format_mappings(spec.uid_mappings))
    _write_proc(f"{base}/gid_map", _format_mappings(spec.gid_mappings))


def join_cgroup(container: Container) -> None:
    """Move the container's first process into its cgroup before it execs anything."""
    if container.cgroup is not None:
        container.cgroup.join(container.pid)


def wait_for_exec(container: Container, errors: int) -> None:
    """The error pipe closes on a successful execve (O_CLOEXEC) or carries the child's failure."""
    chunks = []
    while chunk := os.read(errors, 65536):
        chunks.append(chunk)
    os.close(errors)
    if chunks:
        report = json.loads(b"".join(chunks))
        os.waitpid(container.pid, 0)
        container.pid = 0
        raise ContainerError(report["message"], report["exit_code"])


def wait_for_container(container: Container, forwarder: _SignalForwarder) -> int:
    """Wait for the container to exit; a forwarded signal starts the grace period before SIGKILL."""
    pidfd = os.pidfd_open(container.pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd, forwarder.wakeup], [], [], forwarder.seconds_left())
            if pidfd in ready:
                break
            forwarder.drain()
            if forwarder.expired():
                warn(f"the container did not stop after {forwarder.signal_name}; killing it")
                os.kill(container.pid, signal.SIGKILL)
                forwarder.clear_deadline()
        _, status = os.waitpid(container.pid, 0)
    finally:
        os.close(pidfd)
    container.pid = 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def report_oom(container: Container, status: int) -> None:
    if container.cgroup is not None and status == 128 + signal.SIGKILL and container.cgroup.oom_kills():
        limit = container.spec.resources.memory_limit
        detail = f" (memory limit {limit // (1024 * 1024)} MiB)" if limit else ""
        warn(f"the kernel's OOM killer ended a process in the container{detail}")


def remove_container(container: Container) -> None:
    """Kill what is left and remove the cgroup and the state directory (upper layer unless --keep)."""
    if container.pid:
        try:
            os.kill(container.pid, signal.SIGKILL)
            os.waitpid(container.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        container.pid = 0
    if container.cgroup is not None:
        try:
            container.cgroup.remove()
        except OSError as exc:
            warn(f"could not remove cgroup {container.cgroup.name}: {exc}")
    if container.state is not None:
        if container.keep and container.lower is not None:
            warn(f"kept the container's writable layer: {container.state.upper}")
        elif container.keep and container.copy_layers:
            warn(f"kept the container's copied rootfs: {container.spec.root_path}")
        remove_state_dir(container.state, keep_upper=container.keep)


# --- the child: from clone to execve ------------------------------------------------------------------


def _child_main(container: Container, release: int, errors: int) -> None:
    """Runs in the cloned child; never returns (execs or exits).

    Nothing here may import a module: once the child is root of a new user namespace it may no
    longer be allowed to read the interpreter's library files.
    """
    step = "wait for the parent"
    try:
        syscalls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for sig in (*_SignalForwarder.SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        if os.read(release, 1) != b"1":
            os._exit(125)  # the parent went away before releasing us
        os.close(release)
        for step_function in INIT_STEPS:
            step = step_function.__name__.replace("_", " ")
            step_function(container)
        raise AssertionError("exec_process returned")
    except BaseException as exc:  # report every failure to the parent, then exit without cleanup
        exit_code = exc.exit_code if isinstance(exc, ContainerError) else 125
        message = str(exc) if isinstance(exc, ContainerError) else f"{step}: {_describe(exc)}"
        try:
            os.write(errors, json.dumps({"message": message, "exit_code": exit_code}).encode())
        finally:
            os._exit(exit_code)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        # The syscalls wrappers put the whole "what: why" message in strerror.
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def join_namespaces(container: Container) -> None:
    """setns(2) into namespaces the spec names by path (user first: it decides what the rest may do)."""
    ordered = sorted(container.spec.namespaces, key=lambda ns: ns.type != "user")
    for ns in ordered:
        if ns.path and ns.type != "pid":
            _setns_path(ns.path, NAMESPACE_FLAGS[ns.type])


def become_root_in_user_namespace(container: Container) -> None:
    """After clone(CLONE_NEWUSER) our ids are whatever the maps make of the host ids: unmapped ones
    read as the overflow id 65534. Switch to the namespace's root, as runc's nsexec does, so the files
    this process creates (in /dev, the mount points) get an owner the namespace knows."""
    if any(ns.type == "user" for ns in container.spec.namespaces):
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def enter_cgroup_namespace(container: Container) -> None:
    """unshare(CLONE_NEWCGROUP) now that the parent put us into the cgroup: it becomes our "/"."""
    spec = container.spec
    if any(ns.type == "cgroup" and ns.path is None for ns in spec.namespaces):
        syscalls.unshare(NAMESPACE_FLAGS["cgroup"])


def bring_up_loopback(container: Container) -> None:
    """A new network namespace has only "lo", and it starts down."""
    if any(ns.type == "network" and ns.path is None for ns in container.spec.namespaces):
        syscalls.set_interface_up("lo")


def make_mounts_private(container: Container) -> None:
    mounts.make_mounts_private(container.spec.rootfs_propagation)


def mount_rootfs(container: Container) -> None:
    state = container.state
    assert state is not None
    if container.lower is not None:
        mounts.mount_overlay_rootfs(container.lower, state.upper, state.work, state.merged)
    else:
        mounts.bind_mount_rootfs(container.spec.root_path)


def mount_spec_mounts(container: Container) -> None:
    ctx = mounts.MountContext(container.cgroup_version, container.spec.has_namespace("user"), container.notes)
    for mount in container.spec.mounts:
        mounts.mount_spec_mount(container.rootfs, mount, ctx)


def create_devices(container: Container) -> None:
    if any(m.destination == "/dev" and m.type == "tmpfs" for m in container.spec.mounts):
        mounts.create_devices(container.rootfs, container.spec.has_namespace("user"))


def mask_and_readonly_paths(container: Container) -> None:
    mounts.mask_paths(container.rootfs, container.spec.masked_paths)
    mounts.make_paths_readonly(container.rootfs, container.spec.readonly_paths)


def create_working_directory(container: Container) -> None:
    os.makedirs(mounts.resolve_in_root(container.rootfs, container.spec.process.cwd), exist_ok=True)


def pivot_root(container: Container) -> None:
    mounts.pivot_to_rootfs(container.rootfs)
    if container.spec.root_readonly:
        mounts.remount_root_readonly()


def set_hostname(container: Container) -> None:
    if container.spec.hostname and container.spec.has_namespace("uts"):
        syscalls.sethostname(container.spec.hostname)


def set_rlimits(container: Container) -> None:
    security.set_rlimits(container.spec.process.rlimits)


def set_no_new_privs(container: Container) -> None:
    if container.spec.process.no_new_privileges:
        security.set_no_new_privs()


def drop_capabilities(container: Container) -> None:
    security.drop_bounding_capabilities(container.spec.process.capabilities)


def set_user(container: Container) -> None:
    security.set_user(container.spec.process.user, setgroups_denied=container.rootless)


def set_capabilities(container: Container) -> None:
    for note in security.set_capabilities(container.spec.process.capabilities):
        warn(note)


def exec_process(container: Container) -> None:
    """execve(2) the container's command, found through the container's PATH as a shell would."""
    process = container.spec.process
    try:
        os.chdir(process.cwd)
    except OSError as exc:
        raise ContainerError(f"cannot enter working directory {process.cwd}: {exc.strerror}", 125) from None
    path = find_executable(process.args[0], container.spec.env_value("PATH") or "")
    env = dict(item.split("=", 1) for item in process.env)
    try:
        os.execve(path, process.args, env)
    except FileNotFoundError:
        raise ContainerError(f"container command not found: {process.args[0]}", 127) from None
    except PermissionError:
        raise ContainerError(f"container command is not executable: {path}", 126) from None
    except OSError as exc:
        raise ContainerError(f"cannot run {path} in the container: {exc.strerror}", 126) from None


def find_executable(command: str, search_path: str) -> str:
    if "/" in command:
        return command
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ContainerError(f"container command not found: {command} (searched PATH={search_path})", 127)


# The child's steps, in the order they run.
INIT_STEPS = (
    join_namespaces,
    become_root_in_user_namespace,
    enter_cgroup_namespace,
    bring_up_loopback,
    make_mounts_private,
    mount_rootfs,
    mount_spec_mounts,
    create_devices,
    mask_and_readonly_paths,
    create_working_directory,
    pivot_root,
    set_hostname,
    set_rlimits,
    set_no_new_privs,
    drop_capabilities,
    set_user,
    set_capabilities,
    exec_process,
)


# --- helpers --------------------------------------------------------------------------------------


def warn(message: str) -> None:
    print(f"boxtrace: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold the forwarded signals while a resource is made and recorded in the Container.

    An interrupt between mkdir and the assignment would leave a directory no cleanup knows of;
    blocked, the signal is delivered right after, and the cleanup then finds what was made.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SignalForwarder.SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _setns_path(path: str, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, nstype, path)
    finally:
        os.close(fd)


def _format_mappings(mappings: list[IdMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def _write_proc(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise ContainerError(f"write {value.strip()!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


class _SignalForwarder:
    """Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container; kills it if it ignores them too long.

    A signal also wakes the wait loop through a pipe (signal.set_wakeup_fd): select() restarted
    after a handler would otherwise keep its original, endless timeout.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def __init__(self) -> None:
        self.target = 0
        self.deadline: float | None = None
        self.signal_name = ""
        self._saved: dict[int, object] = {}
        self.wakeup, self._wakeup_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._saved_wakeup = -1

    def __enter__(self) -> _SignalForwarder:
        for sig in self.SIGNALS:
            self._saved[sig] = signal.signal(sig, self._handle)
        self._saved_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._saved_wakeup)
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        os.close(self.wakeup)
        os.close(self._wakeup_w)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.target:
            raise KeyboardInterrupt  # before the container exists: abort the start, clean up
        self.signal_name = signal.Signals(signum).name
        try:
            os.kill(self.target, signum)
        except ProcessLookupError:
            return
        if self.deadline is None:
            self.deadline = time.monotonic() + STOP_GRACE_SECONDS

    def ignore(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def drain(self) -> None:
        try:
            while os.read(self.wakeup, 512):
                pass
        except BlockingIOError:
            pass

    def seconds_left(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def clear_deadline(self) -> None:
        self.deadline = None
