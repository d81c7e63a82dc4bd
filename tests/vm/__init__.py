"""The pure cgroup v2 VM lane: Debian's stock kernel booted with virtme-ng over this host's own
filesystem, running the tests marked cgroup_v2 (``python -m tests.vm.lane``, docs/testing.md)."""
