"""Benchmark: the GB/T 28181 agent's MESSAGE round trips and RecordInfo latency.

1. Round trips: a client (the "upper platform", pinned to CPU 1) keeps 16 DeviceInfo
   queries in flight against the node's SIP agent (a process running only SipRunner,
   pinned to CPU 0). One round trip = query -> 200 OK + answer MESSAGE -> our 200 OK.
   The anchor is sipp (C++) doing the same exchange from an XML scenario on the same core.
   Printed: completed queries per second and agent CPU-ms per query, for both, and the ratio.
2. RecordInfo over a synthetic index of 16 channels x 90 days of 60-s segments (about
   2.07 million rows, a 5-min outage per channel per day): the index query alone, and the
   whole answer (from the query's send until the client has received and acknowledged every
   packet), for a one-day and a 90-day search, median of 5.

Usage: ``python bench/sip.py [--seconds 10] [--index-dir .cache/bench-index]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procstat import cpu_seconds  # noqa: E402
from edge.config import parse as parse_config  # noqa: E402
from edge.gb28181.answers import format_local_time  # noqa: E402
from edge.gb28181.manscdp import ManscdpMessage, parse_body, render  # noqa: E402
from edge.gb28181.model import Channel  # noqa: E402
from edge.gb28181.runner import SipRunner  # noqa: E402
from edge.gb28181.sip.message import SipRequest, SipResponse, parse, response_to  # noqa: E402
from edge.record.index import Index  # noqa: E402

NODE = "34020000001180000001"
SERVER = "34020000002000000001"
CHANNELS = [f"340200000013200000{i:02d}" for i in range(1, 17)]
DAYS, SEGMENT_S, OUTAGE_S = 90, 60, 300
IN_FLIGHT = 16
TZ = "Asia/Shanghai"
SIPP_SCENARIO = """<?xml version="1.0" encoding="UTF-8"?>
<scenario name="anchor: answer a MANSCDP query like the agent does">
  <recv request="MESSAGE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]t[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
MESSAGE sip:%(server)s@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];rport;branch=[branch]
From: <sip:%(node)s@3402000000>;tag=[pid]a[call_number]
To: <sip:%(server)s@3402000000>
Call-ID: [call_id]
CSeq: 2 MESSAGE
Max-Forwards: 70
Content-Type: Application/MANSCDP+xml
Content-Length: [len]

%(body)s]]></send>
  <recv response="200" />
</scenario>
"""


# -- the agent under test: SipRunner alone, in its own process ---------------------------

def serve(data_dir: str, client_port: int, sip_port: int) -> None:
    os.sched_setaffinity(0, {0})
    cfg = parse_config({
        "node": {"id": NODE, "data_dir": data_dir, "sip_port": sip_port},
        "platforms": [{"id": SERVER, "host": "127.0.0.1", "port": client_port,
                       "password": "bench", "keepalive_interval": 3600}],
    })
    channels = [Channel(c, f"通道{i}", True, True) for i, c in enumerate(CHANNELS, 1)]
    stop = threading.Event()
    runner = SipRunner(cfg, stop, lambda: channels)
    runner.start()
    sys.stdin.read()  # until the bench closes our stdin
    stop.set()
    runner.join(5)


def start_agent(data_dir: Path, client_port: int) -> tuple[subprocess.Popen[bytes], int]:
    sip_port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "_serve", str(data_dir), str(client_port),
                             str(sip_port)], stdin=subprocess.PIPE, cwd=ROOT)
    return proc, sip_port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the client: a minimal upper platform --------------------------------------------------

class Platform:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sn = 0

    def recv(self, timeout: float = 10.0) -> tuple[SipRequest | SipResponse, tuple[str, int]]:
        self.sock.settimeout(timeout)
        data, peer = self.sock.recvfrom(65_535)
        return parse(data), peer

    def accept_registration(self) -> None:
        """Grant the agent's REGISTER without a challenge (not what is measured)."""
        while True:
            msg, peer = self.recv()
            if isinstance(msg, SipRequest) and msg.method == "REGISTER":
                self.sock.sendto(bytes(response_to(msg, 200, "OK", "reg")), peer)
                return

    def query(self, target: tuple[str, int], cmd: str, device: str,
              fields: list[tuple[str, str]] = ()) -> int:
        self.sn += 1
        request = SipRequest("MESSAGE", f"sip:{NODE}@3402000000", (
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bKb{self.sn}"),
            ("From", f"<sip:{SERVER}@3402000000>;tag=b{self.sn}"),
            ("To", f"<sip:{NODE}@3402000000>"), ("Call-ID", f"bench-{self.sn}"),
            ("CSeq", f"{self.sn} MESSAGE"), ("Content-Type", "Application/MANSCDP+xml")),
            render("Query", cmd, self.sn, device, fields))
        self.sock.sendto(bytes(request), target)
        return self.sn

    def next_answer(self, timeout: float = 10.0) -> ManscdpMessage | None:
        """Acknowledge the next request; its body if it is an answer, else None."""
        msg, peer = self.recv(timeout)
        if isinstance(msg, SipResponse):
            return None
        self.sock.sendto(bytes(response_to(msg, 200, "OK", "ack")), peer)
        if msg.method != "MESSAGE":
            return None
        body = parse_body(msg.body)
        return body if body.root == "Response" else None

    def drain(self) -> None:
        try:
            while True:
                self.next_answer(0.5)
        except TimeoutError:
            pass


