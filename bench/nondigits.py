"""Drawings that are not digits, for measuring the unsure rule (bench/unsure.py).

    .venv/bin/python bench/nondigits.py [--seed 20] [--out bench/data/nondigits.json.gz]
                                        [--sheet PNG]

Writes strokes of NONDIGIT_CATEGORIES x PER_CATEGORY drawings (letters, shapes, faces, scribbles,
dots, lines, crosses...) made by a seeded random generator: each at a random size, place, turn,
pen width (the canvas's slider range) and shakiness (a smoothed random wobble of the hand). The
stored strokes are canvas fractions (0-1, y down); `drawn_fields` draws them through the real
canvas with mouse events and reads them as the window does. The generator knows nothing of the
rule: it was written before any was measured, and its settings are not tuned to any result.

Left out on purpose: things that are digits. A plain circle is a 0, a vertical line a 1, an S a
5, an O a 0, a Z a 2; lines are drawn at least 35 degrees away from vertical, letters are those
with no digit's shape.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "bench" / "data" / "nondigits.json.gz"
PER_CATEGORY = 20
Stroke = list[tuple[float, float]]


def _arc(cx, cy, rx, ry, start, end, steps=28) -> Stroke:
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def _poly(*points, steps=10) -> Stroke:
    out = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, steps)[1:]]
    return out


# Each maker draws in a unit box (y down) and may use the random generator for its variety.
def dot(rng) -> list[Stroke]:
    """A tap, or a blob smaller than the pen (in canvas fractions: `drawing` keeps its size)."""
    r = rng.uniform(0.0, 0.015)
    return [_arc(0.5, 0.5, r, r, 0, 360, steps=8)] if r > 0.005 else [[(0.5, 0.5), (0.502, 0.5)]]


def line(rng) -> list[Stroke]:
    angle = math.radians(rng.uniform(-55, 55))  # from horizontal: never near vertical (a 1)
    dx, dy = 0.5 * math.cos(angle), 0.5 * math.sin(angle)
    return [_poly((0.5 - dx, 0.5 - dy), (0.5 + dx, 0.5 + dy))]


def cross(rng) -> list[Stroke]:
    if rng.random() < 0.5:  # +
        return [_poly((0.0, 0.5), (1.0, 0.5)), _poly((0.5, 0.0), (0.5, 1.0))]
    return [_poly((0.0, 0.0), (1.0, 1.0)), _poly((1.0, 0.0), (0.0, 1.0))]  # x


def smiley(rng) -> list[Stroke]:
    eye = rng.uniform(0.02, 0.06)
    mood = rng.choice([1, -1])  # a smile or a frown
    mouth = _arc(0.5, 0.55 if mood > 0 else 0.8, 0.25, 0.15, 20, 160)
    if mood < 0:
        mouth = [(x, 1.3 - y) for x, y in mouth]
    return [
        _arc(0.5, 0.5, 0.5, 0.5, -90, 270, steps=40),
        _arc(0.33, 0.35, eye, eye, 0, 360, steps=8),
        _arc(0.67, 0.35, eye, eye, 0, 360, steps=8),
        mouth,
    ]


def marked_circle(rng) -> list[Stroke]:
    """A circle with something inside: a dot, a cross, a line across, or a face without a mouth."""
    ring = _arc(0.5, 0.5, 0.5, 0.5, -90, 270, steps=40)
    inside = rng.integers(4)
    if inside == 0:
        return [ring, _arc(0.5, 0.5, 0.06, 0.06, 0, 360, steps=8)]
    if inside == 1:
        return [ring, _poly((0.25, 0.5), (0.75, 0.5)), _poly((0.5, 0.25), (0.5, 0.75))]
    if inside == 2:
        return [ring, _poly((0.0, 0.5), (1.0, 0.5))]
    return [ring, _arc(0.33, 0.4, 0.05, 0.05, 0, 360, 8), _arc(0.67, 0.4, 0.05, 0.05, 0, 360, 8)]


def square(rng) -> list[Stroke]:
    return [_poly((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))]


def triangle(rng) -> list[Stroke]:
    return [_poly((0.5, 0), (1, 1), (0, 1), (0.5, 0))]


def star(rng) -> list[Stroke]:
    points = [
        (0.5 + 0.5 * math.sin(math.radians(144 * k)), 0.5 - 0.5 * math.cos(math.radians(144 * k)))
        for k in range(6)
    ]
    return [_poly(*points)]


LETTERS = {  # letters with no digit's shape, as strokes of corner points
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(1, 0), (0, 0), (0, 1), (1, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(1, 0), (0, 0), (0, 1)], [(0, 0.5), (0.7, 0.5)]],
    "H": [[(0, 0), (0, 1)], [(1, 0), (1, 1)], [(0, 0.5), (1, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(1, 0), (0, 0.55), (1, 1)]],
    "M": [[(0, 1), (0, 0), (0.5, 0.6), (1, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.4), (0.75, 1), (1, 0)]],
    "Y": [[(0, 0), (0.5, 0.5), (1, 0)], [(0.5, 0.5), (0.5, 1)]],
    "R": [[(0, 1), (0, 0), (0.7, 0), (0.9, 0.25), (0.7, 0.5), (0, 0.5)], [(0.3, 0.5), (1, 1)]],
}


def letter(rng) -> list[Stroke]:
    strokes = LETTERS[rng.choice(sorted(LETTERS))]
    return [_poly(*stroke) for stroke in strokes]


def scribble(rng) -> list[Stroke]:
    """A random walk of the pen, smoothed: what a hand makes when it scribbles."""
    steps = rng.integers(12, 40)
    turns = np.cumsum(rng.normal(0, 1.2, steps))
    x, y = np.cumsum(np.cos(turns)), np.cumsum(np.sin(turns))
    return [list(zip(x, y, strict=True))]  # placed in the box by `drawing`


def spiral(rng) -> list[Stroke]:
    turns = rng.uniform(1.5, 3.5)
    t = np.linspace(0, 2 * math.pi * turns, 80)
    r = 0.5 * t / t[-1]
    return [list(zip(0.5 + r * np.cos(t), 0.5 + r * np.sin(t), strict=True))]


def wave(rng) -> list[Stroke]:
    cycles = rng.uniform(1.5, 4)
    x = np.linspace(0, 1, 60)
    return [list(zip(x, 0.5 + 0.2 * np.sin(2 * math.pi * cycles * x), strict=True))]


def hash_sign(rng) -> list[Stroke]:
    return [
        _poly((0.3, 0), (0.2, 1)),
        _poly((0.75, 0), (0.65, 1)),
        _poly((0, 0.33), (1, 0.33)),
        _poly((0, 0.67), (1, 0.67)),
    ]


def arrow(rng) -> list[Stroke]:
    return [_poly((0, 0.5), (1, 0.5)), _poly((0.7, 0.25), (1, 0.5), (0.7, 0.75))]


def heart(rng) -> list[Stroke]:
    t = np.linspace(0, 2 * math.pi, 60)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [list(zip(x, y, strict=True))]


def check_mark(rng) -> list[Stroke]:
    return [_poly((0, 0.55), (0.35, 1), (1, 0))]


NONDIGIT_CATEGORIES = {
    "dot": dot,
    "line": line,
    "cross": cross,
    "smiley": smiley,
    "marked circle": marked_circle,
    "square": square,
    "triangle": triangle,
    "star": star,
    "letter": letter,
    "scribble": scribble,
    "spiral": spiral,
    "wave": wave,
    "hash": hash_sign,
    "arrow": arrow,
    "heart": heart,
    "check mark": check_mark,
}


def drawing(rng: np.random.Generator, maker) -> tuple[float, list[Stroke]]:
    """(pen width, strokes in canvas fractions) of one drawing: the maker's strokes fitted in a
    box of random size and aspect at a random place, turned, and shaken by the hand."""
    strokes = [np.asarray(stroke, float) for stroke in maker(rng)]
    points = np.concatenate(strokes)
    low, span = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1e-9)
    aspect = rng.uniform(0.7, 1.4)
    scale = rng.uniform(0.2, 0.85) / max(span) * np.array([aspect, 1 / aspect]) ** 0.5
    if maker is dot:
        scale = np.ones(2)
    turn = math.radians(rng.uniform(-15, 15)) * (maker is not line)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    shake = rng.uniform(0, 0.012)  # the hand's wobble, a fraction of the canvas
    out = []
    for stroke in strokes:
        placed = ((stroke - low - span / 2) * scale) @ rotation.T
        if len(placed) > 3:  # a smoothed random walk: slow drift, not pixel noise
            wobble = np.cumsum(rng.normal(0, shake, placed.shape), axis=0)
            placed += wobble - np.linspace(0, 1, len(placed))[:, None] * wobble[-1]
        out.append(placed)
    extent = np.concatenate(out)
    margin_low, margin_high = 0.05 - extent.min(axis=0), 0.95 - extent.max(axis=0)
    centre = rng.uniform(np.minimum(margin_low, margin_high), np.maximum(margin_low, margin_high))
    pen = float(rng.uniform(10, 36))  # the canvas's pen slider goes from 6 to 48; 22 by default
    return pen, [
        [(round(float(x), 4), round(float(y), 4)) for x, y in np.clip(s + centre, 0, 1)]
        for s in out
    ]


def generate(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for category, maker in NONDIGIT_CATEGORIES.items():
        for _ in range(PER_CATEGORY):
            pen, strokes = drawing(rng, maker)
            out.append({"category": category, "pen": round(pen, 2), "strokes": strokes})
    return out


def load(path: Path = STORED) -> list[dict]:
    with gzip.open(path, "rt") as file:
        return json.load(file)["drawings"]


def drawn_fields(drawings: list[dict]) -> list[np.ndarray | None]:
    """Each drawing drawn through a real canvas with mouse events, read as the window reads it:
    its (784,) MNIST-style input, or None where no ink was found. Needs a QApplication."""
    from mnistpad.gui.canvas import DrawingCanvas, send_stroke
    from mnistpad.preprocess import mnist_style

    canvas = DrawingCanvas()
    canvas.resize(420, 420)
    canvas.show()
    out = []
    for item in drawings:
        canvas.clear()
        canvas.set_pen_width(item["pen"])
        for stroke in item["strokes"]:
            send_stroke(canvas, stroke)
        field = mnist_style(canvas.ink())
        out.append(None if field is None else field.reshape(-1))
    canvas.close()
    return out


def contact_sheet(path: Path, drawings: list[dict], fields: list) -> None:
    """A PNG of every drawing's 28x28 input, one row per category, to look at."""
    from PySide6.QtGui import QImage

    categories = list(dict.fromkeys(item["category"] for item in drawings))
    cell = 30
    sheet = np.full((len(categories) * cell, PER_CATEGORY * cell), 255, np.uint8)
    counts = dict.fromkeys(categories, 0)
    for item, field in zip(drawings, fields, strict=True):
        row, column = categories.index(item["category"]), counts[item["category"]]
        counts[item["category"]] += 1
        if field is not None:
            top, left = row * cell + 1, column * cell + 1
            sheet[top : top + 28, left : left + 28] = np.round(255 * (1 - field.reshape(28, 28)))
    image = QImage(sheet.tobytes(), sheet.shape[1], sheet.shape[0], sheet.shape[1],
                   QImage.Format.Format_Grayscale8)  # fmt: skip
    if not image.save(str(path)):
        raise OSError(f"cannot write {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--out", type=Path, default=STORED)
    parser.add_argument("--sheet", type=Path, help="also draw every input on one PNG")
    args = parser.parse_args(argv)
    drawings = generate(args.seed)
    text = json.dumps({"seed": args.seed, "drawings": drawings}, separators=(",", ":"))
    with gzip.GzipFile(args.out, "wb", mtime=0) as file:  # the same bytes for the same seed
        file.write(text.encode())
    print(f"{len(drawings)} drawings written to {args.out} ({args.out.stat().st_size:,} bytes)")
    if args.sheet:
        import os

        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])  # noqa: F841 (the canvas needs one)
        contact_sheet(args.sheet, drawings, drawn_fields(drawings))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
