"""A trace session: the public API consumers (``boxtrace trace``, ``boxtrace run``, the TUI) use.

Threads:

* the tracer thread forks the command and makes every ptrace call (the kernel ties tracees to it);
* the delivery thread drains the engine's outbox every ``poll_interval`` seconds (or at once when the
  engine holds), appends events to the trace file and hands the batch to the consumer; it runs while
  the tracer thread sits in waitpid, so serialising and printing cost the trace loop nothing;
* one reader thread per captured stream (the command's stdout/stderr) turning lines into events.

Stopping (``stop()``, Ctrl-C, the consumer raising, the engine failing) never leaves a tracee behind:
SIGTERM goes to the root tracee (a runtime then removes its container), tracing goes on without
holds, and after ``grace`` seconds every tracee gets SIGKILL (a second ``stop(force=True)`` kills all
but the root at once, so that a runtime can still clean up). A spawned command is never
detached: a tracee with the seccomp filter and no tracer gets ENOSYS from traced calls.

Two kinds of trace leave their tracees running instead, and run without a seccomp filter:
``attach_pid`` (``boxtrace trace --pid``: stopping detaches) and ``release_container`` (the
background recorder of ``boxtrace-runc``: a process that execs in another mount namespace than the
runtime's is the container, detached at that exec).
"""

from __future__ import annotations

import _thread
import atexit
import os
import sys
import time

from boxtrace.tracer import ptrace_api
from boxtrace.tracer.arch import Arch, get_arch
from boxtrace.tracer.control import Control
from boxtrace.tracer.engine import Engine
from boxtrace.tracer.events import Event, OutputEvent, TraceHeader
from boxtrace.tracer.lean import Event as Flag
from boxtrace.tracer.lean import Timer, Worker, other_threads, suppress
from boxtrace.tracer.messages import (
    Ended,
    Message,
    Notice,
    ProcessEvent,
    Started,
    SyscallFinished,
    TraceResult,
)
from boxtrace.tracer.plain import Plain
from boxtrace.tracer.ptrace_api import PtraceError
from boxtrace.tracer.seccomp_filter import default_filter
from boxtrace.tracer.spawn import SpawnError, spawn_traced
from boxtrace.tracer.tracefile import MONOTONIC_START, TraceWriter, make_header

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections import deque
    from collections.abc import Callable

    from boxtrace.tracer.writer_process import WriterProcess
else:
    # signal's C part: the same functions and numbers, as plain ints. signal.py makes enums of
    # them, and imports enum: ~7 M instructions of every trace's start (docs/benchmarks.md).
    import _signal as signal
    from _collections import deque  # collections' C part: collections.py costs ~5 M at every start

if TYPE_CHECKING:
    Consumer = Callable[[list[Message]], None]
TRACING_SWITCH_INTERVAL = 0.0005  # seconds; see TraceSession.start


class CommandNotFound(Exception):
    """The command to trace does not exist or is not executable."""


class AttachError(Exception):
    """The process to attach to does not exist or cannot be traced."""


