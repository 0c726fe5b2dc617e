"""Text messages (短信) through the box's own 4G modem, for duty officers whose phone has no
data: ModemManager's ``mmcli`` creates the message, sends it, and deletes it again (the
SIM's message store is small). One message per number; the first failure stops the alert,
which the runner retries later like any other receiver's.

``mmcli``'s ``key='value'`` list has no escapes, so quotes in the text are replaced.
"""

from __future__ import annotations

import re
import subprocess

MMCLI_TIMEOUT_S = 40.0  # a send waits for the network's acknowledgement
CREATED = re.compile(r"(/org/freedesktop/ModemManager1/SMS/[0-9]+)")


class SmsError(Exception):
    """mmcli said no, or is not there; the message is for the alert log."""


def create_args(number: str, text: str) -> list[str]:
    clean = text.replace("'", "’").replace('"', "”")
    return ["mmcli", "-m", "any", f"--messaging-create-sms=text='{clean}',number='{number}'"]


def created_path(output: str) -> str:
    """The new message's D-Bus path in mmcli's answer."""
    found = CREATED.search(output)
    if found is None:
        raise SmsError(f"mmcli made no message: {output.strip()[:200]!r}")
    return found.group(1)


def send_sms(numbers: tuple[str, ...], text: str) -> tuple[bool, str]:
    results = []
    for number in numbers:
        try:
            path = created_path(_mmcli(create_args(number, text)))
            try:
                _mmcli(["mmcli", "-s", path, "--send", f"--timeout={int(MMCLI_TIMEOUT_S)}"])
            finally:
                _mmcli(["mmcli", "-m", "any", f"--messaging-delete-sms={path}"])
        except SmsError as exc:
            results.append(f"{number}: {exc}")
            return False, "; ".join(results)
        results.append(f"{number}: sent")
    return True, "; ".join(results)


def _mmcli(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, errors="replace",
                              timeout=MMCLI_TIMEOUT_S + 5)
    except FileNotFoundError:
        raise SmsError("没有 ModemManager (mmcli) no ModemManager on this box") from None
    except subprocess.TimeoutExpired:
        raise SmsError(f"mmcli {args[-1].split('=')[0]} timed out") from None
    if done.returncode != 0:
        raise SmsError(f"mmcli {args[-1].split('=')[0]}: "
                       f"{(done.stderr or done.stdout).strip()[:200]}")
    return done.stdout
