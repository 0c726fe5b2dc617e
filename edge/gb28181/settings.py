"""Settings an upper platform changed at run time (DeviceConfig BasicParam, GuardCmd),
kept in ``data_dir/gb28181.json`` so they survive a restart. The TOML config stays the
technician's file: these values override it, and a broken file is set aside, not fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.digits import is_digits
from edge.errors import ConfigError

logger = logging.getLogger(__name__)

FILE_NAME = "gb28181.json"
MAX_FILE_BYTES = 256 * 1024  # a name, a few numbers per platform, a list of channels
OVERRIDES = ("expires", "keepalive_interval", "keepalive_timeout_count")


@dataclass
class PlatformOverride:
    expires: int | None = None
    keepalive_interval: int | None = None
    keepalive_timeout_count: int | None = None


@dataclass
class RuntimeSettings:
    path: Path
    name: str | None = None  # the node name shown to platforms
    platforms: dict[str, PlatformOverride] = field(default_factory=dict)
    disarmed: set[str] = field(default_factory=set)  # channels whose alarms are off

    @classmethod
    def load(cls, data_dir: Path, set_aside: bool = True) -> RuntimeSettings:
        """The saved settings; a broken file is set aside (renamed) unless only looking."""
        path = data_dir / FILE_NAME
        try:
            return cls(path, *parse_settings(path.read_bytes()))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ConfigError) as exc:
            aside = path.with_suffix(".bad")
            logger.error("gb28181: %s is unreadable (%s); %s, config values apply", path, exc,
                         f"set aside as {aside.name}" if set_aside else "ignored")
            if set_aside:
                path.replace(aside)
            return cls(path)

    def save(self) -> None:
        data = {"name": self.name, "disarmed": sorted(self.disarmed),
                "platforms": {k: asdict(v) for k, v in self.platforms.items()}}
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:  # a full disk: the change holds until the next restart
            logger.error("gb28181: cannot save %s: %s", self.path, exc)


def parse_settings(data: bytes) -> tuple[str | None, dict[str, PlatformOverride], set[str]]:
    """(name, per-platform overrides, disarmed channels) from the file's bytes; every
    value is checked, since the registration state machine does arithmetic on them.
    Raises ConfigError."""
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError([f"{FILE_NAME}: {len(data)} bytes exceeds {MAX_FILE_BYTES}"])
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError([f"{FILE_NAME}: not JSON: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{FILE_NAME}: not a JSON object"])
    name, platforms, disarmed = raw.get("name"), raw.get("platforms", {}), raw.get("disarmed", [])
    if name is not None and not isinstance(name, str):
        raise ConfigError([f"{FILE_NAME}: name is not text"])
    if not isinstance(platforms, dict) or not isinstance(disarmed, list) \
            or not all(isinstance(c, str) and is_digits(c) for c in disarmed):
        raise ConfigError([f"{FILE_NAME}: platforms must be an object, disarmed a list of IDs"])
    overrides = {}
    for plat_id, values in platforms.items():
        if not isinstance(values, dict) or set(values) - set(OVERRIDES) or not all(
                v is None or (type(v) is int and 0 < v <= 86_400) for v in values.values()):
            raise ConfigError([f"{FILE_NAME}: platforms.{plat_id[:40]} holds other than "
                               f"{', '.join(OVERRIDES)} as whole seconds/counts"])
        overrides[plat_id] = PlatformOverride(**values)
    return name, overrides, set(disarmed)
