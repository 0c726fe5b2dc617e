"""CSV files the box writes for people to open in a spreadsheet (the compliance sheet, the
audit log). Pure. A text cell starting with ``= + - @``, a tab or a carriage return would
be taken as a formula by Excel or WPS (a camera named ``=HYPERLINK(…)``): such a cell is
written with a leading apostrophe, which the spreadsheet shows as text (issue 22,
finding 8). Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from typing import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV with a BOM, so that Excel on the room's PC reads the Chinese right."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return "\ufeff" + out.getvalue()
