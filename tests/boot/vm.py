"""The appliance image booted as a whole box: ``qemu-system-aarch64 -M virt -cpu cortex-a53``
with Debian's UEFI firmware (AAVMF), the image's own GRUB, kernel and initramfs (nothing
passed from outside), driven from the host the way a technician reaches a box: its serial
console (read from QEMU's log of it), a USB stick (a FAT image on an emulated xHCI bus),
SSH with the key that stick gave it, and HTTPS to its web UI. QEMU's user-mode network
puts the host at 10.0.2.2 for the guest; only loopback ports are forwarded on the host.
A power cut is SIGKILL to QEMU: what the guest had not written to its disk is lost."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge.sim.server import free_port

FIRMWARE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
FIRMWARE_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")
DISK_SIZE = "8G"  # the flashed disk: first boot grows the data partition into it
GUEST_HOST = "10.0.2.2"  # the host as the guest sees it (QEMU user-mode network)


class BootFailed(AssertionError):
    """The box did not get where it had to; the message ends with the console's tail."""


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:  # the boot test fails rather than skip without its emulator
        raise BootFailed(f"{tool} is missing: apt-get install {package}")
    return path


@dataclass
class Box:
    """One flashed disk, booted as often as the test likes."""

    image: Path
    work: Path
    key: Path = field(init=False)
    web_port: int = field(default_factory=free_port)
    ssh_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    boots: int = 0

    def __post_init__(self) -> None:
        need("qemu-system-aarch64", "qemu-system-arm")
        need("mkfs.vfat", "dosfstools")
        need("mcopy", "mtools")
        for firmware in (FIRMWARE, FIRMWARE_VARS):
            if not firmware.exists():
                raise BootFailed(f"{firmware} is missing: apt-get install qemu-efi-aarch64")
        self.work.mkdir(parents=True, exist_ok=True)
        self.disk = self.work / "disk.img"
        subprocess.run(["cp", "--sparse=always", str(self.image), str(self.disk)], check=True)
        subprocess.run(["truncate", "-s", DISK_SIZE, str(self.disk)], check=True)
        self.vars = self.work / "vars.fd"
        shutil.copy(FIRMWARE_VARS, self.vars)
        self.key = self.work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)],
                       check=True)
        self.stick = self.work / "stick.img"
        subprocess.run(["mkfs.vfat", "-C", "-n", "TECH", str(self.stick), "16384"], check=True,
                       capture_output=True)
        subprocess.run(["mmd", "-i", str(self.stick), "::/EDGE"], check=True)
        subprocess.run(["mcopy", "-i", str(self.stick), str(self.key) + ".pub",
                        "::/EDGE/authorized_keys"], check=True)

    # -- power ---------------------------------------------------------------------------
    def power_on(self, rtc: str = "utc") -> None:
        """``rtc``: QEMU's -rtc base, "utc" (the host's time) or a date such as 1970-01-01
        (a box whose RTC battery is flat)."""
        assert self.proc is None, "already on"
        self.boots += 1
        self.console = self.work / f"console-{self.boots}.log"
        self.booted_at = time.monotonic()
        argv = [
            "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a53", "-smp", "2", "-m", "2048",
            "-display", "none", "-monitor", "none", "-rtc", f"base={rtc}",
            "-drive", f"if=pflash,format=raw,readonly=on,file={FIRMWARE}",
            "-drive", f"if=pflash,format=raw,file={self.vars}",
            "-drive", f"if=none,id=disk,format=raw,file={self.disk}",
            "-device", "virtio-blk-pci,drive=disk",
            "-device", "virtio-rng-pci",
            "-netdev", f"user,id=net,hostfwd=tcp:127.0.0.1:{self.web_port}-:8080,"
                       f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22",
            "-device", "virtio-net-pci,netdev=net",
            "-device", "qemu-xhci,id=xhci",
            "-drive", f"if=none,id=stick,format=raw,file={self.stick}",
            "-device", "usb-storage,bus=xhci.0,drive=stick",
            "-chardev", f"file,id=serial,path={self.console}",
            "-serial", "chardev:serial",
        ]
        with open(self.work / f"qemu-{self.boots}.log", "wb") as errors:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errors)

    def power_cut(self) -> None:
        """SIGKILL: the guest's unwritten pages are lost, as in a power failure."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def shutdown(self) -> None:
        if self.proc is not None:
            self.power_cut()

    # -- the console ------------------------------------------------------------------------
    def console_text(self) -> str:
        if not self.console.exists():  # QEMU has not written to it yet
            return ""
        return self.console.read_text(encoding="utf-8", errors="replace")

    def wait_console(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.console_text())
            if found:
                return found
            self._alive()
            if time.monotonic() > deadline:
                raise BootFailed(f"no {pattern!r} on the console within {timeout:.0f} s\n"
                                 + self.tail())
            time.sleep(2)

    def tail(self, lines: int = 40) -> str:
        return "--- console tail ---\n" + "\n".join(self.console_text().splitlines()[-lines:])

    def _alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BootFailed(f"qemu exited with {self.proc.returncode}: "
                             f"{(self.work / f'qemu-{self.boots}.log').read_text()[-500:]}")

    # -- SSH --------------------------------------------------------------------------------
    def ssh(self, command: str, timeout: float = 300, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            ["ssh", "-q", "-i", str(self.key), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=20", "root@127.0.0.1", command],
            **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
            capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise BootFailed(f"ssh {command!r}: exit {res.returncode}\n{res.stdout[-1500:]}"
                             f"\n{res.stderr[-1500:]}")
        return res

    def wait_ssh(self, timeout: float) -> float:
        """Seconds from power-on until SSH lets us in."""
        deadline = time.monotonic() + timeout
        while True:
            self._alive()
            try:
                if self.ssh("true", timeout=60, check=False).returncode == 0:
                    return time.monotonic() - self.booted_at
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                raise BootFailed(f"no SSH within {timeout:.0f} s\n" + self.tail())
            time.sleep(5)

    def wait_until(self, command: str, timeout: float, what: str) -> str:
        """Run ``command`` over SSH until it exits 0; its output."""
        deadline = time.monotonic() + timeout
        while True:
            res = self.ssh(command, check=False)
            if res.returncode == 0:
                return res.stdout
            if time.monotonic() > deadline:
                raise BootFailed(f"{what}: not within {timeout:.0f} s: {command!r} said\n"
                                 f"{res.stdout[-1500:]}\n{res.stderr[-800:]}")
            time.sleep(10)

    def stick_file(self, name: str) -> str | None:
        res = subprocess.run(["mtype", "-i", str(self.stick), f"::/EDGE/{name}"],
                             capture_output=True, text=True)
        return res.stdout if res.returncode == 0 else None
