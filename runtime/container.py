"""Start a container, one function per step, in the order the steps run (see docs/runtime.md).

The parent (this process) prepares the rootfs and the cgroup, clones the container's first process
into new namespaces, writes its id maps and puts it into the cgroup. The child finishes the job from
inside: mounts, pivot_root, hostname, limits and privileges, then execve.

Two ways to drive the same steps:

* ``run`` (``boxtrace run``, ``boxtrace-runtime run``): the parent waits, forwards signals, returns
  the container's exit status and removes everything it created.
* ``create`` (``boxtrace-runtime create``, what podman and Docker call): the child stops just before
  execve, blocked opening ``exec.fifo`` in the state directory; the parent returns and its process
  exits. ``start`` (runtime/oci.py) reads the fifo to let the child exec; ``delete`` removes what
  ``create`` made.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import time
from types import FrameType

from boxtrace.runtime import cgroups, guard, mounts, quick_json, security, syscalls
from boxtrace.runtime.constants import NAMESPACE_FLAGS, PR_SET_PDEATHSIG, SIGCHLD
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.left_out import Unmapped, left_out, unmapped_report
from boxtrace.runtime.quiet import suppress
from boxtrace.runtime.records import field, record
from boxtrace.runtime.spec import DeviceRule, Hook, IdMapping, Namespace, Spec, namespace_flags
from boxtrace.runtime.state import (
    EXEC_FIFO,
    StateDir,
    create_state_dir,
    process_start_time,
    remove_state_dir,
    state_root,
    sweep_stale_containers,
)
from boxtrace.runtime.usage import collect_from_here, print_warning

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:
    # signal's C part: the same functions and numbers, as plain ints. signal.py makes enums of
    # them and imports enum: ~16 M instructions of every start (docs/benchmarks.md, "Runtime").
    import _signal as signal
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    Warn = Callable[[str], None]  # where a warning goes

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
    # cgroup v2: the init was cloned straight into its cgroup (clone3 with CLONE_INTO_CGROUP), so
    # join_cgroup has nothing to do; False on v1 and after a fallback to clone(2).
    born_in_cgroup: bool = False
    pid: int = 0
    notes: list[str] = field(default_factory=list)
    warn: Warn = field(default_factory=lambda: print_warning)
    # The OCI runtime CLI (runtime/oci.py). state_root: --root, where state.json is kept for
    # `state`/`kill`/`delete` (None: boxtrace run's own /run/boxtrace, swept when stale).
    state_root: str | None = None
    bundle: str | None = None
    exec_fifo: bool = False  # create: the child waits on exec.fifo until `start`
    no_pivot: bool = False
    new_keyring: bool = False
    preserve_fds: int = 0
    console_socket: str | None = None
    pid_file: str | None = None
    # Pipes and fds between clone and execve: each side holds its own ends.
    release_fd: int = -1  # parent -> child: "go on" (after the id maps, after the hooks)
    report_fd: int = -1  # child -> parent: JSON lines (a failure, "run the hooks", "ready")
    fifo_fd: int = -1  # O_PATH fd of exec.fifo, inherited by the child
    guard_fd: int = -1  # our end of the cleanup guard's pipe (runtime/guard.py)
    guard_forker: int = 0  # the process that forked the guard, reaped by guard.release
    console_fd: int = -1  # the connected --console-socket, inherited by the child
    command_path: str = ""
    # exec (runtime/oci_exec.py): the container's first process, whose namespaces, root and
    # cgroups a new process joins, and the fd of its root directory, opened before any setns.
    init_pid: int = 0
    init_pid_start: int | None = None
    root_fd: int = -1
    namespace_fds: dict[str, int] = field(default_factory=dict)
    # linux.seccomp compiled by the parent (the child must not import the compiler): struct
    # sock_filter[] and SECCOMP_FILTER_FLAG_*; b"" when the spec has no profile.
    seccomp_filter: bytes = b""
    seccomp_flags: int = 0
    # Steps left out on purpose (boxtrace run --without, runtime/left_out.py): each step checks.
    without: frozenset[str] = frozenset()
    # --without idmap: what the child saw of itself in its unmapped user namespace (left_out.py).
    unmapped: Unmapped | None = None

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
            reports = set_up(container, forwarder)
            sweep_while_the_child_works(container)
            wait_for_exec(container, reports)
            reap_guard_forker(container)
            status = wait_for_container(container, forwarder)
            report_oom(container, status)
            return status
        finally:
            forwarder.ignore()
            _close(container, "release_fd")
            remove_container(container)


def create(container: Container) -> None:
    """Set the container up and leave its first process blocked on exec.fifo (runc's create).

    Returns once the child is waiting; the caller's process then exits and the child is
    reparented (to the subreaper podman's conmon or containerd's shim set up, or to init). A
    signal or a failed step before that removes everything made so far.
    """
    container.exec_fifo = True
    with _SignalForwarder() as forwarder:
        try:
            reports = set_up(container, forwarder)
            wait_for_init_ready(container, reports)
            # Handed over: until `delete`.
            guard.release(container.guard_fd, state_dir_path(container), container.guard_forker)
            container.guard_forker = 0
        except BaseException:
            forwarder.ignore()
            remove_container(container)
            raise
        finally:
            _close(container, "release_fd")
            _close(container, "fifo_fd")
            _close(container, "console_fd")


def set_up(container: Container, forwarder: _SignalForwarder) -> int:
    """The parent's steps up to releasing the child, shared by run and create.

    Returns the parent's end of the report pipe.
    """
    validate_spec(container)
    compile_seccomp_profile(container)
    container.guard_fd, container.guard_forker = guard.protect(state_dir_path(container), container.guard_fd)
    prepare_rootfs(container)
    write_state(container)
    create_exec_fifo(container)
    create_cgroup_and_set_limits(container)
    for note in container.spec.warnings + container.notes:
        container.warn(note)
    container.notes.clear()
    connect_console_socket(container)
    reports = clone_into_namespaces(container)
    if not container.exec_fifo:
        forwarder.target = container.pid  # create never forwards: a signal aborts it
    adjust_oom_score(container)
    write_id_maps(container)
    join_cgroup(container)
    write_pid_file(container)
    os.write(container.release_fd, b"1")
    return reports


# --- parent steps ---------------------------------------------------------------------------------


def validate_spec(container: Container) -> None:
    spec = container.spec
    if container.without:
        from boxtrace.runtime import left_out as weakened

        container.warn(
            weakened.weakened_warning(container.without, annotated=container.state_root is not None)
        )
        weakened.check_applicable(container.without, spec, container.rootless)
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
    _check_terminal(container)


def _check_terminal(container: Container) -> None:
    """runc's rules: a terminal needs somewhere to send it, and a console socket needs a terminal."""
    terminal = container.spec.process.terminal
    if container.console_socket is not None and not terminal:
        raise RuntimeUsageError(
            "--console-socket given but process.terminal is false in config.json: drop one of them"
        )
    if terminal and container.console_socket is None:
        if container.exec_fifo:
            raise RuntimeUsageError(
                "process.terminal is true in config.json: give --console-socket (a unix socket that "
                "receives the terminal), or set process.terminal to false"
            )
        container.notes.append(
            "process.terminal is not supported by run: the container uses this process's stdin/stdout"
        )


def compile_seccomp_profile(container: Container) -> None:
    """linux.seccomp to a BPF program, in the parent: a profile the kernel could not take fails
    here, before anything is created, and the child only has to load it."""
    if container.spec.seccomp is None:
        return
    from boxtrace.runtime.seccomp_profile import compile_profile  # only for a spec with a profile

    compiled = compile_profile(container.spec.seccomp)
    container.seccomp_filter, container.seccomp_flags = compiled.program, compiled.flags


def prepare_rootfs(container: Container) -> None:
    """The container's state directory; with an image, an overlay's empty upper and work dirs."""
    with _signals_deferred():
        container.state = create_state_dir(
            container.id,
            container.rootless,
            overlay=container.lower is not None,
            root=container.state_root,
            keep=container.keep,
        )
    if container.copy_layers:
        from boxtrace.runtime.images.flatten import flatten_layer_dirs  # parent only, before the clone

        container.spec.root_path = os.path.join(container.state.path, "rootfs-copy")
        flatten_layer_dirs(container.copy_layers, container.spec.root_path)
    lower = container.lower if isinstance(container.lower, str | None) else container.lower[0]
    cwd = mounts.resolve_in_root(lower or container.spec.root_path, container.spec.process.cwd)
    if container.lower is None and not os.path.isdir(cwd):
        os.makedirs(cwd, exist_ok=True)
    if "private" in container.without:
        from boxtrace.runtime.left_out import share_directory

        share_directory(container.state.path)
    if container.lower is None and "detach" in container.without and "pivot_root" not in container.without:
        from boxtrace.runtime.left_out import OLD_ROOT

        # Write-ahead, as the cgroups: the child makes /.oldroot in the bundle's own rootfs, where
        # removing the state directory does not reach it (runtime/leftovers.py).
        container.state.record(old_root=os.path.join(container.rootfs, OLD_ROOT))


def write_state(container: Container) -> None:
    """What `state`, `kill` and `delete` need later, as runc keeps it in its state.json (OCI only)."""
    if container.state_root is None or container.state is None:
        return
    spec = container.spec
    container.state.record(
        id=container.id,
        oci_version=spec.oci_version,
        bundle=container.bundle or "",
        rootfs=container.rootfs,
        created=_rfc3339_now(),
        owner="",
        annotations=spec.annotations,
        new_pid_namespace=any(ns.type == "pid" and ns.path is None for ns in spec.namespaces)
        and "pidns" not in container.without,
        hooks={point: [_hook_json(hook) for hook in hooks] for point, hooks in spec.hooks.items()},
        # What `exec` needs to put a new process beside the first one.
        namespaces=[ns.type for ns in spec.namespaces],
        rootless=container.rootless,
        new_keyring=container.new_keyring,
        # exec loads the same filter into its process, as runc does with the container's profile.
        seccomp={"filter": container.seccomp_filter.hex(), "flags": container.seccomp_flags},
        without=sorted(container.without),  # for delete: what clean_host has to undo
        oom_score_adj=spec.process.oom_score_adj,  # exec gives its process the same, as runc does
    )


def create_exec_fifo(container: Container) -> None:
    """mkfifo exec.fifo (create only) and hold an O_PATH fd to it: after pivot_root the child can no
    longer see the state directory, but it can still open the fifo through /proc/self/fd."""
    if not container.exec_fifo:
        return
    assert container.state is not None
    path = os.path.join(container.state.path, EXEC_FIFO)
    old_umask = os.umask(0)
    try:
        os.mkfifo(path, 0o622)  # runc's mode: the container's user may be anyone
    finally:
        os.umask(old_umask)
    container.fifo_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)


