"""The weight file: an .npz that numpy alone can read, saved atomically and loaded fully validated.

`meta` is a 0-d unicode array holding JSON: the format name and version, the model's kind and
shape, class names, input settings, training configuration, metrics and per-epoch curves. The
other members are the model's float32 parameters, one .npy each, named as in `model.params`:
- version 1, the linear model: `W` (classes, 784) and `b` (classes,). A linear model is still
  written as version 1, so that every mnistpad reads it.
- version 2, `meta.model = {"kind": "mlp" | "cnn", "shape": {...}}`: the members that
  networks.parameter_shapes names for that kind and shape (`dense1.W`, `conv1.b`...).
Loading reads only a regular file of at most MAX_WEIGHT_FILE_BYTES, reads `meta` first and refuses
a newer version before looking at anything else, derives every other member's name, dtype and
exact shape from it (so no size a member declares is trusted), never unpickles, and turns every
problem into one WeightFileError that names the file and the reason.
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
from .files import open_regular, read_regular, write_atomically, zip_directory
from .networks import KINDS, Model, ShapeError, from_params, parameter_shapes
from .train import MAX_EPOCHS, Finished

FORMAT_NAME = "mnistpad-weights"
FORMAT_VERSION = 2  # the newest this mnistpad reads and writes
LINEAR_VERSION = 1  # what a linear model is written as
MAX_META_BYTES = 4 << 20  # JSON metadata larger than this is refused unread
# What the metadata may hold once parsed, counted at every depth: a window shows it, and 4 MB of
# JSON can be 349,000 empty history rows (a 19 s freeze, 1.6 GB) or one text of a million
# characters (5 s, and again on every resize). mnistpad writes a row per epoch, at most MAX_EPOCHS,
# of 8 values each (about 10,000 values in all), and no text longer than a folder's path.
MAX_HISTORY = MAX_EPOCHS
MAX_META_VALUES = 50_000  # every key, text, number and row, nested ones included
MAX_META_TEXT = 4096  # characters (Linux's longest path)
MAX_PARAMETERS = 16 << 20  # float32 parameters of one model (64 MB); ours have 0.08-0.2 million
# The largest file: metadata and parameters, with room for headers.
MAX_WEIGHT_FILE_BYTES = MAX_META_BYTES + 4 * MAX_PARAMETERS + (1 << 20)
MAX_MEMBERS = 64
MAX_ENTRY_BYTES = 1024  # a central directory entry: 46 bytes, a name, extra fields
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


BUNDLED_MODELS = {  # file name in assets/weights -> what it is (File > Open bundled model)
    "default.npz": "Linear (the report's model, deskewed inputs)",
    "mlp.npz": "MLP, one hidden layer of 256 units (deskewed inputs)",
    "cnn.npz": "CNN, two convolutions and two dense layers",
}


def bundled_models() -> dict[Path, str]:
    """The bundled weight files that are present, each with what it is, linear first."""
    folder = assets_dir() / "weights"
    return {
        folder / name: what for name, what in BUNDLED_MODELS.items() if (folder / name).is_file()
    }


HANDWRITING_TABLE = "handwriting.json"  # bench/handwriting.py's table of the bundled files
REAL_WRITERS = ("optdigits-nearest", "optdigits-bicubic")  # its sets of real people's digits
MAX_TABLE_BYTES = 1 << 16


def real_handwriting_scores() -> dict[str, float]:
    """Bundled file name -> the share of real writers' digits it reads right (1,797 digits by 13
    writers, the mean over both renders of REAL_WRITERS), as bench/handwriting.py measured and
    wrote beside the bundled weights; {} if that table is missing or damaged."""
    path = assets_dir() / "weights" / HANDWRITING_TABLE
    try:
        table = json.loads(read_regular(path, MAX_TABLE_BYTES))["full"]["accuracy"]
        rows = [table[name] for name in REAL_WRITERS]
        shares = {
            model: [row.get(model) for row in rows]
            for model in rows[0]
            if "+" not in model  # an ensemble is no file
        }
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return {}
    return {
        f"{model}.npz": sum(values) / len(values)
        for model, values in shares.items()
        if all(is_finite_number(value) and 0 <= value <= 1 for value in values)
    }


class WeightFileError(Exception):
    """A weight file cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass
