"""The container spec: an OCI runtime-spec config.json, validated, or the default image's spec.

Only the fields boxtrace implements are read (REFERENCE.md §5); any other field gets a warning so a
bundle is never run silently differently from what it asks. Errors name the field and, where it can
be found, the line of config.json.
"""

from __future__ import annotations

import os
import resource

from boxtrace.runtime import quick_json
from boxtrace.runtime.constants import (
    CAPABILITIES,
    DOCKER_DEFAULT_CAPABILITIES,
    DOCKER_MASKED_PATHS,
    DOCKER_READONLY_PATHS,
    NAMESPACE_FLAGS,
    OOM_SCORE_ADJ_MAX,
    OOM_SCORE_ADJ_MIN,
)
from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.records import field, record
from boxtrace.runtime.seccomp_tables import ACTIONS, ARCHITECTURES, FLAGS, MAX_ARGUMENTS, OPERATORS

TYPE_CHECKING = False
if TYPE_CHECKING:
    import json
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The default container's command: a short look around that shows the isolation.
DEFAULT_COMMAND: list[str] = [
    "/bin/sh",
    "-c",
    'echo "Hello from a boxtrace container."\n'
    'echo "I am PID $$ in my own PID namespace; my hostname is $(hostname)."\n'
    'echo "Processes I can see:"; ps -o pid,user,comm\n'
    'echo "My mounts:"; cut -d" " -f1-3 /proc/self/mounts\n',
]


@record
class User:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    umask: int | None = None


@record
class Capabilities:
    bounding: list[str] = field(default_factory=list)
    effective: list[str] = field(default_factory=list)
    permitted: list[str] = field(default_factory=list)
    inheritable: list[str] = field(default_factory=list)
    ambient: list[str] = field(default_factory=list)


@record
class Rlimit:
    type: str
    soft: int
    hard: int


@record
class Process:
    args: list[str]
    env: list[str]
    cwd: str = "/"
    user: User = field(default_factory=User)
    capabilities: Capabilities = field(default_factory=Capabilities)
    no_new_privileges: bool = False
    rlimits: list[Rlimit] = field(default_factory=list)
    terminal: bool = False
    oom_score_adj: int | None = None  # process.oomScoreAdj: None leaves the runtime's own


@record
class Mount:
    destination: str
    type: str
    source: str
    options: list[str] = field(default_factory=list)


@record
class Namespace:
    type: str
    path: str | None = None


@record
class IdMapping:
    container_id: int
    host_id: int
    size: int


@record
class DeviceRule:
    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"


@record
class Hook:
    """An OCI hook: a host program the runtime runs at a point of the container's life."""

    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int | None = None


# The hook points boxtrace runs, and when (runtime-spec config.md "POSIX-platform Hooks"). The others
# (createContainer, startContainer run inside the container) get a warning.
HOOK_POINTS = ("prestart", "createRuntime", "poststart", "poststop")


@record
class Resources:
    memory_limit: int | None = None
    pids_limit: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_shares: int | None = None
    devices: list[DeviceRule] = field(default_factory=list)


@record
class SeccompArg:
    """One condition of a seccomp rule: args[index] compared with value (and valueTwo)."""

    index: int
    value: int
    value_two: int
    op: str


@record
class SeccompRule:
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[SeccompArg] = field(default_factory=list)