def create_cgroup_and_set_limits(container: Container) -> None:
    container.cgroup_version = cgroups.detect_cgroup_version()
    if left_out(container.without, "cgroup"):
        return
    if left_out(container.without, "devices"):
        container.spec.resources.devices = []
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
    name = cgroup_name(container.spec.cgroups_path, container.id)
    # An OCI container may later be paused (freezer) or get a CPU limit (update): on cgroup v1 it
    # needs those hierarchies from the start, as runc joins every one. `run` skips them: each v1
    # hierarchy joined costs the start a few ms.
    extra = cgroups.OCI_V1_CONTROLLERS if container.state_root is not None else ()
    # Not root: on v2 the container's cgroup can still be made beside our own one when its parent
    # was delegated to us (systemd's user@UID.service, or a chown by an admin), as crun does.
    delegated = cgroups.delegated_parent() if container.cgroup_version == "v2" else None
    root = delegated or cgroups.CGROUP_ROOT
    if delegated and resources.devices == [DeviceRule(allow=False)]:
        # The default "deny all" guards against mknod of a host disk, which a user namespace
        # refuses anyway; its eBPF program needs CAP_BPF, which we lack (runc's canSkipEBPFError).
        resources.devices = []
    assert container.state is not None
    # Write-ahead: a runtime killed between these mkdirs and the record below still says what the
    # guard and the sweeper may have to remove (runtime/leftovers.py).
    container.state.record(cgroups_planned=cgroups.planned_dirs(name, resources, root, extra_v1=extra))
    try:
        with _signals_deferred():
            container.cgroup = cgroups.create_cgroup(
                name, resources, root, extra_v1=extra, delegated=delegated is not None
            )
    except PermissionError:
        if asked:
            container.notes.append(
                f"limits skipped ({', '.join(asked)}): creating a cgroup needs root or a delegated cgroup"
            )
        return
    assert container.state is not None
    container.state.record(cgroups=container.cgroup.dirs)
    container.notes.extend(f"limit skipped: {why}" for why in container.cgroup.skipped)


