"""Update bundles of this tree under another version, signed with a test key: what the
vendor's release does, for the update tests (tests/integration/test_update.py) and the
boot test's update through the System page (tests/boot/test_boot.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update.bundle import build

ROOT = Path(__file__).resolve().parents[1]


BROKEN = {  # what a broken version's daemon does instead of running
    "exits": '    raise SystemExit("broken on purpose")\n',
    # says it is up (systemd: READY) but never records or reports: its check fails slowly
    "hangs": "    systemd.notify(READY)\n    stop.wait()\n    return 0\n",
}


def edge_wheel(work: Path, version: str, broken: str = "") -> Path:
    """A wheel of this tree as ``version`` (pure Python: the same on x86 and ARM64);
    ``broken``: "exits" (its daemon exits at once) or "hangs" (up, never healthy)."""
    tree = work / f"src-{version}"
    files = subprocess.run(["git", "ls-files", "edge", "pyproject.toml", "README.md"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    for name in ("pyproject.toml", "edge/__init__.py"):
        text = (tree / name).read_text()
        (tree / name).write_text(text.replace('version = "0.1.0"', f'version = "{version}"')
                                 .replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    if broken:
        app = tree / "edge" / "app.py"
        app.write_text(app.read_text().replace('    also_to_file(cfg.data_dir, "edge")\n',
                                               BROKEN[broken], 1))
    out = work / f"wheels-{version}"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "-w", str(out),
                    str(tree)], check=True)
    [wheel] = out.glob("edge-*.whl")
    return wheel


def bundle(work: Path, key: Ed25519PrivateKey, version: str, broken: str = "") -> Path:
    """The bundle: the wheel, and an overlay file ``/etc/edge/motd`` naming the version."""
    wheel = edge_wheel(work, version, broken)
    out = work / f"edge-{version}.bundle"
    build(out, key, version, {f"wheels/{wheel.name}": wheel.read_bytes(),
                              "overlay/etc/edge/motd": f"edge {version}\n".encode()},
          "2026-12-03T12:00:00Z", "test")
    return out
