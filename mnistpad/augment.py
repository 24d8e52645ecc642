"""Random changes to MNIST's digits for training, such as writers make (`augment`).

Every image is turned, scaled and shifted a little, and some get strokes a grey level thicker or
thinner; with `styles`, also the ways real people's digits differ from MNIST's: bent by elastic
distortions, stretched, squashed, slanted, written with a bold pen, seen at a low resolution, or
binarised as a scan is. The gather thread of `train.py` applies it to each slice of an epoch.
"""

from __future__ import annotations

import numpy as np

from .preprocess import FIELD


def augment(
    images: np.ndarray,
    rng: np.random.Generator,
    shift: float = 2.0,
    scale: float = 0.1,
    rotation: float = 10.0,
    width_change: float = 0.3,
    styles: bool = False,
) -> np.ndarray:
    """Small random changes such as a writer makes, for training: (N, 784) -> (N, 784) float32.

    Each image is turned by up to `rotation` degrees either way and scaled by a factor in
    [1 - scale, 1 + scale] about the centre, shifted by up to `shift` pixels each way (bilinear
    interpolation), and a `width_change` share of the images get strokes one grey level of a pixel
    thicker or thinner (a soft dilation or erosion).

    With `styles`, also the ways real writing differs from MNIST's: shares of the images are bent
    by an elastic distortion, stretched or squashed, slanted, drawn with a bold pen, seen at a
    low resolution, or binarised as a scan is (ELASTIC_SHARE, ASPECT, SLANT, BOLD_SHARE,
    LOW_RESOLUTION, BINARISED).
    """
    n = len(images)
    block = np.asarray(images, dtype=np.float32).reshape(n, FIELD, FIELD)
    angle = np.radians(rng.uniform(-rotation, rotation, n))
    factor = rng.uniform(1 - scale, 1 + scale, n)
    dy, dx = rng.uniform(-shift, shift, (2, n))
    # Output pixel p reads the source at centre + R(-angle) (p - centre) / factor - (dy, dx).
    middle = (FIELD - 1) / 2
    grid = np.arange(FIELD, dtype=np.float64) - middle
    cos, sin = (np.cos(angle) / factor)[:, None, None], (np.sin(angle) / factor)[:, None, None]
    r, c = grid[None, :, None], grid[None, None, :]
    source_r = middle + cos * r - sin * c - dy[:, None, None]  # (N, 28, 28)
    source_c = middle + sin * r + cos * c - dx[:, None, None]
    if styles:
        source_r, source_c = _bent(source_r, source_c, rng)
    out = _bilinear(block, source_r, source_c)
    padded = np.pad(out, ((0, 0), (1, 1), (1, 1)))
    neighbours = np.stack(
        [padded[:, 1:-1, :-2], padded[:, 1:-1, 2:], padded[:, :-2, 1:-1], padded[:, 2:, 1:-1]]
    )
    draw = rng.random(n)
    thicker, thinner = draw < width_change / 2, (draw >= width_change / 2) & (draw < width_change)
    out[thicker] = np.maximum(out[thicker], 0.6 * neighbours.max(axis=0)[thicker])
    out[thinner] = np.minimum(out[thinner], neighbours.mean(axis=0)[thinner] + 0.2)
    if styles:
        out = _restyled(out, rng)
    return np.clip(out, 0, 1).reshape(n, FIELD * FIELD)


# Writing styles (augment(styles=True)), each as a share of the images and a range. The elastic
# distortion is Simard, Steinkraus and Platt's (2003): a field of random displacements in
# [-1, 1] smoothed by a Gaussian of ELASTIC_SIGMA pixels and scaled by up to ELASTIC_ALPHA (their
# values). Bending every image instead of half read optdigits 0.910 / 0.943 instead of 0.919 /
# 0.944 with the CNN (bench/handwriting.py, seed 0), bold and blocky digits 0.983 instead of
# 0.987, stretched ones 0.980 instead of 0.970: half keeps more of MNIST's own shapes.
ELASTIC_SHARE = 0.5  # share of images bent; the rest keep MNIST's own shapes
ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 34.0
ASPECT = (0.3, 1.6)  # share of images stretched or squashed across, and the largest factor
SLANT = (0.3, 0.5)  # share slanted, and the largest shear (columns per row)
BOLD_SHARE = 0.25  # share drawn with a bolder pen, widened by a disc of one of these radii:
BOLD_RADII = (1.0, 1.5, 2.0)  # strokes up to 6 pixels wide, as a bold pen's in a 20-pixel box
LOW_RESOLUTION = 0.15  # share seen at a half or a third of their resolution, in blocks, as
LOW_RESOLUTION_BLOCKS = (2, 3)  # a small scan shown large is (an 8x8 or a 16x16 digit)
BINARISED = 0.1  # share binarised as a low-resolution scan is


