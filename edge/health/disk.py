"""The data disk's health: the one part a village box loses most often. Pure: what
``smartctl --json`` (SATA, USB bridges that pass SMART through, NVMe), ``mmc extcsd read``
(eMMC's own wear estimates) and the kernel's log say, turned into a state and reasons.

``ok``: nothing wrong seen. ``warning``: wearing (sectors reallocated, eMMC past 70 % of
its life, a few I/O errors): plan a replacement. ``failing``: SMART says it fails, sectors
it cannot read, eMMC at its end of life, file-system errors or many I/O errors: replace it
now. ``unknown``: nothing readable (a virtual disk, an SD card behind a reader without
SMART) — then only the kernel's errors count.

The root-side collector (``edge _disk-health``, edge-disk-health.timer) runs the tools and
writes ``<data_dir>/disk-health.json``; the daemon (no raw device access in its sandbox)
reads it, alarms on it (MQTT, GB/T 28181 AlarmMethod 6 type 1) and answers DeviceStatus."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.digits import is_digits

HEALTH_FILE = "disk-health.json"
ALARM_DISK_WARNING, ALARM_DISK_FAILING = "disk_warning", "disk_failing"  # node alarm kinds
STATES = ("ok", "unknown", "warning", "failing")  # worst last
# ATA attributes whose raw count means damage (smartmontools' names)
REALLOCATED, PENDING, UNCORRECTABLE = 5, 197, 198
EMMC_WARN_LIFE = 0x08  # life-time estimate 70-80 % used
EMMC_END_LIFE = 0x0A   # 90-100 % used; 0x0B: exceeded
IO_ERRORS_WARN, IO_ERRORS_FAIL = 1, 20  # per boot


@dataclass(frozen=True)
class DiskHealth:
    device: str
    state: str = "unknown"
    reasons: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    checked_ts: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def worst(*states: str) -> str:
    return max(states, key=STATES.index)


def from_smartctl(report: dict[str, Any]) -> tuple[str, list[str], dict[str, Any]]:
    """``smartctl --json -H -A`` of one disk -> (state, reasons, facts)."""
    facts: dict[str, Any] = {}
    reasons: list[str] = []
    state = "unknown"
    passed = (report.get("smart_status") or {}).get("passed")
    if isinstance(passed, bool):
        state = "ok" if passed else "failing"
        if not passed:
            reasons.append("SMART 自检判定将损坏 SMART overall health: FAILED")
    model = report.get("model_name")
    if isinstance(model, str):
        facts["model"] = model[:80]
    temperature = (report.get("temperature") or {}).get("current")
    if isinstance(temperature, int):
        facts["temperature_c"] = temperature
    hours = (report.get("power_on_time") or {}).get("hours")
    if isinstance(hours, int):
        facts["power_on_hours"] = hours
    table = (report.get("ata_smart_attributes") or {}).get("table") or []
    raw = {a.get("id"): (a.get("raw") or {}).get("value") for a in table if isinstance(a, dict)}
    for attr, key, text, severe in (
            (REALLOCATED, "reallocated_sectors", "重新映射扇区 reallocated sectors", False),
            (PENDING, "pending_sectors", "待映射扇区 sectors pending reallocation", True),
            (UNCORRECTABLE, "uncorrectable_sectors", "无法读取扇区 uncorrectable sectors", True)):
        count = raw.get(attr)
        if isinstance(count, int):
            facts[key] = count
            if count > 0:
                state = worst(state, "failing" if severe else "warning")
                reasons.append(f"{text}: {count}")
    for a in table:
        if isinstance(a, dict) and a.get("when_failed") in ("now", "past") \
                and a.get("id") not in (REALLOCATED, PENDING, UNCORRECTABLE):
            state = worst(state, "warning")
            reasons.append(f"SMART {a.get('name')}: {a.get('when_failed')}")
    nvme = report.get("nvme_smart_health_information_log")
    if isinstance(nvme, dict):
        used, errors = nvme.get("percentage_used"), nvme.get("media_errors")
        if isinstance(used, int):
            facts["life_used_percent"] = used
            if used >= 80:
                state = worst(state, "failing" if used >= 100 else "warning")
                reasons.append(f"寿命 life used: {used} %")
        if isinstance(errors, int):
            facts["media_errors"] = errors
            if errors > 0:
                state = worst(state, "failing")
                reasons.append(f"介质错误 media errors: {errors}")
        if nvme.get("critical_warning"):
            state = worst(state, "failing")
            reasons.append(f"NVMe critical warning {nvme.get('critical_warning')}")
    return state, reasons, facts


_EXTCSD = re.compile(r"\[(EXT_CSD_[A-Z_]+)\]:\s*0x([0-9a-fA-F]{2})")


def from_extcsd(text: str) -> tuple[str, list[str], dict[str, Any]]:
    """``mmc extcsd read`` -> (state, reasons, facts): the eMMC's own life-time estimates
    (0x01 = 0-10 % used … 0x0A = 90-100 %, 0x0B exceeded) and pre-EOL (reserved blocks:
    1 normal, 2 80 % consumed, 3 urgent)."""
    found = {name: int(value, 16) for name, value in _EXTCSD.findall(text)}
    life = [found[k] for k in ("EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_A",
                               "EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_B") if k in found]
    eol = found.get("EXT_CSD_PRE_EOL_INFO")
    if not life and eol is None:
        return "unknown", [], {}
    facts: dict[str, Any] = {}
    state, reasons = "ok", []
    if life:
        most = max(life)
        facts["life_used_percent"] = min(100, most * 10)
        if most >= EMMC_END_LIFE:
            state = "failing"
            reasons.append(f"eMMC 寿命将尽 life used {min(100, most * 10)} %+")
        elif most >= EMMC_WARN_LIFE:
            state = "warning"
            reasons.append(f"eMMC 寿命 life used {most * 10 - 10}-{most * 10} %")
    if eol is not None:
        facts["pre_eol"] = eol
        if eol >= 3:
            state = worst(state, "failing")
            reasons.append("eMMC 备用块耗尽 reserved blocks urgent (pre-EOL 3)")
        elif eol == 2:
            state = worst(state, "warning")
            reasons.append("eMMC 备用块已用 80 % reserved blocks (pre-EOL 2)")
    return state, reasons, facts


def from_kernel(io_errors: int, fs_errors: int) -> tuple[str, list[str]]:
    """Errors the kernel logged this boot for the disk, and ext4's own error count."""
    state, reasons = "ok", []
    if fs_errors > 0:
        state = "failing"
        reasons.append(f"文件系统错误 file-system errors: {fs_errors}")
    if io_errors >= IO_ERRORS_FAIL:
        state = "failing"
        reasons.append(f"读写错误 I/O errors this boot: {io_errors}")
    elif io_errors >= IO_ERRORS_WARN:
        state = worst(state, "warning")
        reasons.append(f"读写错误 I/O errors this boot: {io_errors}")
    return state, reasons


