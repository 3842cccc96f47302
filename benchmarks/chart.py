"""A dependency-free PNG bar chart (matplotlib is not installed): zlib + struct.

One row per case, in the order of results.md: a blue bar for pybuild's median wall time
over a grey bar for the peer's, both scaled to the slower of the pair, with a black tick
at the peer's length. No text: results.md carries the names and numbers.
"""

from __future__ import annotations

import struct
import zlib

BLUE = (52, 101, 164)
GREY = (160, 160, 160)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def png(width: int, height: int, pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def bar_chart(rows: list[tuple[str, float, float]], width: int = 600, bar: int = 14, gap: int = 10) -> bytes:
    """rows: (name, pybuild seconds, peer seconds)."""
    height = max(1, len(rows)) * (2 * bar + gap) + gap
    pixels = [bytearray(WHITE * width) for _ in range(height)]
    left, span = 10, width - 20

    def fill(y0: int, y1: int, x0: int, x1: int, color: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(height, y1)):
            pixels[y][x0 * 3:x1 * 3] = bytes(color) * (x1 - x0)

    for i, (_, mine, peer) in enumerate(rows):
        top = gap + i * (2 * bar + gap)
        scale = span / max(mine, peer, 1e-9)
        fill(top, top + bar, left, left + max(1, int(mine * scale)), BLUE)
        fill(top + bar, top + 2 * bar, left, left + max(1, int(peer * scale)), GREY)
        tick = left + max(1, int(peer * scale)) - 1
        fill(top, top + 2 * bar, tick, tick + 2, BLACK)
    return png(width, height, pixels)