def cgroup_name(cgroups_path: str | None, container_id: str) -> str:
    """The spec's linux.cgroupsPath, or boxtrace-ID. The systemd form "slice:prefix:name" (podman
    and Docker with the systemd cgroup manager) becomes the path systemd would give the scope;
    boxtrace writes it with cgroupfs, it does not ask systemd."""
    if not cgroups_path:
        return f"boxtrace-{container_id}"
    parts = cgroups_path.split(":")
    if len(parts) == 3 and not cgroups_path.startswith("/"):
        slice_name, prefix, name = parts
        return f"{slice_name or 'system.slice'}/{prefix}-{name}.scope"
    return cgroups_path


def connect_console_socket(container: Container) -> None:
    """Connect to --console-socket now: once in its mount namespace the child cannot reach it."""
    if container.console_socket is None:
        return
    from boxtrace.runtime import console  # only with a terminal; the child must not import

    container.console_fd = console.connect(container.console_socket)


def clone_into_namespaces(container: Container) -> int:
    """One clone with the CLONE_NEW* flags; the child runs ``_child_main``.

    On cgroup v2 the call is clone3 with CLONE_INTO_CGROUP and an fd of the container's cgroup:
    the child is born in its cgroup, as crun does, and join_cgroup has nothing left to do. Where
    clone3 is refused (an old kernel, or an outer seccomp profile such as Docker's default) the
    runtime says why once and uses clone(2), and join_cgroup writes cgroup.procs; on v1 it is
    clone(2) from the start (CLONE_INTO_CGROUP only takes a v2 cgroup).
    The cgroup namespace is not created here: the child unshares it once it is in its cgroup, so
    that the container sees that cgroup as its root (runc does the same).
    Keeps the parent's end of the release pipe; returns its end of the report pipe.
    """
    spec = container.spec
    to_child_r, to_child_w = os.pipe2(os.O_CLOEXEC)
    from_child_r, from_child_w = os.pipe2(os.O_CLOEXEC)
    flags = namespace_flags(spec) & ~NAMESPACE_FLAGS["cgroup"]
    if left_out(container.without, "pidns"):
        flags &= ~NAMESPACE_FLAGS["pid"]
    pid_ns = next((ns for ns in spec.namespaces if ns.type == "pid" and ns.path), None)
    if pid_ns is not None:
        # Joining a pid namespace only applies to children, so the parent joins before cloning.
        _setns_path(pid_ns.path or "", NAMESPACE_FLAGS["pid"])
    cgroup_fd = _open_cgroup_for_clone3(container)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = _clone_into_cgroup(container, flags, cgroup_fd)
    finally:
        if cgroup_fd >= 0:
            os.close(cgroup_fd)  # in the child too: the container must not inherit it
    if pid == 0:
        os.close(to_child_w)
        os.close(from_child_r)
        container.release_fd, container.report_fd = to_child_r, from_child_w
        _child_main(container)
    os.close(to_child_r)
    os.close(from_child_w)
    container.pid = pid
    container.release_fd = to_child_w
    assert container.state is not None
    if container.state_root is not None:
        # The start time tells this process from a later one that got the same pid.
        container.state.record(pid=pid, pid_start=process_start_time(pid))
    else:
        container.state.record(pid=pid)
    return from_child_r


