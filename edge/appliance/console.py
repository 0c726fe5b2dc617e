"""What the box's own screen says (``edge _console``, run by edge-console.service as root
whenever the set-up token appears or is used up): the address to open, the one-time set-up
token while no admin exists, and what first boot could not do. A technician on site reads
it on the HDMI screen or the serial console, before any login (the getty shows
``/etc/issue.d/50-edge.issue`` above its prompt; agetty puts the live IPv4 address where
``\\4`` stands, and redraws it when the network comes up)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import psutil

from edge import __version__, bootnotes
from edge.config import EdgeConfig
from edge.web.accounts import SETUP_FILE

ISSUE = Path("/etc/issue.d/50-edge.issue")
CONSOLE = Path("/dev/console")


def screen_text(cfg: EdgeConfig, token: str | None, notes: list[str], address: str) -> str:
    """The lines for the screen; ``address`` is a host name or agetty's ``\\4``."""
    scheme = "https" if cfg.web.tls_cert else "http"
    base = f"{scheme}://{address}:{cfg.web.port}/"
    lines = ["", f"雪亮工程边缘节点 edge {__version__}  本机编号 node {cfg.node.id}"]
    if not cfg.web.enabled:
        lines.append("网页界面已关闭 the web UI is off ([web].enabled = false)")
    elif token:
        lines += [f"请在浏览器中完成设置 finish the set-up in a browser: {base}setup",
                  f"首次设置口令 set-up token: {token}"]
    else:
        lines.append(f"网页界面 web UI: {base}")
    lines += [f"注意 note: {note}" for note in notes]
    return "\n".join(lines) + "\n\n"


def addresses() -> list[str]:
    """The box's IPv4 addresses but loopback."""
    return sorted(a.address for name, found in psutil.net_if_addrs().items() if name != "lo"
                  for a in found if a.family == socket.AF_INET)


def show(cfg: EdgeConfig) -> str:
    """Write the getty's issue file, print the same on the console, ask every getty to
    redraw; the text printed."""
    token_file = cfg.data_dir / SETUP_FILE
    token = token_file.read_text(encoding="ascii").strip() if token_file.exists() else None
    notes = bootnotes.notes()
    ISSUE.parent.mkdir(parents=True, exist_ok=True)
    ISSUE.write_text(screen_text(cfg, token, notes, "\\4"), encoding="utf-8")
    here = addresses()
    text = screen_text(cfg, token, notes, here[0] if here else "<本机地址 box address>")
    try:
        with CONSOLE.open("w", encoding="utf-8") as console:
            console.write(text)
    except OSError:
        pass  # no console (a container): the issue file is still there for the next getty
    subprocess.run(["agetty", "--reload"], capture_output=True, check=False)
    return text
