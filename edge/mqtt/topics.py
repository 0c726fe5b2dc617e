"""MQTT topic names under ``<prefix>/<node id>/``. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.node}"

    @property
    def status(self) -> str:
        """Retained online / offline (last will) / stopped (clean shutdown)."""
        return f"{self.base}/status"

    @property
    def health(self) -> str:
        """Retained: the whole health message (hourly, on connect, on request)."""
        return f"{self.base}/health"

    @property
    def health_delta(self) -> str:
        """What changed between whole messages (edge/health/delta.py)."""
        return f"{self.base}/health/delta"

    def outbox(self, kind: str) -> str:
        """``events`` or ``alarms``."""
        return f"{self.base}/{kind}"

    def camera_state(self, channel_id: str) -> str:
        return f"{self.base}/cameras/{channel_id}/state"

    @property
    def commands(self) -> str:
        """The subscription: one level, so our own ``.../reply`` topics do not match."""
        return f"{self.base}/cmd/+"

    def reply(self, name: str) -> str:
        return f"{self.base}/cmd/{name}/reply"

    def command_name(self, topic: str) -> str | None:
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if name and "/" not in name else None
