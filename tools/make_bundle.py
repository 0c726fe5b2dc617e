"""Make a signed update bundle for ``edge update`` (the vendor's side; the box only verifies).

    python tools/make_bundle.py --new-key update.key            # once: prints the public key
    python tools/make_bundle.py --key update.key --wheels dist/ [--overlay firmware-overlay/] \\
        -o edge-0.2.0.bundle

The version is the edge wheel's in ``--wheels`` (exactly one ``edge-*.whl``); every wheel
there goes in (those the box's wheelhouse lacks), and every file under ``--overlay`` as
``overlay/<path>``. The public key (64 hex digits) goes to ``/etc/edge/update.pub`` on the
image; keep the private key off the boxes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import (  # noqa: E402
    Encoding, NoEncryption, PrivateFormat, load_pem_private_key,
)

from edge.update.bundle import build, public_hex  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-key", type=Path, help="write a new private key here and stop")
    parser.add_argument("--key", type=Path, help="the private key (PEM)")
    parser.add_argument("--wheels", type=Path)
    parser.add_argument("--overlay", type=Path)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    if args.new_key:
        key = Ed25519PrivateKey.generate()
        args.new_key.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                   NoEncryption()))
        args.new_key.chmod(0o600)
        print(public_hex(key))
        return 0
    if not (args.key and args.wheels and args.output):
        parser.error("--key, --wheels and -o are needed to make a bundle")
    loaded = load_pem_private_key(args.key.read_bytes(), None)
    assert isinstance(loaded, Ed25519PrivateKey)
    edge_wheels = sorted(args.wheels.glob("edge-*.whl"))
    if len(edge_wheels) != 1:
        parser.error(f"exactly one edge-*.whl in {args.wheels}, found {len(edge_wheels)}")
    version = edge_wheels[0].name.split("-")[1]
    members = {f"wheels/{w.name}": w.read_bytes() for w in sorted(args.wheels.glob("*.whl"))}
    if args.overlay:
        members |= {f"overlay/{f.relative_to(args.overlay).as_posix()}": f.read_bytes()
                    for f in sorted(args.overlay.rglob("*")) if f.is_file()}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    build(args.output, loaded, version, members,
          time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), commit)
    print(f"{args.output}: edge {version}, {len(members)} files, commit {commit or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
