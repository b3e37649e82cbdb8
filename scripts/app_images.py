"""Draws the Home Assistant App's icon.png (128x128) and logo.png (250x100) with the standard library.

No image library and no network: a PNG is a zlib-compressed list of RGBA rows. The icon is a green
rounded square with two speech bubbles (WeChat's shape); the logo puts the same mark beside three
bars that stand for MQTT messages. Run it again after changing it: `python3 scripts/app_images.py`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "wechat_mqtt_bridge"
GREEN = (7, 193, 96, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)
Pixel = tuple[int, int, int, int]


def png(width: int, height: int, pixel: Callable[[float, float], Pixel]) -> bytes:
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x + 0.5, y + 0.5)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def in_rounded_square(x: float, y: float, *, left: float, top: float, size: float, radius: float) -> bool:
    cx = min(max(x, left + radius), left + size - radius)
    cy = min(max(y, top + radius), top + size - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def in_ellipse(x: float, y: float, centre: tuple[float, float], radii: tuple[float, float]) -> bool:
    return ((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 <= 1


def mark(x: float, y: float, left: float, top: float, size: float) -> Pixel:
    """The icon's drawing in a `size` square at (left, top)."""
    if not in_rounded_square(x, y, left=left, top=top, size=size, radius=size * 0.2):
        return CLEAR
    u, v = (x - left) / size, (y - top) / size  # 0..1 inside the square
    tail = 0.25 <= u <= 0.33 and 0.58 <= v <= 0.70 and u - 0.25 >= (v - 0.58) * 0.6
    big = in_ellipse(u, v, (0.42, 0.42), (0.27, 0.22)) or tail
    small = in_ellipse(u, v, (0.62, 0.62), (0.21, 0.17)) or (0.70 <= u <= 0.77 and 0.75 <= v <= 0.86)
    eyes = any(in_ellipse(u, v, (ex, 0.38), (0.035, 0.035)) for ex in (0.33, 0.51))
    if small and not big:
        return WHITE
    if big:
        return GREEN if eyes else WHITE
    return GREEN


def icon(x: float, y: float) -> Pixel:
    return mark(x, y, 0, 0, 128)


def logo(x: float, y: float) -> Pixel:
    if x < 100:
        return mark(x, y, 4, 4, 92)
    for i, width in enumerate((130, 100, 115)):  # three messages on their way
        top = 22 + i * 22
        bar = 118 <= x <= 112 + width and top <= y <= top + 12
        if bar or in_rounded_square(x, y, left=112, top=top, size=12, radius=6):
            return GREEN
    return CLEAR


def main() -> None:
    (APP / "icon.png").write_bytes(png(128, 128, icon))
    (APP / "logo.png").write_bytes(png(250, 100, logo))


if __name__ == "__main__":
    main()
