"""A Layout drawn as a PNG with Pillow (a wheel on every platform: no system library, no
browser, no SVG rasteriser), the same boxes, frames and curves as the SVG."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

from nself.diagram.layout import (
    FONT_SIZE,
    HEADER,
    PAD,
    ROW,
    Layout,
    frame_label,
    marks,
    title,
)
from nself.diagram.svg import SCHEMA_FRAME, header_colors, readable_on

MAX_PIXELS = 40_000_000     # ~120 MB of RGB while drawing; a bigger diagram is drawn smaller
STEPS = 12                  # straight pieces per curve
# zlib's level: the default for a small picture, the fastest past FAST_PAST pixels (a poster
# of hundreds of tables compresses in a second instead of ten, ~30% bigger)
FAST_PAST = 4_000_000


def render(layout: Layout, scale: float = 2.0) -> bytes:
    """The PNG bytes of LAYOUT at SCALE pixels per SVG unit (less when that would exceed
    MAX_PIXELS)."""
    area = max(layout.width * layout.height, 1)
    scale = min(scale, math.sqrt(MAX_PIXELS / area))
    size = (max(1, math.ceil(layout.width * scale)), max(1, math.ceil(layout.height * scale)))
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(4, FONT_SIZE * scale))
    small = ImageFont.load_default(size=max(3, 10 * scale))

    def s(*values):
        return [v * scale for v in values]

    for frame in layout.frames:
        color = frame.cluster.color or SCHEMA_FRAME
        draw.rounded_rectangle(s(frame.x, frame.y, frame.x + frame.width,
                                 frame.y + frame.height), radius=8 * scale,
                               fill=_tint(color), outline=color, width=max(1, round(scale)))
        draw.text(s(frame.x + 10, frame.y + 12), frame_label(frame.cluster), fill=color,
                  font=font, anchor="lm")
    for route in layout.routes:
        points = []
        for p0, c1, c2, p1 in route.curves:
            points += [_bezier(p0, c1, c2, p1, k / STEPS) for k in range(STEPS + 1)]
        draw.line([v * scale for p in points for v in p], fill="#6e7781",
                  width=max(1, round(1.3 * scale)))
        _arrow(draw, route.curves[-1], scale)
    colors = header_colors(layout)
    for i, box in layout.boxes.items():
        x, y, w = box.x, box.y, box.width
        draw.rounded_rectangle(s(x, y, x + w, y + box.height), radius=4 * scale, fill="white",
                               outline="#9aa3ad", width=max(1, round(scale)))
        draw.rounded_rectangle(s(x, y, x + w, y + HEADER), radius=4 * scale, fill=colors[i],
                               corners=(True, True, False, False))
        draw.text(s(x + PAD, y + HEADER / 2), title(box.node), font=font, anchor="lm",
                  fill=readable_on(colors[i]))
        for at, c in enumerate(box.node.columns):
            middle = y + HEADER + ROW * at + ROW / 2
            if at:
                draw.line(s(x, middle - ROW / 2, x + w, middle - ROW / 2), fill="#eaeef2")
            if marks(c):
                draw.text(s(x + PAD, middle), marks(c), font=small, anchor="lm",
                          fill="#9a6700")
            draw.text(s(x + PAD + box.mark_width, middle), c.name, font=font, anchor="lm",
                      fill="#1b1f24")
            draw.text(s(x + w - PAD, middle), c.type, font=font, anchor="rm", fill="#57606a")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1 if size[0] * size[1] > FAST_PAST else 6)
    return buffer.getvalue()


def _bezier(p0, c1, c2, p1, t):
    u = 1 - t
    return tuple(u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d
                 for a, b, c, d in zip(p0, c1, c2, p1, strict=True))


def _arrow(draw, curve, scale) -> None:
    """An arrowhead at the curve's end, along its last control leg."""
    _, _, (cx, cy), (x, y) = curve
    angle = math.atan2(y - cy, x - cx)
    size = 7
    points = [(x, y)] + [(x - size * math.cos(angle + turn), y - size * math.sin(angle + turn))
                         for turn in (0.45, -0.45)]
    draw.polygon([(px * scale, py * scale) for px, py in points], fill="#6e7781")


def _tint(color: str) -> str:
    """COLOR at about 6% over white, as the SVG's fill-opacity draws it."""
    r, g, b = (int(color[k:k + 2], 16) for k in (1, 3, 5))
    return "#" + "".join(f"{round(255 - (255 - v) * 0.06):02x}" for v in (r, g, b))
