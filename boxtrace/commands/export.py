"""`boxtrace export`: placeholder until the tracer lands."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> str:
    sub.add_parser("export", help="(not yet available)")
    return "export"


def main(args: argparse.Namespace) -> int:
    print("boxtrace export: not yet available")
    return 1
