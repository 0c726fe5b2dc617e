"""Top-level box layout of fragmented MP4/MOV files (ISO/IEC 14496-12 4.2). Pure.

A segment is ``ftyp moov (moof mdat)* [mfra]``; a power cut or SIGKILL leaves a tail
of one half-written fragment. Reconciliation keeps the file up to the end of its
last complete ``moof``+``mdat`` pair (and a complete trailing index, if written).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_PEEK = 16  # enough for a box header with a 64-bit size


@dataclass(frozen=True)
class Box:
    offset: int
    size: int  # including the header
    type: str

    @property
    def end(self) -> int:
        return self.offset + self.size


def parse_box_header(data: bytes, offset: int, file_size: int) -> Box | None:
    """The box at ``offset`` from its first bytes (up to 16); None if not a box header."""
    if len(data) < 8:
        return None
    size, kind = struct.unpack(">I4s", data[:8])
    if size == 1:
        if len(data) < 16:
            return None
        size = struct.unpack(">Q", data[8:16])[0]
    elif size == 0:  # "extends to the end of the file"
        size = file_size - offset
    if size < 8 or not kind.isalnum():
        return None
    return Box(offset, size, kind.decode("ascii"))


def complete_length(boxes: list[Box], file_size: int) -> tuple[int, int]:
    """(bytes worth keeping, complete fragments in them); (…, 0) means no media at all."""
    keep = fragments = 0
    pending_moof = False
    for box in boxes:
        if box.end > file_size:
            break
        if box.type == "moof":
            pending_moof = True
            continue
        if box.type == "mdat" and pending_moof:
            fragments += 1
        elif pending_moof:
            break  # a moof must be followed by its mdat
        pending_moof = False
        keep = box.end
    return keep, fragments
