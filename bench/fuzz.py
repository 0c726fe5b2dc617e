"""Long coverage-guided fuzzing of every parser (tests/fuzz/targets.py) with atheris.

    .venv/bin/python bench/fuzz.py                 # >= 1,000,000 inputs per target
    .venv/bin/python bench/fuzz.py --runs 100000 --only sip_message,ps

Each target runs in its own process (two at a time, one per core) from the committed seed
corpus. Printed per target: inputs, crashes (0 expected), inputs/s, the slowest single
input (after 100 warm-up inputs). Anchor: the standard library's parser of the same grammar (email headers for SIP,
defusedxml for MANSCDP, tomllib for the config, json for MQTT commands), fuzzed the same
way from the same seeds in the same run; the ratio is our inputs/s over its.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.targets import ANCHORS, TARGETS  # noqa: E402

# a request through the whole Flask stack (and a settings write) runs at ~200/s: a million
# would take an hour and a half, so the web API gets a tenth of that
RUNS = {"web": 100_000}
ANCHOR_NAMES = {"sip_message": "email.parser", "manscdp": "defusedxml", "config": "tomllib",
                "mqtt_command": "json"}


def fuzz(name: str, runs: int, work: Path) -> dict[str, object]:
    folder = work / name.replace(":", "-")
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run_atheris", name, str(folder), f"-runs={runs}",
         "-rss_limit_mb=2048", "-timeout=10"], cwd=ROOT, capture_output=True, text=True)
    done = re.search(r"Done (\d+) runs in (\d+) second", res.stderr)
    slowest = json.loads((folder / "slowest.json").read_text()) \
        if (folder / "slowest.json").exists() else {"seconds": 0.0, "size": 0, "input": ""}
    # the slowest run can be a pause of the machine's: time that input again, alone
    again = retime(name, bytes.fromhex(slowest.get("input", ""))) if slowest["size"] <= 300 \
        else None
    crash = ""
    if res.returncode:
        crash = res.stderr[res.stderr.find("=== Uncaught"):][:2000] or res.stderr[-2000:]
    elapsed = time.monotonic() - started
    inputs = int(done.group(1)) if done else 0
    return {"name": name, "inputs": inputs, "crashes": 1 if res.returncode else 0,
            "per_s": inputs / elapsed if elapsed else 0.0, "slowest_ms": slowest["seconds"] * 1000,
            "slowest_size": slowest["size"], "again_ms": again, "crash": crash}


def retime(name: str, data: bytes) -> float | None:
    """Median ms of 50 runs of ``data`` in a fresh process, for the target ``name``."""
    if name.startswith("anchor:"):
        return None
    code = ("import statistics, sys, time; from tests.fuzz.targets import TARGETS, check; "
            f"t = TARGETS[{name!r}]; d = bytes.fromhex(sys.argv[1]); check(t, d); runs = []\n"
            "for _ in range(50):\n s = time.perf_counter(); check(t, d); "
            "runs.append(time.perf_counter() - s)\nprint(statistics.median(runs) * 1000)")
    res = subprocess.run([sys.executable, "-c", code, data.hex()], cwd=ROOT,
                         capture_output=True, text=True)
    return float(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--only", default="", help="comma-separated target names")
    args = parser.parse_args()
    names = [n for n in TARGETS if not args.only or n in args.only.split(",")]
    jobs = names + [f"anchor:{n}" for n in names if n in ANCHORS]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        results = {r["name"]: r for r in pool.map(
            lambda n: fuzz(n, min(args.runs, RUNS.get(n, args.runs)), Path(tmp)), jobs)}
    print("| target | inputs | crashes | inputs/s | slowest input (that input again, alone) "
          "| anchor inputs/s | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        r, a = results[name], results.get(f"anchor:{name}")
        anchor = f"{a['per_s']:,.0f} ({ANCHOR_NAMES[name]})" if a else "—"
        ratio = f"{r['per_s'] / a['per_s']:.2f}" if a and a["per_s"] else "—"
        print(f"| {name} | {r['inputs']:,} | {r['crashes']} | {r['per_s']:,.0f} | "
              f"{r['slowest_ms']:.1f} ms, {r['slowest_size']} B ("
              + (f"{r['again_ms']:.2f} ms" if r["again_ms"] is not None else "-")
              + f") | {anchor} | {ratio} |")
    crashed = [r for r in results.values() if r["crashes"] and not r["name"].startswith("anchor")]
    for r in crashed:
        print(f"\n{r['name']} crashed:\n{r['crash']}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
