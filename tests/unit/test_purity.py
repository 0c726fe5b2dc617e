"""The protocol and decision cores stay pure: no I/O imports, no clock, strict types."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "edge/config.py", "edge/gbid.py", "edge/timefmt.py", "edge/errors.py",
    "edge/ingest/backoff.py", "edge/ingest/timeline.py", "edge/ingest/rate.py",
    "edge/ingest/state.py", "edge/record/segmenter.py", "edge/record/naming.py",
    "edge/record/fmp4.py", "edge/record/coverage.py", "edge/retention/policy.py",
    "edge/retention/capacity.py", "edge/gb28181/sip/message.py", "edge/gb28181/sip/framing.py",
    "edge/digest.py", "edge/gb28181/manscdp.py", "edge/onvif/rtsp.py",
    "edge/gb28181/sip/registration.py", "edge/gb28181/answers.py", "edge/gb28181/model.py",
    "edge/gb28181/control.py", "edge/gb28181/notices.py", "edge/gb28181/sip/subscription.py",
    "edge/gb28181/timesync.py", "edge/health/availability.py", "edge/health/payload.py",
    "edge/mqtt/topics.py", "edge/gb28181/media/ps.py", "edge/gb28181/media/rtp.py",
    "edge/gb28181/media/psdemux.py", "edge/gb28181/media/sdp.py",
    "edge/gb28181/media/sessions.py", "edge/gb28181/media/mansrtsp.py", "edge/digits.py",
    "edge/supervision.py", "edge/mqtt/commands.py", "edge/ingest/media.py",
    "edge/stream/fmp4.py", "edge/health/compliance.py", "edge/detect/blazeface.py",
    "edge/detect/objects.py", "edge/detect/motion.py", "edge/detect/zones.py",
    "edge/detect/tracker.py", "edge/detect/pipeline.py", "edge/quality/metrics.py",
    "edge/quality/diagnosis.py", "edge/uplink/budget.py", "edge/health/delta.py",
    "edge/mqtt/encoding.py", "edge/appliance/firewall.py", "edge/health/disk.py",
    "edge/web/params.py", "edge/web/sheet.py", "edge/gb28181/ptzcmd.py", "edge/ptz/ops.py",
    "edge/web/plan.py",
    "edge/gb28181/place.py", "edge/gb28181/broadcast.py", "edge/voice/g711.py",
    "edge/gb28181/media/audio.py", "edge/alerts/formats.py", "edge/alerts/policy.py",
    "edge/alerts/mapping.py",
]
IMPURE = {"socket", "threading", "sqlite3", "av", "subprocess", "time", "os", "shutil"}


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    assert not names & IMPURE, f"{module} imports {sorted(names & IMPURE)}"


def test_pure_modules_pass_mypy_strict() -> None:
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *PURE],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
