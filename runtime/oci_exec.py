"""`boxtrace-runtime exec`: one more process in a running container (runc exec; what `podman
exec` and `docker exec` call, always with --process FILE).

A new process cannot be cloned into namespaces that already exist: it joins them with setns(2),
one by one, from the fds of /proc/INIT/ns/*. And setns(CLONE_NEWPID) only chooses the pid
namespace of the caller's *children*. So, as runc's nsexec does it, two processes:

1. the runtime forks a *joiner*, which moves into the container's cgroups, sets the rlimits while
   it is still privileged on the host, opens /proc/INIT/ns/* and /proc/INIT/root, joins each
   namespace (runc's order, see ``join_container_namespaces``), chroots to the container's root
   (the container pivot_root'ed: its / is the directory /proc/INIT/root leads to), and clones
   the process that will exec, with CLONE_PARENT so that it is the runtime's child;
2. that process is inside, in the container's pid namespace: it takes the terminal, the user,
   the capabilities, finds the command and execs (the same steps as a container's first process,
   from runtime/container.py). The joiner exits.

Without --detach the runtime waits and exits with the process's status; with --detach it writes
--pid-file and exits, and the process is reparented to the caller's subreaper (conmon, the
containerd shim). Failures exit 255 with "exec failed: ...", runc's code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

from boxtrace.runtime import cgroups, security, syscalls
from boxtrace.runtime import container as container_steps
from boxtrace.runtime.constants import NAMESPACE_FLAGS, NAMESPACE_PROC_NAMES, SIGCHLD
from boxtrace.runtime.container import Container, print_warning
from boxtrace.runtime.errors import ContainerError, RuntimeUsageError
from boxtrace.runtime.records import field, record
from boxtrace.runtime.spec import Namespace, Process, Spec, load_bundle_spec, process_from_json
from boxtrace.runtime.state import process_start_time
from boxtrace.runtime.usage import UsageError, collect_from_here

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from boxtrace.runtime.container import Warn

CLONE_PARENT = 0x00008000
EXEC_FAILED_EXIT = 255  # runc exits 255 when exec itself fails, whatever the reason
# Signals a waiting `exec` passes on to its process (runc forwards every signal it can catch).
FORWARDED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
)


@record
class ExecOptions:
    """exec's flags, as runc's: --process replaces every process flag but --tty (ignored too)."""

    command: list[str] = field(default_factory=list)
    process_file: str | None = None
    tty: bool = False
    console_socket: str | None = None
    pid_file: str | None = None
    detach: bool = False
    cwd: str | None = None
    env: list[str] = field(default_factory=list)
    user: str | None = None
    additional_gids: list[int] = field(default_factory=list)
    caps: list[str] = field(default_factory=list)
    no_new_privs: bool = False
    preserve_fds: int = 0
    ignore_paused: bool = False


# --- what to run ---------------------------------------------------------------------------------------


def exec_process_spec(opts: ExecOptions, bundle: str, warn: Warn = print_warning) -> Process:
    """The process to run: the --process file, or the container's config.json process with the
    command and the flags applied (runc's getProcess)."""
    if opts.process_file is not None:
        return read_process_file(opts.process_file, warn)
    if not opts.command:
        raise UsageError("exec needs a command after the container id, or --process FILE", "boxtrace-runtime")
    process = load_bundle_spec(bundle).process
    process.args = list(opts.command)
    process.terminal = opts.tty  # runc: no terminal unless -t, whatever config.json says
    if opts.cwd is not None:
        if not opts.cwd.startswith("/"):
            raise UsageError(f"--cwd must be an absolute path, got {opts.cwd!r}", "boxtrace-runtime")
        process.cwd = opts.cwd
    for item in opts.env:
        if "=" not in item:
            raise UsageError(f"--env wants NAME=VALUE, got {item!r}", "boxtrace-runtime")
    process.env = [*process.env, *opts.env]
    if opts.user is not None:
        uid, gid = parse_user(opts.user)
        process.user.uid = uid
        process.user.gid = process.user.gid if gid is None else gid
    process.user.additional_gids = [*process.user.additional_gids, *opts.additional_gids]
    caps = process.capabilities
    for cap in opts.caps:
        name = normalize_capability(cap)
        for granted in (caps.bounding, caps.effective, caps.permitted):
            granted.append(name)
        if caps.inheritable:  # ambient needs inheritable; runc adds it only then
            caps.ambient.append(name)
    if opts.no_new_privs:
        process.no_new_privileges = True
    return process


def read_process_file(path: str, warn: Warn = print_warning) -> Process:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise RuntimeUsageError(f"cannot read --process {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuntimeUsageError(f"{path}, line {exc.lineno}: malformed JSON: {exc.msg}") from None
    except RecursionError:  # json recurses once per nested list or object
        raise RuntimeUsageError(f"{path}: malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise RuntimeUsageError(f"{path}: must hold a JSON object (an OCI process)")
    process, warnings = process_from_json(data, text, path)
    for warning in warnings:
        warn(warning)
    return process


def parse_user(text: str) -> tuple[int, int | None]:
    """--user UID[:GID], numbers only (runc's rule: names need the container's /etc/passwd)."""
    uid_text, sep, gid_text = text.partition(":")
    if not uid_text.isdigit() or (sep and not gid_text.isdigit()):
        raise UsageError(f"--user wants UID[:GID] as numbers, got {text!r}", "boxtrace-runtime")
    return int(uid_text), int(gid_text) if sep else None


def normalize_capability(name: str) -> str:
    from boxtrace.runtime.constants import CAPABILITIES

    full = name.upper() if name.upper().startswith("CAP_") else f"CAP_{name.upper()}"
    if full not in CAPABILITIES:
        raise UsageError(f"--cap: unknown capability {name!r} (e.g. CAP_NET_ADMIN)", "boxtrace-runtime")
    return full


def check_terminal(process: Process, opts: ExecOptions) -> None:
    """runc's checkTerminal: a detached terminal goes to --console-socket, and only then."""
    if opts.detach and process.terminal and opts.console_socket is None:
        raise ContainerError("cannot allocate tty if runc will detach without setting console socket")
    if (not opts.detach or not process.terminal) and opts.console_socket is not None:
        raise ContainerError("cannot use console socket if runc will not detach or allocate tty")


def build_exec_container(
    root: str, container_id: str, opts: ExecOptions, warn: Warn = print_warning
) -> Container:
    """The running container's facts from its state, with the new process in place of its own."""
    from boxtrace.runtime import oci

    path, facts = oci.load_state(root, container_id)
    status = oci.container_status(path, facts)
    if status == "stopped":
        raise ContainerError("cannot exec in a stopped container")
    if status == "paused" and not opts.ignore_paused:
        raise ContainerError("cannot exec in a paused container (use --ignore-paused to override)")
    if status == "creating":
        raise ContainerError("cannot exec in a container that is still being created")
    if "namespaces" not in facts:
        # Joining none would run the command on the host, chrooted: refuse instead.
        raise ContainerError(
            f"container {container_id!r} was created by an older boxtrace-runtime that did not record "
            "its namespaces: recreate it to exec into it"
        )
    process = exec_process_spec(opts, str(facts.get("bundle", "")), warn)
    check_terminal(process, opts)
    # The container's process.oomScoreAdj, not the exec'd process's own: runc's `exec` sends its
    # init the container's value too.
    score = facts.get("oom_score_adj")
    process.oom_score_adj = score if isinstance(score, int) and not isinstance(score, bool) else None
    dirs = list(facts.get("cgroups", []))
    seccomp = facts.get("seccomp") or {}
    return Container(
        id=container_id,
        spec=Spec(
            root_path=str(facts.get("rootfs", "")),
            process=process,
            namespaces=[Namespace(kind) for kind in facts.get("namespaces", [])],
        ),
        rootless=bool(facts.get("rootless", False)),
        lower=None,
        state_root=root,
        bundle=str(facts.get("bundle", "")),
        new_keyring=bool(facts.get("new_keyring", True)),
        preserve_fds=opts.preserve_fds,
        console_socket=os.path.abspath(opts.console_socket) if opts.console_socket else None,
        pid_file=os.path.abspath(opts.pid_file) if opts.pid_file else None,
        warn=warn,
        cgroup=cgroups.Cgroup(version="", name=container_id, dirs=dirs) if dirs else None,
        init_pid=int(facts["pid"]),
        init_pid_start=facts.get("pid_start"),
        # The container's own profile, compiled when it was created (runc: config.Seccomp).
        seccomp_filter=bytes.fromhex(str(seccomp.get("filter", ""))),
        seccomp_flags=int(seccomp.get("flags", 0)),
    )


# --- the runtime's side --------------------------------------------------------------------------------


def exec_in_container(container: Container, detach: bool) -> int:
    """Start the process in the container; its exit status, or 0 with --detach."""
    relay = -1
    if container.spec.process.terminal and not detach:
        relay = open_terminal_relay(container)
    else:
        container_steps.connect_console_socket(container)
    try:
        joiner, reports = spawn_joiner(container)
        wait_for_exec(container, joiner, reports)
        container_steps.write_pid_file(container)
    except BaseException:
        _close(relay)
        kill_started_process(container)
        raise
    if detach:
        return 0
    return wait_for_process(container, relay)


def open_terminal_relay(container: Container) -> int:
    """exec -t without --detach: runc receives the pty master itself, over a socket pair, and
    relays this terminal to it. Returns our end; the process gets the other as its console."""
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    container.console_fd = theirs.detach()
    return ours.detach()


def spawn_joiner(container: Container) -> tuple[int, int]:
    """Fork the joiner; returns its pid and the read end of the pipe both children report on."""
    reports, container.report_fd = os.pipe2(os.O_CLOEXEC)
    if container.spec.process.terminal:
        from boxtrace.runtime import console  # noqa: F401  (the process cannot import once inside)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(reports)
        container_steps.run_child_steps(container, JOIN_STEPS)
    os.close(container.report_fd)
    container.report_fd = -1
    _close_attr(container, "console_fd")
    return pid, reports


def wait_for_exec(container: Container, joiner: int, reports: int) -> None:
    """Read the children's reports until the pipe closes: the joiner says the new process's pid
    and exits; the pipe closes when the new process execs (close-on-exec), or carries a failure."""
    pending = b""
    failure: dict[str, Any] | None = None
    try:
        while chunk := os.read(reports, 65536):
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                report = json.loads(line)
                if "pid" in report:
                    container.pid = int(report["pid"])
                else:
                    failure = report
    finally:
        os.close(reports)
        os.waitpid(joiner, 0)
    if failure is not None:
        if container.pid:
            os.waitpid(container.pid, 0)
            container.pid = 0
        raise ContainerError(str(failure["message"]), int(failure["exit_code"]))
    if not container.pid:
        raise ContainerError("the process that joins the container's namespaces died before it forked")


def kill_started_process(container: Container) -> None:
    if container.pid:
        try:
            os.kill(container.pid, signal.SIGKILL)
            os.waitpid(container.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        container.pid = 0


def wait_for_process(container: Container, relay: int) -> int:
    """Wait for the process, passing signals on (and the terminal, with -t); its exit status,
    128+N when signal N killed it."""
    collect_from_here()  # the start is over (bin/boxtrace-runtime had the collector off for it)
    pid = container.pid
    saved = {sig: signal.signal(sig, lambda signum, _: _forward(pid, signum)) for sig in FORWARDED_SIGNALS}
    try:
        if relay >= 0:
            from boxtrace.runtime import console

            console.relay_terminal(relay, pid)
        _, status = os.waitpid(pid, 0)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        _close(relay)
    container.pid = 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


# --- the joiner: from the host into the container --------------------------------------------------------


def adjust_own_oom_score(container: Container) -> None:
    """The joiner, still outside the container, sets its own: the process it forks inherits it."""
    container_steps.write_oom_score("self", container.spec.process.oom_score_adj)


def join_container_cgroup(container: Container) -> None:
    """Move into each of the container's cgroups (v2: our pid to cgroup.procs, as runc moves its
    exec process; v1: "0" to tasks): the process we clone is born there. Rootless without a delegated cgroup:
    skipped, as runc ignores the error."""
    if container.cgroup is None:
        return
    try:
        if container.cgroup.version == "v1":
            container.cgroup.move_self_in()  # forked, so single-threaded: no RCU wait (cgroups.py)
        else:
            container.cgroup.join(os.getpid())
    except PermissionError:
        if not container.rootless:
            raise


def set_rlimits(container: Container) -> None:
    """Before joining a user namespace: raising a hard limit needs CAP_SYS_RESOURCE on the host
    (runc sets them from the parent with prlimit for the same reason)."""
    security.set_rlimits(container.spec.process.rlimits)


def open_container_namespaces(container: Container) -> None:
    """Open /proc/INIT/ns/* for each of the container's namespaces, and /proc/INIT/root, before
    joining any: inside the container's mount namespace the host's /proc is out of sight. Then
    check that INIT is still the container's first process, so the fds are its namespaces."""
    fds = container.namespace_fds
    base = f"/proc/{container.init_pid}"
    try:
        for ns in container.spec.namespaces:
            fds[ns.type] = os.open(f"{base}/ns/{NAMESPACE_PROC_NAMES[ns.type]}", os.O_RDONLY | os.O_CLOEXEC)
        container.root_fd = os.open(f"{base}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerError("cannot exec in a stopped container") from None
    if process_start_time(container.init_pid) != container.init_pid_start:
        raise ContainerError("cannot exec in a stopped container")


def join_container_namespaces(container: Container) -> None:
    """setns(2) into each namespace, in runc's order: every one but the user namespace first
    (one that refuses, EPERM, is tried again last), then the user namespace, switching to its
    root, then those that refused (a rootless container's: only its user namespace's root may
    join them). A namespace we are in already is skipped: setns into one's own user namespace
    fails with EINVAL."""
    pending = container.namespace_fds
    for kind, fd in list(pending.items()):
        if _same_namespace(kind, fd):
            os.close(pending.pop(kind))
    for kind in [k for k in pending if k != "user"]:
        try:
            _setns(container, kind)
        except PermissionError:
            continue
    if "user" in pending:
        _setns(container, "user")
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for kind in list(pending):
        _setns(container, kind)


def enter_container_root(container: Container) -> None:
    """fchdir to the container's root, opened through /proc/INIT/root before the mount namespace
    changed, and chroot(".") there: we see what its first process sees at /."""
    os.fchdir(container.root_fd)
    os.chroot(".")
    os.close(container.root_fd)
    container.root_fd = -1


def clone_into_pid_namespace(container: Container) -> None:
    """clone(CLONE_PARENT): the child is in the container's pid namespace (the one setns chose
    for our children) and is the runtime's child, not ours. It runs EXEC_STEPS; we report its
    pid (as we see it: the host's pid namespace) and exit."""
    pid = syscalls.clone(CLONE_PARENT | SIGCHLD)
    if pid == 0:
        container_steps.run_child_steps(container, EXEC_STEPS)
    container_steps.report(container, {"pid": pid})


def _setns(container: Container, kind: str) -> None:
    fd = container.namespace_fds[kind]
    syscalls.setns(fd, NAMESPACE_FLAGS[kind], f"/proc/{container.init_pid}/ns/{NAMESPACE_PROC_NAMES[kind]}")
    os.close(container.namespace_fds.pop(kind))


def _same_namespace(kind: str, fd: int) -> bool:
    mine = os.stat(f"/proc/self/ns/{NAMESPACE_PROC_NAMES[kind]}")
    theirs = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


# The joiner's steps, in order; the last one forks the process that runs EXEC_STEPS.
JOIN_STEPS = (
    adjust_own_oom_score,
    join_container_cgroup,
    set_rlimits,
    open_container_namespaces,
    join_container_namespaces,
    enter_container_root,
    clone_into_pid_namespace,
)

# The new process's steps, in the container: those of a container's first process after
# pivot_root (runc's setns init does the same, in the same order).
EXEC_STEPS = (
    container_steps.join_session_keyring,
    container_steps.set_up_console,
    container_steps.set_no_new_privs,
    container_steps.load_seccomp_filter_while_privileged,
    container_steps.drop_capabilities,
    container_steps.set_user,
    container_steps.set_capabilities,
    container_steps.find_command,
    container_steps.close_inherited_fds,
    container_steps.load_seccomp_filter_just_before_exec,
    container_steps.exec_process,
)


def _close(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def _close_attr(container: Container, name: str) -> None:
    _close(getattr(container, name))
    setattr(container, name, -1)
