"""The options of `boxtrace run` (and `boxtrace-runtime run`): parsing, and applying them to a spec.

Shared by both command lines so that a traced and an untraced run take exactly the same options.
"""

from __future__ import annotations

import os

from boxtrace.runtime.errors import RuntimeUsageError
from boxtrace.runtime.records import field, record

# No argparse nor re at import: `boxtrace run`'s quick path (boxtrace/quick_args.py) and the
# runtime's start do without them (~10 M instructions with enum, gettext, locale and shutil).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace

    from boxtrace.runtime.spec import Spec, User

UNCONFINED = "unconfined"  # --seccomp unconfined: no filter (Docker's --security-opt seccomp=unconfined)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$"  # case-insensitive
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


@record
class RunOptions:
    image: str | None = None
    command: list[str] = field(default_factory=list)
    hostname: str | None = None
    memory: int | None = None
    pids: int | None = None
    cpus: float | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    rootless: bool = False
    keep: bool = False
    name: str | None = None
    seccomp: str | None = None  # a profile's path, or "unconfined"
    without: frozenset[str] = frozenset()  # steps left out on purpose (runtime/left_out.py)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image",
        nargs="?",
        metavar="IMAGE",
        help=(
            "an OCI image layout (DIR or DIR:TAG), a 'docker save' archive, a rootfs tarball or "
            "directory, an image in the store (see 'boxtrace images'), or an OCI runtime bundle "
            "(a directory with config.json); omit it for the embedded default image"
        ),
    )
    limits = parser.add_argument_group("limits (cgroups)")
    limits.add_argument("--memory", "-m", metavar="SIZE", help="memory limit, e.g. 64m or 1g")
    limits.add_argument("--pids", metavar="N", type=int, help="most processes the container may have")
    limits.add_argument("--cpus", metavar="CPUS", help="CPU time limit in CPUs, e.g. 0.5")
    proc = parser.add_argument_group("the container process")
    proc.add_argument("--hostname", metavar="NAME", help="the container's hostname (default: boxtrace)")
    proc.add_argument(
        "--env", "-e", metavar="NAME=VALUE", action="append", default=[], help="set an environment variable"
    )
    proc.add_argument("--workdir", "-w", metavar="DIR", help="working directory inside the container")
    proc.add_argument(
        "--user", "-u", metavar="UID[:GID]", help="user (and group) to run as, numbers or names"
    )
    other = parser.add_argument_group("runtime")
    other.add_argument(
        "--rootless",
        action="store_true",
        help="run in a new user namespace mapping your uid to root (automatic when not root)",
    )
    other.add_argument(
        "--keep", action="store_true", help="keep the container's writable layer for inspection"
    )
    other.add_argument("--name", metavar="ID", help="container id (default: a random one)")
    other.add_argument(
        "--seccomp",
        metavar="FILE",
        help="load this seccomp profile (JSON of an OCI linux.seccomp object) in the container; "
        "'unconfined': none, even if the bundle has one",
    )
    other.add_argument(
        "--without",
        metavar="STEP",
        action="append",
        default=[],
        help="leave this step out of the container's start, to see what breaks (repeatable); "
        "'--without list' lists the steps. The container is deliberately weakened",
    )


def valid_name(name: str) -> bool:
    """A container id: [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, without re (see the imports)."""
    return 0 < len(name) <= 64 and name[0] in _ALNUM and all(c in _ALNUM or c in "_.-" for c in name)


def options_from_args(args: argparse.Namespace | SimpleNamespace, command: list[str]) -> RunOptions:
    """Check option values; a bad value raises RuntimeUsageError naming the option."""
    if args.pids is not None and args.pids < 1:
        raise RuntimeUsageError(f"--pids must be at least 1, got {args.pids}")
    for item in args.env:
        if "=" not in item or item.startswith("="):
            raise RuntimeUsageError(f"--env wants NAME=VALUE, got {item!r}")
    if args.workdir is not None and not args.workdir.startswith("/"):
        raise RuntimeUsageError(
            f"--workdir must be an absolute path inside the container, got {args.workdir!r}"
        )
    if args.hostname is not None:
        import re

        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62})", args.hostname):
            raise RuntimeUsageError(f"--hostname {args.hostname!r} is not a valid hostname")
    if args.name is not None and not valid_name(args.name):
        raise RuntimeUsageError(f"--name {args.name!r}: use letters, digits, '_', '.', '-' (at most 64)")
    seccomp = args.seccomp
    if seccomp is not None and seccomp != UNCONFINED:
        from boxtrace.runtime.errors import ContainerError
        from boxtrace.runtime.seccomp_profile import compile_profile
        from boxtrace.runtime.spec import read_seccomp_file

        try:  # checked now: nothing is made for a profile that cannot be loaded
            compile_profile(read_seccomp_file(seccomp))
        except ContainerError as exc:
            raise RuntimeUsageError(f"--seccomp {seccomp}: {exc}") from None
        seccomp = os.path.abspath(seccomp)  # the traced run's runtime may start elsewhere
    from boxtrace.runtime.left_out import parse_without

    return RunOptions(
        without=parse_without(args.without),
        image=args.image,
        command=command,
        hostname=args.hostname,
        memory=None if args.memory is None else parse_size(args.memory, "--memory"),
        pids=args.pids,
        cpus=None if args.cpus is None else parse_cpus(args.cpus),
        env=list(args.env),
        workdir=args.workdir,
        user=args.user,
        rootless=bool(args.rootless) or os.geteuid() != 0,
        keep=bool(args.keep),
        name=args.name,
        seccomp=seccomp,
    )


