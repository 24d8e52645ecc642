"""When not to trust a reading: an input unlike the training images, in the pixels and in the
model's own features.

A classifier always names a class: a dot reads as 8, a smiley as 0, a scribble as 8 at 100%, and
its confidence does not tell these from digits (the CNN is sure of its scribbles). So the rule
asks how far the input lies from the training data, by up to four tests:
- **pixels**: each class's training images (MNIST-style, before any deskewing) are summed up as
  a Gaussian cloud in the first DIMS principal components of all of them (a mean and a
  covariance per class, the covariance shrunk a little towards a sphere so it can be inverted).
  The distance to the nearest cloud is min over classes of the squared Mahalanobis distance plus
  the log determinant of the class's covariance (twice the negative log-likelihood under that
  class's Gaussian, up to a constant);
- **as the model sees it**: the same, on the deskewed images, for a model that deskews its inputs
  (deskewing turns a slanted line into a 1; the drawing as drawn still shows the line);
- **the model's features**: the layer before its output (an MLP's hidden units, a CNN's dense
  layer, the linear model's logits), scaled to length 1; the distance to the NEIGHBOURS-th nearest
  of FEATURE_REFERENCE training images (Sun et al. 2022, "Out-of-distribution detection with deep
  nearest neighbors");
- **the bundled CNN's features**, the same way, when the data are MNIST's digits and the model is
  another: "is this a digit?" is a question about the drawing, and that network's features
  answer it best of the three bundled models (bench/unsure.py: a linear model's ten logits hardly
  tell a line from a 4, and pixels say little about dots and lines).
Each distance becomes the share p of the dev set's digits that lie at least as far, and the tests
are combined as the sum of -log p (Fisher's way of combining tests): an input a little odd in
every test counts as much as one very odd in one. The threshold is the DEV_QUANTILE of that sum
over the dev set's 10,000 digits, so about 1.5% of digits are flagged. MNIST alone sets it, never
the non-digit drawings that bench/unsure.py measures the rule with.

The rule is fitted for each model from the data it reads (`fit`), so it works for any weights a
person trains or opens: about a second for the pixels, and the features of 20,000 images (a
fraction of a second for the linear model and the MLP, a few seconds for a CNN). The bundled
CNN's test depends on the data alone, so callers fit it once (`digit_test`) and pass it in.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .cache import open_entry, subfolder, write_entry
from .data import DIGITS, Dataset, assets_dir, cached_data, deskewed
from .model import N_PIXELS
from .networks import Model
from .preprocess import deskew
from .weights import WeightFileError, load_weights

DIMS = 64  # principal components the class clouds live in
BASIS_IMAGES = 20_000  # training images the principal axes are found from (all give the clouds)
SHRINK = 0.05  # share of each class covariance replaced by a sphere of the same mean variance
FEATURE_REFERENCE = 10_000  # training images whose features the feature distance is measured to
NEIGHBOURS = 10  # ...to the 10th nearest of them
DEV_QUANTILE = 0.985  # of the dev set's combined scores: the threshold (1.5% of digits flagged)
CHUNK = 250  # queries per distance product (250 x 10,000 distances: 10 MB)
FEATURE_CHUNK = 2_000  # images per features pass while fitting, between looks at `stop`
DIGIT_NETWORK = "cnn.npz"  # in assets/weights: the network whose features say what a digit is
TESTS = {  # what each test is called where a person reads why
    "pixels": "its pixels",
    "as seen": "the deskewed input",
    "features": "the model's features",
    "digit network": "the bundled CNN's features",
}


@dataclass(frozen=True)
class ClassClouds:
    """Each class's training images as a Gaussian cloud in their first DIMS principal axes."""

    mean: np.ndarray  # (784,) of the training images
    basis: np.ndarray  # (784, DIMS): their first principal axes
    centres: np.ndarray  # (classes, DIMS): each class's mean in that basis
    precisions: np.ndarray  # (classes, DIMS, DIMS): each class's inverse covariance
    log_dets: np.ndarray  # (classes,): the log determinant of each class's covariance

    @classmethod
    def fit(cls, images: np.ndarray, labels: np.ndarray) -> ClassClouds:
        """ValueError when some class has fewer than two images."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, N_PIXELS)
        labels = np.asarray(labels).astype(np.intp)
        counts = np.bincount(labels) if len(labels) else np.zeros(0, int)
        if len(counts) < 2 or counts.min() < 2:
            raise ValueError("too few training images of some class to fit the unsure rule")
        mean = images.mean(axis=0, dtype=np.float64)
        some = images[:BASIS_IMAGES] - mean.astype(np.float32)
        _, vectors = np.linalg.eigh((some.T @ some).astype(np.float64))  # eigenvalues ascending
        basis = vectors[:, ::-1][:, :DIMS]
        projected = _projected(images, mean, basis)
        centres = np.stack([projected[labels == c].mean(axis=0) for c in range(len(counts))])
        precisions, log_dets = [], []
        for c, centre in enumerate(centres):
            offsets = projected[labels == c] - centre
            covariance = offsets.T @ offsets / len(offsets)
            sphere = np.trace(covariance) / DIMS + 1e-6  # blank images: a little room all the same
            covariance = (1 - SHRINK) * covariance + SHRINK * sphere * np.eye(DIMS)
            precisions.append(np.linalg.inv(covariance))
            log_dets.append(np.linalg.slogdet(covariance)[1])
        return cls(mean, basis, centres, np.stack(precisions), np.array(log_dets))

    def class_distances(self, inputs: np.ndarray) -> np.ndarray:
        """(N, classes): squared Mahalanobis distance to each class's centre plus its log
        determinant."""
        projected = _projected(inputs, self.mean, self.basis)
        out = np.empty((len(projected), len(self.centres)))
        for c, (centre, precision) in enumerate(zip(self.centres, self.precisions, strict=True)):
            offset = projected - centre
            out[:, c] = ((offset @ precision) * offset).sum(axis=1) + self.log_dets[c]
        return out

    def distances(self, inputs: np.ndarray) -> np.ndarray:
        """(N,): the distance to the nearest class's cloud."""
        return self.class_distances(inputs).min(axis=1)


