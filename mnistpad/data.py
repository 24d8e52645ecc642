"""MNIST-family data: read IDX files (gzip or raw), validate them, and split 50k/10k/10k.

The training file's first 50,000 images train the model, its last 10,000 are the dev set used for
model selection, and the t10k file is the test set, as in the course report. Images come back as
float32 rows of 784 pixels in [0, 1], labels as uint8.

Files come from anywhere, so only regular files of a bounded size are read (files.py: a named
pipe or a device is refused, never waited on). What a folder costs is bounded by the images its
headers declare, checked before any data is unpacked, however well the files compress: an IDX
file holds at most MAX_IMAGES (250,000) images or labels, and the training and test files at most
MAX_DATASET_IMAGES (300,000) images together. EMNIST Digits' 280,000 fit (MNIST has 70,000); that
is at most 235 MB of pixels unpacked, 0.94 GB once converted to float32, and as much again for a
deskewed copy.

Decoding the gzip files and converting them to float32 costs 0.2-0.35 s, and deskewing 70,000
images 1-2 s, so both are kept in the cache (cache.py). An entry's key is the SHA-256 digests of
the four files as read (the ones SHA256SUMS is checked against) and what the images are (as
decoded, or deskewed by this preprocess.py with this numpy); its arrays are mapped read-only, so
the training child maps the same pages (`CachedData`, `reopen`). What an entry holds is checked
to be a dataset's arrays before it is used; anything else is a miss, and the files are decoded
again.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import math
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import files, preprocess
from .cache import cache_folder, open_entry, write_entry

IMAGE_SIDE = 28
DEV_SIZE = 10_000
DIGITS = tuple(str(digit) for digit in range(10))
CLASSES_FILE = "classes.txt"  # optional: one class name per line, label 0 first
MAX_CLASSES = 256  # class names a dataset, weight file or drawing may use
MAX_CLASS_NAME = 100  # characters
# Folders without a classes.txt whose test labels are known (SHA-256 of the decoded labels).
KNOWN_CLASSES = {
    # Fashion-MNIST (Zalando Research), as Debian's dataset-fashion-mnist installs it
    "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)
# Images (or labels) in one IDX file: EMNIST Digits' 240,000 training images fit, MNIST has 60,000.
MAX_IMAGES = 250_000
# Images in the training and test files together: EMNIST Digits' 280,000 fit. It bounds what
# reading a folder costs: 0.94 GB as float32 (the cache entry), as much again deskewed.
MAX_DATASET_IMAGES = 300_000
MAX_IDX_BYTES = MAX_IMAGES * IMAGE_SIDE * IMAGE_SIDE  # the data after an IDX header, unpacked
# An IDX file on disk, raw or gzip (which adds well under 1 MiB to even incompressible data).
MAX_IDX_FILE_BYTES = 16 + MAX_IDX_BYTES + (1 << 20)
MAX_TEXT_BYTES = 128 << 10  # classes.txt (256 names of 100 characters, UTF-8) and SHA256SUMS

CACHE_FORMAT = "mnistpad data cache 2"  # first line of every key: a new layout, new entries
SPLITS = ("train", "dev", "test")
ARRAYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))
DECODED = "decoded"  # what an entry's images are when they are not deskewed
# The most a cached dataset can hold: MAX_DATASET_IMAGES images as float32, and their labels.
MAX_DATASET_BYTES = MAX_DATASET_IMAGES * (IMAGE_SIDE * IMAGE_SIDE * 4 + 1)


class DataError(Exception):
    """A data file or folder is missing, damaged or not what mnistpad expects."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class Dataset:
    """The three splits, each as images (N, 784) float32 in [0, 1] and labels (N,) uint8."""

    train_images: np.ndarray
    train_labels: np.ndarray
    dev_images: np.ndarray
    dev_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]  # display name of each label value
    folder: Path | None  # where the files were read from
    deskewed: bool = False  # the images have been through preprocess.deskew

    @property
    def name(self) -> str:
        """ "bundled MNIST", or the folder the files were read from."""
        if self.folder is None:
            return "data in memory"
        return "bundled MNIST" if self.folder == bundled_mnist_dir() else str(self.folder)