def _open_cgroup_for_clone3(container: Container) -> int:
    """An O_PATH fd of the container's v2 cgroup directory (all CLONE_INTO_CGROUP needs), or -1."""
    if container.cgroup is None or container.cgroup.version != "v2" or len(container.cgroup.dirs) != 1:
        return -1
    return os.open(container.cgroup.dirs[0], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _clone_into_cgroup(container: Container, flags: int, cgroup_fd: int) -> int:
    """clone3 into the cgroup when there is an fd, clone(2) otherwise or when clone3 is refused."""
    if cgroup_fd >= 0:
        try:
            pid = syscalls.clone3(flags, SIGCHLD, cgroup_fd)
        except OSError as exc:
            if exc.errno not in syscalls.CLONE3_REFUSED:
                raise
            reason = f"clone3 refused ({errno.errorcode.get(exc.errno or 0, exc.errno)})"
            container.warn(
                f"{reason}: the container's process is started with clone and moved into its cgroup"
                " through cgroup.procs, as crun does"
            )
            assert container.state is not None
            container.state.record(clone3_fallback=reason)
        else:
            container.born_in_cgroup = True
            return pid
    return syscalls.clone(flags | SIGCHLD)


def adjust_oom_score(container: Container) -> None:
    """process.oomScoreAdj into /proc/CHILD/oom_score_adj, before the child runs anything: every
    process it starts inherits the value at fork (proc_pid_oom_score_adj(5)). runc's init writes
    its own (/proc/self) first thing, before it joins namespaces; here the parent writes it, from
    outside the child's user namespace, where the CAP_SYS_RESOURCE that lowering it may need
    counts. Docker always sets it (0 by default), podman on --oom-score-adj."""
    write_oom_score(str(container.pid), container.spec.process.oom_score_adj)


def write_oom_score(pid: str, score: int | None) -> None:
    """/proc/PID/oom_score_adj (PID may be ``self``); nothing when the spec has no value."""
    if score is None:
        return
    path = f"/proc/{pid}/oom_score_adj"
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(score).encode())
    except OSError as exc:
        if exc.errno != errno.EACCES:
            raise ContainerError(f"write {score} to {path}: {exc.strerror}") from None
        # The kernel's floor is the value a process with CAP_SYS_RESOURCE last set for an
        # ancestor (0 from boot): only that capability goes lower (proc_pid_oom_score_adj(5)).
        raise ContainerError(
            f"process.oomScoreAdj {score}: refused (Permission denied): going below the lowest value"
            " a privileged ancestor set (0 unless one set another) needs CAP_SYS_RESOURCE,"
            " which this runtime lacks"
        ) from None
    finally:
        os.close(fd)


def write_id_maps(container: Container) -> None:
    """Map ids of the new user namespace: setgroups must be denied before an unprivileged gid_map."""
    spec = container.spec
    if not spec.uid_mappings and not spec.gid_mappings:
        return
    if left_out(container.without, "idmap"):
        return
    base = f"/proc/{container.pid}"
    if container.rootless:
        _write_proc(f"{base}/setgroups", "deny")
    _write_proc(f"{base}/uid_map", _format_mappings(spec.uid_mappings))
    _write_proc(f"{base}/gid_map", _format_mappings(spec.gid_mappings))


