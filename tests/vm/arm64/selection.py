"""What the arm64 lane runs on a real arm64 kernel: the built-in runtime's containers (isolation,
limits on pure cgroup v2), the tracer's stops decoded against strace as the oracle, the seccomp
profiles compiled for AUDIT_ARCH_AARCH64, and two guided lessons. The one place this list is kept."""

ARM64_LANE: tuple[str, ...] = (
    # the built-in runtime: a container and its isolation; limits read back on cgroup v2
    "tests/runtime/test_container.py::test_default_container_shows_isolation",
    "tests/runtime/test_cgroup_v2.py::test_limits_read_back_inside_the_container",
    "tests/runtime/test_cgroup_v2.py::test_cgroup_namespace_root_and_read_only_cgroup2_mount",
    "tests/runtime/test_container.py::test_pids_limit_stops_fork_storm",
    # the tracer on real arm64 stops: clone's argument order, the *at calls, exit statuses
    "tests/tracer/test_engine.py::test_exit_status_is_the_commands",
    "tests/tracer/test_engine.py::test_unshare_and_private_mount",
    "tests/tracer/test_engine.py::test_clone_with_namespace_flags_is_a_spawn_with_flags_and_new_namespaces",
    "tests/tracer/test_engine.py::test_fallback_mode_reports_what_the_filter_would",
    "tests/tracer/test_openat2_writev_real.py",
    "tests/tracer/test_bpf_real.py::test_the_device_program_load_and_attach_are_decoded",
    "tests/tracer/test_bpf_real.py::test_the_lines_match_strace",
    # strace on arm64 as the oracle
    "tests/tracer/test_differential.py::test_unshare_all_namespaces",
    "tests/tracer/test_differential.py::test_runc_run_busybox",
    "tests/tracer/test_differential.py::test_crun_run_busybox",
    # seccomp profiles compiled for arm64 and loaded by the kernel
    "tests/runtime/test_seccomp_run.py",
    # two guided lessons, as a student runs them
    "tests/lessons/test_guided_run.py::test_lessons_run_cli_prints_checks_and_exit_status",  # pid-namespace
    "tests/lessons/test_guided_run.py::test_lesson_checks_pass[cgroup-limits]",
    # --without: arm64's pivot_root and chroot escape, mknodat and the device program, the marker
    # (prctl PR_SET_NAME) where the tracer shows it
    "tests/cli/test_without.py::test_probe_shows_the_claim_only_without_the_step[pivot_root]",
    "tests/cli/test_without.py::test_probe_shows_the_claim_only_without_the_step[detach]",
    "tests/cli/test_without.py::test_probe_shows_the_claim_only_without_the_step[devices]",
    "tests/cli/test_without.py::test_traced_run_marks_the_step_where_it_would_have_been",
)