def process_command(pid: int) -> list[str]:
    """A running process's command line (AttachError if there is no such process)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        raise AttachError(f"no process {pid}") from None
    argv = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]]
    if not argv:  # a kernel thread, or a zombie
        raise AttachError(f"process {pid} cannot be traced (a kernel thread or a zombie)")
    return argv


class TraceConfig(Plain):
    __slots__ = (
        "all_syscalls",
        "attach_pid",
        "break_categories",
        "break_names",
        "capture_output",
        "command",
        "cwd",
        "env",
        "force_fallback",
        "grace",
        "on_root_exit",
        "output",
        "poll_interval",
        "release_container",
        "start_paused",
        "writer_process",
    )

    def __init__(
        self,
        command: list[str],
        all_syscalls: bool = False,
        output: str | None = None,
        capture_output: bool = True,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        grace: float = 5.0,
        start_paused: bool = False,
        break_names: set[str] | None = None,
        break_categories: set[str] | None = None,
        poll_interval: float = 0.02,
        force_fallback: bool = False,
        attach_pid: int | None = None,
        release_container: bool = False,
        on_root_exit: Callable[[int | None, int | None], None] | None = None,
        writer_process: bool = False,
    ) -> None:
        self.command = command
        self.all_syscalls = all_syscalls  # --all: stop on and report every syscall
        self.output = output  # trace file path (JSON Lines)
        self.capture_output = (
            capture_output  # the command's stdout/stderr become OutputEvents instead of ours
        )
        self.env = env
        self.cwd = cwd
        self.grace = grace  # seconds between SIGTERM to the root tracee and SIGKILL to every tracee
        self.start_paused = start_paused  # hold at the first reported syscall
        self.break_names: set[str] = set() if break_names is None else break_names
        self.break_categories: set[str] = set() if break_categories is None else break_categories
        self.poll_interval = poll_interval
        self.force_fallback = (
            force_fallback  # no seccomp filter even if it could be installed (tests, comparisons)
        )
        self.attach_pid = attach_pid  # trace this running process (and its new children) instead
        self.release_container = release_container  # detach a container's process at its exec; never kill
        # Called on the tracer thread as soon as the root process ends: (exit status, signal number).
        self.on_root_exit = on_root_exit
        # With all_syscalls: decode, write the trace file and call the consumer in a second process
        # (tracer/writer_process.py). For consumers that never hold a tracee (not step mode).
        self.writer_process = writer_process

    @property
    def keeps_tracees_alive(self) -> bool:
        return self.attach_pid is not None or self.release_container


def resolve_command(argv0: str, env: dict[str, str] | None = None) -> str:
    """The executable's path (PATH lookup like execvp); CommandNotFound if there is none."""
    if "/" in argv0:
        if not os.path.isfile(argv0):
            raise CommandNotFound(f"{argv0}: no such file")
        if not os.access(argv0, os.X_OK):
            raise CommandNotFound(f"{argv0}: not executable")
        return argv0
    # Not shutil.which: importing shutil costs more start-up time than this loop.
    path_var = (env if env is not None else os.environ).get("PATH", os.defpath)
    for directory in path_var.split(os.pathsep):
        candidate = os.path.join(directory or ".", argv0)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CommandNotFound(f"{argv0}: command not found")


