#!/usr/bin/env python3
"""Draws the myApps tile icons (crates/server/assets/app-icon*.png): a desk phone on a rounded
square, 50x50 px as innovaphone's External App Service tutorial asks for myApps icons.

Pure standard library (zlib), supersampled 8x for smooth edges. Run from the repository root:
    python3 scripts/make-app-icon.py
"""
import struct
import zlib

SIZE = 50
SS = 8  # supersampling factor
N = SIZE * SS


def rounded_rect(x, y, x0, y0, x1, y1, r):
    """Whether (x, y) lies in the rectangle [x0,x1]x[y0,y1] with corner radius r."""
    if x < x0 or x > x1 or y < y0 or y > y1:
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def shape(u, v):
    """0 = outside, 1 = tile, 2 = glyph; u, v in tile units 0..50."""
    if not rounded_rect(u, v, 1, 1, 49, 49, 11):
        return 0
    # Handset: a bar with rounded ends across the top.
    if rounded_rect(u, v, 11, 11, 39, 18, 3.5):
        return 2
    # The handset rests on two short posts.
    if rounded_rect(u, v, 14, 17, 18, 22, 1) or rounded_rect(u, v, 32, 17, 36, 22, 1):
        return 2
    # Body: a rounded block with a 3x3 keypad cut out of it.
    if rounded_rect(u, v, 10, 21, 40, 40, 4):
        for row in range(3):
            for col in range(3):
                kx = 17 + col * 8
                ky = 26 + row * 4.6
                if rounded_rect(u, v, kx - 2.4, ky - 1.4, kx + 2.4, ky + 1.4, 1.2):
                    return 1
        return 2
    return 1


def draw(tile, glyph):
    rows = []
    for y in range(SIZE):
        row = bytearray([0])  # filter: none
        for x in range(SIZE):
            acc = [0, 0, 0, 0]
            for sy in range(SS):
                for sx in range(SS):
                    u = (x * SS + sx + 0.5) / SS
                    v = (y * SS + sy + 0.5) / SS
                    kind = shape(u, v)
                    if kind:
                        colour = tile if kind == 1 else glyph
                        for i in range(3):
                            acc[i] += colour[i]
                        acc[3] += 255
            n = SS * SS
            alpha = acc[3] / n
            if alpha:
                # Un-premultiply the averaged colour.
                cov = acc[3] / 255
                px = [round(acc[i] / cov) for i in range(3)] + [round(alpha)]
            else:
                px = [0, 0, 0, 0]
            row.extend(px)
        rows.append(bytes(row))
    return png(b"".join(rows))


def png(raw):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    # Light: a deep blue tile, white phone. Dark: a dark tile, light-blue phone.
    with open("crates/server/assets/app-icon.png", "wb") as f:
        f.write(draw((0x1A, 0x5F, 0xB4), (0xFF, 0xFF, 0xFF)))
    with open("crates/server/assets/app-icon-dark.png", "wb") as f:
        f.write(draw((0x2C, 0x33, 0x3D), (0x8C, 0xC8, 0xFF)))