class WeightFile:
    """A loaded weight file: the model and its metadata."""

    model: Model
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
        "version": LINEAR_VERSION,  # save_weights sets the version and model the model needs
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


def save_weights(path: Path | str, model: Model, meta: dict) -> Path:
    """Write the file atomically: a temporary file in the same folder, then os.replace. The
    model's kind and shape go into the metadata, with the oldest version that can hold them."""
    path = Path(path)
    version = LINEAR_VERSION if model.kind == "linear" else FORMAT_VERSION
    meta = {**meta, "version": version, "model": {"kind": model.kind, "shape": model.shape}}
    params = {name: np.asarray(value, dtype=np.float32) for name, value in model.params.items()}
    _check_params(path, meta, params)
    try:
        text = json.dumps(meta, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as error:
        raise WeightFileError(path, f"the metadata cannot be written as JSON ({error})") from None
    try:
        return write_atomically(path, lambda out: np.savez(out, meta=np.array(text), **params))
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
        with stream:
            declared = zip_directory(stream)  # checked before zipfile parses the directory
            if declared is not None and (
                declared[0] > MAX_MEMBERS or declared[1] > MAX_MEMBERS * MAX_ENTRY_BYTES
            ):
                raise WeightFileError(
                    path, f"not an mnistpad weight file ({declared[0]:,} members)"
                )
            with zipfile.ZipFile(stream) as archive:
                meta, params = _read_members(path, archive)
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
    _check_params(path, meta, params)
    kind, shape = model_kind(meta)
    return WeightFile(from_params(kind, shape, params), meta)


def model_kind(meta: dict) -> tuple[str, dict]:
    """The kind and shape a (parsed) file's metadata gives; version 1 files are linear."""
    model = meta.get("model", {"kind": "linear", "shape": {}})
    return model["kind"], model["shape"]


def _read_members(path: Path, archive: zipfile.ZipFile) -> tuple[dict, dict[str, np.ndarray]]:
    """The parsed metadata, read first, then the parameters it names, each checked as read."""
    names = archive.namelist()
    if len(names) > MAX_MEMBERS:
        raise WeightFileError(path, f"not an mnistpad weight file ({len(names):,} members)")
    if "meta.npy" not in names:
        raise WeightFileError(path, "not an mnistpad weight file (missing meta.npy)")
    meta = _parse_meta(path, _read_member(path, archive, "meta.npy", None))
    kind, shape = model_kind(meta)
    try:
        shapes = parameter_shapes(kind, shape, len(meta["classes"]))
    except ShapeError as error:
        raise WeightFileError(path, f"meta.model: {error}") from None
    if sum(math.prod(size) for size in shapes.values()) > MAX_PARAMETERS:
        raise WeightFileError(path, f"meta.model: a {kind} of this shape is too large to load")
    expected = ["meta.npy", *(f"{name}.npy" for name in shapes)]
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
    params = {
        name: _read_member(path, archive, f"{name}.npy", size) for name, size in shapes.items()
    }
    return meta, params


def _read_member(
    path: Path, archive: zipfile.ZipFile, name: str, shape: tuple[int, ...] | None
) -> np.ndarray:
    """One member: `meta` (shape None: text of at most MAX_META_BYTES) or a float32 parameter of
    exactly `shape`."""
    info, key = archive.getinfo(name), name[:-4]
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
        array = _read_npy(path, key, member, shape)
        if member.tell() != info.file_size:  # the zip's directory says otherwise
            raise WeightFileError(
                path, f"{key} is {info.file_size:,} bytes, not the {member.tell():,} it holds"
            )
    return array


def _read_npy(path: Path, key: str, member, expected: tuple[int, ...] | None) -> np.ndarray:
    """Read one .npy member, checking its header (dtype, then shape, then size) before trusting
    any size it declares; only the bytes that size needs are read."""
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
    if expected is None:  # meta
        if dtype.kind != "U":
            raise WeightFileError(path, f"{key} has dtype {dtype}, expected unicode text")
        if math.prod(shape) * dtype.itemsize > MAX_META_BYTES:
            raise WeightFileError(path, f"{key} declares shape {shape} of {dtype}, too large")
    elif dtype.newbyteorder("=") != np.float32:  # either byte order
        raise WeightFileError(path, f"{key} has dtype {dtype}, expected float32")
    elif shape != expected:
        raise WeightFileError(path, f"{key} has shape {shape}, expected {expected}")
    size = math.prod(shape) * dtype.itemsize
    data = member.read(size + 1)
    if len(data) != size:
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
            f"{str(meta.get('mnistpad_version', 'unknown'))[:40]}); this one reads version "
            f"{FORMAT_VERSION}: upgrade mnistpad",
        )
    _check_sizes(path, meta)
    classes = meta.get("classes")
    if not (
        isinstance(classes, list)
        and all(isinstance(name, str) and 0 < len(name) <= MAX_CLASS_NAME for name in classes)
    ):
        raise WeightFileError(path, "meta.classes must be a list of short class names")
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise WeightFileError(path, f"needs 2 to {MAX_CLASSES} class names, has {len(classes)}")
    _check_model(path, meta, version)
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


