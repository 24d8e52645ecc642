"""The weight file: an .npz that numpy alone can read, saved atomically and loaded fully validated.

Arrays: `W` float32 (classes, 784), `b` float32 (classes,), and `meta`, a 0-d unicode array holding
JSON: the format name and version, class names, input settings, training configuration, metrics
and per-epoch curves. Loading reads only a regular file of at most MAX_WEIGHT_FILE_BYTES, never
unpickles, never trusts a declared size before checking it, and turns every problem into one
WeightFileError that names the file and the reason.
"""

from __future__ import annotations

import errno
import json
import math
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import __version__
from .data import MAX_CLASS_NAME, MAX_CLASSES, assets_dir
from .files import open_regular, write_atomically
from .model import N_PIXELS, LinearModel
from .train import Finished

FORMAT_NAME = "mnistpad-weights"
FORMAT_VERSION = 1
MAX_META_BYTES = 4 << 20  # JSON metadata larger than this is refused unread
# The most data each member may hold, and the largest file: all three, with room for headers.
MEMBER_LIMITS = {
    "W.npy": MAX_CLASSES * N_PIXELS * 4,
    "b.npy": MAX_CLASSES * 4,
    "meta.npy": MAX_META_BYTES,
}
MAX_WEIGHT_FILE_BYTES = sum(MEMBER_LIMITS.values()) + (1 << 20)
# Members compressed otherwise than numpy writes them are refused: zipfile unpacks a bzip2 or
# LZMA member's data whole, however small its declared size (a few bytes can unpack to gigabytes).
READABLE_COMPRESSION = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
COMPRESSION_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}
INPUT_SETTINGS = {"height": 28, "width": 28, "scale": "pixel / 255", "preprocessing": "mnist"}
# Optional input settings and their values when a file leaves them out (files before 0.2).
INPUT_OPTIONS = {"deskew": False}
# Metadata fields that the app plots or shows, checked when a file is loaded.
NUMBER_FIELDS = {
    "train_loss",
    "train_accuracy",
    "dev_loss",
    "dev_accuracy",
    "test_accuracy",
    "lr",
    "seconds",
}
COUNT_FIELDS = {"epoch", "best_epoch", "kept_epoch"}


def default_weights() -> Path:
    """The bundled weights: the window opens them, `predict` uses them unless given others."""
    return assets_dir() / "weights" / "default.npz"


class WeightFileError(Exception):
    """A weight file cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass
class WeightFile:
    """A loaded weight file: the model and its metadata."""

    model: LinearModel
    meta: dict

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    @property
    def metrics(self) -> dict:
        return self.meta.get("metrics", {})

    @property
    def history(self) -> list[dict]:
        return self.meta.get("history", [])

    @property
    def deskew(self) -> bool:
        """Whether inputs are deskewed (preprocess.deskew) before this model sees them."""
        return input_deskew(self.meta)


def input_deskew(meta: dict) -> bool:
    return bool(meta.get("input", {}).get("deskew", False))


def build_meta(
    classes: list[str] | tuple[str, ...],
    training: dict | None = None,
    metrics: dict | None = None,
    history: list[dict] | None = None,
    deskew: bool = False,
) -> dict:
    """The metadata of a new weight file."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "mnistpad_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "classes": list(classes),
        # Options are written only when used, so older readers can still read the rest (and
        # refuse, saying why, what they cannot prepare).
        "input": {**INPUT_SETTINGS, **({"deskew": True} if deskew else {})},
        "training": training or {},
        "metrics": metrics or {},
        "history": history or [],
    }


def run_meta(finished: Finished, classes: list[str] | tuple[str, ...], data: str) -> dict:
    """The metadata of a training run's kept weights: its settings, metrics and curves."""
    return build_meta(
        classes,
        training={**finished.config.as_dict(), "data": data},
        metrics={
            "train_accuracy": finished.train_accuracy,
            "dev_accuracy": finished.dev_accuracy,
            "test_accuracy": finished.test_accuracy,
            "best_epoch": finished.best_epoch,
            "kept_epoch": finished.kept_epoch,
            "seconds": round(finished.seconds, 3),
            "stopped": finished.stopped,
            "diverged": finished.diverged,
        },
        history=[vars(stats) for stats in finished.history],
        deskew=finished.config.deskew,
    )


