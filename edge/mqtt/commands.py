"""What a remote command message carries: its arguments and where to reply. Pure.

Anyone who may publish to ``cmd/<name>`` can send any bytes, so the payload is bounded
before it is decoded, nesting is refused before json recurses into it, and a reply
topic that paho would refuse (wildcards, NUL, too long) falls back to our own.
"""

from __future__ import annotations

import json
from typing import Any

from edge.errors import ProtocolError

MAX_PAYLOAD_BYTES = 16 * 1024  # commands carry a few named arguments
MAX_NESTING = 8
MAX_TOPIC_BYTES = 1024


class CommandError(ProtocolError):
    """A command payload we refuse; the message goes back in the reply."""


def parse_args(payload: bytes) -> dict[str, Any]:
    """The JSON object of a command (an empty payload is ``{}``). Raises CommandError."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if not payload.strip():
        return {}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8 JSON") from None
    if _nesting(text) > MAX_NESTING:
        raise CommandError(f"JSON nested deeper than {MAX_NESTING} levels")
    try:
        args = json.loads(text)
    except ValueError as exc:  # JSONDecodeError
        raise CommandError(f"payload is not JSON: {exc}") from None
    if not isinstance(args, dict):
        raise CommandError("the request must be a JSON object")
    return args


def reply_topic(requested: str | None, default: str) -> str:
    """The MQTT 5 response topic if it is the command's own reply topic or below it
    (``<node>/cmd/<name>/reply/...``) and paho can publish to it; else ``default``. A reply
    never goes anywhere else: a ResponseTopic naming a command topic, this node's or
    another's, would make a client allowed one command send any (issue 22, finding 4)."""
    if (not requested or "+" in requested or "#" in requested or "\0" in requested
            or len(requested.encode("utf-8", "replace")) > MAX_TOPIC_BYTES):
        return default
    if requested != default and not requested.startswith(default + "/"):
        return default
    return requested


def _nesting(text: str) -> int:
    """The deepest bracket nesting, ignoring brackets inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
