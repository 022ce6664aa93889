"""The PNG (Pillow): a real PNG of the layout's size, with the tables' boxes and headers
drawn where the layout put them; a huge diagram is drawn smaller, not refused."""

from __future__ import annotations

import io

from conftest import REPO
from PIL import Image
from test_diagram_layout import generated

from nself.diagram import layout, png, sources, svg


def test_png_draws_the_layout():
    """schema.dbml's PNG at scale 2: twice the layout's size, white outside the boxes,
    each table's header in its colour and its body white inside a grey border."""
    placed = layout.layout(sources.from_dbml(REPO / "schema.dbml"))
    image = Image.open(io.BytesIO(png.render(placed, scale=2)))
    assert image.format == "PNG"
    assert image.size == (round(placed.width * 2), round(placed.height * 2))
    rgb = image.convert("RGB")
    header = tuple(int(svg.HEADER_COLOR[k:k + 2], 16) for k in (1, 3, 5))
    for box in placed.boxes.values():
        assert rgb.getpixel((int((box.x + box.width - 3) * 2),
                             int((box.y + 3) * 2))) == header
        colours = {rgb.getpixel((int((box.x + dx) * 2), int((box.y + dy) * 2)))
                   for dx in range(2, int(box.width) - 2, 3)
                   for dy in range(layout.HEADER + 2, int(box.height) - 2, 3)}
        assert (255, 255, 255) in colours and len(colours) > 2     # text on white
    corner = rgb.getpixel((2, 2))
    assert corner == (255, 255, 255)


def test_a_large_diagram_is_drawn_within_the_pixel_budget(monkeypatch):
    """A diagram bigger than MAX_PIXELS at the default scale is drawn smaller, in
    proportion, not refused (a budget of 2 million pixels keeps the test quick)."""
    monkeypatch.setattr(png, "MAX_PIXELS", 2_000_000)
    placed = layout.layout(generated(120, 240).graph())
    image = Image.open(io.BytesIO(png.render(placed)))
    width, height = image.size
    assert width * height <= png.MAX_PIXELS * 1.01
    assert abs(width / height - placed.width / placed.height) < 0.01