@dataclass(frozen=True)
class CachedData:
    """A dataset that is an entry of the cache: what another process needs to map the same files
    (`reopen`) instead of receiving the arrays. Small, and safe to pickle."""

    cache: Path  # the cache folder
    sources: str  # the first part of the entry's key: the SHA-256 of each file it was read from
    inputs: str  # the rest: DECODED, or how the images were deskewed (`_deskew_version`)
    classes: tuple[str, ...]
    folder: Path

    @property
    def key(self) -> str:
        return _key(self.sources, self.inputs)

    @property
    def deskewed(self) -> bool:
        return self.inputs != DECODED


def assets_dir() -> Path:
    """The folder of bundled assets: inside the package when installed, beside it in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "assets", package.parent / "assets"):
        if (candidate / "mnist").is_dir():
            return candidate
    raise DataError(package / "assets", "the bundled assets are missing; reinstall mnistpad")


def bundled_mnist_dir() -> Path:
    return assets_dir() / "mnist"


def load_dataset(
    folder: Path | str | None = None, classes: tuple[str, ...] | None = None
) -> Dataset:
    """Read the four IDX files in `folder` (default: the bundled MNIST) and split them.

    Files may be gzip-compressed (`NAME.gz`) or raw (`NAME`). A `SHA256SUMS` file in the folder is
    honoured, and the bundled folder must have one. The class names are `classes`, else those of
    the folder's `classes.txt`, else those of a dataset recognised by its test labels
    (Fashion-MNIST), else the digits for MNIST-sized label ranges and label numbers beyond.
    The decoded arrays come from the cache when it has them for exactly these files (mapped,
    read-only), and go into it when not. Raises DataError naming the bad file.
    """
    return _load(folder, classes)[0]


def _load(folder: Path | str | None, classes: tuple[str, ...] | None) -> tuple[Dataset, str]:
    """The dataset, and the part of its cache key that names the files it was read from."""
    bundled = folder is None
    root = bundled_mnist_dir() if bundled else Path(folder)
    if not root.is_dir():
        raise DataError(root, "not a folder" if root.exists() else "no such folder")
    checksums = _read_checksums(root, required=bundled)
    members = {key: _read_member(root, name, checksums) for key, name in FILES.items()}
    sources = "\n".join([CACHE_FORMAT, *(f"{key} {sha}" for key, (*_, sha) in members.items())])
    cache = cache_folder()
    key = _key(sources, DECODED)
    arrays = _open_entry(cache, key) if cache else None
    from_cache = arrays is not None
    if not from_cache:
        arrays = _decode(root, members)
        written = write_entry(cache, key, arrays) if cache else None
        if written is not None:  # mapped back from the cache (else a read-only or full disk)
            arrays, from_cache = written, True
    if classes is None:
        classes = _class_names(root, arrays)
    for split, parts in (("train", ("train_labels", "dev_labels")), ("test", ("test_labels",))):
        top = max(int(arrays[part].max(initial=0)) for part in parts)
        if top >= len(classes):
            raise DataError(
                _find(root, FILES[f"{split}_labels"]),
                f"label {top} is out of range (expected 0 to {len(classes) - 1})",
            )
    if not from_cache:
        return Dataset(**arrays, classes=tuple(classes), folder=root), sources
    return _from_cache(arrays, CachedData(cache, sources, DECODED, tuple(classes), root)), sources


def _decode(root: Path, members: dict[str, tuple[Path, bytes, str]]) -> dict[str, np.ndarray]:
    """The files' arrays, checked against each other, split, the images as float32 rows. What the
    headers declare is checked first (the counts, the image size, the images in all), before any
    data is unpacked."""
    opened = {
        key: (path, *_open_idx(path, data, IMAGES_MAGIC if "images" in key else LABELS_MAGIC))
        for key, (path, data, _) in members.items()
    }
    shapes = {key: shape for key, (_, _, shape) in opened.items()}
    for split in ("train", "test"):
        images, labels = shapes[f"{split}_images"], shapes[f"{split}_labels"]
        if images[0] != labels[0]:
            raise DataError(
                _find(root, FILES[f"{split}_labels"]),
                f"has {labels[0]} labels but {FILES[f'{split}_images']} has {images[0]} images",
            )
        if images[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DataError(
                _find(root, FILES[f"{split}_images"]),
                f"images are {images[1]}x{images[2]}, mnistpad needs {IMAGE_SIDE}x{IMAGE_SIDE}",
            )
    n_train = shapes["train_images"][0] - DEV_SIZE
    if n_train < 1 or shapes["test_images"][0] < 1:
        raise DataError(
            root, f"too few images: need more than {DEV_SIZE} training images and a test set"
        )
    declared = shapes["train_images"][0] + shapes["test_images"][0]
    if declared > MAX_DATASET_IMAGES:
        raise DataError(
            root,
            f"its training and test files declare {declared:,} images; mnistpad reads at most"
            f" {MAX_DATASET_IMAGES:,} in all",
        )
    arrays = {key: _read_body(*parts) for key, parts in opened.items()}
    train_images = _to_float(arrays.pop("train_images"))  # each unpacked copy let go once converted
    return {
        "train_images": train_images[:n_train],
        "train_labels": arrays["train_labels"][:n_train],
        "dev_images": train_images[n_train:],
        "dev_labels": arrays["train_labels"][n_train:],
        "test_images": _to_float(arrays.pop("test_images")),
        "test_labels": arrays["test_labels"],
    }


def _class_names(root: Path, arrays: dict[str, np.ndarray]) -> tuple:
    named = root / CLASSES_FILE
    if named.exists():
        try:
            lines = _read(named, MAX_TEXT_BYTES).decode("utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise DataError(named, f"cannot read the class names ({error})") from None
        names = tuple(line.strip() for line in lines if line.strip())
        if not 2 <= len(names) <= MAX_CLASSES or any(len(n) > MAX_CLASS_NAME for n in names):
            raise DataError(
                named,
                f"needs 2 to {MAX_CLASSES} class names of at most {MAX_CLASS_NAME} characters,"
                " one a line",
            )
        return names
    known = KNOWN_CLASSES.get(hashlib.sha256(arrays["test_labels"].tobytes()).hexdigest())
    if known:
        return known
    count = max(int(arrays[f"{split}_labels"].max(initial=0)) for split in SPLITS) + 1
    return DIGITS if count <= 10 else tuple(str(label) for label in range(count))


def read_idx(path: Path | str, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzip or raw) into a uint8 array of its shape."""
    path = Path(path)
    return _read_body(path, *_open_idx(path, _read(path, MAX_IDX_FILE_BYTES), expected_magic))


