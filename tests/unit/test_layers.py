"""The folders are the architecture: no two concerns import each other, directly or round
a circle (lazy imports inside functions count too). The wiring at the top (app, cli, the
recorder process; the demo, which runs the appliance) may import anything; nothing else
imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "edge"
WIRING = {"app", "cli", "recorder_process", "__main__"}


def _concern(module: str) -> str:
    """edge.gb28181.media.live -> gb28181; edge.config -> config."""
    return module.split(".")[1] if module.count(".") else module


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if name == "edge":
            continue
        source = _concern(name)
        targets = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edge."):
                targets.add(_concern(node.module))
                if node.module == "edge":
                    targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module == "edge":
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {_concern(a.name) for a in node.names if a.name.startswith("edge.")}
        targets.discard(source)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circle_between_concerns() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_live_hub_imports_no_consumer_and_nothing_imports_the_wiring() -> None:
    graph = _graph()
    assert not graph["stream"] & {"gb28181", "web", "detect", "record", "mqtt"}, graph["stream"]
    users = {src for src, targets in graph.items() if targets & WIRING}
    assert users <= WIRING | {"sim"}, f"{sorted(users - WIRING)} import the wiring"


def test_the_old_circle_would_be_found() -> None:
    assert _cycle({"record": {"gb28181"}, "gb28181": {"record"}}) == [
        "gb28181", "record", "gb28181"]


def test_the_daemon_loads_neither_pyav_nor_numpy_until_it_needs_them() -> None:
    """PyAV costs ~55 MB in each process that loads it: the supervisor (the daemon with its
    SIP, MQTT and voice runners) keeps it to the recorder and the detector, and takes it
    (and numpy) only when a loudspeaker actually plays."""
    code = ("import sys, edge.app, edge.mqtt.runner, edge.voice.speaker; "
            "print(sorted({'av', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
