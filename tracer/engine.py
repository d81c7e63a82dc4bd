"""The ptrace loop: one thread, every tracee, every stop.

The engine spawns the command (``spawn.py``), then waits for stops with ``waitpid(-1, WALL)``:

* seccomp stop (filtered mode) or syscall-entry stop (``--all``/fallback): PTRACE_GET_SYSCALL_INFO,
  ``decode_entry``; nothing to report → resume with PTRACE_CONT (no exit stop at all); else emit the
  entered event (step mode may hold here), PTRACE_SYSCALL to get the exit stop;
* syscall-exit stop: ``decode_exit``, emit the finished event, resume;
* fork/vfork/clone/exec events → spawn and exec events; exits → exit events;
* signal-delivery stops re-inject the signal; group-stops get PTRACE_LISTEN (we SEIZE).

Tracees are killed at the end of a trace, except when they must go on without us: a process
attached with ``attach`` (``boxtrace trace --pid``) and the container of a runtime recorded in the
background (``release_mntns``). Those are detached: ``request_detach`` (any thread) wakes the tracer
thread, which interrupts every tracee and detaches each at its next stop, signals passed on.

Events go out through ``emit`` (a deque append on the session side): serialising and printing happen
on another thread, while this one is blocked in waitpid.
"""

from __future__ import annotations

import errno
import os
import time

from boxtrace.tracer import decoders, ptrace_api, quick_calls
from boxtrace.tracer.arch import Arch
from boxtrace.tracer.control import Control
from boxtrace.tracer.decoders.base import CallContext, Decoded
from boxtrace.tracer.events import ExecEvent, ExitEvent, SpawnEvent, SyscallEvent
from boxtrace.tracer.lean import suppress
from boxtrace.tracer.memory import TaskMemory, VmReader
from boxtrace.tracer.messages import (
    Held,
    Message,
    ProcessEvent,
    Resumed,
    SyscallEntered,
    SyscallFinished,
    TraceResult,
)
from boxtrace.tracer.procfs import TaskProcView, ns_diff, read_comm, read_ns_ids, read_status
from boxtrace.tracer.ptrace_api import PtraceError
from boxtrace.tracer.tables.clone import (
    CLONE3_FLAGS,
    CLONE_FLAGS,
    CLONE_NEW_MASK,
    CLONE_NEW_MASK_CLONE,
    CLONE_THREAD,
)
from boxtrace.tracer.tables.xlat import flags_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable, Iterator
else:
    # signal's C part: the same functions and numbers, as plain ints. signal.py makes enums of
    # them, and imports enum: ~7 M instructions of every trace's start (docs/benchmarks.md).
    import _signal as signal

_ESRCH = errno.ESRCH
_SYSCALL_STOP = signal.SIGTRAP | 0x80
_GROUP_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_NS_CALLS = frozenset({"unshare", "setns"})
_CLONE_CALLS = frozenset({"clone", "clone3"})
_EXEC_CALLS = frozenset({"execve", "execveat"})
_PR_SET_NAME = 15
_DUP_CALLS = frozenset({"dup2", "dup3"})
_STDIO_MOVES = frozenset({"open", "openat", "openat2", "creat", *_DUP_CALLS})
_WATCHED_FILES = frozenset({"cgroup", "idmap"})
_HOW = {ptrace_api.EVENT_FORK: "fork", ptrace_api.EVENT_VFORK: "vfork", ptrace_api.EVENT_CLONE: "clone"}


class Pending:
    """A reported call between its entry and its exit stop."""

    __slots__ = ("ctx", "decoded", "effects", "event", "ns_before", "t0")

    def __init__(self, event: SyscallEvent, decoded: Decoded, ctx: CallContext, t0: float) -> None:
        self.event = event
        self.decoded = decoded
        self.ctx = ctx
        self.t0 = t0
        self.ns_before: dict[str, int] | None = None
        # What the call did that ptrace reports before the call returns (the new process of a
        # clone, the new program of an execve): held back so that every view shows the call first.
        # None until there is one (most calls have none: no list to make for them).
        self.effects: list[Message] | None = None


