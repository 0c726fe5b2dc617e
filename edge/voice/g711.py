"""G.711 A-law and mu-law to and from 16-bit linear PCM (ITU-T G.711), by lookup table. Pure."""

from __future__ import annotations

import numpy as np


def _alaw(code: int) -> int:
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    value = (mantissa << 4) + 8
    if exponent:
        value = (value + 0x100) << (exponent - 1)
    return value if sign else -value


def _ulaw(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    value = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -value if sign else value


ALAW = np.array([_alaw(c) for c in range(256)], dtype=np.int16)
ULAW = np.array([_ulaw(c) for c in range(256)], dtype=np.int16)
TABLES = {"pcma": ALAW, "pcmu": ULAW}


def decode(codec: str, payload: bytes) -> np.ndarray:
    """``payload`` of ``codec`` ("pcma" or "pcmu") as int16 samples, one per byte."""
    return TABLES[codec][np.frombuffer(payload, dtype=np.uint8)]


_ORDER = {codec: np.argsort(table, kind="stable") for codec, table in TABLES.items()}


def encode(codec: str, samples: np.ndarray) -> bytes:
    """int16 samples as ``codec`` ("pcma" or "pcmu"): each the code whose value is nearest."""
    table, order = TABLES[codec], _ORDER[codec]
    ranked = table[order].astype(np.int32)
    x = samples.astype(np.int32)
    right = np.clip(np.searchsorted(ranked, x), 1, ranked.size - 1)
    nearer_left = (x - ranked[right - 1]) <= (ranked[right] - x)
    return order[np.where(nearer_left, right - 1, right)].astype(np.uint8).tobytes()
