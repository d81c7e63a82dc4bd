"""config.json validation: every error names the field (and the line) and nothing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.spec import default_spec, load_bundle_spec, namespace_flags


def write_bundle(tmp_path: Path, config: dict[str, Any] | str) -> Path:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    text = config if isinstance(config, str) else json.dumps(config, indent=2)
    (tmp_path / "config.json").write_text(text)
    return tmp_path


def minimal(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "process": {"args": ["/bin/sh"], "cwd": "/", "env": ["PATH=/bin"]},
        "linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]},
    }
    config.update(changes)
    return config


def error_of(tmp_path: Path, config: dict[str, Any] | str) -> str:
    with pytest.raises(RuntimeUsageError) as info:
        load_bundle_spec(str(write_bundle(tmp_path, config)))
    return str(info.value)


def test_minimal_bundle_loads(tmp_path: Path) -> None:
    spec = load_bundle_spec(str(write_bundle(tmp_path, minimal())))
    assert spec.root_path == str(tmp_path / "rootfs")
    assert spec.process.args == ["/bin/sh"]
    assert namespace_flags(spec) == 0x00020000 | 0x20000000
    assert spec.warnings == []


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '{\n  "ociVersion": "1.0.2",\n  "root": {"path": "rootfs",}\n}')
    assert "line 3" in message and "malformed JSON" in message


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["cwd"] = 7
    message = error_of(tmp_path, config)
    assert "process.cwd" in message and "must be a string" in message
    line = json.dumps(config, indent=2).splitlines().index('    "cwd": 7,') + 1
    assert f"line {line}:" in message


def test_relative_cwd_is_refused(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["cwd"] = "tmp"
    assert "process.cwd: must be an absolute path" in error_of(tmp_path, config)


def test_empty_args_are_refused(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["args"] = []
    assert "process.args" in error_of(tmp_path, config)


def test_unknown_namespace_type(tmp_path: Path) -> None:
    config = minimal(linux={"namespaces": [{"type": "mount"}, {"type": "pidd"}]})
    message = error_of(tmp_path, config)
    assert "unknown namespace type 'pidd'" in message and "linux.namespaces" in message


def test_duplicate_namespaces(tmp_path: Path) -> None:
    config = minimal(linux={"namespaces": [{"type": "mount"}, {"type": "mount"}]})
    assert "listed twice" in error_of(tmp_path, config)


def test_missing_rootfs(tmp_path: Path) -> None:
    config = minimal(root={"path": "nowhere"})
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeUsageError, match=r"rootfs not found: .*nowhere"):
        load_bundle_spec(str(tmp_path))


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUsageError, match=r"cannot read .*config\.json"):
        load_bundle_spec(str(tmp_path))


def test_unknown_capability(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["capabilities"] = {"bounding": ["CAP_FLY"]}
    assert "unknown capability 'CAP_FLY'" in error_of(tmp_path, config)


def test_rlimit_soft_above_hard(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]
    assert "soft limit 10 is above hard limit 5" in error_of(tmp_path, config)


def test_env_without_equals(tmp_path: Path) -> None:
    config = minimal()
    config["process"]["env"] = ["PATH"]
    assert "NAME=VALUE" in error_of(tmp_path, config)


def test_missing_required_field(tmp_path: Path) -> None:
    config = minimal()
    del config["ociVersion"]
    assert "missing required field 'ociVersion'" in error_of(tmp_path, config)


def test_oom_score_adj_is_read_and_checked(tmp_path: Path) -> None:
    # Docker sets it on every container (0 by default): read without a warning, in the kernel's range.
    config = minimal()
    config["process"]["oomScoreAdj"] = 0
    spec = load_bundle_spec(str(write_bundle(tmp_path, config)))
    assert (spec.process.oom_score_adj, spec.warnings) == (0, [])
    assert load_bundle_spec(str(write_bundle(tmp_path, minimal()))).process.oom_score_adj is None
    for bad, words in ((1001, "between -1000 and 1000, got 1001"), (True, "must be a number, got true")):
        config["process"]["oomScoreAdj"] = bad
        message = error_of(tmp_path, config)
        assert "process.oomScoreAdj" in message and words in message and "\n" not in message


def test_unsupported_fields_warn(tmp_path: Path) -> None:
    config = minimal()
    config["linux"]["intelRdt"] = {"closID": "x"}
    config["hooks"] = {"createContainer": [{"path": "/bin/true"}]}
    spec = load_bundle_spec(str(write_bundle(tmp_path, config)))
    assert any("linux.intelRdt is not supported" in w for w in spec.warnings)
    assert any("hooks.createContainer is not supported" in w for w in spec.warnings)


def test_resources_read(tmp_path: Path) -> None:
    config = minimal()
    config["linux"]["resources"] = {
        "memory": {"limit": 67108864},
        "pids": {"limit": 32},
        "cpu": {"quota": 50000, "period": 100000, "shares": 512},
        "devices": [{"allow": False, "access": "rwm"}],
    }
    spec = load_bundle_spec(str(write_bundle(tmp_path, config)))
    assert spec.resources.memory_limit == 67108864
    assert spec.resources.pids_limit == 32
    assert (spec.resources.cpu_quota, spec.resources.cpu_period, spec.resources.cpu_shares) == (
        50000,
        100000,
        512,
    )
    assert spec.resources.devices[0].allow is False


def test_default_spec_is_dockers_security(tmp_path: Path) -> None:
    spec = default_spec(str(tmp_path))
    from boxtrace.runtime.security import cap_mask

    assert cap_mask(spec.process.capabilities.effective) == 0xA80425FB
    assert "/proc/kcore" in spec.masked_paths and "/proc/sys" in spec.readonly_paths
    assert [m.destination for m in spec.mounts][:2] == ["/proc", "/dev"]


# --- linux.seccomp ------------------------------------------------------------------------------


def with_seccomp(seccomp: dict[str, Any]) -> dict[str, Any]:
    config = minimal()
    config["linux"]["seccomp"] = seccomp
    return config


def test_seccomp_is_read_without_a_warning(tmp_path: Path) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    spec = load_bundle_spec(str(write_bundle(tmp_path, with_seccomp(seccomp))))
    assert spec.warnings == []
    assert spec.seccomp is not None
    assert spec.seccomp.default_errno_ret == 38
    assert spec.seccomp.rules[1].args[0].value == 0xFFFF_FFFF
    assert spec.seccomp.rules[1].args[0].value_two == 0


@pytest.mark.parametrize(
    ("seccomp", "words"),
    [
        ({}, "linux.seccomp: missing required field 'defaultAction'"),
        ({"defaultAction": "SCMP_ACT_MAYBE"}, "linux.seccomp: unknown value 'SCMP_ACT_MAYBE'"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}, "unknown value"),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
            "unknown value 'SCMP_ARCH_Z80'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_LOG"}]},
            "at least one",
        ),
        ({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": -1}, "must be a number from 0 to 65535"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["mkdir"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "index must be 0-5",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["mkdir"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}],
                    }
                ],
            },
            "unknown value 'SCMP_CMP_ABOUT'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["mkdir"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}],
                    }
                ],
            },
            "must be a number from 0 to 18446744073709551615",
        ),
    ],
)
def test_bad_seccomp_gives_one_line_naming_the_field(
    tmp_path: Path, seccomp: dict[str, Any], words: str
) -> None:
    message = error_of(tmp_path, with_seccomp(seccomp))
    assert words in message
    assert "\n" not in message
