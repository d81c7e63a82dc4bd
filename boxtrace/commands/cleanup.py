"""`boxtrace cleanup`: list and remove what dead containers left behind (like `runc delete --force`
for every dead container at once)."""

from __future__ import annotations

import argparse
import os
import sys

from boxtrace.usage import UsageError

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
Remove what containers whose runtime is gone left behind: their state directories under
/run/boxtrace (the overlay's upper layer with them), their cgroups (killing any process still in
them), mounts under their state directories, and boxtrace-* cgroups that no container owns (no
process in them, no state, older than --grace seconds). A cleanup guard normally removes all of
this when boxtrace is killed; this finds what is left if the guard itself was killed too.

Containers that `boxtrace-runtime create` made are left alone: only `boxtrace-runtime delete`
removes them. With --root DIR (a boxtrace-runtime --root), containers there whose runtime and
processes are all gone are removed as well.
One line per item; --dry-run lists what would be removed.

examples:
  boxtrace cleanup --dry-run
  boxtrace cleanup
  boxtrace cleanup --root /run/boxtrace-runtime
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "cleanup",
        help="remove what dead containers left behind (cgroups, mounts, state)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="list what would be removed; remove nothing"
    )
    parser.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="also a boxtrace-runtime --root: remove its containers that are dead (repeatable)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how old a boxtrace-* cgroup without state must be to count as left behind (default 60)",
    )
    return "cleanup"


def main(args: argparse.Namespace) -> int:
    from boxtrace.runtime import leftovers
    from boxtrace.runtime.state import oci_state_root, state_root

    grace = leftovers.ORPHAN_GRACE if args.grace is None else args.grace
    if grace < 0:
        raise UsageError(f"--grace {args.grace:g}: must not be negative", "boxtrace cleanup")
    for root in args.root:
        if not os.path.isdir(root):
            raise UsageError(f"--root {root}: no such directory", "boxtrace cleanup")
    roots = [state_root(rootless=False), state_root(rootless=True)]
    roots = [*dict.fromkeys(r for r in roots if os.path.isdir(r))]
    oci_roots = tuple(r for r in (oci_state_root(),) if r not in args.root)
    items = leftovers.find(roots, grace, oci_roots, tuple(os.path.abspath(r) for r in args.root))
    if not items:
        print("nothing to clean up")
        return 0
    status = 0
    for item in items:
        if args.dry_run:
            print(f"would remove {item.describe()}")
            continue
        try:
            leftovers.remove(item)
        except FileNotFoundError:
            # Removed between the listing and now (its own guard, or a runtime finishing late).
            print(f"already gone: {item.describe()}")
            continue
        except OSError as exc:
            print(
                f"boxtrace cleanup: error: cannot remove {item.path}: {exc.strerror or exc}", file=sys.stderr
            )
            status = 1
            continue
        print(f"removed {item.describe()}")
    return status
