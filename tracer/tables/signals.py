"""Signal numbers (x86_64 and every asm-generic arch; alpha, mips, parisc and sparc differ)."""

from __future__ import annotations

from boxtrace.tracer.tables.xlat import Xlat

SIGNALS = Xlat(
    {
        "SIGHUP": 1,
        "SIGINT": 2,
        "SIGQUIT": 3,
        "SIGILL": 4,
        "SIGTRAP": 5,
        "SIGABRT": 6,
        "SIGBUS": 7,
        "SIGFPE": 8,
        "SIGKILL": 9,
        "SIGUSR1": 10,
        "SIGSEGV": 11,
        "SIGUSR2": 12,
        "SIGPIPE": 13,
        "SIGALRM": 14,
        "SIGTERM": 15,
        "SIGSTKFLT": 16,
        "SIGCHLD": 17,
        "SIGCONT": 18,
        "SIGSTOP": 19,
        "SIGTSTP": 20,
        "SIGTTIN": 21,
        "SIGTTOU": 22,
        "SIGURG": 23,
        "SIGXCPU": 24,
        "SIGXFSZ": 25,
        "SIGVTALRM": 26,
        "SIGPROF": 27,
        "SIGWINCH": 28,
        "SIGIO": 29,
        "SIGPWR": 30,
        "SIGSYS": 31,
    },
    "SIG",
)

# The kernel's first real-time signal; glibc reserves 32 and 33, so its SIGRTMIN is 34.
KERNEL_SIGRTMIN = 32
KERNEL_SIGRTMAX = 64


def signal_name(sig: int) -> str:
    """``SIGCHLD`` for 17; real-time signals as strace prints them (``SIGRT_2`` for 34); 0 as ``0``."""
    name = SIGNALS.by_value.get(sig)
    if name is not None:
        return name
    if KERNEL_SIGRTMIN <= sig <= KERNEL_SIGRTMAX:
        return f"SIGRT_{sig - KERNEL_SIGRTMIN}"
    return str(sig)