class Task:
    """One traced thread. Its /proc status is read lazily, at its first event."""

    __slots__ = (
        "announced",
        "child_ns",
        "comm",
        "exec_info",
        "fresh",
        "mem",
        "nspid",
        "pending",
        "pid",
        "started",
        "tid",
        "unreported_exit",
        "view",
        "watch_stdio",
    )

    def __init__(
        self, tid: int, pid: int, comm: str, nspid: list[int] | None, fresh: bool, vm: VmReader
    ) -> None:
        self.tid = tid
        self.pid = pid
        self.comm = comm  # inherited from the parent until ``fresh``
        self.nspid = nspid
        self.fresh = fresh  # comm/nspid/pid were read from this task's own /proc status
        self.mem = TaskMemory(tid, vm)
        self.view = TaskProcView(tid)
        self.pending: Pending | None = None
        self.started = False  # its first (attach) stop has been seen
        self.exec_info: tuple[str, list[str]] | None = None
        self.child_ns: dict[str, int] | None = None  # namespaces of the child its clone just made
        self.announced = True  # its parent's fork/clone event was seen (or it is the root)
        # A cgroup or id-map file was moved onto (dup2) or opened as fd 0-2: the filter does not trap
        # writes to fds 0-2 (they are output), so this task (and its children) stop at every syscall.
        self.watch_stdio = False
        # Stepping (PTRACE_SYSCALL), it was resumed from the entry stop of a call not reported: its
        # next syscall stop is that call's exit (ptrace(2): no signal-delivery stop comes between
        # the two; event stops that do, exec and clone, are not syscall stops), with nothing to do.
        self.unreported_exit = False


