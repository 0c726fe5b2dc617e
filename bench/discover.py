"""Finding cameras: a WS-Discovery probe of a LAN with 16 ONVIF cameras and a full read of
each (what ``edge discover`` and the settings page's dialog show), against the same probe
and the same SOAP calls made with the ONVIF library alone, one device after the other.

    .venv/bin/python bench/discover.py [--devices 16] [--timeout 2]

The cameras are the tests' real ONVIF camera (IPyCam, tests/integration/onvif_camera.py),
each its own process, serving and announcing the host's LAN address. Printed: devices
found, the probe's wall time, the time to the first device read and to all of them, for
edge (eight devices read at once) and the anchor, and the ratio of the totals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onveef  # noqa: E402
from onveef import wsdiscovery  # noqa: E402

from edge.onvif import device, discovery  # noqa: E402
from edge.onvif.scan import READERS  # noqa: E402
from tests.integration.test_ptz import CAMERA_PASSWORD, USER, OnvifCamera  # noqa: E402


def library_read(address: str) -> int:
    """The calls ``edge.onvif.device.read`` makes, with onveef alone; profiles read."""
    with onveef.OnvifClient(address, username=USER, password=CAMERA_PASSWORD,
                            timeout_s=5.0) as cam:
        cam.get_system_date_time()
        cam.get_device_information()
        found = cam.get_profiles()
        for p in found:
            cam.get_stream_uri(profile_token=p["token"])
            try:
                cam.get_snapshot_uri(profile_token=p["token"])
            except onveef.OnvifError:
                pass
        cam.ptz_get_presets(profile_token=found[0]["token"])
        cam.discover_services()
        for optional in (cam.get_network_interfaces, cam.get_audio_outputs):
            try:
                optional()
            except onveef.OnvifError:
                pass
    return len(found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()
    lan = discovery.lan_addresses()
    if not lan:
        sys.exit("no LAN interface to probe from")
    with tempfile.TemporaryDirectory() as work:
        cameras = []
        try:
            for n in range(args.devices):
                (Path(work) / str(n)).mkdir()
                cameras.append(OnvifCamera(Path(work) / str(n), USER, CAMERA_PASSWORD,
                                           "--discovery", "--host", lan[0]))
            ours = {f"http://{lan[0]}:{c.port}/onvif/device_service" for c in cameras}
            rows = []
            # edge: the probe, then the reads eight at a time (edge.onvif.scan)
            start = time.perf_counter()
            found = [f.address for f in discovery.probe(None, args.timeout) if f.address in ours]
            probed = time.perf_counter()
            first = None
            with ThreadPoolExecutor(READERS) as pool:
                for done in as_completed([pool.submit(device.read, a, USER, CAMERA_PASSWORD)
                                          for a in found]):
                    done.result()
                    first = first or time.perf_counter()
            rows.append(("edge", len(found), probed - start, (first or probed) - start,
                         time.perf_counter() - start))
            # anchor: onveef's own discovery, then the same calls one device after the other
            start = time.perf_counter()
            hits = [d.device_service for d in wsdiscovery.discover(
                timeout_s=args.timeout, interface_ip=lan[0], probes=1)
                if d.device_service in ours]
            probed = time.perf_counter()
            first = None
            for address in hits:
                library_read(address)
                first = first or time.perf_counter()
            rows.append(("anchor (onveef alone)", len(hits), probed - start,
                         (first or probed) - start, time.perf_counter() - start))
        finally:
            for camera in cameras:
                camera.close()
    for name, count, probe_s, first_s, total_s in rows:
        print(f"{name:22s} found {count:2d}/{args.devices}  probe {probe_s:5.2f} s  "
              f"first read {first_s:5.2f} s  all read {total_s:5.2f} s")
    print(f"ratio edge/anchor (all read): {rows[0][4] / rows[1][4]:.2f}")


if __name__ == "__main__":
    main()
