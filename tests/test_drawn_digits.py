"""The bundled models on digits drawn through the real canvas: strokes sent as mouse events, the
canvas's ink made MNIST-style as the window does, each model given its input as its file says.

The digits are pen trajectories written for this test (10 digits, two styles each, each drawn
6 times at a random size, place, slant, turn, sway and pen width: 120 drawings); none comes from
MNIST.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mnistpad.gui.canvas import DrawingCanvas, send_stroke
from mnistpad.preprocess import deskew, mnist_style
from mnistpad.weights import bundled_models, load_weights

VARIANTS = 6


def arc(cx, cy, rx, ry, start, end, steps=24):
    """Points on an ellipse from angle `start` to `end` (degrees, 0 = right, 90 = down)."""
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def line(*points, steps=8):
    out = []
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        out += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, steps)]
    return out


# Each digit in two styles: strokes of (x, y) points in a unit box, y down.
DIGITS = {
    0: [
        [arc(0.5, 0.5, 0.38, 0.5, -90, 270)],
        [arc(0.5, 0.5, 0.3, 0.48, -100, 265)],
    ],
    1: [
        [line((0.5, 0.0), (0.5, 1.0))],
        [line((0.25, 0.2), (0.55, 0.0), (0.55, 1.0))],
    ],
    2: [
        [arc(0.5, 0.28, 0.36, 0.28, 190, 380) + line((0.84, 0.38), (0.1, 1.0), (0.92, 1.0))],
        [arc(0.48, 0.3, 0.38, 0.3, 170, 400) + line((0.75, 0.55), (0.15, 1.0), (0.95, 0.98))],
    ],
    3: [
        [arc(0.45, 0.25, 0.37, 0.25, 200, 450) + arc(0.45, 0.73, 0.42, 0.27, -90, 155)],
        [line((0.1, 0.0), (0.85, 0.0), (0.4, 0.42)) + arc(0.45, 0.7, 0.42, 0.3, -80, 160)],
    ],
    4: [
        [line((0.65, 0.0), (0.05, 0.65), (0.95, 0.65)), line((0.7, 0.3), (0.7, 1.0))],
        [line((0.2, 0.0), (0.15, 0.55), (0.9, 0.55)), line((0.75, 0.05), (0.75, 1.0))],
    ],
    5: [
        [line((0.85, 0.0), (0.2, 0.0), (0.15, 0.45)) + arc(0.45, 0.68, 0.4, 0.3, -140, 160)],
        [
            line((0.2, 0.0), (0.15, 0.45)) + arc(0.45, 0.68, 0.4, 0.3, -140, 160),
            line((0.2, 0.0), (0.85, 0.02)),
        ],
    ],
    6: [
        [arc(0.95, 0.6, 0.8, 0.6, 250, 180) + arc(0.5, 0.7, 0.35, 0.3, 180, 540)],
        [line((0.7, 0.0), (0.2, 0.6)) + arc(0.5, 0.72, 0.32, 0.28, 200, 560)],
    ],
    7: [
        [line((0.1, 0.0), (0.9, 0.0), (0.35, 1.0))],
        [line((0.1, 0.05), (0.9, 0.0), (0.4, 1.0)), line((0.35, 0.5), (0.85, 0.5))],
    ],
    8: [
        [
            [
                (0.5 + 0.32 * math.sin(2 * t), (1 - math.cos(t)) / 2)
                for t in np.linspace(0, 2 * math.pi, 48)
            ]
        ],
        [arc(0.5, 0.26, 0.26, 0.26, 90, 450), arc(0.5, 0.74, 0.33, 0.26, -90, 270)],
    ],
    9: [
        [arc(0.45, 0.3, 0.32, 0.3, 0, -360) + line((0.77, 0.3), (0.68, 1.0))],
        [arc(0.45, 0.28, 0.3, 0.28, 20, -340) + line((0.74, 0.2), (0.74, 1.0))],
    ],
}


def placed(point, height, width, slant, turn, left, top, wobble):
    """A unit-box point drawn `height` x `width` at (left, top), slanted, turned and wobbling
    (a slow sway of the hand, `wobble` (amplitude, phase, frequency) in the unit box)."""
    amplitude, phase, frequency = wobble
    sway = amplitude * math.sin(phase + frequency * (point[0] + 2 * point[1]))
    x, y = (point[0] + sway - 0.5) * width, (point[1] - sway - 0.5) * height
    x -= slant * y
    x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
    return left + width / 2 + x, top + height / 2 + y


def variants(rng: np.random.Generator):
    """(label, strokes in canvas fractions) for every digit, style and random placement."""
    for label, styles in DIGITS.items():
        for strokes in styles:
            for _ in range(VARIANTS):
                height = rng.uniform(0.25, 0.8)
                width = height * rng.uniform(0.45, 0.8)
                slant, turn = rng.uniform(-0.4, 0.4), math.radians(rng.uniform(-15, 15))
                left = rng.uniform(0.12, 0.88 - width)
                top = rng.uniform(0.1, 0.9 - height)
                wobble = (rng.uniform(0, 0.06), rng.uniform(0, 2 * math.pi), rng.uniform(2, 6))
                where = (height, width, slant, turn, left, top, wobble)
                pen = rng.uniform(10, 36)  # the canvas's pen slider: 22 by default
                yield label, pen, [[placed(p, *where) for p in stroke] for stroke in strokes]


@pytest.fixture(scope="module")
def drawings(qapp):
    """The 120 drawings as the window makes them: (28, 28) fields, and their labels."""
    canvas = DrawingCanvas()
    canvas.resize(420, 420)
    canvas.show()
    fields, labels = [], []
    for label, pen, strokes in variants(np.random.default_rng(2026)):
        canvas.clear()
        canvas.set_pen_width(pen)
        for stroke in strokes:
            send_stroke(canvas, stroke)
        fields.append(mnist_style(canvas.ink()).reshape(-1))
        labels.append(label)
    canvas.close()
    return np.stack(fields), np.array(labels)


def test_every_bundled_model_reads_drawn_digits_and_the_networks_read_them_best(drawings):
    fields, labels = drawings
    assert len(labels) == 10 * 2 * VARIANTS
    scores = {}
    for path in bundled_models():
        weight_file = load_weights(path)
        inputs = deskew(fields) if weight_file.deskew else fields
        scores[path.stem] = weight_file.model.accuracy(inputs, labels)
    print("accuracy on drawn digits:", {name: round(value, 3) for name, value in scores.items()})
    assert scores["default"] >= 0.85  # the linear model; chance is 0.1
    for name in ("mlp", "cnn"):
        if name in scores:
            assert scores[name] >= 0.9
    if "cnn" in scores:
        assert scores["cnn"] >= scores["default"]
