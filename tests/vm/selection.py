"""What the lane runs besides the tests marked cgroup_v2: tests that run natively too (they check
both cgroup versions) and are worth running again on a pure v2 host with Debian's kernel. The one
place this list is kept; tests/vm/plugin.py marks them cgroup_v2 inside the guest only."""

ALSO_IN_LANE: tuple[str, ...] = (
    # the built-in runtime's limits and its cgroup namespace
    "tests/runtime/test_container.py::test_pids_limit_stops_fork_storm",
    "tests/runtime/test_container.py::test_memory_limit_ends_hog_with_137",
    "tests/runtime/test_container.py::test_cpu_limit_is_written",
    "tests/runtime/test_container.py::test_in_its_cgroup_before_exec",
    # boxtrace-runtime's OCI CLI: pause/resume through cgroup.freeze, update of the v2 files
    "tests/runtime/test_oci_exec.py::test_pause_freezes_every_process_and_resume_thaws_them",
    "tests/runtime/test_oci_exec.py::test_update_changes_the_limits_in_the_cgroup",
    # rootless with no delegated cgroup: runs without limits and says so
    "tests/runtime/test_rootless.py::test_rootless_container_starts",
    # strace as the oracle on another kernel
    "tests/tracer/test_differential.py::test_unshare_all_namespaces",
    "tests/tracer/test_differential.py::test_runc_run_busybox",
    # every event of the built-in runtime's v2 path explained
    "tests/lessons/test_coverage_real.py::test_builtin_runtime_trace",
    # the isolation probe, and every guided lesson's checks on a pure v2 host
    "tests/runtime/test_container.py::test_default_container_shows_isolation",
    "tests/lessons/test_guided_run.py::test_lesson_checks_pass",
    # --without: the limits and device rules left out on pure v2 (no pids.max, no eBPF device
    # program), each against a normal container; idmap's EACCES on Debian's kernel
    "tests/cli/test_without.py::test_probe_shows_the_claim_only_without_the_step[cgroup]",
    "tests/cli/test_without.py::test_probe_shows_the_claim_only_without_the_step[devices]",
    "tests/cli/test_without.py::test_idmap_left_out_stops_the_start_and_the_runtime_checks_the_claim",
)


def selected(nodeid: str) -> bool:
    """A listed node id, or one of its parametrized cases."""
    return any(nodeid == entry or nodeid.startswith(entry + "[") for entry in ALSO_IN_LANE)
