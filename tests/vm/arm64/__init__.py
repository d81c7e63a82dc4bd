"""The arm64 lane: Debian's arm64 kernel and an arm64 Debian root filesystem under
qemu-system-aarch64 (software emulation), pure cgroup v2 (``python -m tests.vm.arm64``, docs/testing.md)."""
