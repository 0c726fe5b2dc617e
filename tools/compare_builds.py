"""Are two image builds of one commit the same? Compares two build-image.sh outputs:
their SHA256SUMS, then every member of rootfs.tar (content, mode, owner, link target),
and prints what differs, grouped by directory.

    python3 tools/compare_builds.py build/image-a build/image-b
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from collections import Counter
from pathlib import Path


def members(tar_path: Path) -> dict[str, tuple[object, ...]]:
    """name -> (type, mode, uid, gid, mtime, link, content sha256)."""
    out: dict[str, tuple[object, ...]] = {}
    with tarfile.open(tar_path) as tar:
        for m in tar:
            digest = ""
            if m.isfile():
                f = tar.extractfile(m)
                digest = hashlib.sha256(f.read() if f else b"").hexdigest()
            out[m.name] = (m.type, m.mode, m.uid, m.gid, m.mtime, m.linkname, digest)
    return out


def main(a: Path, b: Path) -> int:
    sums_a, sums_b = ((p / "SHA256SUMS").read_text().splitlines() for p in (a, b))
    for line_a, line_b in zip(sums_a, sums_b):
        name = line_a.split()[-1]
        print(f"{name:16} {'same' if line_a == line_b else 'DIFFERENT'}")
    if sums_a == sums_b:
        return 0
    ma, mb = members(a / "rootfs.tar"), members(b / "rootfs.tar")
    only = sorted(set(ma) ^ set(mb))
    changed = sorted(n for n in set(ma) & set(mb) if ma[n] != mb[n])
    content = [n for n in changed if ma[n][6] != mb[n][6]]
    print(f"rootfs.tar: {len(ma)} / {len(mb)} members, {len(only)} in one only, "
          f"{len(changed)} differ ({len(content)} in content, the rest in metadata)")
    for name in only[:20]:
        print(f"  only in {'A' if name in ma else 'B'}: {name}")
    by_dir = Counter(str(Path(n).parent) for n in changed)
    for folder, count in by_dir.most_common(25):
        example = next(n for n in changed if str(Path(n).parent) == folder)
        fields = [f for f, x, y in zip(("type", "mode", "uid", "gid", "mtime", "link", "content"),
                                        ma[example], mb[example]) if x != y]
        print(f"  {count:5} in {folder}  (e.g. {Path(example).name}: {', '.join(fields)})")
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
