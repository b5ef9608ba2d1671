"""Text offsets: Label Studio counts UTF-16 code units (JavaScript), dagstore code points."""

from __future__ import annotations

from bisect import bisect_right


class Utf16Offsets:
    """Converts UTF-16 offsets of one text to Python code point offsets."""

    def __init__(self, text: str):
        self.text = text
        # UTF-16 positions just after each astral (surrogate pair) character
        self._astral: list[int] = []
        u = 0
        for ch in text:
            u += 2 if ord(ch) > 0xFFFF else 1
            if ord(ch) > 0xFFFF:
                self._astral.append(u)
        self.utf16_len = u

    def to_codepoint(self, offset: int) -> int:
        """The code point offset of UTF-16 ``offset``; ValueError inside a surrogate pair or
        past the end."""
        if not 0 <= offset <= self.utf16_len:
            raise ValueError(f"offset {offset} is outside the text ({self.utf16_len} UTF-16 units)")
        before = bisect_right(self._astral, offset)
        if before < len(self._astral) and self._astral[before] - 1 == offset:
            raise ValueError(f"offset {offset} splits a surrogate pair")
        return offset - before