def join_cgroup(container: Container) -> None:
    """Move the container's first process into its cgroup before it execs anything (v2 after
    clone3 was refused, v1 with a user namespace; a process cloned into its cgroup is there
    already, and on v1 the child otherwise moves itself: join_cgroup_from_inside)."""
    if container.cgroup is not None and not container.born_in_cgroup and not _joins_from_inside(container):
        container.cgroup.join(container.pid)


def _joins_from_inside(container: Container) -> bool:
    """v1 without a user namespace: the child writes "0" to tasks itself, which spares the start
    the RCU grace period a write of its pid to cgroup.procs waits for (cgroups.Cgroup.move_self_in).
    In a user namespace the child's credentials may no longer let it write the host's cgroupfs."""
    cgroup = container.cgroup
    return (
        cgroup is not None
        and cgroup.version == "v1"
        and not any(ns.type == "user" for ns in container.spec.namespaces)
    )


def write_pid_file(container: Container) -> None:
    """--pid-file: the pid, no newline, written aside and renamed (a reader never sees half of it)."""
    if container.pid_file is None:
        return
    directory, name = os.path.split(container.pid_file)
    temporary = os.path.join(directory, f".{name}")
    with open(temporary, "w") as handle:
        handle.write(str(container.pid))
    os.replace(temporary, container.pid_file)


def sweep_while_the_child_works(container: Container) -> None:
    """boxtrace run's own root: remove what killed runs left (runtime/leftovers.py) now that the
    child is released and builds its root on the other CPU, not before the clone, where it held up
    every start by 1-2 ms (a dozen hierarchies listed, every state.json read). Our own state says
    we are alive, so nothing of ours is taken."""
    if container.state_root is None and container.state is not None:
        sweep_stale_containers(os.path.dirname(container.state.path))


def reap_guard_forker(container: Container) -> None:
    """The guard's intermediate process (guard.protect) exited long ago, while the container was
    being built: reaped now, so it does not stay a zombie for the container's whole life."""
    if container.guard_forker > 0:
        with suppress(ChildProcessError):
            os.waitpid(container.guard_forker, 0)
        container.guard_forker = 0


def wait_for_exec(container: Container, reports: int) -> None:
    """The report pipe closes on a successful execve (O_CLOEXEC) or carries the child's failure."""
    _follow_child(container, reports, until_ready=False)


def wait_for_init_ready(container: Container, reports: int) -> None:
    """create: the child says "ready" just before it blocks on exec.fifo."""
    _follow_child(container, reports, until_ready=True)


def _follow_child(container: Container, reports: int, until_ready: bool) -> None:
    """Read the child's reports, one JSON object a line: run the hooks it asks for, raise its failure."""
    pending = b""
    try:
        while chunk := os.read(reports, 65536):
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                report = quick_json.loads(line.decode())
                if "hooks" in report:
                    run_hooks(container, ("prestart", "createRuntime"))
                    os.write(container.release_fd, b"1")
                elif "ready" in report:
                    return
                else:
                    _reap_failed_child(container)
                    raise ContainerError(report["message"], report["exit_code"])
    finally:
        os.close(reports)
    if until_ready:
        _reap_failed_child(container)
        raise ContainerError("the container's first process died before it was ready")


def _reap_failed_child(container: Container) -> None:
    os.waitpid(container.pid, 0)
    container.pid = 0


def run_hooks(container: Container, points: tuple[str, ...]) -> None:
    """prestart and createRuntime hooks, on the host, once the namespaces and mounts exist and
    before pivot_root; each gets the container's state on stdin (runtime-spec config.md)."""
    state = {
        "ociVersion": container.spec.oci_version,
        "id": container.id,
        "status": "creating",
        "pid": container.pid,
        "bundle": container.bundle or "",
        "annotations": container.spec.annotations,
    }
    for point in points:
        for hook in container.spec.hooks.get(point, []):
            from boxtrace.runtime.hooks import run_hook  # only when a spec has hooks

            failure = run_hook(_hook_json(hook), state)
            if failure:
                raise ContainerError(f"{point} hook {hook.path} failed: {failure}", 1)


def wait_for_container(container: Container, forwarder: _SignalForwarder) -> int:
    """Wait for the container to exit; a forwarded signal starts the grace period before SIGKILL."""
    collect_from_here()  # the start is over (bin/boxtrace-runtime had the collector off for it)
    pidfd = os.pidfd_open(container.pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd, forwarder.wakeup], [], [], forwarder.seconds_left())
            if pidfd in ready:
                break
            forwarder.drain()
            if forwarder.expired():
                container.warn(f"the container did not stop after {forwarder.signal_name}; killing it")
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
        container.warn(f"the kernel's OOM killer ended a process in the container{detail}")


