"""Numbers in text from peers and files, ASCII only. Pure.

``str.isdigit()`` is true for '²', '١' and full-width '３' (what a Chinese input method
types easily); ``int()`` refuses the first and quietly accepts the others, which no
platform understands. Every number a peer or a file gives us goes through here, so a
bad one is our own error with a message, never a ``ValueError`` from deep inside.
"""

from __future__ import annotations

import re
from typing import Callable

from edge.errors import ProtocolError

MAX_DIGITS = 18  # below 2**63: no peer needs more, and int() on huge text is slow
_DECIMAL = re.compile(r"[+-]?[0-9]{1,12}(?:\.[0-9]{1,9})?")


def is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII 0-9 only."""
    return text.isascii() and text.isdigit()


def non_ascii_digit_hint(text: str) -> str:
    """A note for people when ``text`` holds digits that are not ASCII (full-width ...)."""
    odd = sorted({c for c in text if c.isdigit() and not c.isascii()})
    if not odd:
        return ""
    return f" (含非 ASCII 数字 has non-ASCII digits {''.join(odd)!r}: 请用半角 0-9 type 0-9)"


def parse_uint(text: str, what: str,
               error: Callable[[str], Exception] = ProtocolError,
               max_digits: int = MAX_DIGITS) -> int:
    """``text`` (surrounding blanks allowed) as a non-negative int, else ``error(message)``."""
    value = text.strip()
    if not is_digits(value) or len(value) > max_digits:
        raise error(f"{what} {text[:40]!r} is not a number{non_ascii_digit_hint(text)}")
    return int(value)


def parse_decimal(text: str, what: str,
                  error: Callable[[str], Exception] = ProtocolError) -> float:
    """``12``, ``-0.5``, ``2.0``: a plain decimal (no exponent, inf, nan or '_'), else
    ``error(message)``."""
    value = text.strip()
    if not _DECIMAL.fullmatch(value):
        raise error(f"{what} {text[:40]!r} is not a number{non_ascii_digit_hint(text)}")
    return float(value)
