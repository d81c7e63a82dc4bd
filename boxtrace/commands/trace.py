"""`boxtrace trace`: placeholder until the tracer lands."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> str:
    sub.add_parser("trace", help="(not yet available)")
    return "trace"


def main(args: argparse.Namespace) -> int:
    print("boxtrace trace: not yet available")
    return 1