def remove_container(container: Container) -> None:
    """Kill what is left and remove the cgroup and the state directory (upper layer unless --keep).

    run calls it when the container ended; create when a step failed; after a successful create,
    `boxtrace-runtime delete` does the same work (runtime/oci.py)."""
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
            container.warn(f"could not remove cgroup {container.cgroup.name}: {exc}")
    if container.pid_file is not None and container.exec_fifo:
        with suppress(OSError):
            os.unlink(container.pid_file)  # a failed create leaves no pid file behind
    if container.without and container.state is not None:
        from boxtrace.runtime.left_out import clean_host

        clean_host(container.state.path, container.rootfs, container.lower is None, container.warn)
    if container.state is not None:
        if container.keep and container.lower is not None:
            container.warn(f"kept the container's writable layer: {container.state.upper}")
        elif container.keep and container.copy_layers:
            container.warn(f"kept the container's copied rootfs: {container.spec.root_path}")
        remove_state_dir(container.state, keep_upper=container.keep)
    guard.release(container.guard_fd, state_dir_path(container), container.guard_forker)
    container.guard_forker = 0


def state_dir_path(container: Container) -> str:
    """Where prepare_rootfs makes the state directory (known before it exists, for the guard)."""
    return os.path.join(container.state_root or state_root(container.rootless), container.id)


# --- the child: from clone to execve ------------------------------------------------------------------


def _child_main(container: Container) -> None:
    """Runs in the cloned child; never returns (execs or exits).

    Nothing here may import a module: once the child is root of a new user namespace it may no
    longer be allowed to read the interpreter's library files.
    """

    def wait_for_the_parent(container: Container) -> None:
        syscalls.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.read(container.release_fd, 1) != b"1":
            os._exit(125)  # the parent went away before releasing us

    run_child_steps(container, (wait_for_the_parent, *INIT_STEPS))


