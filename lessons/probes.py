"""The probes of `boxtrace run --without STEP`: a shell script per step (lessons/probes.toml) that
runs as the weakened container's command and checks the catalogue's claim about that step."""

from __future__ import annotations

import os
import shlex
import tomllib
from functools import cache

from boxtrace.lessons.catalogue import catalogue

PROBES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probes.toml")

# Defined before every probe: the two lines that end its output, claim and what was seen.
PRELUDE = """verdict() {
  echo "claim: $BOXTRACE_CLAIM"
  echo "saw:   $2"
  echo "held:  $1"
}
"""


class Probe:
    __slots__ = ("claim_id", "script", "step")

    def __init__(self, step: str, claim_id: str, script: str) -> None:
        self.step = step
        self.claim_id = claim_id
        self.script = script

    @property
    def claim(self) -> str:
        entry = catalogue().get(self.claim_id)
        if entry is None:
            raise KeyError(f"lessons/probes.toml: probe {self.step}: no catalogue entry {self.claim_id}")
        return f"{entry.without} ({entry.id})"

    def shell(self) -> str:
        return f"echo 'probe: {self.step}'\nBOXTRACE_CLAIM={shlex.quote(self.claim)}\n{self.script.strip()}\n"


def probe_command(steps: list[str]) -> list[str]:
    """The container command that runs the probes of ``steps``, in the order given."""
    table = probes()
    return ["sh", "-c", PRELUDE + "".join(table[step].shell() for step in steps if step in table)]


@cache
def probes() -> dict[str, Probe]:
    with open(PROBES_FILE, "rb") as handle:
        data = tomllib.load(handle)
    return {p["step"]: Probe(p["step"], p["claim"], p["script"]) for p in data["probe"]}
