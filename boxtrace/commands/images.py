"""`boxtrace images`: the images in the local store, with their names, ids and sizes."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing costs ~5 ms of every boxtrace start
if TYPE_CHECKING:
    from typing import Any

DESCRIPTION = """\
List the images in boxtrace's local image store: each name (NAME:TAG), the image id (the digest
of its config, as Docker shows it), its number of layers and their unpacked size. Images get into
the store with 'boxtrace pull REF' from a registry, or the first time 'boxtrace run' runs them from
an OCI layout, a 'docker save' archive or a rootfs tarball; after that 'boxtrace run NAME:TAG'
finds them by name.

The store is /var/lib/boxtrace/images for root, ~/.local/share/boxtrace/images otherwise;
the environment variable BOXTRACE_STORE names another one.

examples:
  boxtrace images
  boxtrace images --digests
"""


def add_parser(sub: Any) -> str:
    parser = sub.add_parser(
        "images",
        help="list the images in the local store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--digests", action="store_true", help="show full image ids (sha256:...)")
    return "images"


def main(args: argparse.Namespace) -> int:
    from boxtrace.runtime.images.store import Store

    store = Store()
    rows = []
    for record in store.records():
        image_id = record["id"] if args.digests else record["id"].removeprefix("sha256:")[:12]
        for name in record.get("names") or ["<none>"]:
            rows.append(
                (name, image_id, str(len(record.get("layers", []))), human_size(record.get("size", 0)))
            )
    rows.sort()
    header = ("NAME", "IMAGE ID", "LAYERS", "SIZE")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}GB"
