"""`boxtrace run --without STEP`: with no command of its own, the weakened container runs the
probes of the steps left out (lessons/probes.toml), which end with the claim and what they saw."""

from __future__ import annotations

from boxtrace.runtime.left_out import IDMAP_CLAIM_ENV, STEPS
from boxtrace.runtime.options import RunOptions

# The cgroup probe needs a pids limit to run into: this one when --pids is not given.
PROBE_PIDS = 16


def with_probes(opts: RunOptions) -> RunOptions:
    """The options with the probes as the command, when the user gave none."""
    if not opts.without or opts.command:
        return opts
    from boxtrace.lessons.probes import probe_command

    steps = [name for name in STEPS if name in opts.without]
    opts.command = probe_command(steps)
    if opts.pids is None and ("cgroup" in opts.without or "devices" in opts.without):
        opts.pids = PROBE_PIDS
    pids = opts.pids if opts.pids is not None else PROBE_PIDS
    opts.env = [*opts.env, f"BOXTRACE_PIDS={pids}"]
    if "idmap" in opts.without:
        # Without the maps the container does not start: its runtime checks this claim instead.
        from boxtrace.lessons.probes import probes

        opts.env.append(f"{IDMAP_CLAIM_ENV}={probes()['idmap'].claim}")
    return opts