def save_weights(path: Path | str, model: LinearModel, meta: dict) -> Path:
    """Write the file atomically: a temporary file in the same folder, then os.replace."""
    path = Path(path)
    W, b = np.asarray(model.W, dtype=np.float32), np.asarray(model.b, dtype=np.float32)
    _check_arrays(path, W, b, meta.get("classes", []))
    text = json.dumps(meta, allow_nan=False)
    try:
        return write_atomically(path, lambda out: np.savez(out, W=W, b=b, meta=np.array(text)))
    except OSError as error:
        raise WeightFileError(path, error.strerror or str(error)) from None


def load_weights(path: Path | str) -> WeightFile:
    """Read and validate a weight file; raise WeightFileError on any problem."""
    path = Path(path)
    try:
        stream = open_regular(path, MAX_WEIGHT_FILE_BYTES)
    except OSError as error:  # missing, a folder, a pipe, a device, too large
        raise WeightFileError(path, error.strerror or str(error)) from None
    try:
        with stream, zipfile.ZipFile(stream) as archive:
            arrays = _read_members(path, archive)
    except WeightFileError:
        raise
    except OSError as error:
        if error.errno == errno.EINVAL:  # a seek to a nonsensical offset read from the file
            raise WeightFileError(path, "not a valid .npz weight file (damaged zip)") from None
        raise WeightFileError(path, f"cannot read: {error.strerror or error}") from None
    # zipfile and numpy's header parser fail in many ways on damage: zlib.error, RuntimeError for
    # an encrypted member, NotImplementedError, ValueError, struct.error...
    except Exception as error:
        raise WeightFileError(path, f"not a valid .npz weight file ({error})") from None
    meta = _parse_meta(path, arrays["meta"])
    _check_arrays(path, arrays["W"], arrays["b"], meta["classes"])
    return WeightFile(LinearModel(W=arrays["W"], b=arrays["b"]), meta)


def _read_members(path: Path, archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    names = archive.namelist()
    expected = ["W.npy", "b.npy", "meta.npy"]
    if sorted(names) != sorted(expected):
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
                "duplicate entries" if not missing and not extra else "",
            )
            if part
        )
        raise WeightFileError(path, f"not an mnistpad weight file ({detail})")
    arrays = {}
    for name in expected:
        info, key = archive.getinfo(name), name[:-4]
        if info.file_size > MEMBER_LIMITS[name] + 4096:
            raise WeightFileError(path, f"{key} is {info.file_size:,} bytes, too large")
        if info.flag_bits & 0x1:
            raise WeightFileError(path, f"{key} is encrypted; mnistpad reads only plain .npz files")
        if info.compress_type not in READABLE_COMPRESSION:
            method = COMPRESSION_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise WeightFileError(
                path,
                f"{key} is compressed with {method}; mnistpad reads .npz files stored or deflated,"
                " as numpy writes them",
            )
        with archive.open(info) as member:
            arrays[key] = _read_npy(path, key, member, MEMBER_LIMITS[name])
    return arrays


def _read_npy(path: Path, key: str, member, max_bytes: int) -> np.ndarray:
    """Read one .npy member, checking its header before trusting any size it declares."""
    version = np.lib.format.read_magic(member)
    read_header = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    if version not in read_header:
        raise WeightFileError(path, f"{key} has an unsupported .npy version {version}")
    shape, fortran_order, dtype = read_header[version](member)
    if dtype.hasobject:
        raise WeightFileError(path, f"{key} holds Python objects; refused (they could run code)")
    if dtype.kind not in "fU" or (key == "meta") != (dtype.kind == "U"):
        raise WeightFileError(
            path,
            f"{key} has dtype {dtype}, expected {'unicode text' if key == 'meta' else 'float32'}",
        )
    count = math.prod(shape)
    if count * dtype.itemsize > max_bytes:
        raise WeightFileError(path, f"{key} declares shape {shape} of {dtype}, too large")
    data = member.read(count * dtype.itemsize + 1)
    if len(data) != count * dtype.itemsize:
        raise WeightFileError(path, f"{key} is truncated or has trailing bytes")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")  # native, owned, writable


