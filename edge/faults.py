"""Fault injection for the supervision tests and the soak bench.

``EDGE_INJECT_FAULT="sip.loop:5,mqtt.loop:5"`` makes each named point raise
InjectedFault once, that many seconds after the process started, from inside the loop
that owns it: what an unexpected bug would do there. Unset, which is always the case in
production, ``check()`` costs one test of an empty dict.

Points: ``sip.loop``, ``mqtt.loop``, ``retention.loop`` (the supervisor's threads);
in the recorder process ``camera.loop`` (a camera thread itself), ``camera.session``
(one connection), ``camera.packet`` (one packet) and ``media.send`` (one live session).
"""

from __future__ import annotations

import os
import time

_STARTED = time.monotonic()


class InjectedFault(RuntimeError):
    """Raised on purpose by an armed fault point."""


def _parse(spec: str) -> dict[str, float]:
    armed: dict[str, float] = {}
    for item in spec.split(","):
        point, _, after = item.strip().partition(":")
        if point:
            armed[point] = float(after or 0)
    return armed


_ARMED = _parse(os.environ.get("EDGE_INJECT_FAULT", ""))


def check(point: str) -> None:
    if _ARMED and time.monotonic() - _STARTED >= _ARMED.get(point, float("inf")):
        if _ARMED.pop(point, None) is not None:  # once, even with threads racing here
            raise InjectedFault(f"injected fault at {point}")
