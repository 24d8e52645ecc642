"""How well the bundled models read real handwriting, and the ways real writing differs from MNIST.

    .venv/bin/python bench/handwriting.py [--weights DIR] [--json PATH] [--sets A,B] [--n N]

Prints one table, set x model (the share of digits read right; a picture in which no ink is found
counts as wrong), and writes it as JSON (default: assets/weights/handwriting.json, the committed table that
`tests/test_handwriting_bench.py` holds every bundled file to, within a point). Pictures are read
as `mnistpad predict` reads an 8-bit grey picture file (`ink_from_picture`, then `mnist_style`);
drawings as the window reads its canvas (`mnist_style` of the canvas's ink). No timing, no network.

Sets (all made here, in code, from files in the repo):
- optdigits-nearest, optdigits-bicubic: 1,797 real digits by 13 writers (bench/data/README.md),
  8x8 counts of ink, rendered as 64x64 dark-on-light pictures upscaled by nearest neighbour or by
  bicubic interpolation.
- drawn: 120 digits drawn through the real canvas with mouse events (pen trajectories written for
  this benchmark, two styles of each digit, at random size, place, slant, turn, sway and pen width).
- drawn-8-points: the same trajectories resampled to 8 points evenly spaced along their whole
  length and replayed as one stroke, pen lifts lost, as pen-trajectory sets such as UCI pendigits
  record digits.
- The first N MNIST test digits (not trained on) made into pictures in each way real writing
  differs from MNIST: bold (strokes a quarter of the digit's box), blocky (a 16x16 binarised scan
  upscaled by nearest neighbour), bold-scan (both at once), tight (cropped at the ink), wide and narrow (the aspect
  stretched 1.6x or squashed to 0.6x), thin (a pen a pixel wide on a digit 112 pixels tall),
  slanted (a shear of 0.5), small (20 pixels tall in a 280x280 page) and faint (pencil at a fifth
  of the contrast on grey, grainy paper). The digits are drawn 4x MNIST's size (bilinear) first.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mnistpad.blas import one_blas_thread  # noqa: E402

one_blas_thread()  # as the `mnistpad` command does, before numpy starts its threads

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from mnistpad.data import load_dataset  # noqa: E402
from mnistpad.preprocess import deskew, ink_from_picture, mnist_style, stroke_width  # noqa: E402
from mnistpad.weights import bundled_models, load_weights  # noqa: E402

TABLE = ROOT / "assets" / "weights" / "handwriting.json"  # beside the files it measures
OPTDIGITS = ROOT / "bench" / "data" / "optdigits.csv.gz"
MNIST_DIGITS = 300  # MNIST test digits per style variant
HIGH = 4  # MNIST digits are drawn this many times their size before a style is applied
ENSEMBLE = ("mlp", "cnn")  # the bench also scores these two averaged


# --- real digits ---------------------------------------------------------------------------------


def optdigits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 optdigits test digits: (N, 8, 8) ink in [0, 1], and labels."""
    with gzip.open(OPTDIGITS, "rt") as file:
        rows = np.loadtxt(file, delimiter=",", dtype=np.int64)
    return rows[:, :64].reshape(-1, 8, 8) / 16.0, rows[:, 64]


def cubic_matrix(n_in: int, factor: int) -> np.ndarray:
    """(n_in * factor, n_in) matrix of bicubic upscaling (Keys, a = -0.5; edges repeated)."""
    positions = (np.arange(n_in * factor) + 0.5) / factor - 0.5
    base = np.floor(positions).astype(int)
    matrix = np.zeros((n_in * factor, n_in))
    for offset in (-1, 0, 1, 2):
        distance = np.abs(positions - (base + offset))
        weight = np.where(
            distance <= 1,
            1.5 * distance**3 - 2.5 * distance**2 + 1,
            -0.5 * distance**3 + 2.5 * distance**2 - 4 * distance + 2,
        )
        np.add.at(matrix, (np.arange(len(positions)), np.clip(base + offset, 0, n_in - 1)), weight)
    return matrix


def optdigits_pictures(kind: str) -> Iterator[tuple[np.ndarray, int]]:
    images, labels = optdigits()
    matrix = cubic_matrix(8, 8)
    for image, label in zip(images, labels, strict=True):
        if kind == "nearest":
            big = np.kron(image, np.ones((8, 8)))
        else:
            big = np.clip(matrix @ image @ matrix.T, 0, 1)
        yield on_paper(big), int(label)


# --- MNIST digits in the styles real writing has ---------------------------------------------------


