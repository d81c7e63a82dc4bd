"""Kernel constants as data, one module per family (values from the uapi headers).

clone (CLONE_*), mount (MS_*, umount2), fsmount (new mount API), fcntl (O_*, AT_*), stat (S_IF*,
dev_t), prctl (PR_*), capability (CAP_*), securebits, seccomp, signals, errnos; xlat renders them
strace-style and default_set is the trap policy the seccomp filter is built from.
"""
