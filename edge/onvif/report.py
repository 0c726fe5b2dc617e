"""``edge discover``'s output: a table for people (Chinese, English beside), and JSON whose
field names are ``DeviceFacts``' (documented in docs/onvif.md, stable)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from edge.onvif.device import DeviceFacts

JSON_VERSION = 1


def as_json(devices: list[DeviceFacts], refused: list[dict[str, str]]) -> str:
    return json.dumps({"version": JSON_VERSION, "devices": [dataclasses.asdict(d) for d in devices],
                       "unreadable": refused}, ensure_ascii=False, indent=1)


def table(devices: list[DeviceFacts], refused: list[dict[str, str]]) -> str:
    lines: list[str] = []
    for d in devices:
        offset = "?" if d.clock_offset_s is None else f"{d.clock_offset_s:+.1f} s"
        lines.append(f"{d.address}")
        lines.append(f"  厂家 maker {d.manufacturer or '-'}  型号 model {d.model or '-'}  "
                     f"固件 firmware {d.firmware or '-'}  序列号 serial {d.serial or '-'}"
                     + (f"  MAC {d.mac}" if d.mac else ""))
        lines.append(f"  时差 clock offset {offset}  云台 PTZ {_yes(d.ptz)}"
                     + (f" (预置位 presets {d.presets})" if d.ptz else "")
                     + f"  聚焦/光圈 imaging {_yes(d.imaging)}  音频输出 audio out "
                       f"{_yes(d.audio_output)}")
        for p in d.profiles:
            lines.append(f"  [{p.token}] {p.name} 视频源 source {p.source}: {p.encoding} "
                         f"{p.width}x{p.height} {p.fps} fps {p.bitrate_kbps} kbit/s")
            lines.append(f"      {p.rtsp or p.problem}")
        lines.extend(f"  ! {problem}" for problem in d.problems)
    for r in refused:
        lines.append(f"{r['address']}\n  ! {r['error']}")
    if not lines:
        lines.append("未找到设备 no device answered (同一网段? 用 --address 指定 same subnet? "
                     "try --address HOST)")
    return "\n".join(lines)


def _yes(value: Any) -> str:
    return "有 yes" if value else "无 no"
