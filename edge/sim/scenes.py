"""Real scenes for the simulated cameras, from registry packages (no download at run time
beyond Debian's own package tools): OpenCV's ``vtest.avi`` (pedestrians walking past
parked cars, 768x576 at 10 fps) from the Debian package ``opencv-doc``. Only that file is
kept, in the cache, not the 96-MB package."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edge.errors import EdgeError
from edge.sim.clips import filling

VTEST_MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"


class SceneUnavailable(EdgeError):
    """The scene's package could not be had (no apt, no network)."""


def vtest_avi(cache_dir: Path) -> Path:
    target = cache_dir / "vtest.avi"
    if target.exists():
        return target
    with filling(target), tempfile.TemporaryDirectory() as tmp:
        if target.exists():
            return target
        try:
            subprocess.run(["apt-get", "download", "opencv-doc"], cwd=tmp, check=True,
                           capture_output=True, timeout=600)
            [deb] = Path(tmp).glob("opencv-doc_*.deb")
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                                 capture_output=True, timeout=120).stdout
            subprocess.run(["tar", "-x", "-C", tmp, VTEST_MEMBER], input=tar, check=True,
                           capture_output=True, timeout=120)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise SceneUnavailable(
                "无法获取 vtest.avi (Debian 包 opencv-doc) cannot get vtest.avi from the Debian "
                f"package opencv-doc: {exc} {detail.decode(errors='replace')[-300:]}") from None
        tmp_target = target.with_suffix(".tmp")
        shutil.copyfile(Path(tmp) / VTEST_MEMBER, tmp_target)
        tmp_target.replace(target)
    return target
