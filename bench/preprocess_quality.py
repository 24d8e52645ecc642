"""How well drawings and pictures made from MNIST test digits are read, before and after a change
to mnistpad/preprocess.py (issue #11, defects 5 and 6).

    .venv/bin/python bench/preprocess_quality.py [--n 200] [--against REV] [--seed 0]

Every condition turns the first --n MNIST test digits into a drawing or a picture, reads it the
way the window (`mnist_style`) or `mnistpad predict` (`ink_from_picture`, then `mnist_style`)
does, and scores the bundled default weights on it. "before" is preprocess.py as it was at git
revision --against (default: the commit before the fixes), "after" the working tree's. A picture
read as having no ink counts as wrong, except under the blank conditions, where the score is the
share of pictures correctly found to have no ink.

Drawings (defect 5): the digit is scaled so its longer side is H canvas pixels and drawn with a
round pen P pixels wide on the 280x280 canvas (the window's pen is 22 wide).
Pictures (defect 6): the digit, 6x its MNIST size, dark on light paper in a 300x400 picture,
under each of the conditions named in `PICTURES` (the tight crops: 8x, cut 16 pixels around
the ink; bold: strokes 12 pixels wider). 8-bit, as a file holds them.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mnistpad import preprocess
from mnistpad.data import assets_dir, load_dataset
from mnistpad.weights import load_weights

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "9d7cba5"  # the last commit before issue #11's preprocessing fixes


def load_preprocess_at(revision: str):
    """preprocess.py as it was at a git revision, imported as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:mnistpad/preprocess.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "preprocess_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("preprocess_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- images -----------------------------------------------------------------------------------


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance from every pixel to the nearest True pixel of a small mask."""
    height, width = mask.shape
    g = np.where(mask, 0.0, float(height + width))
    for i in range(1, height):
        np.minimum(g[i], g[i - 1] + 1, out=g[i])
    for i in range(height - 2, -1, -1):
        np.minimum(g[i], g[i + 1] + 1, out=g[i])
    cols = np.arange(width)
    return np.sqrt((g[:, None, :] ** 2 + ((cols[:, None] - cols) ** 2)[None]).min(axis=2))


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resampling (pixel centres aligned), for scaling a digit up."""

    def matrix(n_in: int, n_out: int) -> np.ndarray:
        positions = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        positions = np.clip(positions, 0, n_in - 1)
        return np.maximum(0.0, 1 - np.abs(positions[:, None] - np.arange(n_in)[None, :]))

    return matrix(image.shape[0], height) @ image @ matrix(image.shape[1], width).T


