"""The data disk's health from what smartctl, mmc and the kernel say (edge/health/disk.py),
and how the node reports it to a platform (DeviceStatus, AlarmMethod 6)."""

from __future__ import annotations

from pathlib import Path

from edge.appliance.diskcheck import underlying_disk, with_boot_notes, write
from edge.gb28181.answers import device_status
from edge.gb28181.model import Channel, Node
from edge.gb28181.notices import ALARM_METHOD_FAULT, ALARM_TYPE_DISK_FAULT, video_alarm
from edge.health.disk import (DiskHealth, count_io_errors, disk_alarm_text, from_extcsd,
                              from_kernel, from_smartctl, read)


def ata(passed: bool, reallocated: int = 0, pending: int = 0) -> dict:
    """The shape of ``smartctl --json -H -A -i`` for a SATA disk (smartmontools 7.3)."""
    def attr(id_: int, name: str, raw: int) -> dict:
        return {"id": id_, "name": name, "value": 100, "worst": 100, "thresh": 10,
                "when_failed": "", "flags": {"value": 51, "prefailure": True},
                "raw": {"value": raw, "string": str(raw)}}
    return {"json_format_version": [1, 0], "device": {"name": "/dev/sda", "type": "sat"},
            "model_name": "WDC WD10PURZ-85U8XY0", "smart_status": {"passed": passed},
            "temperature": {"current": 41}, "power_on_time": {"hours": 15873},
            "ata_smart_attributes": {"revision": 16, "table": [
                attr(5, "Reallocated_Sector_Ct", reallocated),
                attr(9, "Power_On_Hours", 15873),
                attr(197, "Current_Pending_Sector", pending),
                attr(198, "Offline_Uncorrectable", 0)]}}


def test_a_healthy_sata_disk_is_ok_with_its_facts() -> None:
    state, reasons, facts = from_smartctl(ata(True))
    assert (state, reasons) == ("ok", [])
    assert facts == {"model": "WDC WD10PURZ-85U8XY0", "temperature_c": 41,
                     "power_on_hours": 15873, "reallocated_sectors": 0, "pending_sectors": 0,
                     "uncorrectable_sectors": 0}


def test_reallocated_sectors_warn_and_unreadable_ones_fail() -> None:
    assert from_smartctl(ata(True, reallocated=8))[:2] == (
        "warning", ["重新映射扇区 reallocated sectors: 8"])
    state, reasons, _ = from_smartctl(ata(True, reallocated=8, pending=3))
    assert state == "failing" and len(reasons) == 2
    assert from_smartctl(ata(False))[0] == "failing"


def test_nvme_wear_and_media_errors() -> None:
    log = {"critical_warning": 0, "percentage_used": 85, "media_errors": 0}
    assert from_smartctl({"smart_status": {"passed": True},
                          "nvme_smart_health_information_log": log})[0] == "warning"
    log |= {"media_errors": 2}
    assert from_smartctl({"smart_status": {"passed": True},
                          "nvme_smart_health_information_log": log})[0] == "failing"


def test_no_smart_is_unknown_not_ok() -> None:
    # a virtio disk, an SD card reader: smartctl says nothing usable
    assert from_smartctl({"smartctl": {"exit_status": 2}}) == ("unknown", [], {})


EXTCSD = """=============================================
  Extended CSD rev 1.8 (MMC 5.1)
=============================================
Card Supported Command sets [S_CMD_SET: 0x01]
eMMC Life Time Estimation A [EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_A]: 0x{a}
eMMC Life Time Estimation B [EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_B]: 0x01
eMMC Pre EOL information [EXT_CSD_PRE_EOL_INFO]: 0x{eol}
"""


def test_emmc_life_estimates() -> None:
    assert from_extcsd(EXTCSD.format(a="02", eol="01")) == (
        "ok", [], {"life_used_percent": 20, "pre_eol": 1})
    assert from_extcsd(EXTCSD.format(a="08", eol="01"))[0] == "warning"
    assert from_extcsd(EXTCSD.format(a="0b", eol="01"))[0] == "failing"
    assert from_extcsd(EXTCSD.format(a="02", eol="03"))[0] == "failing"
    assert from_extcsd("mmc: not an eMMC") == ("unknown", [], {})


