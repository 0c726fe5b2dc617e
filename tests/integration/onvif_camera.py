"""A real ONVIF camera for the tests: IPyCam (PyPI ``ipycam``, a pure-Python virtual IP
camera answering WS-Discovery and the Device, Media and PTZ services), its ONVIF HTTP
server and discovery responder only (no encoder: its RTSP URIs point at our simulated
camera). Every SOAP action it carries out is printed as a JSON line on stdout, so a test
sees what the box asked of the camera.

    python -m tests.integration.onvif_camera --port P --rtsp-port R [--user U --password W]
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import re
import socketserver
import sys
import threading
import time

from ipycam import CameraConfig, IPCameraHTTPHandler, ONVIFService, PTZController
from ipycam.discovery import WSDiscoveryServer


PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Camera:
    """What IPyCam's HTTP handler needs of its camera: the config and the ONVIF service."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self.ptz = PTZController(output_width=config.main_width,
                                 output_height=config.main_height, max_zoom=4.0)
        self.onvif = ONVIFService(config, self.ptz)
        # ipycam 1.3.0's PTZ answers use the prefixes ptz: and tptz: without declaring them
        # (not well-formed XML: a strict client reads no presets); declared here, as a
        # real dome's firmware does
        for name, text in self.onvif._templates.items():
            if name.startswith("ptz_"):
                self.onvif._templates[name] = re.sub(
                    r"^\s*<ptz:(\w+)", lambda m: f'<ptz:{m.group(1)} xmlns:ptz="{PTZ_NS}" '
                    f'xmlns:tptz="{PTZ_NS}"', text, count=1)
        self.clock_offset = 0.0
        self.ntp: list[str] = []
        handle = self.onvif.handle_action

        def logged(action: str, body: str) -> str | None:
            action = action or _body_action(body)  # IPyCam guesses only the actions it has
            answer = self._clock(action, body) or handle(action, body)
            print(json.dumps({"action": action.rsplit("/", 1)[-1], "t": time.time(),
                              "body": body[-1500:]}), flush=True)
            return answer

        self.onvif.handle_action = logged  # type: ignore[method-assign]
        self.settable = False

    def _clock(self, action: str, body: str) -> str | None:
        """IPyCam's clock is the host's and cannot be set: a camera clock ``clock_offset``
        seconds wrong, and (``settable``) SetSystemDateAndTime and SetNTP as a camera's
        firmware carries them out, so the box's correction can be seen to work."""
        name = action.rsplit("/", 1)[-1]
        if name.endswith("GetSystemDateAndTime"):
            now = time.gmtime(time.time() + self.clock_offset)
            return self.onvif._wrap_envelope(self.onvif._render(
                "get_system_date_time", hour=now.tm_hour, minute=now.tm_min,
                second=now.tm_sec, year=now.tm_year, month=now.tm_mon, day=now.tm_mday))
        if not self.settable or not (name.endswith("SetSystemDateAndTime")
                                     or name.endswith("SetNTP")):
            return None
        if name.endswith("SetNTP"):
            self.ntp = re.findall(r"IPv4Address>([0-9.]+)<", body)
        else:
            fields = {k: int(v) for k, v in re.findall(
                r"<(?:\w+:)?(Year|Month|Day|Hour|Minute|Second)>(\d+)<", body)}
            if len(fields) == 6:
                told = calendar.timegm((fields["Year"], fields["Month"], fields["Day"],
                                        fields["Hour"], fields["Minute"], fields["Second"]))
                self.clock_offset = told - time.time()
        short = "SetNTP" if name.endswith("SetNTP") else "SetSystemDateAndTime"
        return self.onvif._wrap_envelope(
            f'<tds:{short}Response xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>')


def _body_action(body: str) -> str:
    """The operation a SOAP 1.2 request names by its Body's first element."""
    found = re.search(r"<(?:\w+:)?Body[^>]*>\s*<(?:\w+:)?(\w+)", body)
    return found.group(1) if found else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtsp-port", type=int, required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--discovery", action="store_true", help="answer WS-Discovery on 3702")
    ap.add_argument("--host", default="127.0.0.1", help="the address it serves and announces")
    ap.add_argument("--name", default="村口球机")
    ap.add_argument("--workdir", required=True, help="where ipycam keeps its presets file")
    ap.add_argument("--clock-offset", type=float, default=0.0, help="the camera's clock is "
                    "this many seconds off")
    ap.add_argument("--settable-clock", action="store_true", help="carry out "
                    "SetSystemDateAndTime and SetNTP (IPyCam refuses them)")
    args = ap.parse_args()
    os.chdir(args.workdir)
    config = CameraConfig(name=args.name, local_ip=args.host, onvif_port=args.port,
                          rtsp_port=args.rtsp_port, main_stream_name="main",
                          sub_stream_name="sub", manufacturer="IPyCam", model="VirtualCam-1",
                          serial_number="PY-000042")
    if args.user:
        config.set_credentials(args.user, args.password)
    camera = _Camera(config)
    camera.clock_offset, camera.settable = args.clock_offset, args.settable_clock
    IPCameraHTTPHandler.camera = camera  # type: ignore[assignment]
    server = _Server((args.host, args.port), IPCameraHTTPHandler)
    if args.discovery:
        WSDiscoveryServer(camera.onvif).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"ready": args.port}), flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