def _bent(
    source_r: np.ndarray, source_c: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The source positions of `augment` moved by an elastic field, stretched, squashed and
    slanted about the centre: (N, 28, 28) each -> the same."""
    n = len(source_r)
    middle = (FIELD - 1) / 2
    offsets = np.arange(FIELD) - np.arange(FIELD)[:, None]
    gauss = np.exp(-(offsets**2) / (2 * ELASTIC_SIGMA**2))
    gauss /= gauss.sum(axis=1, keepdims=True)  # a constant field stays constant at the edges
    noise = rng.uniform(-1, 1, (2 * n * FIELD, FIELD)).astype(np.float32)
    gauss = gauss.astype(np.float32)
    # Smoothed along the rows, then along the columns: one product each for all images.
    smooth = (noise @ gauss.T).reshape(2 * n, FIELD, FIELD).transpose(0, 2, 1)
    smooth = (smooth.reshape(-1, FIELD) @ gauss.T).reshape(2, n, FIELD, FIELD).transpose(0, 1, 3, 2)
    elastic = rng.random(n) < ELASTIC_SHARE
    alpha = np.where(elastic, rng.uniform(0, ELASTIC_ALPHA, n), 0)[:, None, None]
    field_r, field_c = alpha * smooth
    share, largest = ASPECT
    aspect = np.where(rng.random(n) < share, np.exp(rng.uniform(-1, 1, n) * np.log(largest)), 1)
    share, largest = SLANT
    shear = np.where(rng.random(n) < share, rng.uniform(-largest, largest, n), 0)
    rows = source_r + field_r
    # Wider by `aspect`: output column c reads column middle + (c - middle) / aspect; a slant
    # moves each row sideways in proportion to its height above the middle.
    cols = middle + (source_c + field_c - middle) / aspect[:, None, None]
    cols += shear[:, None, None] * (rows - middle)
    return rows, cols


def _restyled(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shares of (N, 28, 28) images drawn with a bolder pen, pixelated or binarised."""
    n = len(images)
    out = images.copy()
    bold = rng.random(n) < BOLD_SHARE
    radius = rng.choice(BOLD_RADII, n)
    for value in BOLD_RADII:
        chosen = bold & (radius == value)
        out[chosen] = _grey_dilate(images[chosen], value)
    low = rng.random(n) < LOW_RESOLUTION
    block = rng.choice(LOW_RESOLUTION_BLOCKS, n)
    for size in LOW_RESOLUTION_BLOCKS:
        chosen = low & (block == size)
        out[chosen] = _pixelated(out[chosen], size)
    binarised = rng.random(n) < BINARISED
    out[binarised] = (out[binarised] > rng.uniform(0.3, 0.6)).astype(np.float32)
    return out


def _pixelated(images: np.ndarray, size: int) -> np.ndarray:
    """(N, 28, 28) images at 1/size of their resolution: size x size blocks of their mean."""
    n, side = len(images), -(-FIELD // size) * size
    padded = np.pad(images, ((0, 0), (0, side - FIELD), (0, side - FIELD)))
    blocks = padded.reshape(n, side // size, size, side // size, size).mean(axis=(2, 4))
    return np.repeat(np.repeat(blocks, size, axis=1), size, axis=2)[:, :FIELD, :FIELD]


def _grey_dilate(images: np.ndarray, radius: float) -> np.ndarray:
    """Each pixel takes the strongest ink within `radius` pixels (a disc): (N, H, W) images."""
    reach = int(radius)
    padded = np.pad(images, ((0, 0), (reach, reach), (reach, reach)))
    height, width = images.shape[1:]
    out = images.copy()
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if 0 < dy * dy + dx * dx <= radius * radius:
                shifted = padded[
                    :, reach + dy : reach + dy + height, reach + dx : reach + dx + width
                ]
                np.maximum(out, shifted, out=out)
    return out


def _bilinear(block: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """block (N, H, W) sampled at real positions rows, cols (N, h, w); zero outside."""
    n, height, width = block.shape
    padded = np.pad(block, ((0, 0), (1, 1), (1, 1))).reshape(n, -1)  # a zero border all round
    top, left = np.floor(rows), np.floor(cols)
    fr, fc = (rows - top).astype(np.float32), (cols - left).astype(np.float32)
    # indices into the padded image, any position outside reading the zero border
    r0 = np.clip(top.astype(np.intp) + 1, 0, height + 1)
    r1 = np.clip(top.astype(np.intp) + 2, 0, height + 1)
    c0 = np.clip(left.astype(np.intp) + 1, 0, width + 1)
    c1 = np.clip(left.astype(np.intp) + 2, 0, width + 1)
    stride, base = width + 2, (np.arange(n) * padded.shape[1])[:, None, None]
    flat = padded.reshape(-1)

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return flat[base + r * stride + c]

    upper = at(r0, c0) * (1 - fc) + at(r0, c1) * fc
    lower = at(r1, c0) * (1 - fc) + at(r1, c1) * fc
    return (upper * (1 - fr) + lower * fr).astype(np.float32)