def _parse_meta(path: Path, array: np.ndarray) -> dict:
    if array.shape != ():
        raise WeightFileError(path, f"meta must be a single string, not shape {array.shape}")
    code_points = array.reshape(1).view(np.uint32)
    if ((code_points >= 0x110000) | ((code_points >= 0xD800) & (code_points < 0xE000))).any():
        raise WeightFileError(path, "meta is not valid text")
    try:
        meta = json.loads(str(array))
    except (ValueError, RecursionError) as error:
        raise WeightFileError(path, f"meta is not valid JSON ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise WeightFileError(path, "not an mnistpad weight file (meta does not name the format)")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise WeightFileError(path, f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise WeightFileError(
            path,
            f"written by a newer mnistpad (format version {version}, "
            f"{meta.get('mnistpad_version', 'unknown')}); this one reads version "
            f"{FORMAT_VERSION}: upgrade mnistpad",
        )
    classes = meta.get("classes")
    if not (
        isinstance(classes, list)
        and all(isinstance(name, str) and 0 < len(name) <= MAX_CLASS_NAME for name in classes)
    ):
        raise WeightFileError(path, "meta.classes must be a list of short class names")
    for key, kind in (("training", dict), ("metrics", dict), ("history", list), ("input", dict)):
        if not isinstance(meta.get(key, kind()), kind):
            raise WeightFileError(
                path, f"meta.{key} must be a JSON {'object' if kind is dict else 'array'}"
            )
    given = meta.get("input", INPUT_SETTINGS)
    required = {key: value for key, value in given.items() if key not in INPUT_OPTIONS}
    options_ok = all(
        isinstance(given.get(key, value), bool) for key, value in INPUT_OPTIONS.items()
    )
    if required != INPUT_SETTINGS or not options_ok:
        raise WeightFileError(
            path, f"expects input prepared as {given}, which this mnistpad cannot do"
        )
    _check_numbers(path, "meta.metrics", meta.get("metrics", {}))
    for index, row in enumerate(meta.get("history", []), start=1):
        if not isinstance(row, dict):
            raise WeightFileError(path, "meta.history must hold one object per epoch")
        _check_numbers(path, f"meta.history entry {index}", row)
    return meta


def _check_numbers(path: Path, where: str, values: dict) -> None:
    """The numbers the app plots and shows must be finite numbers; epochs whole and not negative."""
    for key, value in values.items():
        if key in NUMBER_FIELDS and not is_finite_number(value):
            raise WeightFileError(path, f"{where}: {key} is {value!r}, not a finite number")
        if key in COUNT_FIELDS and not (
            is_finite_number(value) and value == int(value) and value >= 0
        ):
            raise WeightFileError(path, f"{where}: {key} is {value!r}, not an epoch number")


def is_finite_number(value) -> bool:
    """A JSON number that is neither a boolean nor infinite nor NaN, nor a whole number too large
    for a float (JSON allows 10**400, and `math.isfinite` raises OverflowError on it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) <= sys.float_info.max if isinstance(value, int) else math.isfinite(value)


def _check_arrays(path: Path, W: np.ndarray, b: np.ndarray, classes: list[str]) -> None:
    n = len(classes)
    if not 2 <= n <= MAX_CLASSES:
        raise WeightFileError(path, f"needs 2 to {MAX_CLASSES} class names, has {n}")
    for key, array, shape in (("W", W, (n, N_PIXELS)), ("b", b, (n,))):
        if array.dtype != np.float32:
            raise WeightFileError(path, f"{key} has dtype {array.dtype}, expected float32")
        if array.shape != shape:
            raise WeightFileError(path, f"{key} has shape {array.shape}, expected {shape}")
        if not np.isfinite(array).all():
            raise WeightFileError(path, f"{key} contains NaN or infinite values")
