"""Coverage-guided fuzzing of one target with atheris (libFuzzer underneath).

    python -m tests.fuzz.run_atheris TARGET WORKDIR [libFuzzer flags, e.g. -runs=1000000]

``anchor:TARGET`` fuzzes that target's anchor instead (bench/fuzz.py).

The seeds are copied into WORKDIR/corpus (libFuzzer adds what it finds there, so the
committed corpus stays as it is) and crash inputs land in WORKDIR. The slowest input so
far is written to WORKDIR/slowest.json whenever it changes (libFuzzer ends the process
with C's exit(), so nothing can be written at the end).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import atheris

WARM_UP_CALLS = 100  # lazy imports and first regex compiles are not the input's cost

with atheris.instrument_imports(include=["edge"]):
    from tests.fuzz.targets import ANCHORS, TARGETS, check


def main() -> None:
    name, workdir = sys.argv[1], Path(sys.argv[2])
    target = ANCHORS[name[7:]] if name.startswith("anchor:") else TARGETS[name]
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in sorted(TARGETS[target.name].corpus.iterdir()):
        shutil.copy(seed, corpus / seed.name)
    slowest = [0.0]
    calls = [0]

    def one(data: bytes) -> None:
        started = time.perf_counter()
        check(target, data)
        took = time.perf_counter() - started
        calls[0] += 1
        if took > slowest[0] and calls[0] > WARM_UP_CALLS:
            slowest[0] = took
            (workdir / "slowest.json").write_text(json.dumps(
                {"seconds": took, "size": len(data), "input": data[:300].hex()}))

    atheris.Setup([sys.argv[0], f"-artifact_prefix={workdir}/", *sys.argv[3:], str(corpus)],
                  one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
