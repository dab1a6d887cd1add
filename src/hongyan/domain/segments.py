"""Character and segment counting (SPEC.md §7): every character is 1; ≤70 is one segment, else ceil(n/67)."""

from __future__ import annotations

SINGLE_SEGMENT_CHARS = 70
MULTIPART_SEGMENT_CHARS = 67


def count_chars(text: str) -> int:
    """Characters as billed: one per Unicode code point (Chinese, Latin, digit, punctuation, space)."""
    return len(text)


def count_segments(text: str) -> int:
    """Segments billed for the full text (signature with its brackets included by the caller)."""
    n = count_chars(text)
    if n <= SINGLE_SEGMENT_CHARS:
        return 1
    return -(-n // MULTIPART_SEGMENT_CHARS)