def parse_size(text: str, option: str) -> int:
    import re

    match = re.match(_SIZE, text, re.IGNORECASE)
    if not match:
        raise RuntimeUsageError(f"{option} wants a size like 64m, 512k or 1g, got {text!r}")
    value = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if value < 4096 * 16:
        raise RuntimeUsageError(f"{option} {text!r} is too small: give at least 64k")
    return value


def parse_cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RuntimeUsageError(f"--cpus wants a number of CPUs like 0.5 or 2, got {text!r}") from None
    if not 0.01 <= value <= 1024:
        raise RuntimeUsageError(f"--cpus must be between 0.01 and 1024, got {text!r}")
    return value


def runtime_argv(opts: RunOptions) -> list[str]:
    """The `boxtrace-runtime run` arguments that give back ``opts``: how a traced `boxtrace run`
    hands its options to the runtime process it starts under the tracer."""
    argv: list[str] = []
    for flag, value in (
        ("--hostname", opts.hostname),
        ("--memory", None if opts.memory is None else str(opts.memory)),
        ("--pids", None if opts.pids is None else str(opts.pids)),
        ("--cpus", None if opts.cpus is None else repr(opts.cpus)),
        ("--workdir", opts.workdir),
        ("--user", opts.user),
        ("--name", opts.name),
        ("--seccomp", opts.seccomp),
    ):
        if value is not None:
            argv += [flag, value]
    for item in opts.env:
        argv += ["--env", item]
    if opts.without:
        argv += ["--without", ",".join(sorted(opts.without))]
    if opts.rootless:
        argv.append("--rootless")
    if opts.keep:
        argv.append("--keep")
    if opts.image is not None:
        argv.append(opts.image)
    if opts.command:
        argv += ["--", *opts.command]
    return argv


def wants_step_list(args: argparse.Namespace) -> bool:
    """`--without list`: print the steps that can be left out instead of running anything."""
    return "list" in args.without


def new_container_id() -> str:
    return os.urandom(6).hex()


def apply_options(spec: Spec, opts: RunOptions, roots: list[str] | None = None) -> None:
    """Command-line options override the spec, as `docker run` flags override an image's config.

    ``roots``: where to look up user names (an image's layers, top first); the spec's root by default.
    """
    if opts.command:
        spec.process.args = list(opts.command)
    if opts.hostname is not None:
        spec.hostname = opts.hostname
    if opts.memory is not None:
        spec.resources.memory_limit = opts.memory
    if opts.pids is not None:
        spec.resources.pids_limit = opts.pids
    if opts.cpus is not None:
        period = spec.resources.cpu_period or 100_000
        spec.resources.cpu_period = period
        spec.resources.cpu_quota = int(opts.cpus * period)
    for item in opts.env:
        name = item.split("=", 1)[0]
        spec.process.env = [e for e in spec.process.env if e.split("=", 1)[0] != name] + [item]
    if opts.workdir is not None:
        spec.process.cwd = opts.workdir
    if opts.user is not None:
        spec.process.user = resolve_user(opts.user, roots or spec.root_path)
    if opts.seccomp == UNCONFINED:
        spec.seccomp = None
    elif opts.seccomp is not None:
        from boxtrace.runtime.spec import read_seccomp_file

        spec.seccomp = read_seccomp_file(opts.seccomp)


def resolve_user(text: str, rootfs: str | list[str]) -> User:
    """UID[:GID] with numbers, or names looked up in the image's /etc/passwd and /etc/group.

    ``rootfs`` may be an image's layer directories, top first: the topmost copy of each file wins.
    """
    from boxtrace.runtime.spec import User

    roots = [rootfs] if isinstance(rootfs, str) else rootfs
    user_part, _, group_part = text.partition(":")
    passwd = next((db for root in roots if (db := _read_db(os.path.join(root, "etc/passwd")))), [])
    groups = next((db for root in roots if (db := _read_db(os.path.join(root, "etc/group")))), [])
    if user_part.isdigit():
        uid = int(user_part)
        entry = next((e for e in passwd if e[2] == user_part), None)
    else:
        entry = next((e for e in passwd if e[0] == user_part), None)
        if entry is None:
            raise RuntimeUsageError(
                f"--user: no user {user_part!r} in the image's /etc/passwd; give a number"
            )
        uid = int(entry[2])
    gid = int(entry[3]) if entry is not None and len(entry) > 3 and entry[3].isdigit() else uid
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            group = next((g for g in groups if g[0] == group_part), None)
            if group is None:
                raise RuntimeUsageError(f"--user: no group {group_part!r} in the image's /etc/group")
            gid = int(group[2])
    return User(uid=uid, gid=gid)


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as handle:
            return [line.rstrip("\n").split(":") for line in handle if line.count(":") >= 2]
    except OSError:
        return []