def _projected(images: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(N, DIMS) float64: images (N, 784) in the principal basis (the product in float32)."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, N_PIXELS)
    return ((images - mean.astype(np.float32)) @ basis.astype(np.float32)).astype(np.float64)


class Cancelled(Exception):
    """A fit given up because its `stop` said so (other weights came, the window closed)."""


def _go_on(stop: Callable[[], bool] | None) -> None:
    if stop is not None and stop():
        raise Cancelled("the unsure rule was no longer wanted")


def unit_features(
    model: Model, images: np.ndarray, stop: Callable[[], bool] | None = None
) -> np.ndarray:
    """The model's features (the layer before its output, `model.features`) of images (N, 784),
    scaled to length 1, float64 (NaN where the model overflows); Cancelled if stop() says so
    between chunks."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, N_PIXELS)
    parts = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, max(len(images), 1), FEATURE_CHUNK):
            _go_on(stop)
            parts.append(model.features(images[start : start + FEATURE_CHUNK]))
        rows = np.concatenate(parts).astype(np.float64)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def nearest_distances(
    reference: np.ndarray, queries: np.ndarray, k: int = 1, stop: Callable[[], bool] | None = None
) -> np.ndarray:
    """(N,) Euclidean distance from each query (N, D) to its k-th nearest row of reference
    (Cancelled if stop() says so between chunks).

    The products are float32, in place, CHUNK queries at a time (what the rule keeps is float32
    anyway): four times faster than float64 with fresh arrays for each step, the distances within
    3e-7 of theirs for unit features."""
    reference = np.asarray(reference, dtype=np.float32)
    squared = np.einsum("ij,ij->i", reference, reference)
    out = np.empty(len(queries))
    for start in range(0, len(queries), CHUNK):
        _go_on(stop)
        block = np.asarray(queries[start : start + CHUNK], dtype=np.float32)
        partial = block @ reference.T
        partial *= -2
        partial += squared  # |r|^2 - 2 q.r: |q|^2 comes after, the same for every r
        partial.partition(k - 1, axis=1)
        out[start : start + len(block)] = partial[:, k - 1] + np.einsum("ij,ij->i", block, block)
    return np.sqrt(np.maximum(out, 0))


def share_as_far(sorted_dev: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The share of the dev set at least as far as each distance, counting the input itself (so
    never 0): (count + 1) / (n + 1). NaN distances are further than any."""
    distances = np.nan_to_num(np.asarray(distances, dtype=np.float64), nan=np.inf)
    beyond = len(sorted_dev) - np.searchsorted(sorted_dev, distances, side="left")
    return (beyond + 1) / (len(sorted_dev) + 1)


@dataclass(frozen=True)
class CloudTest:
    """The distance to the nearest class cloud, of the input as drawn or deskewed."""

    name: str  # a key of TESTS
    clouds: ClassClouds
    deskews: bool  # fitted on deskewed images: deskews what it reads
    dev_distances: np.ndarray  # (dev images,): the dev set's distances, in its order

    def distances(self, fields: np.ndarray) -> np.ndarray:
        return self.clouds.distances(deskew(fields) if self.deskews else fields)

    @cached_property
    def sorted_dev(self) -> np.ndarray:
        return np.sort(self.dev_distances)


@dataclass(frozen=True)
class FeatureTest:
    """The distance to the NEIGHBOURS-th nearest training image in a network's features."""

    name: str  # a key of TESTS
    model: Model
    deskews: bool  # the model reads deskewed images
    reference: np.ndarray  # (FEATURE_REFERENCE, D) float32: training images' unit features
    dev_distances: np.ndarray  # (dev images,): the dev set's distances, in its order

    def distances(self, fields: np.ndarray) -> np.ndarray:
        seen = unit_features(self.model, deskew(fields) if self.deskews else fields)
        return nearest_distances(self.reference, seen, NEIGHBOURS)

    @cached_property
    def sorted_dev(self) -> np.ndarray:
        return np.sort(self.dev_distances)


def cloud_test(
    name: str, data: Dataset, deskews: bool, stop: Callable[[], bool] | None = None
) -> CloudTest:
    """The clouds of all of `data`'s training images (deskewed already if `deskews`)."""

    def make() -> dict[str, np.ndarray]:
        _go_on(stop)
        clouds = ClassClouds.fit(data.train_images, data.train_labels)
        arrays = {field: getattr(clouds, field) for field in CLOUD_ARRAYS}
        arrays["precisions"] = arrays["precisions"].reshape(len(clouds.centres), -1)
        return arrays | {"dev": clouds.distances(data.dev_images)}

    arrays = _kept(["clouds", DIMS, BASIS_IMAGES, SHRINK], data, make)
    classes = len(arrays.get("centres", ()))
    expected = {
        "mean": (N_PIXELS,),
        "basis": (N_PIXELS, DIMS),
        "centres": (classes, DIMS),
        "precisions": (classes, DIMS * DIMS),
        "log_dets": (classes,),
        "dev": (len(data.dev_images),),
    }
    if not _as_expected(arrays, expected):
        arrays = _kept(["clouds"], None, make)  # a damaged entry: made again, not kept
    arrays["precisions"] = arrays["precisions"].reshape(-1, DIMS, DIMS)
    clouds = ClassClouds(*(arrays[field] for field in CLOUD_ARRAYS))
    return CloudTest(name, clouds, deskews, arrays["dev"])


def feature_test(
    name: str, model: Model, data: Dataset, deskews: bool, stop: Callable[[], bool] | None = None
) -> FeatureTest:
    """`model`'s features of the first FEATURE_REFERENCE training images of `data` (deskewed
    already if `deskews`), and of its dev images. ValueError if they overflow or are too few;
    Cancelled when stop() says so."""

    def make() -> dict[str, np.ndarray]:
        reference = unit_features(model, data.train_images[:FEATURE_REFERENCE], stop)
        if not np.isfinite(reference).all():
            raise ValueError("the model's features overflow on the training images")
        if len(reference) < NEIGHBOURS:
            raise ValueError("too few training images to fit the unsure rule")
        dev = unit_features(model, data.dev_images, stop)
        dev = nearest_distances(reference, dev, NEIGHBOURS, stop)
        return {"reference": reference, "dev": dev}

    digest = hashlib.sha256(model.kind.encode())
    for parameter in sorted(model.params):
        digest.update(parameter.encode() + model.params[parameter].tobytes())
    arrays = _kept(["features", FEATURE_REFERENCE, NEIGHBOURS, digest.hexdigest()], data, make)
    width = np.shape(arrays.get("reference", ()))[-1]
    rows = min(FEATURE_REFERENCE, len(data.train_images))
    expected = {"reference": (rows, width), "dev": (len(data.dev_images),)}
    if not _as_expected(arrays, expected):
        arrays = _kept(["features"], None, make)
    # float32, as nearest_distances computes (the values are float32's already, see _kept): not
    # converted again at every reading
    reference = arrays["reference"].astype(np.float32)
    return FeatureTest(name, model, deskews, reference, arrays["dev"])


CLOUD_ARRAYS = ("mean", "basis", "centres", "precisions", "log_dets")
CACHE_FORMAT = "mnistpad unsure 2"  # the first line of every key: new layout or sums, new entries
KEPT_ENTRIES = 12  # the pixel clouds, and the features of the last few models used
MAX_KEPT_BYTES = 64 << 20  # one test's arrays: 41 MB for 10,000 features of a 1,024-unit layer


def _kept(what: list, data: Dataset | None, make) -> dict[str, np.ndarray]:
    """make()'s arrays rounded to float32, so that a test made now and one read back from the
    cache compute the same. They are kept in an "unsure" folder in the cache folder `data` was
    mapped from (as data.deskewed keeps its copy), under a key of `what` and the cache key of
    `data` (the files it was read from and how it was deskewed); without a cache, they are made
    every time."""
    cached = None if data is None else cached_data(data)
    folder = None if cached is None else subfolder(cached.cache, "unsure")
    key = "\n".join([CACHE_FORMAT, *map(str, what), cached.key]) if folder else ""
    if folder is not None:
        arrays = open_entry(folder, key, MAX_KEPT_BYTES)
        if arrays is not None:
            return {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()}
    arrays = {name: np.asarray(array, dtype=np.float32) for name, array in make().items()}
    if folder is not None and sum(array.nbytes for array in arrays.values()) <= MAX_KEPT_BYTES:
        write_entry(folder, key, arrays, KEPT_ENTRIES)
    return {name: array.astype(np.float64) for name, array in arrays.items()}


def _as_expected(arrays: dict[str, np.ndarray], shapes: dict[str, tuple]) -> bool:
    """Whether a test's arrays have the names and shapes it needs, and finite values (a cache
    entry holds what was written, but is checked as anything read is)."""
    return arrays.keys() == shapes.keys() and all(
        arrays[name].shape == shape and np.isfinite(arrays[name]).all()
        for name, shape in shapes.items()
    )


@dataclass(frozen=True)
class Verdict:
    unsure: bool
    score: float  # the sum of -log(share) over the tests
    shares: dict[str, float]  # test -> share of the dev set's digits at least as far

    def why(self) -> str:
        """The reason in plain words."""
        parts = ", ".join(f"{TESTS[test]} {share:.1%}" for test, share in self.shares.items())
        verdict = "unlike the training digits" if self.unsure else "like the training digits"
        return f"{verdict}; share of MNIST's held-out digits as far in {parts}"


@dataclass(frozen=True)
class UnsureRule:
    """The tests fitted for one model, and the threshold on their combined score."""

    model: Model
    tests: tuple[CloudTest | FeatureTest, ...]
    threshold: float  # combined scores above it are flagged

    def shares(self, fields: np.ndarray) -> dict[str, np.ndarray]:
        """test -> (N,) share of the dev set's digits at least as far as each MNIST-style field
        (N, 784), not deskewed."""
        fields = np.asarray(fields, dtype=np.float32).reshape(-1, N_PIXELS)
        return {
            test.name: share_as_far(test.sorted_dev, test.distances(fields)) for test in self.tests
        }

    def scores(self, fields: np.ndarray) -> np.ndarray:
        """(N,) the combined score: the sum of -log(share) over the tests."""
        return _combined(self.shares(fields))

    def flagged(self, fields: np.ndarray) -> np.ndarray:
        """(N,) bool: which MNIST-style fields (N, 784) (not deskewed) not to trust."""
        return self.scores(fields) > self.threshold

    def judge(self, field: np.ndarray) -> Verdict:
        """The verdict on one MNIST-style field, (784,) or (28, 28), not deskewed."""
        shares = self.shares(field)
        score = float(_combined(shares)[0])
        first = {test: float(share[0]) for test, share in shares.items()}
        return Verdict(score > self.threshold, score, first)


def _combined(shares: dict[str, np.ndarray]) -> np.ndarray:
    return sum(-np.log(share) for share in shares.values())


def fit(
    model: Model,
    dataset: Dataset,
    deskews: bool,
    digit_test: FeatureTest | None = None,
    stop: Callable[[], bool] | None = None,
) -> UnsureRule:
    """The rule for `model`, which reads `dataset`'s images (deskewed if `deskews`), with the
    digit network's test (`digit_test`, see `digit_network`) if there is one for this data.
    ValueError when the data cannot give the tests (too few images of a class, features that
    overflow); Cancelled as soon as stop() says the rule is no longer wanted (seconds of a CNN's
    features not spent for nothing, nor waited for by a program quitting)."""
    tests = [cloud_test("pixels", dataset, False, stop)]
    seen = deskewed(dataset) if deskews else dataset  # as the model sees them
    if deskews:
        tests.append(cloud_test("as seen", seen, True, stop))
    if digit_test is not None and not deskews and same_model(digit_test.model, model):
        tests.append(replace(digit_test, name="features"))  # the bundled CNN itself
    else:
        tests.append(feature_test("features", model, seen, deskews, stop))
        if digit_test is not None:
            tests.append(digit_test)
    dev = {test.name: share_as_far(test.sorted_dev, test.dev_distances) for test in tests}
    threshold = float(np.quantile(_combined(dev), DEV_QUANTILE))
    return UnsureRule(model, tuple(tests), threshold)


def same_model(one: Model, other: Model) -> bool:
    """Whether two models compute the same thing (the same kind and parameters)."""
    return (
        one.kind == other.kind
        and one.params.keys() == other.params.keys()
        and all(np.array_equal(value, other.params[name]) for name, value in one.params.items())
    )


def digit_network(dataset: Dataset) -> Model | None:
    """The bundled CNN, whose features tell a digit from other drawings best (bench/unsure.py),
    when `dataset` holds the digits it was trained for; None otherwise."""
    if tuple(dataset.classes) != DIGITS:
        return None
    try:
        weight_file = load_weights(assets_dir() / "weights" / DIGIT_NETWORK)
    except WeightFileError:
        return None
    return weight_file.model if not weight_file.deskew else None


def digit_test(dataset: Dataset, stop: Callable[[], bool] | None = None) -> FeatureTest | None:
    """The digit network's test for `dataset`, or None (see digit_network). The last one made
    is kept for images of the same content (SHA-256, 40 ms): each `mnistpad predict` in one
    process, and each window, would otherwise spend seconds on the same features."""
    network = digit_network(dataset)
    if network is None:
        return None
    digest = hashlib.sha256()
    for images in (dataset.train_images[:FEATURE_REFERENCE], dataset.dev_images):
        digest.update(np.ascontiguousarray(images, dtype=np.float32))
    for name in sorted(network.params):
        digest.update(network.params[name].tobytes())
    key = digest.hexdigest()
    with _LAST_DIGIT_TEST_LOCK:
        if _LAST_DIGIT_TEST and _LAST_DIGIT_TEST[0] == key:
            return _LAST_DIGIT_TEST[1]
    test = feature_test("digit network", network, dataset, False, stop)
    with _LAST_DIGIT_TEST_LOCK:
        _LAST_DIGIT_TEST[:] = [key, test]
    return test


_LAST_DIGIT_TEST: list = []  # [the SHA-256 of what it was made of, the test]
_LAST_DIGIT_TEST_LOCK = threading.Lock()  # the window fits in a thread of its own
