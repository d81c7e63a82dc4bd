"""process.terminal with --console-socket: the container's pty, sent to whoever listens on the socket.

This is runc's protocol, which podman's conmon and containerd's shim speak: the runtime connects to
the unix socket given with --console-socket, the container's first process opens a pty from its own
devpts instance (after pivot_root), sends the master fd over the socket with SCM_RIGHTS and makes
the slave its controlling terminal and its stdin, stdout and stderr. The caller then holds the
master and relays the user's terminal.

`exec -t` without --detach has nobody to send the master to: the runtime receives it itself over
a socket pair and relays its own terminal to it (``relay_terminal``), as runc does.

The parent imports this module before clone: the child may not import anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import termios

from boxtrace.runtime.errors import ContainerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def connect(path: str) -> int:
    """A connected stream socket to ``path``; its fd, close-on-exec."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ContainerError(f"cannot connect to --console-socket {path}: {exc.strerror}", 1) from None
    return sock.detach()


def send_pty_master(socket_fd: int) -> None:
    """Open a pty (the container's /dev/ptmx), send its master, take its slave as the terminal.

    When our stdin is a terminal (`exec -t` typed at one), the pty gets its size now: the caller
    only holds the master once the command runs, too late for a command that asks at once."""
    master, slave = os.openpty()
    _copy_window_size(0, slave)
    sock = socket.socket(fileno=socket_fd)
    try:
        # runc sends the pty's name as the message's data; conmon only takes the fd.
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        sock.detach()  # the caller closes socket_fd
        os.close(master)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def receive_pty_master(socket_fd: int) -> int:
    """The master fd sent by ``send_pty_master`` on the other end of ``socket_fd``."""
    sock = socket.socket(fileno=socket_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1024, 1)
    finally:
        sock.detach()
    if not fds:
        raise ContainerError("the process sent no terminal over the console socket", 1)
    return fds[0]


def relay_terminal(socket_fd: int, pid: int) -> None:
    """Receive the pty master and copy stdin to it and it to stdout until the process closes its
    side (read gives EIO) or exits. stdin, when it is a terminal, is put in raw mode meanwhile
    (keys such as Ctrl-C go to the container's terminal, whose line discipline turns them into
    signals there), and its size is copied to the pty, again on each SIGWINCH."""
    master = receive_pty_master(socket_fd)
    stdin, stdout = 0, 1
    saved = _enter_raw_mode(stdin)
    _copy_window_size(stdin, master)
    previous = signal.signal(signal.SIGWINCH, lambda signum, frame: _copy_window_size(stdin, master))
    pidfd = os.pidfd_open(pid)
    try:
        _relay(stdin, stdout, master, pidfd)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        os.close(pidfd)
        os.close(master)


def _relay(stdin: int, stdout: int, master: int, pidfd: int) -> None:
    sources = [master, stdin, pidfd]
    while True:
        ready, _, _ = select.select(sources, [], [])
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every fd of the slave side is closed
                data = b""
            if not data:
                return
            _write_all(stdout, data)
        elif pidfd in ready:
            # The process exited but something it started still holds the terminal: stop here,
            # as runc does when its process ends.
            _drain(master, stdout)
            return
        if stdin in ready:
            data = os.read(stdin, 65536)
            if data:
                _write_all(master, data)
            else:
                sources.remove(stdin)  # stdin ended; the container may still write


def _drain(master: int, stdout: int) -> None:
    while select.select([master], [], [], 0)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        _write_all(stdout, data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _enter_raw_mode(fd: int) -> list[Any] | None:
    if not os.isatty(fd):
        return None
    import tty

    saved: list[Any] = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSADRAIN)
    return saved


def _copy_window_size(source: int, target: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)