def _check_sizes(path: Path, meta: dict) -> None:
    """Refuse metadata holding more than mnistpad ever writes: more history rows than epochs, more
    values in all than MAX_META_VALUES (every nested key, text, number and row counted), or a key or
    text longer than MAX_META_TEXT. Refused, not cut short: such a file was not written by
    mnistpad, and its figures shown in part would be figures it does not hold."""
    history = meta.get("history")
    if isinstance(history, list) and len(history) > MAX_HISTORY:
        raise WeightFileError(
            path,
            f"meta.history has {len(history):,} rows; mnistpad writes one per epoch, at most"
            f" {MAX_HISTORY:,}",
        )
    values = 0
    for key, top in meta.items():
        where = f"meta.{key}" if len(key) <= 40 and key.isprintable() else "meta"
        pending, values = [key, top], values + 2
        while pending:
            value = pending.pop()
            if isinstance(value, dict):
                value = [*value.keys(), *value.values()]
            if isinstance(value, list):
                values += len(value)
                pending += value
            elif isinstance(value, str) and len(value) > MAX_META_TEXT:
                raise WeightFileError(
                    path,
                    f"{where} holds a text of {len(value):,} characters, over the limit of"
                    f" {MAX_META_TEXT:,}",
                )
            if values > MAX_META_VALUES:
                raise WeightFileError(
                    path,
                    f"{where} takes the metadata over {MAX_META_VALUES:,} values; mnistpad"
                    " writes fewer",
                )


def _check_model(path: Path, meta: dict, version: int) -> None:
    """meta.model names a kind this mnistpad has, with a JSON object for its shape; version 1 files
    hold the linear model and may leave it out."""
    if "model" not in meta and version == LINEAR_VERSION:
        return
    model = meta.get("model")
    if not (isinstance(model, dict) and isinstance(model.get("shape"), dict)):
        raise WeightFileError(path, "meta.model must be an object with a kind and a shape")
    kind = model.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise WeightFileError(
            path,
            f"meta.model: unknown kind {str(kind)[:40]!r} (this mnistpad knows {', '.join(KINDS)})",
        )
    if (kind == "linear") != (version == LINEAR_VERSION):
        raise WeightFileError(path, f"a {kind} model in a version {version} file")


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


def _check_params(path: Path, meta: dict, params: dict[str, np.ndarray]) -> None:
    """Every parameter the kind and shape call for, float32, of its exact shape, finite."""
    n = len(meta.get("classes", []))
    if not 2 <= n <= MAX_CLASSES:
        raise WeightFileError(path, f"needs 2 to {MAX_CLASSES} class names, has {n}")
    kind, shape = model_kind(meta)
    try:
        shapes = parameter_shapes(kind, shape, n)
    except ShapeError as error:
        raise WeightFileError(path, f"meta.model: {error}") from None
    if sorted(params) != sorted(shapes):
        raise WeightFileError(
            path, f"a {kind} model has {', '.join(shapes)}, not {', '.join(params)}"
        )
    for key, size in shapes.items():
        array = params[key]
        if array.dtype != np.float32:
            raise WeightFileError(path, f"{key} has dtype {array.dtype}, expected float32")
        if array.shape != size:
            raise WeightFileError(path, f"{key} has shape {array.shape}, expected {size}")
        if not np.isfinite(array).all():
            raise WeightFileError(path, f"{key} contains NaN or infinite values")