def count_io_errors(kernel_log: str, disk: str) -> int:
    """Lines of this boot's kernel log that report an I/O error on ``disk`` (vda, sda,
    mmcblk0 and their partitions, or the device mapper on them)."""
    name = re.escape(disk)
    pattern = re.compile(rf"(I/O error|critical medium error|Buffer I/O error).*\b{name}|"
                         rf"\b{name}\w*.*(I/O error|medium error)")
    return sum(1 for line in kernel_log.splitlines() if pattern.search(line))


def read(data_dir: Path) -> DiskHealth | None:
    """What the collector wrote last; None where it never ran (a container, a desk)."""
    try:
        raw = json.loads((data_dir / HEALTH_FILE).read_text(encoding="utf-8"))
        return DiskHealth(str(raw["device"]), str(raw["state"]), tuple(map(str, raw["reasons"])),
                          dict(raw["facts"]), float(raw["checked_ts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def parse_count(text: str) -> int:
    """A counter read from sysfs; 0 where it is not a plain number."""
    text = text.strip()
    return int(text) if is_digits(text) and len(text) < 12 else 0


def disk_alarm_text(health: DiskHealth) -> str:
    head = {"warning": "数据盘老化, 请安排更换 the data disk is wearing: plan its replacement",
            "failing": "数据盘即将损坏, 请立即更换 the data disk is failing: replace it now"}
    said = head.get(health.state, health.state)
    if health.facts.get("stand_in"):  # edge-data-check: the partition is not in use at all
        said = "数据分区未启用 the data partition is not in use"
    return f"{said} ({health.device}: {'; '.join(health.reasons)})"
