"""GB/T 28181 20-digit ID checks (Annex D coding). Pure."""

from __future__ import annotations

from edge.digits import is_digits, non_ascii_digit_hint

NODE_TYPES = ("118", "200")  # NVR (device role) or platform (lower platform role)
CAMERA_TYPES = ("131", "132")  # camera, IPC
SPEAKER_TYPES = ("137",)  # audio output device (语音输出设备): a broadcast target
PLATFORM_TYPES = ("200",)  # central signalling server of an upper platform


def type_code(gb_id: str) -> str:
    """Digits 11-13: the device type code."""
    return gb_id[10:13]


def check_gb_id(value: object, allowed_types: tuple[str, ...]) -> str | None:
    """Return why ``value`` is not a valid ID of one of ``allowed_types``, or None."""
    if not isinstance(value, str):
        return f"应为字符串 must be a string, got {type(value).__name__}"
    if len(value) != 20 or not is_digits(value):
        return f"应为20位数字 must be 20 digits, got {value!r}{non_ascii_digit_hint(value)}"
    if type_code(value) not in allowed_types:
        return (
            f"类型码(第11-13位)应为 {'/'.join(allowed_types)} "
            f"type code (digits 11-13) must be {'/'.join(allowed_types)}, got {type_code(value)}"
        )
    return None