def crop(image: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def drawing(image: np.ndarray, size: int, pen: float, rng: np.random.Generator) -> np.ndarray:
    """The digit as a person draws it on the canvas: longer side `size`, a round pen `pen` wide,
    anti-aliased, somewhere on the 280x280 canvas."""
    digit = crop(image)
    factor = size / 20  # MNIST's digits are 20 pixels on their longer side
    height, width = (max(1, round(n * factor)) for n in digit.shape)
    centre_line = resize(digit, height, width) > 0.5  # strokes about 2 * factor wide
    radius = max(0.0, (pen - 2 * factor) / 2)  # grow them to the pen's width
    margin = int(np.ceil(radius)) + 2
    distance = distance_to(np.pad(centre_line, margin))
    ink = np.clip(radius + 0.5 - distance, 0, 1)
    ink[distance == 0] = 1
    canvas = np.zeros((280, 280))
    top = rng.integers(0, 280 - ink.shape[0] + 1)
    left = rng.integers(0, 280 - ink.shape[1] + 1)
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur, edges repeated."""
    radius = int(3 * sigma)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in (0, 1):
        padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], "edge")
        image = sum(
            t * np.take(padded, np.arange(i, i + image.shape[axis]), axis=axis)
            for i, t in enumerate(taps)
        )
    return image


def quantise(picture: np.ndarray) -> np.ndarray:
    return np.round(np.clip(picture, 0, 1) * 255) / 255  # as an 8-bit file holds it


PAPER, INK = 0.85, 0.15  # luminance of the paper and of the pen


def photo(image, condition, rng) -> tuple[np.ndarray, np.ndarray | None]:
    """(luminance, alpha) of a picture of the digit under a condition."""
    height, width = 300, 400
    digit = resize(image, 168, 168)  # 6x, with MNIST's own margins: 120 pixels of digit
    ink = np.zeros((height, width))
    top, left = rng.integers(10, height - 168 - 10), rng.integers(60, width - 168 - 60)
    ink[top : top + 168, left : left + 168] = np.clip(digit, 0, 1)
    rows, cols = np.mgrid[:height, :width]
    if condition == "white on black (g)":
        return quantise(0.1 + 0.75 * ink), None
    if condition == "alpha only (h)":  # a transparent PNG: the pen's colour everywhere
        return np.full((height, width), 0.1), quantise(ink)
    if condition == "uniform grey (f)":
        return quantise(np.full((height, width), rng.uniform(0.2, 0.8))), None
    if condition == "pure noise (e)":
        return quantise(rng.random((height, width))), None
    if condition == "grey noise (e)":
        return quantise(rng.normal(0.5, 0.1, (height, width))), None
    if condition == "blurred noise (e)":
        return quantise(blur(rng.normal(0.5, 0.3, (height, width)), 1.5)), None
    if condition == "black and white noise (e)":
        return (rng.random((height, width)) < rng.uniform(0.05, 0.5)).astype(float), None
    if condition.startswith("tight crop") or condition.startswith("bold"):
        digit = crop(image)
        digit = resize(np.pad(digit, 2), 8 * (digit.shape[0] + 4), 8 * (digit.shape[1] + 4))
        if condition.startswith("bold"):  # a marker: strokes 12 pixels wider
            digit = np.clip(6.5 - distance_to(digit > 0.5), 0, 1)
        return quantise(PAPER - (PAPER - INK) * np.clip(digit, 0, 1)), None
    paper = np.full((height, width), PAPER)
    if condition in ("vignette (a)", "all of a-d"):
        radius = np.hypot((rows - height / 2) / (height / 2), (cols - width / 2) / (width / 2))
        paper *= 1 - 0.65 * (radius / np.sqrt(2)) ** 2  # corners at 35% of the light
    if condition in ("shaded lower edge (c)", "all of a-d"):
        paper *= 1 - 0.55 * np.clip((rows - 0.55 * height) / (0.45 * height), 0, 1)
    picture = paper - (paper - INK) * ink
    if condition in ("speck (b)", "all of a-d"):
        # a dark speck 10 pixels across, 100 or more pixels from the digit's box
        while True:
            y, x = rng.integers(10, height - 10), rng.integers(10, width - 10)
            dy = max(top - y, 0, y - (top + 168))
            dx = max(left - x, 0, x - (left + 168))
            if np.hypot(dy, dx) >= 100:
                break
        picture = np.where(np.hypot(rows - y, cols - x) <= 5, INK, picture)
    if condition in ("noise and blur (d)", "all of a-d"):
        picture = blur(picture, 1.5) + rng.normal(0, 0.05, picture.shape)
    return quantise(picture), None


PICTURES = [
    "clean",
    "vignette (a)",
    "speck (b)",
    "shaded lower edge (c)",
    "noise and blur (d)",
    "all of a-d",
    "white on black (g)",
    "alpha only (h)",
    "tight crop",
    "bold, tight crop",
    "pure noise (e)",
    "grey noise (e)",
    "blurred noise (e)",
    "black and white noise (e)",
    "uniform grey (f)",
]
BLANK = {name for name in PICTURES if name.endswith(("(e)", "(f)"))}


# --- scoring ----------------------------------------------------------------------------------


def score(module, weight_file, inks, labels) -> tuple[float, float]:
    """Accuracy and the share read as having no ink, of (H, W) ink images via `mnist_style`."""
    fields, found = [], []
    for ink in inks:
        field = None if ink is None else module.mnist_style(ink)
        found.append(field is not None)
        fields.append(np.zeros(784, np.float32) if field is None else field.reshape(-1))
    fields = np.stack(fields)
    if weight_file.deskew:
        fields = module.deskew(fields)
    predictions = weight_file.model.predict(fields)
    found = np.array(found)
    return float(((predictions == labels) & found).mean()), float(1 - found.mean())


DRAWINGS = [(30, 22), (45, 22), (60, 22), (90, 22), (140, 22), (200, 22),
            (30, 12), (60, 12), (100, 40), (200, 50)]  # fmt: skip


def drawings_table(before, after, weight_file, images, labels, seed) -> None:
    print("\nDrawings on the 280x280 canvas (defect 5): accuracy")
    print(f"{'condition':34} {'before':>7} {'after':>7}")
    rows = [
        ("MNIST's own 28x28 images", list(images)),
        ("10x, as drawn across the canvas", [np.kron(i, np.ones((10, 10))) for i in images]),
        ("10x, hairline strokes", [(np.kron(i, np.ones((10, 10))) > 0.95) * 1.0 for i in images]),
    ]
    for size, pen in DRAWINGS:
        rng = np.random.default_rng(seed)
        rows.append((f"{size} px tall, pen {pen}", [drawing(i, size, pen, rng) for i in images]))
    for name, inks in rows:
        scores = [score(module, weight_file, inks, labels)[0] for module in (before, after)]
        print(f"{name:34} {scores[0]:7.3f} {scores[1]:7.3f}")


def issue_examples(before, after, weight_file, data, seed) -> None:
    """The issue's own examples, and what thinning costs MNIST's boldest digits."""
    print("\nIssue #11's examples, and MNIST's own bold digits")
    images = data.test_images.reshape(-1, 28, 28).astype(np.float64)
    labels = data.test_labels
    rows, cols = np.mgrid[:280, :280]
    for height in (30, 40, 50):  # one straight stroke, drawn with the 22-pixel pen
        length = height - 23
        along = np.clip((rows - 140) / length, 0, 1)
        one = np.clip(11.5 - np.hypot(rows - 140 - length * along, cols - 140), 0, 1)
        readings = []
        for module in (before, after):
            field = module.mnist_style(one).reshape(-1)
            field = module.deskew(field) if weight_file.deskew else field
            p = weight_file.model.probabilities(field)
            readings.append(f"{p.argmax()} ({p.max():.1%})")
        print(
            f"a straight 1, {height} px tall, pen 22: read as {readings[0]} before, {readings[1]} after"
        )
    for digit, size in ((1, 30), (3, 60)):
        chosen = np.flatnonzero(labels[:1000] == digit)
        rng = np.random.default_rng(seed)
        drawings = [drawing(images[i], size, 22, rng) for i in chosen]
        scores = [score(m, weight_file, drawings, labels[chosen])[0] for m in (before, after)]
        print(
            f"the {len(chosen)} {digit}s of the first 1,000 test digits, {size} px tall, pen 22: "
            f"{scores[0]:.3f} before, {scores[1]:.3f} after"
        )
    widths = np.array([after.stroke_width(image) for image in images])
    bold = widths > after.MAX_STROKE_WIDTH
    scores = [score(m, weight_file, list(images[bold]), labels[bold])[0] for m in (before, after)]
    print(
        f"MNIST's {bold.sum()} test digits wider than {after.MAX_STROKE_WIDTH} (thinned): "
        f"{scores[0]:.3f} before, {scores[1]:.3f} after"
    )


def pictures_table(before, after, weight_file, images, labels, seed) -> None:
    print("\nPictures through `mnistpad predict`'s reader (defect 6): accuracy, or for the")
    print("pictures without a digit (e, f) the share found to have no ink")
    print(f"{'condition':26} {'before':>7} {'after':>7}   no ink: before / after   ms each, after")
    for condition in PICTURES:
        rng = np.random.default_rng(seed)
        pictures = [photo(image, condition, rng) for image in images]
        results, seconds = [], 0.0
        for module in (before, after):
            start = time.perf_counter()
            inks = [module.ink_from_picture(*picture) for picture in pictures]
            seconds = time.perf_counter() - start
            results.append(score(module, weight_file, inks, labels))
        if condition in BLANK:
            values = [no_ink for _, no_ink in results]  # the right answer is "no ink"
        else:
            values = [accuracy for accuracy, _ in results]
        print(
            f"{condition:26} {values[0]:7.3f} {values[1]:7.3f}   "
            f"{results[0][1]:.3f} / {results[1][1]:.3f}            {1000 * seconds / len(pictures):5.1f}"
        )
    rng = np.random.default_rng(seed)
    large = resize(photo(images[0], "all of a-d", rng)[0], 768, 1024)  # as `predict` decodes
    start = time.perf_counter()
    after.ink_from_picture(large)
    print(f"one 1024x768 picture: {1000 * (time.perf_counter() - start):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="test digits per condition")
    parser.add_argument("--against", default=BEFORE, help="git revision for 'before'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["drawings", "pictures"], help="one half of the tables")
    args = parser.parse_args()
    before, after = load_preprocess_at(args.against), preprocess
    weight_file = load_weights(assets_dir() / "weights" / "default.npz")
    data = load_dataset()
    images = data.test_images[: args.n].reshape(-1, 28, 28).astype(np.float64)
    labels = data.test_labels[: args.n]
    print(f"{args.n} MNIST test digits per condition, default weights; before = {args.against}")
    if args.only != "pictures":
        drawings_table(before, after, weight_file, images, labels, args.seed)
        issue_examples(before, after, weight_file, data, args.seed)
    if args.only != "drawings":
        pictures_table(before, after, weight_file, images, labels, args.seed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