def on_paper(ink: np.ndarray, paper: float = 1.0, contrast: float = 1.0, noise=None) -> np.ndarray:
    """Dark ink on light paper as an 8-bit grey picture, as a file holds it."""
    grey = paper - contrast * np.clip(ink, 0, 1)
    if noise is not None:
        grey = grey + noise
    return np.clip(np.round(255 * grey), 0, 255).astype(np.uint8)


def thinned(masks: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a stack of boolean masks (N, H, W) to lines one pixel wide."""
    masks = np.pad(masks, ((0, 0), (1, 1), (1, 1))).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            p = masks
            # neighbours P2..P9, clockwise from the one above
            n = [
                p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2],
            ]  # fmt: skip
            count = sum(x.astype(np.int32) for x in n)
            transitions = sum(
                ((a == 0) & (b == 1)).astype(np.int32)
                for a, b in zip(n, n[1:] + n[:1], strict=True)
            )
            if step == 0:
                away = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                away = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            remove = (
                (p[:, 1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & away
            )
            if remove.any():
                masks[:, 1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return masks[:, 1:-1, 1:-1].astype(bool)


def scan(ink: np.ndarray, side: int = 16, threshold: float = 0.4) -> np.ndarray:
    """A low-resolution binarised scan: the ink's box scaled to fill side x side (aspect kept),
    thresholded, and upscaled 4x by nearest neighbour, as such scans are shown."""
    crop = ink[ink.any(axis=1)][:, ink.any(axis=0)]
    small = np.clip(ndimage.zoom(crop, side / max(crop.shape), order=1, mode="nearest"), 0, 1)
    out = np.zeros((side, side))
    top, left = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[top : top + small.shape[0], left : left + small.shape[1]] = small > threshold
    return np.kron(out, np.ones((4, 4)))


def mnist_styles(count: int) -> dict[str, list[tuple[np.ndarray, int]]]:
    """Pictures of the first `count` MNIST test digits in each style (see the module docstring)."""
    dataset = load_dataset()
    images = dataset.test_images[:count].reshape(-1, 28, 28).astype(np.float64)
    labels = [int(label) for label in dataset.test_labels[:count]]
    rng = np.random.default_rng(16)
    high = np.clip(ndimage.zoom(images, (1, HIGH, HIGH), order=1), 0, 1)  # (N, 112, 112)
    masks = high > 0.5
    skeletons = thinned(masks)
    styles: dict[str, list] = {name: [] for name in STYLES}
    for small, big, mask, skeleton in zip(images, high, masks, skeletons, strict=True):
        rows, cols = np.nonzero(big > 0.05)
        box = max(np.ptp(rows), np.ptp(cols)) + 1
        # bold: the strokes widened to a quarter of the box
        radius = max(0.0, (box / 4 - stroke_width(mask.astype(float))) / 2)
        bold = ndimage.distance_transform_edt(~np.pad(mask, 40)) <= radius
        styles["bold"].append(on_paper(bold.astype(float)))
        styles["blocky"].append(on_paper(scan(small)))
        styles["bold-scan"].append(on_paper(scan(bold.astype(float))))
        styles["tight"].append(
            on_paper(big[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])
        )
        styles["wide"].append(on_paper(np.clip(ndimage.zoom(big, (1, 1.6), order=1), 0, 1)))
        styles["narrow"].append(on_paper(np.clip(ndimage.zoom(big, (1, 0.6), order=1), 0, 1)))
        styles["thin"].append(on_paper(skeleton.astype(float)))
        wide = np.pad(big, ((0, 0), (40, 40)))
        middle = wide.shape[0] / 2
        shear = np.array([[1, 0], [-0.5, 1]])  # output (r, c) reads (r, c - 0.5 (r - middle))
        slanted = ndimage.affine_transform(wide, shear, offset=(0, 0.5 * middle), order=1)
        styles["slanted"].append(on_paper(slanted))
        page = np.zeros((280, 280))
        top, left = rng.integers(0, 280 - 28, 2)
        page[top : top + 28, left : left + 28] = small
        styles["small"].append(on_paper(page))
        grain = rng.normal(0, 0.015, big.shape)
        styles["faint"].append(on_paper(big, paper=0.62, contrast=0.2, noise=grain))
    return {name: list(zip(pictures, labels, strict=True)) for name, pictures in styles.items()}


STYLES = (
    "bold",
    "blocky",
    "bold-scan",
    "tight",
    "wide",
    "narrow",
    "thin",
    "slanted",
    "small",
    "faint",
)


def read_picture_pixels(grey: np.ndarray) -> np.ndarray | None:
    """An 8-bit grey picture read as `mnistpad predict` reads its file: a (784,) input or None."""
    ink = ink_from_picture(grey / 255.0)
    field = None if ink is None else mnist_style(ink)
    return None if field is None else field.reshape(-1)


# --- digits drawn on the canvas ------------------------------------------------------------------


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
DRAWN_VARIANTS = 6  # random placements of each digit's each style


def placed(point, height, width, slant, turn, left, top, wobble):
    """A unit-box point drawn `height` x `width` at (left, top), slanted, turned and wobbling
    (a slow sway of the hand, `wobble` (amplitude, phase, frequency) in the unit box)."""
    amplitude, phase, frequency = wobble
    sway = amplitude * math.sin(phase + frequency * (point[0] + 2 * point[1]))
    x, y = (point[0] + sway - 0.5) * width, (point[1] - sway - 0.5) * height
    x -= slant * y
    x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
    return left + width / 2 + x, top + height / 2 + y


def drawn_variants(rng: np.random.Generator):
    """(label, pen width, strokes in canvas fractions) for every digit, style and placement."""
    for label, styles in DIGITS.items():
        for strokes in styles:
            for _ in range(DRAWN_VARIANTS):
                height = rng.uniform(0.25, 0.8)
                width = height * rng.uniform(0.45, 0.8)
                slant, turn = rng.uniform(-0.4, 0.4), math.radians(rng.uniform(-15, 15))
                left = rng.uniform(0.12, 0.88 - width)
                top = rng.uniform(0.1, 0.9 - height)
                wobble = (rng.uniform(0, 0.06), rng.uniform(0, 2 * math.pi), rng.uniform(2, 6))
                where = (height, width, slant, turn, left, top, wobble)
                pen = rng.uniform(10, 36)  # the canvas's pen slider: 22 by default
                yield label, pen, [[placed(p, *where) for p in stroke] for stroke in strokes]


def resampled(
    strokes: list[list[tuple[float, float]]], count: int = 8
) -> list[tuple[float, float]]:
    """All strokes joined into one path, resampled to `count` points evenly spaced along it."""
    path = np.array([point for stroke in strokes for point in stroke])
    along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    where = np.linspace(0, along[-1], count)
    return list(
        zip(np.interp(where, along, path[:, 0]), np.interp(where, along, path[:, 1]), strict=True)
    )


def drawn_fields(eight_points: bool) -> list[tuple[np.ndarray | None, int]]:
    """The drawings made through a real canvas with mouse events, read as the window reads them."""
    from mnistpad.gui.canvas import DrawingCanvas, send_stroke

    canvas = DrawingCanvas()
    canvas.resize(420, 420)
    canvas.show()
    out = []
    for label, pen, strokes in drawn_variants(np.random.default_rng(2026)):
        canvas.clear()
        canvas.set_pen_width(pen)
        for stroke in [resampled(strokes)] if eight_points else strokes:
            send_stroke(canvas, stroke)
        field = mnist_style(canvas.ink())
        out.append((None if field is None else field.reshape(-1), label))
    canvas.close()
    return out


# --- the table -----------------------------------------------------------------------------------

SET_NAMES = (
    "optdigits-nearest",
    "optdigits-bicubic",
    "drawn",
    "drawn-8-points",
    *STYLES,
)


QUICK = {"optdigits": 600, "mnist": 100}  # the test's share of each set: its first digits


def quick_size(name: str) -> int | None:
    """How many of the set's first digits the regression test reads (None: all of them)."""
    if name.startswith("optdigits"):
        return QUICK["optdigits"]
    return None if name.startswith("drawn") else QUICK["mnist"]


def make_sets(names=SET_NAMES, count: int = MNIST_DIGITS, quick: bool = False) -> dict:
    """Each named set as (inputs: (784,) float32 or None where no ink was found, labels); `quick`:
    only the first digits of each set (`quick_size`), as the regression test reads them."""
    sets: dict[str, list[tuple[np.ndarray | None, int]]] = {}
    styles = mnist_styles(QUICK["mnist"] if quick else count) if set(names) & set(STYLES) else {}
    for name in names:
        if name.startswith("optdigits"):
            pictures = optdigits_pictures(name.split("-")[1])
            pictures = itertools.islice(pictures, quick_size(name) if quick else None)
        elif name.startswith("drawn"):
            sets[name] = drawn_fields(eight_points=name == "drawn-8-points")
            continue
        else:
            pictures = styles[name]
        sets[name] = [(read_picture_pixels(picture), label) for picture, label in pictures]
    return {
        name: ([field for field, _ in items], np.array([label for _, label in items]))
        for name, items in sets.items()
    }


def quick_share(sets: dict) -> dict:
    """The part of full-size sets that `make_sets(quick=True)` makes."""
    return {
        name: (fields[: quick_size(name)], labels[: quick_size(name)])
        for name, (fields, labels) in sets.items()
    }


def probabilities(weight_file, fields: list) -> np.ndarray:
    """(N, 10) probabilities the model gives each input; NaN rows where no ink was found."""
    found = [index for index, field in enumerate(fields) if field is not None]
    out = np.full((len(fields), 10), np.nan)
    if found:
        inputs = np.stack([fields[index] for index in found]).astype(np.float32)
        if weight_file.deskew:
            inputs = deskew(inputs)
        out[found] = weight_file.model.probabilities(inputs)
    return out


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    read = np.where(np.isnan(probs).any(axis=1), -1, np.nan_to_num(probs).argmax(axis=1))
    return float((read == labels).mean())


def table(sets: dict, weight_files: dict[str, object]) -> dict[str, dict[str, float]]:
    """set name -> model name -> accuracy, with the ensemble of ENSEMBLE where both are there."""
    result = {}
    for name, (fields, labels) in sets.items():
        probs = {model: probabilities(wf, fields) for model, wf in weight_files.items()}
        row = {model: accuracy(p, labels) for model, p in probs.items()}
        if all(model in probs for model in ENSEMBLE):
            row["+".join(ENSEMBLE)] = accuracy(
                sum(probs[m] for m in ENSEMBLE) / len(ENSEMBLE), labels
            )
        result[name] = row
    return result


def bundled(folder: Path | None = None) -> dict[str, object]:
    """The bundled weight files (or those of the same names in `folder`), loaded, by stem."""
    paths = list(bundled_models())
    if folder is not None:
        paths = [folder / path.name for path in paths if (folder / path.name).is_file()]
    return {path.stem: load_weights(path) for path in paths}


def show(result: dict[str, dict[str, float]], counts: dict[str, int]) -> str:
    models = list(next(iter(result.values())))
    lines = [f"| set | n | {' | '.join(models)} |", "|---|---|" + "---|" * len(models)]
    for name, row in result.items():
        lines.append(
            f"| {name} | {counts[name]} | " + " | ".join(f"{row[m]:.3f}" for m in models) + " |"
        )
    return "\n".join(lines)


GRID_STYLES = ("bold", "bold-scan", "thin", "blocky", "tight")


def preprocessing_grid(path: Path, per_style: int = 6) -> None:
    """A PNG of pictures of each style in GRID_STYLES beside the 28x28 inputs mnistpad makes of
    them (the README's preprocessing section): one row a style, picture then input."""
    from PySide6.QtGui import QImage

    cell, gap = 84, 8
    styles = mnist_styles(per_style)
    width = per_style * (2 * cell + 3 * gap) + gap
    canvas = np.full((len(GRID_STYLES) * (cell + gap) + gap, width), 255, np.uint8)
    for row, name in enumerate(GRID_STYLES):
        for column, (picture, _) in enumerate(styles[name]):
            top, left = gap + row * (cell + gap), gap + column * (2 * cell + 3 * gap)
            shown = ndimage.zoom(picture, (cell - 2) / max(picture.shape), order=0, mode="nearest")
            height, across = shown.shape
            canvas[top - 1 : top + height + 1, left - 1 : left + across + 1] = 170  # its edge
            canvas[top : top + height, left : left + across] = shown
            field = read_picture_pixels(picture)
            if field is not None:
                inputs = np.kron(field.reshape(28, 28), np.ones((3, 3)))
                left += cell + gap
                canvas[top : top + cell, left : left + cell] = np.round(255 * (1 - inputs))
    image = QImage(canvas.tobytes(), width, canvas.shape[0], width, QImage.Format.Format_Grayscale8)
    if not image.save(str(path)):
        raise OSError(f"cannot write {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, help="a folder with weight files named as the bundled ones"
    )
    parser.add_argument(
        "--json", type=Path, default=TABLE, help=f"where to write the table ({TABLE.name})"
    )
    parser.add_argument("--sets", default=",".join(SET_NAMES), help="comma-separated set names")
    parser.add_argument("--n", type=int, default=MNIST_DIGITS, help="MNIST test digits per style")
    parser.add_argument("--grid", type=Path, help="also draw pictures beside their inputs as PNG")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841 (the canvas needs one)
    if args.grid:
        preprocessing_grid(args.grid)
    sets = make_sets(args.sets.split(","), args.n)
    weight_files = bundled(args.weights)
    output = {}
    for name, part in (("full", sets), ("quick", quick_share(sets))):
        result = table(part, weight_files)
        counts = {set_name: len(labels) for set_name, (_, labels) in part.items()}
        output[name] = {"counts": counts, "accuracy": result}
    print(show(output["full"]["accuracy"], output["full"]["counts"]))
    args.json.write_text(json.dumps(output, indent=1) + "\n")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
