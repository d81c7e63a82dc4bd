"""`boxtrace rmi`: remove images from the local store."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
Remove an image name from boxtrace's local image store (see 'boxtrace images'). When an image has
no name left it is deleted, with every layer no other image uses. NAME is NAME:TAG (NAME alone
means NAME:latest) or a prefix of the image id, which removes all its names.

examples:
  boxtrace rmi busybox:latest
  boxtrace rmi 3f57d9401f8d
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "rmi",
        help="remove images from the local store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="image name (NAME:TAG) or image id")
    return "rmi"


def main(args: argparse.Namespace) -> int:
    from boxtrace.runtime.images.store import ImageError, Store

    store = Store()
    status = 0
    for name in args.names:
        try:
            for line in store.remove(name):
                print(line)
        except ImageError as exc:
            print(f"boxtrace rmi: error: {exc}", file=sys.stderr)
            status = 2
    return status
