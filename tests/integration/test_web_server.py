"""The web UI's server under clients that try to hold its threads (issue 22, finding 1):
200 sockets from one address that send a request's head one byte at a time. The web
process is the real one (``edge _web``, cheroot, real sockets on loopback); the slow
clients come from 127.0.0.2, the room's browser from 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from edge.sim.server import free_port
from tests.conftest import wait_for

SLOW_CLIENTS = 200


def test_slow_clients_from_one_address_do_not_take_the_web_ui_down(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "edge.toml"
    config.write_text(f'[node]\nid = "34020000001180000001"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[web]\nlisten = "127.0.0.1"\nport = {port}\n', encoding="utf-8")
    web = subprocess.Popen([sys.executable, "-m", "edge", "_web", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def page(path: str) -> int:
        with urllib.request.urlopen(base + path, timeout=20) as answer:
            return int(answer.status)

    slow: list[socket.socket] = []
    stop = threading.Event()
    try:
        wait_for(lambda: _answers(base), 60, "the web UI")
        for _ in range(SLOW_CLIENTS):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)

        def trickle() -> None:  # one more header byte every 2 s, never the blank line
            while not stop.wait(2.0):
                for s in slow:
                    try:
                        s.send(b"X")
                    except OSError:
                        pass

        threading.Thread(target=trickle, daemon=True).start()
        time.sleep(3)  # every slow client has sent its first bytes
        # the room's browser still gets its pages while all 200 hang on
        assert page("/login") == 200 and page("/healthz") == 200
        # and the server let go of the slow ones (cut at the head deadline or refused)
        def cut(s: socket.socket) -> bool:
            s.settimeout(0.01)
            try:
                return s.recv(4096) == b"" or True  # closed, or answered 503/408
            except (TimeoutError, BlockingIOError):
                return False
            except OSError:
                return True

        wait_for(lambda: all(cut(s) for s in slow), 60, "every slow client let go")
        assert page("/login") == 200
    finally:
        stop.set()
        for s in slow:
            s.close()
        web.terminate()
        web.wait(20)


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
