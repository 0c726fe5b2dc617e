"""Simulated IP camera(s): a GStreamer RTSP server fed with pre-encoded clips.

Runs under the system interpreter (``/usr/bin/python3`` with python3-gi and
gir1.2-gst-rtsp-server-1.0), not in the edge virtualenv, and imports nothing from
edge. Each ``--mount /path=CLIP.json`` serves one looping clip (see clips.py).
Access units are pushed into ``appsrc is-live=true`` on a wall-clock schedule, so the
stream behaves like a camera: real-time, increasing timestamps, GOP from the clip.

``--backchannel FILE``: the cameras have an audio output (ONVIF Profile T backchannel,
``Require: www.onvif.org/ver20/backchannel``, PCMU at 8 kHz: GStreamer's own ONVIF server):
what a client says there is decoded and appended to FILE as 16-bit mono PCM.

Signals: SIGUSR1 freezes every stream (connected but silent, like a stalled camera),
SIGUSR2 resumes it; SIGTERM stops the server.
"""

import argparse
import json
import signal
import struct
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

TICK_MS = 5
VIDEO = {
    "h264": ("video/x-h264,stream-format=byte-stream,alignment=au", "h264parse ! rtph264pay"),
    "hevc": ("video/x-h265,stream-format=byte-stream,alignment=au", "h265parse ! rtph265pay"),
}
AUDIO = {
    "pcm_alaw": ("audio/x-alaw,rate=8000,channels=1", "rtppcmapay name=pay1 pt=8"),
    "pcm_mulaw": ("audio/x-mulaw,rate=8000,channels=1", "rtppcmupay name=pay1 pt=0"),
    "aac": ("audio/mpeg,mpegversion=4,stream-format=adts", "aacparse ! rtpmp4gpay name=pay1 pt=97"),
}
FROZEN = {"on": False}


def read_units(path):
    # the format of edge.sim.clips.read_units, repeated: this interpreter cannot import edge
    units = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        units.append(data[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return units


class Feeder:
    """Pushes one clip's units into the appsrcs of one prepared media, in real time."""

    def __init__(self, clip, media):
        self.clip = clip
        bin_ = media.get_element()
        self.video_src = bin_.get_by_name("v")
        self.audio_src = bin_.get_by_name("a")
        self.start = time.monotonic()
        self.sent_video = 0
        self.sent_audio = 0
        self.source_id = GLib.timeout_add(TICK_MS, self.tick)
        media.connect("unprepared", self.stop)

    def stop(self, *_args):
        if self.source_id:
            GLib.source_remove(self.source_id)
            self.source_id = 0

    def tick(self):
        now = time.monotonic()
        playing = self.video_src.current_state == Gst.State.PLAYING
        if FROZEN["on"] or not playing:
            # Shift the schedule so that nothing piles up while frozen, and push nothing
            # before PLAYING: buffers stamped before the pipeline has a base time stall
            # the first session of a freshly started server.
            self.start += TICK_MS / 1000
            return True
        elapsed = now - self.start
        clip = self.clip
        due_video = int(elapsed * clip["fps"]) + 1
        while self.sent_video < due_video:
            unit = clip["video_units"][self.sent_video % len(clip["video_units"])]
            self.video_src.emit("push-buffer", Gst.Buffer.new_wrapped(unit))
            self.sent_video += 1
        if self.audio_src is not None:
            frame_s = clip["audio_frame_samples"] / clip["audio_rate"]
            due_audio = int(elapsed / frame_s) + 1
            while self.sent_audio < due_audio:
                unit = clip["audio_units"][self.sent_audio % len(clip["audio_units"])]
                self.audio_src.emit("push-buffer", Gst.Buffer.new_wrapped(unit))
                self.sent_audio += 1
        return True


BACKCHANNEL = (
    "( capsfilter caps=\"application/x-rtp,media=audio,payload=0,clock-rate=8000,"
    "encoding-name=PCMU\" name=depay_backchannel ! rtppcmudepay ! mulawdec "
    "! filesink location={} append=true sync=false async=false )"
)


class ClipFactory(GstRtspServer.RTSPOnvifMediaFactory):
    def __init__(self, meta_path, backchannel=None):
        super().__init__()
        self.set_media_gtype(GstRtspServer.RTSPOnvifMedia.__gtype__)  # else it makes none
        if backchannel:
            self.set_backchannel_launch(BACKCHANNEL.format(backchannel))
        with open(meta_path) as f:
            meta = json.load(f)
        base = meta_path[: -len(".json")]
        self.clip = {"fps": meta["fps"], "video_units": read_units(base + ".video")}
        caps, chain = VIDEO[meta["video"]]
        # a client of the audio output alone sets up no other track: their payloaders stay
        # unlinked, and an appsrc that is told so fails the whole media (a camera does not)
        tee = "! tee allow-not-linked=true " if backchannel else ""
        launch = (
            f"( appsrc name=v is-live=true format=time do-timestamp=true caps={caps} "
            f"{tee}! {chain} name=pay0 pt=96 config-interval=-1 "
        )
        if meta.get("audio"):
            self.clip.update(
                audio_units=read_units(base + ".audio"),
                audio_rate=meta["audio_rate"],
                audio_frame_samples=meta["audio_frame_samples"],
            )
            acaps, achain = AUDIO[meta["audio"]]
            launch += (f"appsrc name=a is-live=true format=time do-timestamp=true caps={acaps} "
                       f"{tee}! {achain} ")
        self.set_launch(launch + ")")
        self.set_shared(True)
        self.connect("media-configure", lambda _f, media: Feeder(self.clip, media))


def add_digest_auth(server, factories, user, password):
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", user)
    auth.add_digest(user, password, token)
    server.set_auth(auth)
    for factory in factories:
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role(user)
        perms.add_permission_for_role(user, "media.factory.access", True)
        perms.add_permission_for_role(user, "media.factory.construct", True)
        factory.set_permissions(perms)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", action="append", required=True, help="/path=CLIP.json")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--backchannel", help="FILE: what clients say to the cameras")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPOnvifServer()  # plain RTSP to clients that ask no backchannel
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    factories = []
    for spec in args.mount:
        path, _, meta = spec.partition("=")
        factory = ClipFactory(meta, args.backchannel)
        mounts.add_factory(path, factory)
        factories.append(factory)
    if args.user:
        add_digest_auth(server, factories, args.user, args.password or "")
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGUSR1, lambda: FROZEN.update(on=True) or True)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGUSR2, lambda: FROZEN.update(on=False) or True)
    print(f"ready port={args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