def run_child_steps(container: Container, steps: tuple[Callable[[Container], None], ...]) -> NoReturn:
    """Run ``steps`` in a child process that never returns: the last step execs, or the child
    exits, 0 when every step returned. A failure goes to the parent on the report pipe as
    {"message", "exit_code"}; the child exits without cleaning up (the parent does that).

    The signals Python ignores (SIGPIPE, SIGXFSZ) or handles are reset first: an ignored signal
    stays ignored across execve, and the container's command must get the default behaviour."""
    step = "start"
    try:
        for sig in (*_SignalForwarder.SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        for step_function in steps:
            step = step_function.__name__.replace("_", " ")
            step_function(container)
        os._exit(0)
    except BaseException as exc:  # report every failure to the parent, then exit without cleanup
        exit_code = exc.exit_code if isinstance(exc, ContainerError) else 125
        message = str(exc) if isinstance(exc, ContainerError) else f"{step}: {_describe(exc)}"
        if container.unmapped is not None:
            env = container.spec.process.env
            message, verdict = unmapped_report(container.unmapped, step, message, exc, env)
            with suppress(OSError):
                os.write(1, verdict.encode())
        try:
            if container.report_fd >= 0:
                report(container, {"message": message, "exit_code": exit_code})
            else:  # after create returned nobody reads the pipe; stderr is the container's
                os.write(2, f"boxtrace-runtime: error: {message}\n".encode())
        finally:
            os._exit(exit_code)


def report(container: Container, message: dict[str, object]) -> None:
    """One JSON line on the report pipe, from a child to the runtime."""
    os.write(container.report_fd, quick_json.dumps(message).encode() + b"\n")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        # The syscalls wrappers put the whole "what: why" message in strerror.
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def join_cgroup_from_inside(container: Container) -> None:
    """v1: the child moves itself into its cgroup, first of all (before any setns changes its
    credentials, before it mounts or unshares the cgroup namespace). Single-threaded after the
    clone, so moving its one thread moves the whole process."""
    if _joins_from_inside(container):
        assert container.cgroup is not None
        container.cgroup.move_self_in()


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
    if not any(ns.type == "user" for ns in container.spec.namespaces):
        return
    if "idmap" in container.without:
        container.unmapped = Unmapped()
        return
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def join_session_keyring(container: Container) -> None:
    """A fresh session keyring named _ses.ID, so the container cannot read the host's keys
    (runc does this unless --no-new-keyring). Kernels without keyrings are skipped, as in runc."""
    if container.new_keyring:
        syscalls.join_session_keyring(f"_ses.{container.id}")


def enter_cgroup_namespace(container: Container) -> None:
    """unshare(CLONE_NEWCGROUP) now that we are in the cgroup: it becomes our "/"."""
    spec = container.spec
    if any(ns.type == "cgroup" and ns.path is None for ns in spec.namespaces):
        syscalls.unshare(NAMESPACE_FLAGS["cgroup"])


def bring_up_loopback(container: Container) -> None:
    """A new network namespace has only "lo", and it starts down."""
    if any(ns.type == "network" and ns.path is None for ns in container.spec.namespaces):
        syscalls.set_interface_up("lo")


def make_mounts_private(container: Container) -> None:
    if left_out(container.without, "private"):
        return
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
        if mount.type == "proc" and left_out(container.without, "proc"):
            continue
        mounts.mount_spec_mount(container.rootfs, mount, ctx)


def create_devices(container: Container) -> None:
    if any(m.destination == "/dev" and m.type == "tmpfs" for m in container.spec.mounts):
        mounts.create_devices(container.rootfs, container.spec.has_namespace("user"))


def write_sysctls(container: Container) -> None:
    """linux.sysctl: write each under the container's /proc/sys before it is made read-only. The
    namespaced ones (net.*, kernel.hostname, ...) apply to the namespaces this process is in."""
    for key, value in container.spec.sysctl.items():
        relative = key.replace(".", "/") if "/" not in key else key
        path = mounts.resolve_in_root(container.rootfs, f"/proc/sys/{relative}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise ContainerError(f"sysctl {key}: {exc.strerror} ({path})") from None
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise ContainerError(f"sysctl {key}={value}: {exc.strerror}") from None
        finally:
            os.close(fd)


def mask_and_readonly_paths(container: Container) -> None:
    if not left_out(container.without, "masks"):
        mounts.mask_paths(container.rootfs, container.spec.masked_paths)
    if not left_out(container.without, "readonly"):
        mounts.make_paths_readonly(container.rootfs, container.spec.readonly_paths)


def create_working_directory(container: Container) -> None:
    os.makedirs(mounts.resolve_in_root(container.rootfs, container.spec.process.cwd), exist_ok=True)


def run_prestart_hooks(container: Container) -> None:
    """Ask the parent to run the prestart and createRuntime hooks, and wait until it has."""
    if any(container.spec.hooks.get(point) for point in ("prestart", "createRuntime")):
        report(container, {"hooks": "prestart"})
        if os.read(container.release_fd, 1) != b"1":
            os._exit(125)


def pivot_root(container: Container) -> None:
    """pivot_root into the rootfs, or with --no-pivot move it over / and chroot (for a rootfs on
    ramfs, where pivot_root fails)."""
    if container.without & {"pivot_root", "detach", "private"}:
        from boxtrace.runtime.left_out import pivot_weakened

        pivot_weakened(container.rootfs, container.without, container.warn)
    elif container.no_pivot:
        mounts.move_to_rootfs(container.rootfs)
    else:
        mounts.pivot_to_rootfs(container.rootfs)
    if container.spec.root_readonly:
        mounts.remount_root_readonly()


def set_up_console(container: Container) -> None:
    """process.terminal: a pty from the container's devpts; the master goes to --console-socket
    (SCM_RIGHTS, as runc sends it to podman's conmon), the slave becomes stdin/stdout/stderr."""
    if container.console_fd >= 0:
        from boxtrace.runtime import console  # imported by the parent already

        console.send_pty_master(container.console_fd)
        os.close(container.console_fd)
        container.console_fd = -1


def set_hostname(container: Container) -> None:
    if container.spec.hostname and container.spec.has_namespace("uts"):
        syscalls.sethostname(container.spec.hostname)


def set_rlimits(container: Container) -> None:
    security.set_rlimits(container.spec.process.rlimits)


def set_no_new_privs(container: Container) -> None:
    if container.spec.process.no_new_privileges and not left_out(container.without, "nonewprivs"):
        security.set_no_new_privs()


def load_seccomp_filter_while_privileged(container: Container) -> None:
    """Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the capabilities
    go (runc's order). The steps left until execve must then be allowed by the profile."""
    if (
        container.seccomp_filter
        and not _no_new_privs(container)
        and not left_out(container.without, "seccomp")
    ):
        syscalls.seccomp_set_mode_filter(container.seccomp_filter, container.seccomp_flags)


def load_seccomp_filter_just_before_exec(container: Container) -> None:
    """With no_new_privs anyone may load a filter: load it as late as runc does, after the exec
    fifo handshake, so that the profile only has to allow execve and what the command does."""
    if container.seccomp_filter and _no_new_privs(container) and not left_out(container.without, "seccomp"):
        syscalls.seccomp_set_mode_filter(container.seccomp_filter, container.seccomp_flags)


def _no_new_privs(container: Container) -> bool:
    return container.spec.process.no_new_privileges and "nonewprivs" not in container.without


def drop_capabilities(container: Container) -> None:
    if left_out(container.without, "caps"):
        return
    security.drop_bounding_capabilities(container.spec.process.capabilities)


def set_user(container: Container) -> None:
    security.set_user(container.spec.process.user, setgroups_denied=container.rootless)


def set_capabilities(container: Container) -> None:
    if "caps" in container.without:
        return  # marked at drop_capabilities
    for note in security.set_capabilities(container.spec.process.capabilities):
        container.warn(note)


def find_command(container: Container) -> None:
    """chdir(cwd) and find the command through the container's PATH as a shell would: before the
    exec fifo, so that `create` already fails for a missing command (runc does the same)."""
    process = container.spec.process
    try:
        os.chdir(process.cwd)
    except OSError as exc:
        raise ContainerError(f"cannot enter working directory {process.cwd}: {exc.strerror}", 125) from None
    container.command_path = find_executable(process.args[0], container.spec.env_value("PATH") or "")


def close_inherited_fds(container: Container) -> None:
    """Every fd past stdin/stdout/stderr (and --preserve-fds more) closes at execve, as runc's
    CloseExecFrom: whatever the caller leaked must not reach the container."""
    keep = 3 + container.preserve_fds
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return  # no /proc in the container: Python's own fds are close-on-exec already
    for fd in fds:
        if fd < 3:
            continue
        try:
            os.set_inheritable(fd, fd < keep)
        except OSError:
            continue  # the listing's own directory fd, closed by now


def wait_for_start(container: Container) -> None:
    """create: tell the parent we are ready, then block opening exec.fifo for writing until
    `start` opens it for reading; the byte we write tells start the handshake happened."""
    if container.fifo_fd < 0:
        return
    # From here the parent exits: its death must no longer kill us.
    syscalls.prctl(PR_SET_PDEATHSIG, 0)
    report(container, {"ready": True})
    os.close(container.report_fd)
    container.report_fd = -1
    fifo = os.open(f"/proc/self/fd/{container.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fifo, b"0")
    os.close(fifo)
    os.close(container.fifo_fd)
    container.fifo_fd = -1


def exec_process(container: Container) -> None:
    """execve(2) the container's command."""
    process = container.spec.process
    path = container.command_path
    env = dict(item.split("=", 1) for item in process.env)
    try:
        os.execve(path, process.args, env)
    except FileNotFoundError:
        raise ContainerError(
            f"container command not found: {process.args[0]}: no such file or directory", 127
        ) from None
    except PermissionError:
        raise ContainerError(f"container command is not executable: {path}: permission denied", 126) from None
    except OSError as exc:
        raise ContainerError(f"cannot run {path} in the container: {exc.strerror}", 126) from None


def find_executable(command: str, search_path: str) -> str:
    if "/" in command:
        return command
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    # runc's words "executable file not found in $PATH": podman and Docker match on them to
    # give exit code 127.
    raise ContainerError(
        f"container command not found: {command}: executable file not found in $PATH ({search_path})", 127
    )


# The child's steps, in the order they run.
INIT_STEPS = (
    join_cgroup_from_inside,
    join_namespaces,
    become_root_in_user_namespace,
    join_session_keyring,
    enter_cgroup_namespace,
    bring_up_loopback,
    make_mounts_private,
    mount_rootfs,
    mount_spec_mounts,
    create_devices,
    write_sysctls,
    mask_and_readonly_paths,
    create_working_directory,
    run_prestart_hooks,
    pivot_root,
    set_up_console,
    set_hostname,
    set_rlimits,
    set_no_new_privs,
    load_seccomp_filter_while_privileged,
    drop_capabilities,
    set_user,
    set_capabilities,
    find_command,
    close_inherited_fds,
    wait_for_start,
    load_seccomp_filter_just_before_exec,
    exec_process,
)


# --- helpers --------------------------------------------------------------------------------------


def _close(container: Container, name: str) -> None:
    fd = getattr(container, name)
    if fd >= 0:
        setattr(container, name, -1)
        with suppress(OSError):
            os.close(fd)


def _rfc3339_now() -> str:
    """The time as runc writes "created": UTC, nanoseconds, Z."""
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _hook_json(hook: Hook) -> dict[str, object]:
    out: dict[str, object] = {"path": hook.path, "args": hook.args, "env": hook.env}
    if hook.timeout is not None:
        out["timeout"] = hook.timeout
    return out


class _signals_deferred:
    """Hold the forwarded signals while a resource is made and recorded in the Container.

    An interrupt between mkdir and the assignment would leave a directory no cleanup knows of;
    blocked, the signal is delivered right after, and the cleanup then finds what was made.
    A class, not a generator made a context manager: see runtime/quiet.py.
    """

    __slots__ = ("_blocked",)

    def __enter__(self) -> None:
        self._blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SignalForwarder.SIGNALS)

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._blocked)


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
    NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")  # without signal.py's enums

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
        self.signal_name = self.NAMES[self.SIGNALS.index(signum)] if signum in self.SIGNALS else str(signum)
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