class Engine:
    """Runs one trace. Everything but ``live_pids`` must be called on the tracer thread."""

    def __init__(
        self,
        arch: Arch,
        emit: Callable[[Message], None],
        control: Control,
        report_all: bool,
        step_all: bool,
        t0: float,
    ) -> None:
        self.arch = arch
        self.emit = emit
        self.control = control
        self.report_all = report_all
        # PTRACE_SYSCALL at every stop (--all, or fallback when no seccomp filter could be installed).
        self.step_all = step_all
        self.t0 = t0
        self.tasks: dict[int, Task] = {}
        self.vm = VmReader()  # this engine's reusable process_vm_readv buffer (tracer thread only)
        self.pt = ptrace_api.Buffers(arch.name)  # and its ptrace result buffers
        # Tids reaped before their parent's fork/clone event stop was handled (the child's stops and
        # exit can come first): the late event must not bring them back as live tasks.
        self._reaped_early: set[int] = set()
        # itertools.count(1) without itertools (~0.4 M instructions to import): a range's iterator.
        self.seq = iter(range(1, 1 << 62))
        self.events = 0
        self.stops = 0
        self.root_pid = 0
        self.root_status: int | None = None
        self.root_signal: int | None = None
        self._names = arch.syscall_names
        # Calls with a decoder; any other is not reported (unless report_all) and costs its entry
        # stop no decoding context (most stops of a stepped runc: futex, nanosleep, rt_sigaction...).
        self._decoded = decoders.DECODED
        self.detach_requested = False  # set by request_detach (any thread); read once per stop
        self._detaching = False
        # The root's mount namespace (``/proc/PID/ns/mnt`` link text): a task exec'ing in another
        # one is a runtime's container process, detached at its exec (the recorder's mode).
        self.release_mntns: str | None = None
        # (cpu, mask): the recorder runs the runtime on its tracer thread's cpu (session.py,
        # pin_to_tracer_cpu); what it lets go gets the mask back.
        self.pinned: tuple[int, set[int]] | None = None
        self.detached: set[int] = set()
        # Called on the tracer thread when the root process ends: (exit status, signal number).
        self.root_exit_hook: Callable[[int | None, int | None], None] | None = None

    # ---- bookkeeping ----

    def live_pids(self) -> list[int]:
        """Tids still traced (any thread may call this: it copies the keys)."""
        return list(self.tasks)

    def add_root(self, pid: int) -> None:
        self.root_pid = pid
        tgid, comm, nspid = read_status(pid)
        # Not ``started``: its first stop after the seize is the attach trap, to be resumed.
        self.tasks[pid] = Task(pid, tgid, comm, nspid, fresh=True, vm=self.vm)

    def attach(self, pid: int) -> None:
        """Seize every thread of a running process (no EXITKILL: it outlives us) and interrupt
        each, so that the loop gets a first stop to start stepping from. Threads born while we
        seize are found by listing /proc/PID/task again until the list holds no stranger."""
        self.root_pid = pid
        while True:
            try:
                tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")} - self.tasks.keys()
            except FileNotFoundError:
                tids = set()
            if not tids:
                break
            for tid in sorted(tids):
                try:
                    ptrace_api.seize(tid, ptrace_api.KEEP_ALIVE_OPTIONS)
                except PtraceError as exc:
                    if tid == pid or exc.errno != _ESRCH:
                        raise
                    continue  # a thread that ended meanwhile
                ptrace_api.interrupt(tid)
                tgid, comm, nspid = read_status(tid)
                self.tasks[tid] = Task(tid, tgid, comm, nspid, fresh=True, vm=self.vm)
        if not self.tasks:
            raise PtraceError(_ESRCH, f"process {pid} is gone")

    def request_detach(self) -> None:
        """Let every tracee go (any thread). The tracer thread sits in waitpid: a child of ours
        that exits at once makes waitpid return, so that thread sees the request right away."""
        if self.detach_requested:
            return
        self.detach_requested = True
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only exits
            os._exit(0)

    def _ident(self, task: Task) -> tuple[str, list[int] | None]:
        if not task.fresh:
            task.fresh = True
            tgid, comm, nspid = read_status(task.tid)
            if comm != "?":  # else it is gone: keep what it inherited
                task.comm = comm
                task.nspid = nspid
                task.pid = tgid
        return task.comm, task.nspid

    def _new_task(self, tid: int) -> Task:
        """A task seen before its parent's fork/clone event: ask /proc who it is."""
        tgid, comm, nspid = read_status(tid)
        task = Task(tid, tgid, comm, nspid, fresh=True, vm=self.vm)
        task.announced = False
        self.tasks[tid] = task
        self.detached.discard(tid)  # a reused process id
        return task

    def _now(self) -> float:
        return time.monotonic() - self.t0

    # ---- the loop ----

    def loop(self) -> None:
        """Handle stops until no tracee is left."""
        waitpid = os.waitpid
        tasks = self.tasks
        step_all = self.step_all
        on_syscall_stop = self._on_syscall_stop
        on_seccomp = self._on_entry
        cont = ptrace_api.cont
        syscall = ptrace_api.syscall
        # A stop already waiting is collected without giving up the GIL (see quick_calls); only
        # when none is, the loop blocks in os.waitpid and lets the delivery thread run.
        waitpid_now = quick_calls.raw_waitpid()
        ready = quick_calls.StatusBuffer()
        ready_ref = ready.ref
        ready_status = ready.value
        now_options = ptrace_api.WALL | quick_calls.WNOHANG
        any_child = quick_calls.ANY_CHILD
        while True:
            try:
                tid = waitpid_now(any_child, ready_ref, now_options)
                if tid > 0:
                    status = ready_status.value
                else:
                    tid, status = waitpid(-1, ptrace_api.WALL)
            except ChildProcessError:
                for task in tasks.values():
                    task.mem.close()
                tasks.clear()  # nothing left to wait for: any entry left is a task we never saw start
                return
            self.stops += 1
            if self.detach_requested:
                if not self._detaching:
                    self._begin_detach()
                if status & 0x7F == 0x7F:
                    self._detach_at_stop(tid, status)
                else:
                    self._on_gone(tid, status)
                if not tasks:
                    return  # every tracee let go (the tracer may have children of its own)
                continue
            if status & 0x7F == 0x7F:  # stopped
                task = tasks.get(tid) or self._new_task(tid)
                try:
                    # A syscall stop (SIGTRAP | 0x80, no event bits) is most stops: tested first,
                    # before the signal and the event are taken apart.
                    if status >> 8 == _SYSCALL_STOP:
                        on_syscall_stop(task)
                        continue
                    sig = (status >> 8) & 0xFF
                    event = status >> 16
                    if event == ptrace_api.EVENT_SECCOMP:
                        # A stepping task's syscall-entry stop comes before its seccomp stop (Linux
                        # >= 4.8) and has already reported the call; a watched task may have been
                        # resumed without stepping before it was watched (pending tells).
                        if step_all or (task.watch_stdio and task.pending is not None):
                            syscall(tid, 0)
                        else:
                            on_seccomp(task)
                    elif event:
                        self._on_event(task, event, sig)
                    else:
                        # Signal-delivery stop: give the signal back to the tracee.
                        if task.pending is not None or step_all or task.watch_stdio:
                            syscall(tid, sig)
                        else:
                            cont(tid, sig)
                except PtraceError as exc:
                    if exc.errno != _ESRCH:
                        raise
                    # The tracee was killed meanwhile: its exit comes through waitpid.
            else:
                self._on_gone(tid, status)

    def _resume(self, task: Task, sig: int = 0) -> None:
        if task.pending is not None or self.step_all or task.watch_stdio:
            ptrace_api.syscall(task.tid, sig)
        else:
            ptrace_api.cont(task.tid, sig)

    def _on_syscall_stop(self, task: Task) -> None:
        if not (self.step_all or task.watch_stdio):
            if task.pending is not None:
                self._on_exit(task)
            else:
                # Only a pending call gets PTRACE_SYSCALL in filtered mode; a stray stop is resumed.
                ptrace_api.cont(task.tid, 0)
            return
        if task.unreported_exit:
            # The exit of a call not reported: no syscall info to fetch (one ptrace call less for
            # half the stops of a stepped trace).
            task.unreported_exit = False
            ptrace_api.syscall(task.tid, 0)
            return
        if self.pt.fetch_syscall_info(task.tid) == ptrace_api.OP_EXIT:
            if task.pending is not None:
                self._on_exit(task, fetched=True)
            else:
                ptrace_api.syscall(task.tid, 0)
        else:
            self._on_entry(task, self.pt.entry_fields())
            # Resumed with PTRACE_SYSCALL; with nothing pending, its next syscall stop is the exit.
            task.unreported_exit = task.pending is None

    def _on_entry(self, task: Task, info: tuple[int, ...] | None = None) -> None:
        tid = task.tid
        if info is None:
            info = self.pt.syscall_entry(tid)
        _op, arch, nr, a0, a1, a2, a3, a4, a5 = info
        if arch != self.arch.audit_arch or nr >= 0x40000000:
            # i386 (int 0x80) or x32 calls: numbers of another table; not decoded.
            self._resume(task)
            return
        name = self._names.get(nr)
        if name is None:
            name = f"syscall_{nr:#x}"
        if name not in self._decoded and not self.report_all:
            self._resume(task)  # decode_entry would say None: not worth a CallContext
            return
        args = (a0, a1, a2, a3, a4, a5)
        if name in _EXEC_CALLS:
            self._remember_exec(task, name, args)
        ctx = CallContext(
            task.pid,
            tid,
            nr,
            name,
            args,
            task.mem,
            task.view,
            self.report_all,
            task.watch_stdio,
            self.arch.name,
        )
        decoded = decoders.decode_entry(ctx)
        if decoded is None:
            if self.step_all or task.watch_stdio:
                ptrace_api.syscall(tid, 0)
            else:
                ptrace_api.cont(tid, 0)
            return
        t = time.monotonic()
        comm, nspid = self._ident(task)
        event = SyscallEvent(
            seq=next(self.seq),
            time=t - self.t0,
            pid=task.pid,
            tid=tid,
            comm=comm,
            nspid=nspid,
            name=name,
            nr=nr,
            category_name=decoded.category,
            args=decoded.args,
        )
        if decoded.detail:
            event.detail = dict(decoded.detail)
        pending = Pending(event, decoded, ctx, t)
        if name in _NS_CALLS:
            pending.ns_before = read_ns_ids(tid)
        task.pending = pending
        self.events += 1
        self.emit(SyscallEntered(event))
        control = self.control
        reason = control.hold_reason(event)
        if reason is not None:
            self.emit(Held(event, reason))
            control.wait_release()
            self.emit(Resumed())
        ptrace_api.syscall(tid, 0)

    def _on_exit(self, task: Task, fetched: bool = False) -> None:
        pending = task.pending
        assert pending is not None
        task.pending = None
        tid = task.tid
        if not fetched:
            self.pt.fetch_syscall_info(tid)
        _, _, rval, is_error = self.pt.exit_fields()
        event = pending.event
        t = time.monotonic()
        event.duration = t - pending.t0
        event.result = rval
        done = decoders.decode_exit(pending.decoded, pending.ctx, rval)
        event.result_text = done.result_text
        event.errno = done.errno
        if done.detail:
            event.detail.update(done.detail)
        if not is_error:
            name = event.name
            if name in _NS_CALLS and pending.ns_before is not None:
                event.ns_changed = ns_diff(pending.ns_before, read_ns_ids(tid))
            elif name in _CLONE_CALLS and task.child_ns is not None:
                event.ns_changed = ns_diff(read_ns_ids(tid), task.child_ns)
            elif name == "prctl" and pending.ctx.args[0] == _PR_SET_NAME:
                task.comm = read_comm(tid) or task.comm
            elif (
                name in _STDIO_MOVES
                and (name in _DUP_CALLS or 0 <= rval <= 2)
                and event.category_name in _WATCHED_FILES
            ):
                # A cgroup or id-map file now behind fd 0-2 (dup2 onto it, or opened into a freed
                # slot): the filter lets writes there through, so this task is watched from now on.
                task.watch_stdio = True
        task.child_ns = None
        if self.step_all or task.watch_stdio:
            ptrace_api.syscall(tid, 0)
        else:
            ptrace_api.cont(tid, 0)
        self._finish(pending)

    def _finish(self, pending: Pending) -> None:
        """The call is over: report it, then what it caused."""
        emit = self.emit
        emit(SyscallFinished(pending.event))
        if pending.effects is not None:
            for effect in pending.effects:
                emit(effect)

    def _report_effect(self, task: Task, message: Message) -> None:
        """A process event: after the call that caused it when that call is still in flight."""
        pending = task.pending
        if pending is not None:
            if pending.effects is None:
                pending.effects = [message]
            else:
                pending.effects.append(message)
        else:
            self.emit(message)

    # ---- process events ----

    def _on_event(self, task: Task, event: int, sig: int) -> None:
        tid = task.tid
        if event == ptrace_api.EVENT_STOP:
            if not task.started:
                task.started = True  # the attach stop of a new tracee
                self._resume(task)
            elif sig in _GROUP_STOP_SIGNALS:
                ptrace_api.listen(tid)
            else:
                self._resume(task)
            return
        if event in _HOW:
            self._on_spawn(task, _HOW[event])
        elif event == ptrace_api.EVENT_EXEC:
            self._on_exec(task)
            if self.release_mntns is not None and self._in_container(tid):
                self._let_go(task)
                return
        self._resume(task)

    def _in_container(self, tid: int) -> bool:
        try:
            return os.readlink(f"/proc/{tid}/ns/mnt") != self.release_mntns
        except OSError:
            return False

    def _let_go(self, task: Task) -> None:
        """Detach a container's process at its exec: the runtime's work is done, the container runs
        untraced (the recorder has no seccomp filter in it, so nothing of it fails without us)."""
        pending = task.pending
        if pending is not None:  # the execve, which has succeeded: we are at its exec event
            pending.event.result = 0
            pending.event.result_text = "0"
            pending.event.duration = time.monotonic() - pending.t0
            task.pending = None
            self._finish(pending)
        self._forget(task.tid)
        self._unpin(task.tid)
        with suppress(PtraceError):
            ptrace_api.detach(task.tid, 0)

    def _unpin(self, tid: int) -> None:
        """A process let go runs on the cpus it would have had: the recorder's mask, unless
        something else (a cpuset cgroup it joined) set another one meanwhile."""
        if self.pinned is None:
            return
        cpu, mask = self.pinned
        with suppress(OSError):
            if os.sched_getaffinity(tid) == {cpu}:
                os.sched_setaffinity(tid, mask)

    def _forget(self, tid: int) -> None:
        task = self.tasks.pop(tid, None)
        if task is not None:
            task.mem.close()
            self.detached.add(tid)

    def _begin_detach(self) -> None:
        self._detaching = True
        for tid in list(self.tasks):
            with suppress(PtraceError):
                ptrace_api.interrupt(tid)

    def _detach_at_stop(self, tid: int, status: int) -> None:
        """While detaching: let this stopped tracee go, passing on a signal it was about to get."""
        sig = (status >> 8) & 0xFF
        event = status >> 16
        task = self.tasks.get(tid)
        deliver = sig if event == 0 and sig != _SYSCALL_STOP else 0
        if event in _HOW:
            # Its new child is ours too (auto-attached) and will stop: wait for it, then let it go.
            # Its stop may have come first and been let go already: then there is nothing to wait for.
            with suppress(PtraceError):
                child = self.pt.geteventmsg(tid)
                if child not in self.tasks and child not in self.detached:
                    self._new_task(child)
        if task is not None and task.pending is not None:
            pending = task.pending
            task.pending = None
            pending.event.duration = time.monotonic() - pending.t0
            self._finish(pending)  # it completes untraced: no result known
        self._forget(tid)
        self.detached.add(tid)  # also a new child whose parent's fork event is still to come
        self._unpin(tid)
        with suppress(PtraceError):
            ptrace_api.detach(tid, deliver)

    def _on_spawn(self, task: Task, event_how: str) -> None:
        child_tid = self.pt.geteventmsg(task.tid)
        pending = task.pending
        # The kernel's event kind says little (glibc's fork() is clone(SIGCHLD): a "fork" event);
        # students see the syscall that was made, from the trapped entry or the registers.
        if pending is not None and pending.event.name in _CLONE_CALLS:
            how = pending.event.name
            a0 = pending.ctx.args[0]
            flags_value = self._clone3_flags(task, a0) if how == "clone3" else a0
        else:
            how, flags_value = self._clone_regs(task, event_how)
        if how == "clone3":
            flag_names, _ = flags_text(flags_value, CLONE3_FLAGS)
        elif how == "clone":
            flag_names, _ = flags_text(flags_value & ~0xFF, CLONE_FLAGS)
        else:
            flag_names = []
        thread = bool(flags_value & CLONE_THREAD)
        comm, nspid = self._ident(task)
        child = self.tasks.get(child_tid)
        if child_tid in self._reaped_early:
            self._reaped_early.discard(child_tid)
        elif child is not None:
            child.announced = True
        else:
            # A thread shares its process's identity; a new process has its own NSpid: read lazily.
            child = Task(child_tid, task.pid if thread else child_tid, comm, nspid, fresh=thread, vm=self.vm)
            self.tasks[child_tid] = child
            self.detached.discard(child_tid)  # a reused process id
        if child is not None and task.watch_stdio:
            child.watch_stdio = True  # it shares or inherits the open file
        new_ns = flags_value & (CLONE_NEW_MASK if how == "clone3" else CLONE_NEW_MASK_CLONE)
        if new_ns and pending is not None:
            task.child_ns = read_ns_ids(child_tid)
        self.events += 1
        self._report_effect(
            task,
            ProcessEvent(
                SpawnEvent(
                    seq=next(self.seq),
                    time=self._now(),
                    pid=task.pid,
                    tid=task.tid,
                    comm=comm,
                    nspid=nspid,
                    child=child_tid,
                    how=how,
                    thread=thread,
                    flags=flag_names,
                )
            ),
        )

    def _clone3_flags(self, task: Task, args_addr: int) -> int:
        raw = task.mem.read_bytes(args_addr, 8)
        return int.from_bytes(raw, "little") if raw else 0

    def _clone_regs(self, task: Task, event_how: str) -> tuple[str, int]:
        """The spawning call's name and flags when its entry was not trapped (fork, threads...)."""
        regs = self.pt.getregs(task.tid)
        name = self._names.get(regs.orig_syscall, event_how)
        if name == "clone3":
            return name, self._clone3_flags(task, regs.arg0)
        if name == "clone":
            return name, regs.arg0
        return name, 0

    def _remember_exec(self, task: Task, name: str, args: tuple[int, ...]) -> None:
        mem = task.mem
        if name == "execve":
            path_addr, argv_addr = args[0], args[1]
        else:
            path_addr, argv_addr = args[1], args[2]
        path = mem.read_cstring(path_addr) or ""
        argv = mem.read_string_array(argv_addr) or []
        task.exec_info = (path, argv)

    def _on_exec(self, task: Task) -> None:
        former = self.pt.geteventmsg(task.tid)
        if former != task.tid:
            # A non-leader thread exec'd: it took over the leader's tid and the old thread is gone
            # without an exit notification. Carry its state (the pending execve) over.
            old = self.tasks.pop(former, None)
            if old is not None:
                task.pending = old.pending
                task.exec_info = old.exec_info
                old.mem.close()
        task.mem.close()
        task.mem = TaskMemory(task.tid, self.vm)
        # A leader's Task taken over by an exec'ing thread: the leader's own call ended with it.
        task.unreported_exit = False
        if task.pending is not None:
            task.pending.ctx.mem = task.mem
        tgid, comm, nspid = read_status(task.tid)
        if comm != "?":
            task.comm = comm
            task.nspid = nspid or task.nspid
            task.pid = tgid
        task.fresh = True
        path, argv = task.exec_info or ("", [])
        task.exec_info = None
        self.events += 1
        self._report_effect(
            task,
            ProcessEvent(
                ExecEvent(
                    seq=next(self.seq),
                    time=self._now(),
                    pid=task.pid,
                    tid=task.tid,
                    comm=comm,
                    nspid=task.nspid,
                    path=path,
                    argv=argv,
                )
            ),
        )

    def _on_gone(self, tid: int, status: int) -> None:
        task = self.tasks.pop(tid, None)
        if task is None:
            return
        if not task.announced:
            self._reaped_early.add(tid)
        task.mem.close()
        comm, nspid = self._ident(task)
        pending = task.pending
        if pending is not None:
            # Died inside the call (e.g. exit_group, or killed): the call never returns.
            pending.event.duration = time.monotonic() - pending.t0
            self._finish(pending)
        exit_status: int | None = None
        sig_name: str | None = None
        if os.WIFEXITED(status):
            exit_status = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            sig_name = _signal_name(signum)
            if tid == self.root_pid:
                self.root_signal = signum
        if tid == self.root_pid:
            self.root_status = exit_status
            if self.root_exit_hook is not None:
                self.root_exit_hook(exit_status, self.root_signal)
        self.events += 1
        self.emit(
            ProcessEvent(
                ExitEvent(
                    seq=next(self.seq),
                    time=self._now(),
                    pid=task.pid,
                    tid=tid,
                    comm=comm,
                    nspid=nspid,
                    status=exit_status,
                    signal=sig_name,
                )
            )
        )

    # ---- ending ----

    def kill_all(self) -> None:
        """SIGKILL every tracee (any thread may call this; kill(2) is not a ptrace request)."""
        for tid in self.live_pids():
            with suppress(ProcessLookupError, PermissionError):
                os.kill(tid, signal.SIGKILL)

    def kill_all_but_root(self) -> None:
        """SIGKILL every tracee outside the root process (any thread may call this).

        A forced stop kills what the command started (a container) at once, but leaves the root (a
        runtime) its grace period to remove what it made: it has nothing left to wait for.
        """
        root = self.root_pid
        for tid, task in list(self.tasks.items()):
            if task.pid != root:
                with suppress(ProcessLookupError, PermissionError):
                    os.kill(tid, signal.SIGKILL)

    def detach_all(self, deadline: float) -> None:
        """At the end of a trace whose tracees outlive it: let every one go (tracer thread only)."""
        self.detach_requested = True
        if not self._detaching:
            self._begin_detach()
        for tid, status in _waits_until(deadline, lambda: bool(self.tasks)):
            if status & 0x7F == 0x7F:
                self._detach_at_stop(tid, status)
            else:
                self._on_gone(tid, status)

    def reap_all(self, deadline: float) -> None:
        """After kill_all: collect every tracee so none is left behind (tracer thread only)."""
        for tid, status in _waits_until(deadline, lambda: True):
            if status & 0x7F != 0x7F:
                self._on_gone(tid, status)
            else:
                # A stop that raced the SIGKILL: let it proceed to its death.
                with suppress(PtraceError):
                    ptrace_api.cont(tid, 0)

    def result(self, mode: str, error: str | None, stopped_by_user: bool) -> TraceResult:
        status, signum = self.root_status, self.root_signal
        if signum is not None:
            code = 128 + signum
            sig_name: str | None = _signal_name(signum)
        elif status is None and self.root_pid in self.detached:
            code = 0  # let go (attached, or a recorded container): it did not end under us
            sig_name = None
        else:
            code = status if status is not None else 1
            sig_name = None
        return TraceResult(
            exit_status=status,
            signal=sig_name,
            exit_code=code,
            mode=mode,
            events=self.events,
            stops=self.stops,
            error=error,
            stopped_by_user=stopped_by_user,
            detached=status is None and signum is None and self.root_pid in self.detached,
        )


def _waits_until(deadline: float, wanted: Callable[[], bool]) -> Iterator[tuple[int, int]]:
    """Stops and exits of tracees (and children), without blocking past ``deadline``, while
    ``wanted()`` and until nothing is left to wait for."""
    while wanted() and time.monotonic() < deadline:
        try:
            tid, status = os.waitpid(-1, ptrace_api.WALL | os.WNOHANG)
        except ChildProcessError:
            return
        if tid == 0:
            time.sleep(0.002)
        else:
            yield tid, status


def _signal_name(signum: int) -> str:
    import signal as signal_enums  # the names: only when a signal is reported

    try:
        return signal_enums.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"
