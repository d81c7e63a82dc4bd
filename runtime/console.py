"""process.terminal with --console-socket: the container's pty, sent to whoever listens on the socket.

This is runc's protocol, which podman's conmon and containerd's shim speak: the runtime connects to
the unix socket given with --console-socket, the container's first process opens a pty from its own
devpts instance (after pivot_root), sends the master fd over the socket with SCM_RIGHTS and makes
the slave its controlling terminal and its stdin, stdout and stderr. The caller then holds the
master and relays the user's terminal.

The parent imports this module before clone: the child may not import anything.
"""

from __future__ import annotations

import fcntl
import os
import socket
import termios

from boxtrace.runtime.errors import ContainerError


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
    """Open a pty (the container's /dev/ptmx), send its master, take its slave as the terminal."""
    master, slave = os.openpty()
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
