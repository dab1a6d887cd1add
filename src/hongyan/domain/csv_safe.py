"""CSV cells that a spreadsheet will not run as formulas (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The text of ``value``; text that starts like a formula is prefixed with ``'`` so it stays text."""
    text = "" if value is None else str(value)
    if text.startswith(_TRIGGERS):
        return "'" + text
    return text


def csv_line(cells: Iterable[object]) -> str:
    """One CSV line (CRLF-terminated, quoted as needed) of safe cells."""
    buf = io.StringIO()
    csv.writer(buf).writerow([safe_cell(c) for c in cells])
    return buf.getvalue()
