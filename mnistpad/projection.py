"""A map of the test set as the model sees it: each image's features, projected to two dimensions.

The features are the layer before the output (`features` in networks.py and model.py): the MLP's
hidden units, the CNN's dense layer, the linear model's ten logits. Two projections, both linear:

- PCA: the two directions along which the features vary most (of all images, classes unknown);
- Fisher's linear discriminant (LDA): the two directions along which the class means lie furthest
  apart measured in units of the spread within each class (classes known: the test labels), the
  top two solutions v of  S_between v = lambda S_within v.

Successive maps of the same images (a run's epochs, other weights) are turned, by the rotation or
mirror image that brings the new points closest to the previous ones (orthogonal Procrustes), so
that the map neither flips nor spins while the clusters move.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .model import OutputOverflow, softmax

METHODS = {"pca": "PCA", "lda": "Fisher LDA"}
RIDGE = 1e-3  # added to the within-class scatter, as a share of its mean variance: dead ReLU
# units have none, and the scatter would be singular without it


@dataclass(frozen=True)
class Projection:
    """x -> (x - mean) @ axes: features (N, F) to points (N, 2)."""

    mean: np.ndarray  # (F,)
    axes: np.ndarray  # (F, 2)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self.mean) @ self.axes

    def turned(self, rotation: np.ndarray) -> Projection:
        """The same projection followed by a (2, 2) rotation or mirror image."""
        return Projection(self.mean, self.axes @ rotation)


def pca(features: np.ndarray) -> Projection:
    """The two principal axes of (N, F) features, the largest variance first."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    _, vectors = np.linalg.eigh(centred.T @ centred / len(x))  # eigenvalues ascending
    return Projection(mean, _signed(vectors[:, ::-1][:, :2]))


def lda(features: np.ndarray, labels: np.ndarray) -> Projection:
    """Fisher's two discriminant axes of (N, F) features with labels (N,), the most separating
    first; the points come out in units of the within-class spread."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    classes, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.zeros((len(classes), x.shape[1]))
    np.add.at(means, index, x)
    means /= counts[:, None]
    within = x - means[index]
    scatter_within = within.T @ within / len(x)
    between = (means - mean) * np.sqrt(counts / len(x))[:, None]
    scatter_between = between.T @ between
    # Whiten the within-class scatter, then take the between-class scatter's principal axes there.
    ridge = RIDGE * max(np.trace(scatter_within) / len(scatter_within), 1e-12)
    variances, vectors = np.linalg.eigh(scatter_within)
    whiten = vectors / np.sqrt(np.maximum(variances, 0) + ridge)
    _, directions = np.linalg.eigh(whiten.T @ scatter_between @ whiten)
    return Projection(mean, _signed(whiten @ directions[:, ::-1][:, :2]))


def fit(method: str, features: np.ndarray, labels: np.ndarray) -> Projection:
    """The projection `method` ("pca" or "lda") finds for these features."""
    if method == "lda":
        return lda(features, labels)
    if method == "pca":
        return pca(features)
    raise ValueError(f"unknown projection {method!r} (choose from {', '.join(METHODS)})")


def procrustes(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The (2, 2) rotation or mirror image R that brings `points` (N, 2) closest to `reference`
    (N, 2), the same images placed before: argmin ||points R - reference|| over orthogonal R
    (both sets centred; a projection of centred features is)."""
    a = points - points.mean(axis=0)
    b = reference - reference.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt


def aligned(projection: Projection, features: np.ndarray, reference: np.ndarray | None):
    """(projection, points): `projection` turned to match `reference` (the previous map of the
    same images, or None), and the features placed by it."""
    points = projection(features)
    if reference is None or reference.shape != points.shape:
        return projection, points
    rotation = procrustes(points, reference)
    return projection.turned(rotation), points @ rotation


@dataclass(frozen=True)
class SetMap:
    """A model's map of a test set: where each image lies and what the model reads in it."""

    method: str  # "pca" | "lda"
    projection: Projection  # places any input's features (the drawing's) on the same map
    points: np.ndarray  # (N, 2)
    probabilities: np.ndarray  # (N, classes)

    @cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


def map_of(model, inputs, labels, method: str, reference: np.ndarray | None = None) -> SetMap:
    """Place the (N, 784) `inputs` by `model`'s features with `method`, turned to match
    `reference` (the previous map's points), and read them (the logits come from the same
    features: one pass over the images)."""
    features = model.features(inputs)
    with np.errstate(over="ignore", invalid="ignore"):
        logits = model.output(features)
    if not (np.isfinite(features).all() and np.isfinite(logits).all()):
        raise OutputOverflow("the model's outputs overflow (its weights are too large)")
    projection, points = aligned(fit(method, features, labels), features, reference)
    return SetMap(method, projection, points, softmax(logits))


def _signed(axes: np.ndarray) -> np.ndarray:
    """Each axis with its largest loading positive: the same features give the same map."""
    largest = np.abs(axes).argmax(axis=0)
    return axes * np.where(axes[largest, [0, 1]] < 0, -1.0, 1.0)
