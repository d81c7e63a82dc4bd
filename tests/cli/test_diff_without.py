"""`boxtrace diff NORMAL WITHOUT`: a run with `--without STEP` against a normal run of the same
command shows exactly the step left out, as "left out: STEP", and nothing else (real traced runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import boxtrace, needs_root

pytestmark = needs_root
# The same profile on both sides, so that only --without seccomp leaves a filter out.
PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["swapon"], "action": "SCMP_ACT_ERRNO"}]}
# step -> (its phase, the calls the normal run makes that the weakened one does not, what it does instead)
EXPECTED = {
    "pivot_root": ("pivot", {"pivot_root", "mount propagation /", "umount2 /"}, {"chroot"}),
    "seccomp": ("identity and hardening", {"seccomp SECCOMP_SET_MODE_FILTER"}, set()),
    "caps": ("identity and hardening", {"capset", "prctl PR_CAP_AMBIENT PR_CAP_AMBIENT_CLEAR_ALL"}, set()),
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("diffwithout")
    profile = tmp / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    traces = {}
    for step in ("", *EXPECTED):
        trace = tmp / f"{step or 'normal'}.jsonl"
        without = ("--without", step) if step else ()
        args = ("run", "--plain", "-q", "--seccomp", str(profile), *without, "-o", str(trace), "--", "true")
        result = boxtrace(*args, timeout=120)
        assert result.returncode == 0, result.stderr
        traces[step or "normal"] = trace
    return traces


@pytest.mark.parametrize("step", list(EXPECTED))
def test_the_difference_is_exactly_the_left_out_step(recorded: dict[str, Path], step: str) -> None:
    normal, weakened = str(recorded["normal"]), str(recorded[step])
    data = json.loads(boxtrace("diff", normal, weakened, "--format", "json").stdout)
    phase, missing, instead = EXPECTED[step]
    (left_out,) = data["left_out"]
    assert (left_out["step"], left_out["side"], left_out["phase"]) == (step, "b", phase)
    assert left_out["title"].startswith("Left out on purpose")
    assert missing <= set(left_out["missing"]) and set(left_out["instead"]) == instead
    if step == "caps":  # the whole bounding-set drop too
        assert any(label.startswith("prctl PR_CAPBSET_DROP CAP_SYS_ADMIN") for label in left_out["missing"])
    else:
        assert set(left_out["missing"]) == missing
    # Nothing else differs: every row that is not the same in both is the left-out step's.
    others = [
        (r["kind"], (r["a"] or r["b"])["label"])
        for p in data["phases"]
        for r in p["rows"]
        if (r["kind"] != "same" or r["moved"]) and r["left_out"] != step
    ]
    assert not others, others

    text = boxtrace("diff", normal, weakened, "--plain").stdout
    summary = text.split("\n\n")[1]
    assert f"left out: {step} by boxtrace (B)" in summary and "only in" not in summary
    assert f"!  left out: {step}" in text
    assert "does not" not in text  # no generic "A also does N things B does not"
    md = boxtrace("diff", normal, weakened, "--format", "md").stdout
    assert f"| left out: {step} |" in md and f"only in boxtrace (A) (left out: {step})" in md
    html = boxtrace("diff", normal, weakened, "--format", "html").stdout
    assert f"<td>left out: {step}</td>" in html


def test_a_normal_run_against_itself_has_nothing_left_out(recorded: dict[str, Path]) -> None:
    normal = str(recorded["normal"])
    data = json.loads(boxtrace("diff", normal, normal, "--format", "json").stdout)
    assert data["left_out"] == [] and data["identical"]