@record
class Seccomp:
    """linux.seccomp, checked; runtime/seccomp_profile.py compiles it."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    rules: list[SeccompRule] = field(default_factory=list)
    listener_path: str | None = None


@record
class Spec:
    root_path: str
    process: Process
    root_readonly: bool = False
    hostname: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    namespaces: list[Namespace] = field(default_factory=list)
    uid_mappings: list[IdMapping] = field(default_factory=list)
    gid_mappings: list[IdMapping] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    rootfs_propagation: str = "rprivate"
    # linux.cgroupsPath: where the container's cgroup goes (podman and Docker name it); None: boxtrace-ID.
    cgroups_path: str | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    hooks: dict[str, list[Hook]] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    seccomp: Seccomp | None = None
    oci_version: str = "1.0.2"
    warnings: list[str] = field(default_factory=list)

    def has_namespace(self, kind: str) -> bool:
        return any(ns.type == kind for ns in self.namespaces)

    def env_value(self, name: str) -> str | None:
        for item in self.process.env:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None


def default_mounts() -> list[Mount]:
    """The mounts `runc spec` writes, in its order."""
    return [
        Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        Mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]


def default_spec(rootfs: str) -> Spec:
    """The spec of the embedded default image: runc's defaults with Docker's security settings."""
    caps = list(DOCKER_DEFAULT_CAPABILITIES)
    return Spec(
        root_path=rootfs,
        process=Process(
            args=list(DEFAULT_COMMAND),
            env=[f"PATH={DEFAULT_PATH}", "TERM=xterm", "HOME=/root"],
            cwd="/",
            capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
            no_new_privileges=True,
            rlimits=[Rlimit("RLIMIT_NOFILE", 1024, 1024)],
        ),
        hostname="boxtrace",
        mounts=default_mounts(),
        namespaces=[Namespace(t) for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        # Deny every device; the runtime adds the ones it creates (cgroups.DEFAULT_ALLOWED_DEVICES).
        # Without it root in the container (CAP_MKNOD) could mknod the host's disk and read it.
        resources=Resources(devices=[DeviceRule(allow=False)]),
        masked_paths=list(DOCKER_MASKED_PATHS),
        readonly_paths=list(DOCKER_READONLY_PATHS),
    )


# --- config.json -------------------------------------------------------------------------------

# Fields read, by dotted path; anything else in config.json gets a "not supported" warning.
_KNOWN_FIELDS = {
    "ociVersion",
    "process",
    "process.terminal",
    "process.user",
    "process.user.uid",
    "process.user.gid",
    "process.user.additionalGids",
    "process.user.umask",
    "process.args",
    "process.env",
    "process.cwd",
    "process.capabilities",
    "process.capabilities.bounding",
    "process.capabilities.effective",
    "process.capabilities.permitted",
    "process.capabilities.inheritable",
    "process.capabilities.ambient",
    "process.rlimits",
    "process.noNewPrivileges",
    "process.oomScoreAdj",
    "root",
    "root.path",
    "root.readonly",
    "hostname",
    "mounts",
    "linux",
    "linux.namespaces",
    "linux.uidMappings",
    "linux.gidMappings",
    "linux.resources",
    "linux.resources.memory",
    "linux.resources.memory.limit",
    "linux.resources.pids",
    "linux.resources.pids.limit",
    "linux.resources.cpu",
    "linux.resources.cpu.quota",
    "linux.resources.cpu.period",
    "linux.resources.cpu.shares",
    "linux.resources.devices",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.rootfsPropagation",
    "linux.cgroupsPath",
    "linux.sysctl",
    "linux.seccomp",
    "linux.seccomp.defaultAction",
    "linux.seccomp.defaultErrnoRet",
    "linux.seccomp.architectures",
    "linux.seccomp.flags",
    "linux.seccomp.syscalls",
    "linux.seccomp.listenerPath",
    "annotations",
    "hooks",
    *(f"hooks.{point}" for point in HOOK_POINTS),
}
_PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}


class _Reader:
    """Walks parsed config.json, checking types and naming the field (and line) of every problem."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.warnings: list[str] = []

    def fail(self, path: str, message: str) -> RuntimeUsageError:
        line = _line_of(self.text, path)
        where = f"{self.source}, line {line}" if line else self.source
        return RuntimeUsageError(f"{where}: {path}: {message}")

    def get(self, obj: dict[str, Any], path: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        key = path.rsplit(".", 1)[-1]
        if key not in obj:
            return default
        value = obj[key]
        if kind is int and isinstance(value, bool):
            raise self.fail(path, f"must be a number, got {quick_json.dumps(value)}")
        if not isinstance(value, kind):
            raise self.fail(path, f"must be {_kind_name(kind)}, got {quick_json.dumps(value)}")
        return value

    def required(self, obj: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
        key = path.rsplit(".", 1)[-1]
        if key not in obj:
            raise self.fail(
                path.rsplit(".", 1)[0] if "." in path else path, f"missing required field '{key}'"
            )
        return self.get(obj, path, kind)

    def string_list(self, obj: dict[str, Any], path: str) -> list[str]:
        values = self.get(obj, path, list, [])
        for i, item in enumerate(values):
            if not isinstance(item, str):
                raise self.fail(path, f"item {i} must be a string, got {quick_json.dumps(item)}")
        return list(values)

    def warn_unknown(self, obj: dict[str, Any], prefix: str) -> None:
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            if path not in _KNOWN_FIELDS:
                self.warnings.append(f"{self.source}: {path} is not supported by boxtrace yet: ignored")
            elif isinstance(value, dict) and path not in ("annotations", "linux.sysctl"):
                self.warn_unknown(value, path)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a number", bool: "true or false", list: "a list", dict: "an object"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _decode_error(exc: ValueError) -> json.JSONDecodeError:
    """quick_json.loads's error: json's, which says where (anything else goes on up)."""
    import json

    if not isinstance(exc, json.JSONDecodeError):
        raise exc
    return exc


def _line_of(text: str, path: str) -> int | None:
    """Best-effort line number of a dotted field path in the JSON text (keys searched in order)."""
    import re  # only for an error message: re costs every start ~5 M instructions

    pos = 0
    found = None
    for part in path.split("."):
        key = part.split("[", 1)[0]
        match = re.compile(r'"' + re.escape(key) + r'"\s*:').search(text, pos)
        if match is None:
            break
        pos = match.end()
        found = match.start()
    return None if found is None else text.count("\n", 0, found) + 1


def load_bundle_spec(bundle: str) -> Spec:
    """Read and validate BUNDLE/config.json; root.path is resolved against the bundle."""
    config_path = os.path.join(bundle, "config.json")
    try:
        with open(config_path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise RuntimeUsageError(f"cannot read {config_path}: {exc.strerror}") from None
    try:
        data = quick_json.loads(text)
    except ValueError as exc:
        exc = _decode_error(exc)
        raise RuntimeUsageError(
            f"{config_path}, line {exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except RecursionError:  # json recurses once per nested list or object
        raise RuntimeUsageError(f"{config_path}: malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise RuntimeUsageError(f"{config_path}: must hold a JSON object")
    spec = spec_from_json(data, text, config_path)
    if not os.path.isabs(spec.root_path):
        spec.root_path = os.path.normpath(os.path.join(os.path.abspath(bundle), spec.root_path))
    if not os.path.isdir(spec.root_path):
        raise RuntimeUsageError(
            f"rootfs not found: {spec.root_path} (root.path in {config_path}); create it or fix root.path"
        )
    return spec


def spec_from_json(data: dict[str, Any], text: str, source: str) -> Spec:
    r = _Reader(text, source)
    r.required(data, "ociVersion", str)
    root = r.required(data, "root", dict)
    process = r.required(data, "process", dict)
    linux = r.get(data, "linux", dict, {})
    resources = r.get(linux, "linux.resources", dict, {})
    spec = Spec(
        root_path=r.required(root, "root.path", str),
        root_readonly=r.get(root, "root.readonly", bool, False),
        process=_read_process(r, process),
        hostname=r.get(data, "hostname", str),
        mounts=_read_mounts(r, r.get(data, "mounts", list, [])),
        namespaces=_read_namespaces(r, r.get(linux, "linux.namespaces", list, [])),
        uid_mappings=_read_mappings(r, r.get(linux, "linux.uidMappings", list, []), "linux.uidMappings"),
        gid_mappings=_read_mappings(r, r.get(linux, "linux.gidMappings", list, []), "linux.gidMappings"),
        resources=_read_resources(r, resources),
        masked_paths=_absolute_paths(r, linux, "linux.maskedPaths"),
        readonly_paths=_absolute_paths(r, linux, "linux.readonlyPaths"),
        rootfs_propagation=r.get(linux, "linux.rootfsPropagation", str, "rprivate"),
        cgroups_path=r.get(linux, "linux.cgroupsPath", str) or None,
        sysctl=_read_sysctl(r, r.get(linux, "linux.sysctl", dict, {})),
        hooks=_read_hooks(r, r.get(data, "hooks", dict, {})),
        annotations=_read_annotations(r, r.get(data, "annotations", dict, {})),
        seccomp=_read_seccomp(r, r.get(linux, "linux.seccomp", dict)),
        oci_version=data["ociVersion"],
    )
    if spec.rootfs_propagation not in _PROPAGATIONS:
        raise r.fail("linux.rootfsPropagation", f"unknown propagation {spec.rootfs_propagation!r}")
    r.warn_unknown(data, "")
    spec.warnings = r.warnings
    return spec


def process_from_json(data: dict[str, Any], text: str, source: str) -> tuple[Process, list[str]]:
    """An OCI process object on its own, as `exec --process FILE` gets it from podman and
    containerd: the same checks as config.json's "process", and the same warnings for fields
    boxtrace does not apply (named process.FIELD, as in config.json)."""
    r = _Reader(text, source)
    process = _read_process(r, data)
    r.warn_unknown({"process": data}, "")
    return process, r.warnings


def read_seccomp_file(path: str, option: str = "--seccomp") -> Seccomp:
    """A seccomp profile on its own (`run --seccomp FILE`): the JSON of an OCI linux.seccomp object,
    with the same checks as in config.json."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise RuntimeUsageError(f"{option} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RuntimeUsageError(f"{option} {path}: not a text file (a JSON seccomp profile)") from None
    try:
        data = quick_json.loads(text)
    except ValueError as exc:
        exc = _decode_error(exc)
        raise RuntimeUsageError(
            f"{option} {path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise RuntimeUsageError(f"{option} {path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise RuntimeUsageError(f"{option} {path}: must hold a JSON object (an OCI linux.seccomp profile)")
    seccomp = _read_seccomp(_Reader(text, path), data)
    assert seccomp is not None
    return seccomp


def _read_process(r: _Reader, process: dict[str, Any]) -> Process:
    args = r.string_list(process, "process.args")
    if not args:
        raise r.fail("process.args", "must name the command to run (at least one item)")
    cwd = r.required(process, "process.cwd", str)
    if not os.path.isabs(cwd):
        raise r.fail("process.cwd", f"must be an absolute path, got {cwd!r}")
    env = r.string_list(process, "process.env")
    for item in env:
        if "=" not in item:
            raise r.fail("process.env", f"entry {item!r} must have the form NAME=VALUE")
    user_obj = r.get(process, "process.user", dict, {})
    user = User(
        uid=_non_negative(r, user_obj, "process.user.uid"),
        gid=_non_negative(r, user_obj, "process.user.gid"),
        additional_gids=[int(g) for g in r.get(user_obj, "process.user.additionalGids", list, [])],
        umask=r.get(user_obj, "process.user.umask", int),
    )
    caps_obj = r.get(process, "process.capabilities", dict, {})
    sets = {}
    for name in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        values = r.string_list(caps_obj, f"process.capabilities.{name}")
        for cap in values:
            if cap not in CAPABILITIES:
                raise r.fail(f"process.capabilities.{name}", f"unknown capability {cap!r}")
        sets[name] = values
    rlimits = []
    for i, item in enumerate(r.get(process, "process.rlimits", list, [])):
        path = f"process.rlimits[{i}]"
        if not isinstance(item, dict):
            raise r.fail("process.rlimits", f"item {i} must be an object")
        kind = r.required(item, "process.rlimits.type", str)
        if not hasattr(resource, kind) or not kind.startswith("RLIMIT_"):
            raise r.fail(path, f"unknown rlimit type {kind!r}")
        soft = r.required(item, "process.rlimits.soft", int)
        hard = r.required(item, "process.rlimits.hard", int)
        if soft > hard:
            raise r.fail(path, f"soft limit {soft} is above hard limit {hard} for {kind}")
        rlimits.append(Rlimit(kind, soft, hard))
    oom_score_adj = r.get(process, "process.oomScoreAdj", int)
    if oom_score_adj is not None and not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
        raise r.fail(
            "process.oomScoreAdj",
            f"must be between {OOM_SCORE_ADJ_MIN} and {OOM_SCORE_ADJ_MAX}, got {oom_score_adj}",
        )
    return Process(
        args=args,
        env=env,
        cwd=cwd,
        user=user,
        capabilities=Capabilities(**sets),
        no_new_privileges=r.get(process, "process.noNewPrivileges", bool, False),
        rlimits=rlimits,
        terminal=r.get(process, "process.terminal", bool, False),
        oom_score_adj=oom_score_adj,
    )


def _read_hooks(r: _Reader, hooks: dict[str, Any]) -> dict[str, list[Hook]]:
    read: dict[str, list[Hook]] = {}
    for point in HOOK_POINTS:
        for i, item in enumerate(r.get(hooks, f"hooks.{point}", list, [])):
            if not isinstance(item, dict):
                raise r.fail(f"hooks.{point}", f"item {i} must be an object")
            path = r.required(item, f"hooks.{point}.path", str)
            if not os.path.isabs(path):
                raise r.fail(f"hooks.{point}", f"item {i}: path must be absolute, got {path!r}")
            read.setdefault(point, []).append(
                Hook(
                    path=path,
                    args=r.string_list(item, f"hooks.{point}.args"),
                    env=r.string_list(item, f"hooks.{point}.env"),
                    timeout=r.get(item, f"hooks.{point}.timeout", int),
                )
            )
    return read


def _read_seccomp(r: _Reader, seccomp: dict[str, Any] | None) -> Seccomp | None:
    if seccomp is None:
        return None
    prefix = "linux.seccomp"
    default_action = _seccomp_name(r, r.required(seccomp, f"{prefix}.defaultAction", str), ACTIONS, prefix)
    architectures = r.string_list(seccomp, f"{prefix}.architectures")
    flags = r.string_list(seccomp, f"{prefix}.flags")
    for arch in architectures:
        _seccomp_name(r, arch, ARCHITECTURES, f"{prefix}.architectures")
    for flag in flags:
        _seccomp_name(r, flag, FLAGS, f"{prefix}.flags")
    rules = []
    for i, item in enumerate(r.get(seccomp, f"{prefix}.syscalls", list, [])):
        path = f"{prefix}.syscalls"
        if not isinstance(item, dict):
            raise r.fail(path, f"item {i} must be an object")
        names = r.string_list(item, f"{path}.names")
        if not names:
            raise r.fail(path, f"item {i}: names must list at least one syscall")
        rules.append(
            SeccompRule(
                names=names,
                action=_seccomp_name(r, r.required(item, f"{path}.action", str), ACTIONS, f"{path}[{i}]"),
                errno_ret=_uint(r, item, f"{path}.errnoRet", 0xFFFF),
                args=[
                    _read_seccomp_arg(r, arg, f"{path}[{i}].args")
                    for arg in r.get(item, f"{path}.args", list, [])
                ],
            )
        )
    return Seccomp(
        default_action=default_action,
        default_errno_ret=_uint(r, seccomp, f"{prefix}.defaultErrnoRet", 0xFFFF),
        architectures=architectures,
        flags=flags,
        rules=rules,
        listener_path=r.get(seccomp, f"{prefix}.listenerPath", str) or None,
    )


def _read_seccomp_arg(r: _Reader, arg: Any, path: str) -> SeccompArg:
    if not isinstance(arg, dict):
        raise r.fail(path, f"each condition must be an object, got {quick_json.dumps(arg)}")
    index = r.required(arg, f"{path}.index", int)
    if not 0 <= index < MAX_ARGUMENTS:
        raise r.fail(path, f"index must be 0-{MAX_ARGUMENTS - 1} (a syscall has six arguments), got {index}")
    value = _uint(r, arg, f"{path}.value", 2**64 - 1)
    if value is None:
        raise r.fail(path, "missing required field 'value'")
    return SeccompArg(
        index=index,
        value=value,
        value_two=_uint(r, arg, f"{path}.valueTwo", 2**64 - 1) or 0,
        op=_seccomp_name(r, r.required(arg, f"{path}.op", str), OPERATORS, path),
    )


def _seccomp_name(r: _Reader, name: str, known: Any, path: str) -> str:
    if name not in known:
        raise r.fail(path, f"unknown value {name!r} (known: {', '.join(sorted(known))})")
    return name


def _uint(r: _Reader, obj: dict[str, Any], path: str, maximum: int) -> int | None:
    value: int | None = r.get(obj, path, int)
    if value is not None and not 0 <= value <= maximum:
        raise r.fail(path, f"must be a number from 0 to {maximum}, got {value}")
    return value


def _read_sysctl(r: _Reader, sysctl: dict[str, Any]) -> dict[str, str]:
    for key, value in sysctl.items():
        if not isinstance(value, str):
            raise r.fail("linux.sysctl", f"{key!r} must be a string, got {quick_json.dumps(value)}")
        import re  # only for a spec with sysctls

        if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", key) or ".." in key:
            raise r.fail("linux.sysctl", f"{key!r} is not a sysctl name like net.ipv4.ip_forward")
    return dict(sysctl)


def _read_annotations(r: _Reader, annotations: dict[str, Any]) -> dict[str, str]:
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise r.fail("annotations", f"{key!r} must be a string, got {quick_json.dumps(value)}")
    return dict(annotations)


def _non_negative(r: _Reader, obj: dict[str, Any], path: str) -> int:
    value: int = r.get(obj, path, int, 0)
    if value < 0:
        raise r.fail(path, f"must not be negative, got {value}")
    return value


def _read_mounts(r: _Reader, items: list[Any]) -> list[Mount]:
    mounts = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise r.fail("mounts", f"item {i} must be an object")
        dest = r.required(item, "mounts.destination", str)
        if not os.path.isabs(dest):
            raise r.fail("mounts", f"item {i}: destination must be an absolute path, got {dest!r}")
        options = r.string_list(item, "mounts.options")
        kind = r.get(item, "mounts.type", str, "")
        if not kind and "bind" not in options and "rbind" not in options:
            raise r.fail("mounts", f"item {i} ({dest}): needs a type, or a bind/rbind option")
        mounts.append(Mount(dest, kind or "bind", r.get(item, "mounts.source", str, kind or ""), options))
    return mounts


def _read_namespaces(r: _Reader, items: list[Any]) -> list[Namespace]:
    seen: set[str] = set()
    namespaces = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise r.fail("linux.namespaces", f"item {i} must be an object")
        kind = r.required(item, "linux.namespaces.type", str)
        if kind not in NAMESPACE_FLAGS:
            known = ", ".join(sorted(NAMESPACE_FLAGS))
            raise r.fail("linux.namespaces", f"unknown namespace type {kind!r} (known: {known})")
        if kind in seen:
            raise r.fail("linux.namespaces", f"namespace type {kind!r} is listed twice")
        seen.add(kind)
        path = r.get(item, "linux.namespaces.path", str)
        if path is not None and not os.path.exists(path):
            raise r.fail("linux.namespaces", f"{kind} namespace path {path} does not exist")
        namespaces.append(Namespace(kind, path))
    return namespaces


def _read_mappings(r: _Reader, items: list[Any], path: str) -> list[IdMapping]:
    mappings = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise r.fail(path, f"item {i} must be an object")
        values = []
        for key in ("containerID", "hostID", "size"):
            value = item.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise r.fail(path, f"item {i}: {key} must be a non-negative number")
            values.append(value)
        mappings.append(IdMapping(*values))
    return mappings


def _read_resources(r: _Reader, resources: dict[str, Any]) -> Resources:
    memory = r.get(resources, "linux.resources.memory", dict, {})
    pids = r.get(resources, "linux.resources.pids", dict, {})
    cpu = r.get(resources, "linux.resources.cpu", dict, {})
    devices = []
    for i, item in enumerate(r.get(resources, "linux.resources.devices", list, [])):
        try:
            devices.append(device_rule_from_json(item))
        except ValueError as exc:
            raise r.fail("linux.resources.devices", f"item {i}: {exc}") from None
    return Resources(
        memory_limit=r.get(memory, "linux.resources.memory.limit", int),
        pids_limit=r.get(pids, "linux.resources.pids.limit", int),
        cpu_quota=r.get(cpu, "linux.resources.cpu.quota", int),
        cpu_period=r.get(cpu, "linux.resources.cpu.period", int),
        cpu_shares=r.get(cpu, "linux.resources.cpu.shares", int),
        devices=devices,
    )


# A major or minor beyond this cannot be compared in an eBPF instruction's signed 32-bit immediate;
# Linux's own numbers stop far below it (12-bit majors, 20-bit minors).
_DEVICE_NUMBER_MAX = 0x7FFFFFFF


def device_rule_from_json(item: object) -> DeviceRule:
    """One linux.resources.devices entry (also `update --resources`); ValueError says what is wrong."""
    if not isinstance(item, dict) or not isinstance(item.get("allow"), bool):
        raise ValueError("needs 'allow': true or false")
    kind = item.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise ValueError(f"type must be 'a' (all), 'b' (block) or 'c' (char), got {kind!r}")
    access = item.get("access")
    access = "rwm" if access is None else access
    if not isinstance(access, str) or not set(access) <= set("rwm"):
        raise ValueError(f"access must be letters of 'rwm' (read, write, mknod), got {access!r}")
    numbers = []
    for key in ("major", "minor"):
        value = item.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= _DEVICE_NUMBER_MAX
        ):
            raise ValueError(f"{key} must be a device number (or -1 or null for any), got {value!r}")
        numbers.append(None if value is None or value < 0 else value)
    return DeviceRule(allow=item["allow"], type=kind, major=numbers[0], minor=numbers[1], access=access)


def _absolute_paths(r: _Reader, linux: dict[str, Any], path: str) -> list[str]:
    paths = r.string_list(linux, path)
    for item in paths:
        if not os.path.isabs(item):
            raise r.fail(path, f"{item!r} must be an absolute path")
    return paths


def namespace_flags(spec: Spec, kinds: set[str] | None = None) -> int:
    """The CLONE_NEW* flags for the spec's namespaces that are created (not joined by path)."""
    flags = 0
    for ns in spec.namespaces:
        if ns.path is None and (kinds is None or ns.type in kinds):
            flags |= NAMESPACE_FLAGS[ns.type]
    return flags
