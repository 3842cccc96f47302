"""A dependency-free PNG chart of the ratios (matplotlib is not installed): zlib + struct.

One row per case, in the order of results.md: the case's name (a built-in 3x5 pixel font),
a bar as long as the ratio pybuild/peer (green when the issue's target is met, red when
missed, blue when the case has no target), the ratio printed after it, a black vertical line
at 1.0 and a red tick at the target. The axis runs from 0 to max(2, largest ratio), capped at 4
(longer bars end in a notch).
"""

from __future__ import annotations

import struct
import zlib

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (200, 200, 200)
BLUE = (52, 101, 164)
GREEN = (78, 154, 6)
RED = (204, 0, 0)

_FONT: dict[str, tuple[str, ...]] = {
    "a": (".#.", "#.#", "###", "#.#", "#.#"), "b": ("##.", "#.#", "##.", "#.#", "##."),
    "c": (".##", "#..", "#..", "#..", ".##"), "d": ("##.", "#.#", "#.#", "#.#", "##."),
    "e": ("###", "#..", "##.", "#..", "###"), "f": ("###", "#..", "##.", "#..", "#.."),
    "g": (".##", "#..", "#.#", "#.#", ".##"), "h": ("#.#", "#.#", "###", "#.#", "#.#"),
    "i": ("###", ".#.", ".#.", ".#.", "###"), "j": ("..#", "..#", "..#", "#.#", ".#."),
    "k": ("#.#", "#.#", "##.", "#.#", "#.#"), "l": ("#..", "#..", "#..", "#..", "###"),
    "m": ("#.#", "###", "###", "#.#", "#.#"), "n": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "o": (".#.", "#.#", "#.#", "#.#", ".#."), "p": ("##.", "#.#", "##.", "#..", "#.."),
    "q": (".#.", "#.#", "#.#", "##.", ".##"), "r": ("##.", "#.#", "##.", "#.#", "#.#"),
    "s": (".##", "#..", ".#.", "..#", "##."), "t": ("###", ".#.", ".#.", ".#.", ".#."),
    "u": ("#.#", "#.#", "#.#", "#.#", "###"), "v": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "w": ("#.#", "#.#", "###", "###", "#.#"), "x": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "y": ("#.#", "#.#", ".#.", ".#.", ".#."), "z": ("###", "..#", ".#.", "#..", "###"),
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("##.", "..#", ".#.", "#..", "###"), "3": ("##.", "..#", ".#.", "..#", "##."),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "##.", "..#", "##."),
    "6": (".##", "#..", "###", "#.#", "###"), "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "##."),
    "-": ("...", "...", "###", "...", "..."), ".": ("...", "...", "...", "...", ".#."),
    "<": ("..#", ".#.", "#..", ".#.", "..#"), "=": ("...", "###", "...", "###", "..."),
    "/": ("..#", "..#", ".#.", "#..", "#.."), ":": ("...", ".#.", "...", ".#.", "..."),
    " ": ("...", "...", "...", "...", "..."),
}
SCALE = 2
CHAR_W = 4 * SCALE  # 3 pixels and a gap, scaled


def png(width: int, height: int, pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = [bytearray(WHITE * width) for _ in range(height)]

    def fill(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        if x1 <= x0:
            return
        for y in range(max(0, y0), min(self.height, y1)):
            self.pixels[y][x0 * 3:x1 * 3] = bytes(color) * (x1 - x0)

    def text(self, x: int, y: int, s: str, color: tuple[int, int, int] = BLACK) -> None:
        for ch in s.lower():
            glyph = _FONT.get(ch, _FONT[" "])
            for gy, row in enumerate(glyph):
                for gx, bit in enumerate(row):
                    if bit == "#":
                        self.fill(x + gx * SCALE, y + gy * SCALE, x + (gx + 1) * SCALE,
                                  y + (gy + 1) * SCALE, color)
            x += CHAR_W


def ratio_chart(rows: list[tuple[str, float, float | None]], width: int = 720) -> bytes:
    """rows: (case name, ratio pybuild/peer, target ratio or None)."""
    row_h, top = 22, 30
    height = top + max(1, len(rows)) * row_h + 24
    c = _Canvas(width, height)
    label_w = max([len(name) for name, _, _ in rows] + [8]) * CHAR_W + 12
    x0, x1 = label_w, width - 60
    axis = min(4.0, max([2.0] + [r for _, r, _ in rows]))

    def x_of(ratio: float) -> int:
        return x0 + int(min(ratio, axis) / axis * (x1 - x0))

    c.text(8, 8, "pybuild / peer wall time  - line: 1.0  red tick: target")
    for i, (name, ratio, target) in enumerate(rows):
        y = top + i * row_h
        c.text(8, y + 6, name)
        color = BLUE if target is None else GREEN if ratio <= target else RED
        end = x_of(ratio)
        c.fill(x0, y + 3, max(x0 + 1, end), y + row_h - 3, color)
        if ratio > axis:  # a notch says the bar is cut
            c.fill(end - 6, y + 3, end - 3, y + row_h - 3, WHITE)
        if target is not None:
            tx = x_of(target)
            c.fill(tx - 1, y, tx + 1, y + row_h, RED)
        c.text(min(end, x1) + 4, y + 6, f"{ratio:.2f}")
    base = top + len(rows) * row_h
    for tick in range(int(axis * 2) + 1):  # grid every 0.5
        tx = x_of(tick / 2)
        c.fill(tx, base, tx + 1, base + 4, BLACK)
        c.text(tx - 6, base + 8, f"{tick / 2:g}" if tick % 2 == 0 else "", GREY)
    one = x_of(1.0)
    c.fill(one - 1, top - 4, one + 1, base + 4, BLACK)
    c.fill(x0, base, x1, base + 1, BLACK)
    return png(width, height, c.pixels)