def _read(path: Path, max_bytes: int) -> bytes:
    """The content of a regular file of at most `max_bytes`; DataError saying why not."""
    try:
        return files.read_regular(path, max_bytes)
    except OSError as error:
        raise DataError(path, error.strerror or str(error)) from None


def _open_idx(
    path: Path, data: bytes, expected_magic: int | None
) -> tuple[io.BufferedIOBase, tuple[int, ...]]:
    """The IDX data in `data` (gzip or raw) as a stream just past its header, and the shape the
    header declares, checked against the limits before anything else is unpacked."""
    stream = (
        gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b" else io.BytesIO(data)
    )
    try:
        header = stream.read(4)
        if len(header) < 4:
            raise DataError(path, "too short to be an IDX file")
        (magic,) = struct.unpack(">I", header)
        n_dims = magic & 0xFF
        if magic >> 8 != 0x08 or n_dims not in (1, 3):
            raise DataError(
                path, f"not an IDX file of images or labels (magic number 0x{magic:08x})"
            )
        if expected_magic is not None and magic != expected_magic:
            kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
            raise DataError(
                path, f"magic number 0x{magic:08x}, expected 0x{expected_magic:08x} ({kind})"
            )
        dims_bytes = stream.read(4 * n_dims)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(path, f"damaged gzip data ({error})") from None
    if len(dims_bytes) < 4 * n_dims:
        raise DataError(path, "truncated in its header")
    shape = struct.unpack(f">{n_dims}I", dims_bytes)
    if shape[0] > MAX_IMAGES:
        raise DataError(
            path,
            f"header declares {shape[0]:,} {'images' if n_dims == 3 else 'labels'}; "
            f"mnistpad reads at most {MAX_IMAGES:,} per file",
        )
    size = math.prod(shape)  # Python integers: a hostile header cannot overflow them
    if size > MAX_IDX_BYTES:
        raise DataError(
            path, f"header declares {shape}, over the limit of {MAX_IDX_BYTES:,} bytes of data"
        )
    return stream, shape


