"""Settings an upper platform changed at run time (DeviceConfig BasicParam, GuardCmd),
kept in ``data_dir/gb28181.json`` so they survive a restart. The TOML config stays the
technician's file: these values override it, and a broken file is set aside, not fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

FILE_NAME = "gb28181.json"


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
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, raw.get("name"),
                       {k: PlatformOverride(**v) for k, v in raw.get("platforms", {}).items()},
                       set(raw.get("disarmed", [])))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
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
