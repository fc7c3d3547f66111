"""Where a key of a TOML file is written. ``tomllib`` gives values without positions, so this scans the
text once, leniently, for table headers (``[input]``, ``[[steps]]``, counted to know each index),
``key = value`` lines (dotted keys too) and the keys and items inside inline tables and arrays.

It never raises: on text it does not understand it skips to the next line, and a path it did not see
is placed at its nearest ancestor that it did (at worst line 1, column 1).
"""

import bisect
import re

Key = tuple[str | int, ...]  # ("steps", 1, "retry", "first"), ("steps", 0, "after", 2)

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_DEPTH = 32  # arrays nested deeper than this are skipped, not scanned


class Locator:
    def __init__(self, text: str) -> None:
        self._text = text
        self._line_starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]
        self._keys: dict[Key, int] = {}  # where each key (or table header) starts
        self._values: dict[Key, int] = {}  # where each value starts
        self._arrays: dict[Key, int] = {}  # array-of-tables path -> index of its latest [[table]]
        self._index = 0
        self._scan()

    def find(self, path: Key) -> tuple[int, int]:
        """1-based line and column of the key at ``path``, else of its nearest ancestor that was seen."""
        for length in range(len(path), -1, -1):
            prefix = path[:length]
            if prefix in self._keys:
                return self._position(self._keys[prefix])
            if prefix in self._values:
                return self._position(self._values[prefix])
        return 1, 1

    def value(self, path: Key) -> tuple[int, int]:
        """Where the value at ``path`` starts (its opening quote for a string); else as ``find``."""
        if path in self._values:
            return self._position(self._values[path])
        return self.find(path)

    def inside(self, path: Key, column: int) -> tuple[int, int]:
        """Where the ``column``-th character (1-based) of the one-line string at ``path`` is written.
        Escapes before it shift it a little; a multi-line string is placed at its start."""
        start = self._values.get(path)
        if start is None:
            return self.find(path)
        quote = self._text[start:start + 1]
        if quote not in ("'", '"') or self._text.startswith(quote * 3, start):
            return self._position(start)
        line, first = self._position(start)
        return line, first + column

    def _position(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, index)
        return line, index - self._line_starts[line - 1] + 1

    # -- scanning ------------------------------------------------------------------------------------
    def _peek(self, ahead: int = 0) -> str:
        index = self._index + ahead
        return self._text[index] if index < len(self._text) else ""

    def _skip_blank(self, newlines: bool) -> None:
        while self._index < len(self._text):
            char = self._text[self._index]
            if char == "#":
                end = self._text.find("\n", self._index)
                self._index = len(self._text) if end < 0 else end
                if not newlines:
                    return
            elif char in " \t" or (newlines and char in "\r\n"):
                self._index += 1
            else:
                return

    def _skip_line(self) -> None:
        end = self._text.find("\n", self._index)
        self._index = len(self._text) if end < 0 else end + 1

    def _scan(self) -> None:
        table: Key = ()
        while True:
            self._skip_blank(newlines=True)
            if self._index >= len(self._text):
                return
            if self._peek() == "[":
                table = self._header(table)
            else:
                self._pair(table, 0)
            self._skip_blank(newlines=False)
            if self._peek() not in ("", "\n"):
                self._skip_line()  # text this scanner does not understand: resynchronise on the next line

    def _header(self, current: Key) -> Key:
        start = self._index
        is_array = self._text.startswith("[[", start)
        self._index += 2 if is_array else 1
        self._skip_blank(newlines=False)
        names = self._key_parts()
        self._skip_blank(newlines=False)
        closing = "]]" if is_array else "]"
        if not names or not self._text.startswith(closing, self._index):
            return current
        self._index += len(closing)
        path: Key = ()
        for name, _ in names:
            path = (*path, name)
            if path in self._arrays and (len(path) < len(names) or not is_array):
                path = (*path, self._arrays[path])  # [steps.retry] is inside the latest [[steps]]
        if is_array:
            self._keys.setdefault(path, start)
            self._arrays[path] = self._arrays.get(path, -1) + 1
            path = (*path, self._arrays[path])
        self._keys.setdefault(path, start)
        return path

    def _key_parts(self) -> list[tuple[str, int]]:
        """A dotted key as (name, where it starts) parts; empty if there is none here."""
        parts: list[tuple[str, int]] = []
        while True:
            start = self._index
            char = self._peek()
            if char in ("'", '"'):
                end = self._text.find(char, start + 1)
                if end < 0 or "\n" in self._text[start:end]:
                    return parts
                parts.append((self._text[start + 1:end], start))
                self._index = end + 1
            elif match := _BARE.match(self._text, start):
                parts.append((match.group(), start))
                self._index = match.end()
            else:
                return parts
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return parts
            self._index += 1
            self._skip_blank(newlines=False)

    def _pair(self, table: Key, depth: int) -> bool:
        names = self._key_parts()
        if not names:
            return False
        path = table
        for name, start in names:
            path = (*path, name)
            self._keys.setdefault(path, start)
        self._skip_blank(newlines=False)
        if self._peek() != "=":
            return False
        self._index += 1
        self._skip_blank(newlines=False)
        self._value(path, depth)
        return True

    def _value(self, path: Key, depth: int) -> None:
        self._values.setdefault(path, self._index)
        char = self._peek()
        if char == "{" and depth < _MAX_DEPTH:
            self._inline_table(path, depth + 1)
        elif char == "[" and depth < _MAX_DEPTH:
            self._array(path, depth + 1)
        elif char in ("'", '"'):
            self._string(char)
        else:
            while self._peek() not in ("", ",", "]", "}", "\n", "#"):
                self._index += 1

    def _inline_table(self, path: Key, depth: int) -> None:
        self._index += 1
        while True:
            self._skip_blank(newlines=True)
            if self._peek() == "}":
                self._index += 1
                return
            if not self._pair(path, depth):
                return
            self._skip_blank(newlines=True)
            if self._peek() != ",":
                self._index += self._peek() == "}"
                return
            self._index += 1

    def _array(self, path: Key, depth: int) -> None:
        self._index += 1
        item = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() in ("]", ""):
                self._index += self._peek() == "]"
                return
            before = self._index
            self._value((*path, item), depth)
            item += 1
            self._skip_blank(newlines=True)
            if self._peek() != "," or self._index == before:
                self._index += self._peek() == "]"
                return
            self._index += 1

    def _string(self, quote: str) -> None:
        text, start = self._text, self._index
        if text.startswith(quote * 3, start):
            end = text.find(quote * 3, start + 3)
            while quote == '"' and end > 0 and _escaped(text, end):
                end = text.find(quote * 3, end + 1)
            self._index = len(text) if end < 0 else end + 3
            return
        index = start + 1
        while index < len(text) and text[index] not in (quote, "\n"):
            index += 2 if quote == '"' and text[index] == "\\" else 1
        self._index = min(index + 1, len(text)) if index < len(text) and text[index] == quote else index


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` follows an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