def round_trips(platform_: Platform, target: tuple[str, int], seconds: float,
                pid: int) -> tuple[float, float]:
    """Queries per second and agent CPU-ms per query, IN_FLIGHT queries outstanding."""
    for _ in range(IN_FLIGHT):
        platform_.query(target, "DeviceInfo", NODE)
    done, cpu0, t0 = 0, cpu_seconds([pid]), time.monotonic()
    while time.monotonic() - t0 < seconds:
        if platform_.next_answer() is not None:
            done += 1
            platform_.query(target, "DeviceInfo", NODE)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds([pid]) - cpu0
    platform_.drain()
    return done / elapsed, cpu / max(done, 1) * 1000


def bench_round_trips(seconds: float, work: Path) -> None:
    os.sched_setaffinity(0, {1})
    client = Platform()
    agent, sip_port = start_agent(work / "rt", client.port)
    try:
        client.accept_registration()
        edge_rate, edge_ms = round_trips(client, ("127.0.0.1", sip_port), seconds, agent.pid)
    finally:
        agent.stdin.close()
        agent.wait()
    sipp_rate = sipp_ms = float("nan")
    if shutil.which("sipp"):
        body = render("Response", "DeviceInfo", 1, NODE, [
            ("DeviceName", "bench"), ("Result", "OK"), ("DeviceType", "NVR"),
            ("Manufacturer", "edge"), ("Model", "edge-nvr"), ("Firmware", "0.1.0"),
            ("Channel", "16")]).decode("gb18030")
        scenario = work / "anchor.xml"
        scenario.write_text(SIPP_SCENARIO % {"server": SERVER, "node": NODE, "body": body})
        port = free_port()
        client2 = Platform()
        sipp = subprocess.Popen(["taskset", "-c", "0", "sipp", "-sf", str(scenario), "-i",
                                 "127.0.0.1", "-p", str(port), "-nostdin", "-timeout",
                                 f"{seconds + 20:.0f}s"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=work)
        try:
            time.sleep(0.5)
            sipp_rate, sipp_ms = round_trips(client2, ("127.0.0.1", port), seconds, sipp.pid)
        finally:
            sipp.terminate()
            sipp.wait()
    print(f"MESSAGE round trips (DeviceInfo, {IN_FLIGHT} in flight, agent on one core):")
    print(f"  edge agent : {edge_rate:8.0f} queries/s  {edge_ms:6.3f} CPU-ms/query")
    print(f"  sipp anchor: {sipp_rate:8.0f} queries/s  {sipp_ms:6.3f} CPU-ms/query")
    print(f"  ratio edge/sipp: throughput {edge_rate / sipp_rate:.2f}, "
          f"CPU per query {edge_ms / sipp_ms:.2f}")


# -- RecordInfo over a 2-million-segment index ------------------------------------------------

def build_index(data_dir: Path, end: float) -> None:
    """16 channels x 90 days of 60-s segments; each channel loses 5 min once a day."""
    if (data_dir / "edge.db").exists():
        Index(data_dir).close()  # an index cached by an older run is upgraded here
        return
    index = Index(data_dir)
    start = end - DAYS * 86_400
    index.db.execute("BEGIN")
    for n, ch in enumerate(CHANNELS):
        rows = []
        t = start
        while t < end:
            day = int((t - start) // 86_400)
            outage = start + day * 86_400 + ((n + day) % 24) * 3600
            if outage <= t < outage + OUTAGE_S:
                t += SEGMENT_S
                continue
            rows.append((ch, t, t + SEGMENT_S, f"recordings/{ch}/{int(t)}.mp4", 1_500_000, 1,
                         "h264", None, 1920, 1080))
            t += SEGMENT_S
        index.db.executemany(
            "INSERT INTO segments (channel_id, start_ts, end_ts, path, bytes, complete,"
            " video_codec, audio_codec, width, height) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    index.db.execute("DELETE FROM coverage")
    index.db.execute("PRAGMA user_version = 1")  # reopening builds coverage, as an upgrade would
    index.db.execute("COMMIT")
    index.close()
    t0 = time.monotonic()
    Index(data_dir).close()
    print(f"  coverage table built from {len(CHANNELS)} x {DAYS} days of rows in "
          f"{time.monotonic() - t0:.1f} s (once, on upgrade)")


def bench_record_info(work: Path, index_dir: Path) -> None:
    end = time.time() // 86_400 * 86_400
    t0 = time.monotonic()
    build_index(index_dir, end)
    built = time.monotonic() - t0
    index = Index(index_dir, readonly=True)
    rows = index.db.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
    ch = CHANNELS[5]
    print(f"RecordInfo over {rows:,} segments ({len(CHANNELS)} channels x {DAYS} days; "
          f"index ready in {built:.1f} s):")
    client = Platform()
    agent, sip_port = start_agent(index_dir, client.port)
    try:
        client.accept_registration()
        for label, span in (("1 day", 86_400), ("90 days", DAYS * 86_400)):
            q_times, a_times = [], []
            for _ in range(5):
                t = time.perf_counter()
                ranges = index.recorded_ranges(ch, end - span, end)
                q_times.append(time.perf_counter() - t)
                t = time.perf_counter()
                client.query(("127.0.0.1", sip_port), "RecordInfo", ch, [
                    ("StartTime", format_local_time(end - span, TZ)),
                    ("EndTime", format_local_time(end, TZ)), ("Type", "all")])
                items, packets, total = 0, 0, -1
                while items != total:  # every packet received and acknowledged
                    body = client.next_answer()
                    if body is not None:
                        total = int(body.fields["SumNum"])
                        items += int(body.element.find("RecordList").get("Num"))
                        packets += 1
                a_times.append(time.perf_counter() - t)
                assert total == len(ranges), (total, len(ranges))
            segments = index.db.execute(
                "SELECT COUNT(*) FROM segments WHERE channel_id = ? AND start_ts >= ?",
                (ch, end - span)).fetchone()[0]
            print(f"  {label:>7}: {segments:9,} segments -> {len(ranges)} ranges;"
                  f" ranges query {statistics.median(q_times) * 1000:6.1f} ms,"
                  f" whole answer ({packets} packets) {statistics.median(a_times) * 1000:6.1f} ms")
    finally:
        agent.stdin.close()
        agent.wait()
        index.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(*sys.argv[2:3], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--index-dir", type=Path, default=ROOT / ".cache" / "bench-index")
    args = parser.parse_args()
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "rt").mkdir()
        bench_round_trips(args.seconds, work)
        args.index_dir.mkdir(parents=True, exist_ok=True)
        bench_record_info(work, args.index_dir)


if __name__ == "__main__":
    main()