def test_kernel_errors_on_the_disk_count() -> None:
    log = ("blk_update_request: I/O error, dev sda, sector 123456 op 0x0:(READ)\n"
           "Buffer I/O error on dev sda3, logical block 42, async page read\n"
           "blk_update_request: I/O error, dev sdb, sector 1 op 0x0:(READ)\n"
           "EXT4-fs (dm-0): mounted filesystem with ordered data mode\n")
    assert count_io_errors(log, "sda") == 2 and count_io_errors(log, "mmcblk0") == 0
    assert from_kernel(0, 0) == ("ok", [])
    assert from_kernel(2, 0)[0] == "warning"
    assert from_kernel(25, 0)[0] == "failing" and from_kernel(0, 1)[0] == "failing"


def test_the_disk_under_the_encrypted_data_partition() -> None:
    tree = {"blockdevices": [{"name": "edge-data", "type": "crypt", "children": [
        {"name": "mmcblk1p3", "type": "part", "children": [
            {"name": "mmcblk1", "type": "disk"}]}]}]}
    assert underlying_disk(tree) == "mmcblk1"
    assert underlying_disk({"blockdevices": []}) is None


def test_what_the_collector_writes_the_daemon_reads(tmp_path: Path) -> None:
    health = DiskHealth("/dev/sda", "failing", ("待映射扇区 sectors pending reallocation: 3",),
                        {"pending_sectors": 3}, 1_790_000_000.0)
    write(tmp_path, health)
    assert read(tmp_path) == health
    (tmp_path / "disk-health.json").write_text("{not json")
    assert read(tmp_path) is None and read(tmp_path / "nowhere") is None
    assert disk_alarm_text(health).startswith("数据盘即将损坏")


def test_the_platform_hears_of_a_failing_disk() -> None:
    node = Node("34020000001180000001", "村口", "Asia/Shanghai", fault="数据盘即将损坏 (/dev/sda)")
    channel = Channel("34020000001320000001", "a", True, True)
    body = device_status(node, 7, [channel], 1_790_000_000.0, node.id).decode("gb2312")
    assert "<Status>ERROR</Status>" in body and "<Reason>数据盘即将损坏 (/dev/sda)</Reason>" in body
    # a channel's own status is the channel's, not the node's disk
    body = device_status(node, 8, [channel], 1_790_000_000.0, channel.id).decode("gb2312")
    assert "<Status>OK</Status>" in body and "Reason" not in body
    alarm = video_alarm(node, 9, node.id, ALARM_TYPE_DISK_FAULT, "1", "disk", 1_790_000_000.0,
                        ALARM_METHOD_FAULT).decode("gb2312")
    assert "<AlarmMethod>6</AlarmMethod>" in alarm and "<AlarmType>1</AlarmType>" in alarm


def test_a_data_partition_not_in_use_fails_the_disk_and_a_full_root_warns(
        tmp_path: Path, monkeypatch) -> None:
    """edge-data-check's notes of this boot reach disk health (and so the dashboard, MQTT
    and the platform's disk-fault alarm); a boot without them changes nothing."""
    from edge import bootnotes
    from edge.appliance.datacheck import root_full_text, stand_in_text

    volume, root = tmp_path / "data-volume", tmp_path / "root-space"
    monkeypatch.setattr(bootnotes, "VOLUME_NOTE", volume)
    monkeypatch.setattr(bootnotes, "ROOT_NOTE", root)
    healthy = DiskHealth("/dev/vda", "ok", (), {"kind": "no SMART"}, 1.0)
    assert with_boot_notes(healthy) == healthy
    root.write_text(root_full_text(97.2, 80, ["journal > 64M"]) + "\n", encoding="utf-8")
    warned = with_boot_notes(healthy)
    assert warned.state == "warning" and "97 % full (80 MB free)" in warned.reasons[-1]
    volume.write_text(stand_in_text("/dev/vda3: the key file is missing") + "\n",
                      encoding="utf-8")
    failed = with_boot_notes(DiskHealth("/dev/vda", "warning", ("3 I/O errors",), {}, 1.0))
    assert failed.state == "failing"
    assert failed.reasons[0].endswith("/dev/vda3: the key file is missing")
    assert "3 I/O errors" in failed.reasons
    assert "the data partition is not in use" in disk_alarm_text(failed)
    assert bootnotes.stand_in() is not None and len(bootnotes.notes()) >= 2