def _read_body(path: Path, stream: io.BufferedIOBase, shape: tuple[int, ...]) -> np.ndarray:
    """The data after an IDX header, exactly as much as `shape` needs, unpacked into the array
    that keeps it (16 MB at a time: never a second copy of it all)."""
    size = math.prod(shape)
    body = np.empty(size, np.uint8)
    filled = 0
    try:
        while filled < size and (chunk := stream.read(min(size - filled, 1 << 24))):
            body[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
            filled += len(chunk)
        extra = stream.read(1)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(path, f"damaged gzip data ({error})") from None
    if filled < size:
        raise DataError(
            path, f"truncated: header declares {shape}, {size} bytes, but only {filled} follow"
        )
    if extra:
        raise DataError(
            path, f"has unexpected bytes after the {size} declared by its header {shape}"
        )
    return body.reshape(shape)


def _find(root: Path, name: str) -> Path:
    """The file `name` in `root`, compressed or raw; a regular file first, else whatever is
    there under either name (a pipe, a folder), so that reading it says what it is."""
    candidates = (root / f"{name}.gz", root / name)
    regular = [path for path in candidates if path.is_file()]
    present = [path for path in candidates if path.exists()]
    return (regular or present or candidates)[0]


def _read_member(root: Path, name: str, checksums: dict[str, str]) -> tuple[Path, bytes, str]:
    """The file `name` in `root`: its path, its content and that content's SHA-256 (checked
    against SHA256SUMS when that lists it)."""
    path = _find(root, name)
    if not path.exists():
        raise DataError(path, f"missing (expected {name}.gz or {name} in {root})")
    data = _read(path, MAX_IDX_FILE_BYTES)
    actual = hashlib.sha256(data).hexdigest()
    expected = checksums.get(path.name)
    if expected is not None and actual != expected:
        raise DataError(
            path,
            f"checksum mismatch (sha256 {actual[:12]}..., expected {expected[:12]}...): "
            "the file is damaged",
        )
    return path, data, actual


def _read_checksums(root: Path, required: bool) -> dict[str, str]:
    path = root / "SHA256SUMS"
    if not path.exists():
        if required:
            raise DataError(
                path, "missing: the bundled data cannot be verified; reinstall mnistpad"
            )
        return {}
    sums = {}
    for line in _read(path, MAX_TEXT_BYTES).decode("utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _to_float(images: np.ndarray) -> np.ndarray:
    return images.reshape(images.shape[0], -1) / np.float32(255)  # float32, correctly rounded


# -- the cache of decoded and deskewed arrays (see the module's docstring) ----------------------


def cached_data(dataset: Dataset) -> CachedData | None:
    """The cache entry `dataset`'s arrays are mapped from, or None. Only the very object the cache
    made answers, its arrays still read-only: a copy made with dataclasses.replace may hold other
    arrays, and a deep copy's arrays may have been changed since."""
    cached = vars(dataset).get("_cached")
    if cached is None or any(getattr(dataset, name).flags.writeable for name in ARRAYS):
        return None
    return cached


def reopen(cached: CachedData) -> Dataset:
    """The dataset `cached` names, mapped from the cache again (in another process) and checked
    again. Should the entry have gone or changed since, the files it was read from are read again;
    they must still be the same files (DataError if not)."""
    arrays = _open_entry(cached.cache, cached.key)
    if arrays is not None:
        return _from_cache(arrays, cached)
    dataset, sources = _load(cached.folder, cached.classes)
    if sources != cached.sources:
        raise DataError(cached.folder, "the data files changed as training started; start again")
    return deskewed(dataset) if cached.deskewed else dataset


def deskewed(dataset: Dataset) -> Dataset:
    """`dataset` with every image deskewed (preprocess.deskew), exactly as train.model_inputs makes
    it: from the cache when `dataset` came from there and the cache has its deskewed copy, else
    deskewed now (1-2 s for MNIST) and then cached."""
    if dataset.deskewed:
        return dataset
    cached, version = cached_data(dataset), _deskew_version()
    if cached is not None and version is not None:
        cached = replace(cached, inputs=version)
        arrays = _open_entry(cached.cache, cached.key)
        if arrays is not None:
            return _from_cache(arrays, cached)
    copy = replace(
        dataset,
        train_images=preprocess.deskew(dataset.train_images),
        dev_images=preprocess.deskew(dataset.dev_images),
        test_images=preprocess.deskew(dataset.test_images),
        deskewed=True,
    )
    if cached is not None and version is not None:
        arrays = write_entry(cached.cache, cached.key, {a: getattr(copy, a) for a in ARRAYS})
        if arrays is not None:
            return _from_cache(arrays, cached)
    return copy


@functools.cache
def _deskew_version() -> str | None:
    """What deskewed images depend on: preprocess.py's own SHA-256 and numpy's version, so that
    any change to either makes new entries. None if preprocess.py cannot be read (no cache)."""
    try:
        source = files.read_regular(preprocess.__file__, 1 << 20)
    except (OSError, TypeError):  # TypeError: no __file__ (a frozen application)
        return None
    return f"deskew {hashlib.sha256(source).hexdigest()} numpy {np.__version__}"


def _key(sources: str, inputs: str) -> str:
    return f"{sources}\ninputs {inputs}"


def _open_entry(folder: Path, key: str) -> dict[str, np.ndarray] | None:
    """A dataset's arrays from the cache, if its entry is there, whole and of a dataset's shape
    (cache.py checks the files; this, what they hold): six arrays, images (N, 784) float32 and
    labels (N,) uint8 for each split, the dev split DEV_SIZE, no split over MAX_IMAGES and no more
    than MAX_DATASET_IMAGES in all."""
    arrays = open_entry(folder, key, MAX_DATASET_BYTES)
    if arrays is None or set(arrays) != set(ARRAYS):
        return None
    if sum(len(arrays[f"{split}_labels"]) for split in SPLITS) > MAX_DATASET_IMAGES:
        return None
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        count = len(labels)
        if not (
            labels.shape == (count,)
            and labels.dtype == np.uint8
            and images.shape == (count, IMAGE_SIDE * IMAGE_SIDE)
            and images.dtype == np.float32
            and 1 <= count <= MAX_IMAGES
            and (split != "dev" or count == DEV_SIZE)
        ):
            return None
    return arrays


def _from_cache(arrays: dict[str, np.ndarray], cached: CachedData) -> Dataset:
    dataset = Dataset(
        **arrays, classes=cached.classes, folder=cached.folder, deskewed=cached.deskewed
    )
    object.__setattr__(dataset, "_cached", cached)  # not a field: replace() does not copy it
    return dataset
