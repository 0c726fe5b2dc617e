"""Every parse path a peer or a file feeds rejects bad input only with our own errors.

For each target (tests/fuzz/targets.py): the seed corpus replays cleanly, then a short
coverage-guided pass runs with atheris (libFuzzer) where it installs (its wheels are
x86-64 only), else Hypothesis mutates the seeds. ``bench/fuzz.py`` runs the long pass.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import TARGETS, Target, check

ROOT = Path(__file__).resolve().parents[2]
PASS_S = 4  # per target: 18 targets stay well under two minutes
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.parametrize("name", TARGETS)
def test_seeds_replay_cleanly(name: str) -> None:
    target = TARGETS[name]
    seeds = target.seeds()
    assert seeds, f"no seeds in {target.corpus}"
    for seed in seeds:
        check(target, seed)


@pytest.mark.parametrize("name", TARGETS)
def test_short_fuzz_pass_finds_no_crash(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    if not HAVE_ATHERIS:
        _mutations(target)
        return
    res = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run_atheris", name, str(tmp_path),
         f"-max_total_time={PASS_S}", "-rss_limit_mb=2048", "-timeout=10",
         "-print_final_stats=1"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    # the report (a Python exception, a deadly signal, a timeout, memory) ends the output,
    # before the final stats
    report = "\n".join(line for line in res.stderr.splitlines()
                       if not line.startswith("stat::"))
    inputs = [f"{p.name}: {p.read_bytes()[:300].hex()}"
              for p in sorted(tmp_path.glob("*-*")) if p.is_file()]  # crash-…, timeout-…, oom-…
    assert res.returncode == 0, f"{name}: crash found\n{report[-3000:]}\n{inputs}"
    assert "Done " in res.stderr


def _mutations(target: Target) -> None:
    """Without atheris: seeds mutated by Hypothesis (flips, cuts, inserts, splices)."""
    seeds = target.seeds()

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        buf = bytearray(data.draw(st.sampled_from(seeds)))
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, len(buf)))
            kind = data.draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
            if kind == "flip" and at < len(buf):
                buf[at] ^= data.draw(st.integers(1, 255))
            elif kind == "cut":
                del buf[at:at + data.draw(st.integers(1, 64))]
            elif kind == "insert":
                buf[at:at] = data.draw(st.sampled_from([
                    b"\xb2", "²".encode(), "３".encode(), "١".encode(), b"\x00", b"[" * 64,
                    b"99999999999999999999", b"-1", b"\r\n", b"\xff\xfe"]))
            else:
                other = data.draw(st.sampled_from(seeds))
                buf[at:] = other[data.draw(st.integers(0, len(other))):]
        check(target, bytes(buf))

    run()