class TraceSession:
    """Trace one command. ``consumer`` gets batches of messages on the delivery thread."""

    def __init__(self, config: TraceConfig, consumer: Consumer | None = None) -> None:
        self.config = config
        if config.attach_pid is not None:
            config.command = process_command(config.attach_pid)
            config.capture_output = False  # its output goes where it always went
            self.path = ""
        elif not config.command:
            raise ValueError("no command to trace")
        else:
            self.path = resolve_command(config.command[0], config.env)
        self.arch: Arch = get_arch()
        self.control = Control()
        self.control.set_breakpoints(config.break_names, config.break_categories)
        if config.start_paused:
            self.control.pause()
        self._consumer = consumer
        self._outbox: deque[Message] = deque()
        self._wake = Flag()
        self._t0 = time.monotonic()
        # --all with a writer process: generic calls are decoded there (tracer/relay.py).
        self._relay: WriterProcess | None = None
        engine_class = Engine
        if config.writer_process and config.all_syscalls:
            from boxtrace.tracer.relay import RelayEngine

            engine_class = RelayEngine
        self.engine = engine_class(
            self.arch,
            self._outbox.append,
            self.control,
            report_all=config.all_syscalls,
            step_all=config.all_syscalls or config.force_fallback or config.keeps_tracees_alive,
            t0=self._t0,
        )
        self.engine.root_exit_hook = config.on_root_exit
        self.header: TraceHeader | None = None
        self.result: TraceResult | None = None
        self.consumer_error: BaseException | None = None
        self._writer: TraceWriter | None = None
        # Threads of tracer/lean.py, not threading's (which costs ~10 M instructions to import).
        self._tracer_thread: Worker | None = None
        self._readers: list[Worker] = []
        self._started = Flag()
        self._done = Flag()
        self._kill_timer: Timer | None = None
        self._stop_lock = _thread.allocate_lock()
        self._stop_requested = False
        self._spawn_error: BaseException | None = None
        self._switch_interval = sys.getswitchinterval()

    # ---- lifecycle ----

    def start(self) -> None:
        """Fork the command under the tracer and start delivering messages. Returns once it runs."""
        # The tracer thread needs the GIL after every waitpid; when the delivery thread holds it,
        # CPython hands it over only after the switch interval (5 ms by default), per stop.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, TRACING_SWITCH_INTERVAL))
        if self.config.writer_process and self.config.all_syscalls:
            self._start_writer()
        pipes: list[tuple[str, int, int]] = []
        if self.config.capture_output:
            for stream in ("stdout", "stderr"):
                r, w = os.pipe()
                pipes.append((stream, r, w))
        # As a non-daemon thread: an interpreter that leaves first still waits for the tracer thread,
        # which kills every tracee before it ends.
        atexit.register(self._join_tracer)
        self._tracer_thread = Worker(self._trace, (pipes,), name="boxtrace-tracer")
        self._started.wait()
        if self._spawn_error is not None:
            self._tracer_thread.join()
            atexit.unregister(self._join_tracer)
            sys.setswitchinterval(self._switch_interval)
            if self._relay is not None:  # nothing to write: the writer process ends at once
                self._relay.finish()
                self._relay = None
            raise self._spawn_error
        Worker(self._deliver, name="boxtrace-delivery")

    def _join_tracer(self) -> None:
        if self._tracer_thread is not None:
            self._tracer_thread.join()

    def _start_writer(self) -> None:
        """Fork the writer process, before any thread of ours runs (a fork copies only the calling
        thread, and locks other threads held would stay locked in the copy). If it cannot be
        started, this process writes and prints, as without it."""
        if other_threads() > 0:
            return
        from boxtrace.tracer.decoders.generic import load_prototypes
        from boxtrace.tracer.writer_process import WriterProcess

        load_prototypes()
        try:
            self._relay = WriterProcess(self.config.output, self._consumer)
        except OSError:
            self._relay = None

    def wait(self, timeout: float | None = None) -> TraceResult | None:
        """The result once every tracee is gone and every message delivered; None on timeout."""
        if not self._done.wait(timeout):
            return None
        return self.result

    def run(self) -> TraceResult:
        """start() and wait(). Ctrl-C, SIGTERM or SIGHUP stop the trace; a second one forces it.

        The handler only counts the signals; this loop acts on them. Raising KeyboardInterrupt into
        threading's lock code can leave a lock held, and stopping from inside the handler could
        deadlock on a lock the interrupted code holds.
        """
        interrupts = 0

        def on_signal(signum: int, frame: object) -> None:
            nonlocal interrupts
            interrupts += 1

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread: only the main thread may handle signals
                break
        try:
            self.start()
            handled = 0
            while True:
                result = self.wait(0.1)
                if result is not None:
                    return result
                if interrupts > handled:
                    handled = interrupts
                    self.stop(force=handled > 1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- steering (any thread) ----

    def pause(self) -> None:
        self.control.pause()

    def step(self) -> None:
        self.control.step()

    def resume(self) -> None:
        self.control.resume()

    def set_breakpoints(self, names: set[str], categories: set[str]) -> None:
        self.control.set_breakpoints(names, categories)

    @property
    def held(self) -> bool:
        return self.control.held

    def stop(self, force: bool = False) -> None:
        """End the trace: SIGTERM to the root tracee, SIGKILL to all after the grace period.

        ``force`` (a second Ctrl-C) kills every other tracee at once; the root keeps what is left of
        its grace period, so a runtime still removes its cgroup and state instead of leaking them.
        """
        with self._stop_lock:
            first = not self._stop_requested
            self._stop_requested = True
        self.control.request_stop()
        if self.config.keeps_tracees_alive:
            if first:
                self._outbox.append(Notice("detaching: the traced processes go on untraced", "warning"))
                self.engine.request_detach()
            return
        if first:
            self._outbox.append(Notice(f"stopping: SIGTERM sent to {self.engine.root_pid}", "warning"))
            root = self.engine.root_pid
            if root:
                with suppress(ProcessLookupError):
                    os.kill(root, signal.SIGTERM)
            self._kill_timer = Timer(self.config.grace, self.engine.kill_all)
        if force:
            self._outbox.append(
                Notice(
                    f"killing every traced process; {self.engine.root_pid} gets its grace period", "warning"
                )
            )
            self.engine.kill_all_but_root()

    # ---- tracer thread ----

    def _attach(self, pid: int) -> None:
        try:
            self.engine.attach(pid)
        except PtraceError as exc:
            self._spawn_error = AttachError(f"cannot attach to process {pid}: {exc.strerror}")
            self._started.set()
            return
        self.header = make_header(
            self.config.command, "attached", {"attached_pid": pid, MONOTONIC_START: round(self._t0, 6)}
        )
        if self.config.output is not None and self._relay is None:
            self._writer = TraceWriter(self.config.output, self.header)
        self._outbox.append(Started(self.header, pid))
        self._started.set()

    def _trace(self, pipes: list[tuple[str, int, int]]) -> None:
        cfg = self.config
        error: str | None = None
        mode = "all" if cfg.all_syscalls else "filtered"
        if cfg.attach_pid is not None:
            mode = "attached"
            self._attach(cfg.attach_pid)
            if self._spawn_error is not None:
                return
        try:
            if cfg.attach_pid is not None:
                self.engine.loop()
                return
            program = None
            if cfg.release_container:
                self.engine.release_mntns = os.readlink("/proc/self/ns/mnt")
                self.engine.pinned = pin_to_tracer_cpu()
            if not (cfg.all_syscalls or cfg.force_fallback or cfg.release_container):
                program = default_filter(self.arch.audit_arch)
            out_w = next((w for s, _, w in pipes if s == "stdout"), None)
            err_w = next((w for s, _, w in pipes if s == "stderr"), None)
            try:
                spawned = spawn_traced(
                    self.path,
                    cfg.command,
                    cfg.env,
                    program,
                    out_w,
                    err_w,
                    cfg.cwd,
                    ptrace_api.KEEP_ALIVE_OPTIONS if cfg.keeps_tracees_alive else ptrace_api.TRACE_OPTIONS,
                )
            except (SpawnError, OSError) as exc:
                self._spawn_error = exc
                for _, r, _ in pipes:
                    os.close(r)
                return
            finally:
                for _, _, w in pipes:
                    os.close(w)
            for stream, r, _ in pipes:
                self._readers.append(Worker(self._read_stream, (stream, r), name=f"boxtrace-{stream}"))
            extra: dict[str, object] = {}
            if program is not None and not spawned.filtered:
                mode = "fallback"
                self.engine.step_all = True
            elif (cfg.force_fallback or cfg.release_container) and not cfg.all_syscalls:
                mode = "fallback"
            if spawned.no_new_privs:
                extra["no_new_privs"] = True
            # Event times count from _t0; on the machine-wide monotonic clock, traces of one
            # container recorded by separate processes can be merged in order (tracer/merge.py).
            extra[MONOTONIC_START] = round(self._t0, 6)
            self.engine.add_root(spawned.pid)
            self.header = make_header(cfg.command, mode, extra)
            if cfg.output is not None and self._relay is None:
                self._writer = TraceWriter(cfg.output, self.header)
            self._outbox.append(Started(self.header, spawned.pid))
            if mode == "fallback":
                self._outbox.append(
                    Notice(
                        "the seccomp filter could not be installed: stopping on every syscall (slower)"
                        if program is not None
                        else "no seccomp filter: stopping on every syscall",
                        "warning",
                    )
                )
            self._started.set()
            self.engine.loop()
        except BaseException as exc:  # the engine's own bug must not leave tracees behind
            error = f"{type(exc).__name__}: {exc}"
            self._outbox.append(Notice(f"tracer error: {error}; killing every traced process", "error"))
        finally:
            self._started.set()
            if self._spawn_error is None:
                self.engine.control.request_stop()
                if cfg.keeps_tracees_alive:
                    self.engine.detach_all(time.monotonic() + 10)
                else:
                    self.engine.kill_all()
                    self.engine.reap_all(time.monotonic() + 10)
                if self._kill_timer is not None:
                    self._kill_timer.cancel()
                self.result = self.engine.result(mode, error, self._stop_requested)
                self._finish()

    def _finish(self) -> None:
        for t in self._readers:
            t.join(timeout=2)
        assert self.result is not None
        self._outbox.append(Ended(self.result))
        self._wake.set()

    # ---- delivery thread ----

    def _deliver(self) -> None:
        outbox = self._outbox
        popleft = outbox.popleft
        while True:
            self._wake.wait(self.config.poll_interval)
            self._wake.clear()
            batch: list[Message] = []
            while outbox:
                batch.append(popleft())
            if batch:
                self._deliver_batch(batch)
                if type(batch[-1]) is Ended:
                    break
        if self._writer is not None:
            self._writer.close()
        if self._relay is not None:
            problem = self._relay.finish()
            if problem is not None and self.consumer_error is None:
                self.consumer_error = problem
        sys.setswitchinterval(self._switch_interval)
        atexit.unregister(self._join_tracer)  # it has ended: the result is made after its loop
        self._done.set()

    def _deliver_batch(self, batch: list[Message]) -> None:
        relay = self._relay
        if relay is not None:
            from boxtrace.tracer.writer_process import WriterGone

            # The writer process writes and prints; a problem it reports ends the trace as a
            # failing consumer does.
            try:
                relay.send(batch)
            except WriterGone as exc:
                self._writer_problem(exc)
            except Exception as exc:  # a record that cannot be encoded: end the trace, say why
                self._writer_problem(WriterGone(f"cannot hand events to the writer process: {exc!r}"))
            else:
                problem = relay.problems()
                if problem is not None:
                    self._writer_problem(problem)
            return
        if type(self.engine) is not Engine:
            from boxtrace.tracer.relay import materialize

            materialize(batch)  # a relay engine without its writer process
        if self._writer is not None:
            events: list[Event] = [
                m.event for m in batch if type(m) is SyscallFinished or type(m) is ProcessEvent
            ]
            if events:
                self._writer.write_events(events)
        consumer = self._consumer
        if consumer is not None:
            try:
                consumer(batch)
            except BaseException as exc:
                # The consumer is gone (a closed pipe, a crashed UI): end the trace cleanly.
                self.consumer_error = exc
                self._consumer = None
                self.stop()

    def _writer_problem(self, problem: BaseException) -> None:
        if self.consumer_error is None:
            self.consumer_error = problem
            self.stop()

    # ---- output readers ----

    def _read_stream(self, stream: str, fd: int) -> None:
        rest = b""
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                data = rest + data
                lines = data.split(b"\n")
                rest = lines.pop()
                for line in lines:
                    self._output(stream, line + b"\n")
            if rest:
                self._output(stream, rest)
        finally:
            os.close(fd)

    def _output(self, stream: str, raw: bytes) -> None:
        engine = self.engine
        root = engine.tasks.get(engine.root_pid)
        self._outbox.append(
            ProcessEvent(
                OutputEvent(
                    seq=next(engine.seq),
                    time=time.monotonic() - self._t0,
                    pid=engine.root_pid,
                    tid=engine.root_pid,
                    comm=root.comm if root is not None else "",
                    nspid=root.nspid if root is not None else None,
                    stream=stream,
                    text=raw.decode("utf-8", "replace"),
                )
            )
        )


def pin_to_tracer_cpu() -> tuple[int, set[int]] | None:
    """Keep this (the tracer) thread, and the runtime it is about to start, on the cpu it runs on.

    A recorded runtime is stepped through every syscall (no seccomp filter: see
    ``release_container``): ~6,400 stops for a `runc create`, each a round trip between the
    tracee and the tracer. On two cpus each one is a cross-cpu wake-up, which in a VM costs more
    than the stop itself: on one cpu a recorded create took 132 ms instead of 213-233
    (docs/benchmarks.md). The delivery thread and the writer keep the other cpus. The runtime sees
    one cpu while recorded (a Go runtime then runs fewer threads); what is let go (the container's
    process at its exec, the rest at the end) gets the mask back (Engine._unpin). Returns (cpu,
    the mask to give back), None when there is one cpu anyway.
    """
    try:
        mask = os.sched_getaffinity(0)
        if len(mask) < 2:
            return None
        with open("/proc/thread-self/stat", "rb") as handle:
            cpu = int(handle.read().rpartition(b")")[2].split()[36])  # field 39: the last cpu
        if cpu not in mask:
            cpu = min(mask)
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError, IndexError):
        return None
    return cpu, mask
