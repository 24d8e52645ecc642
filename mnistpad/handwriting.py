"""A person's own handwriting: labelled drawings kept on disk, and fine-tuning on them.

Each labelled drawing is one small JSON file in the personal folder (written atomically): its
label and class name, the strokes as drawn (canvas units, 280 a side, with pen width and pressure)
and the 28x28 MNIST-style image the model saw, as 784 grey levels. Every fifth drawing of each
class is held out: fine-tuning never trains on it, so it measures how well the model reads the
person's writing. A drawing is of a class of some weights only if they give its label the name
it was labelled with: a drawing labelled 1 as "banana" is no digit 1. The set moves between
machines as a zip of those files; imports are validated as strictly as weight files, since they
may come from anywhere.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import threading
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .data import MAX_CLASS_NAME, MAX_CLASSES, Dataset
from .files import open_regular, read_regular, write_atomically, zip_directory
from .networks import Model
from .train import TrainConfig
from .weights import is_finite_number

HELD_OUT_EVERY = 5  # the 5th, 10th, ... drawing of each class is held out
ID = re.compile(r"[0-9a-f]{32}")  # as uuid4().hex makes them: a safe file name on any system
MAX_FILE_BYTES = 1 << 20  # one drawing's JSON, read or written; larger files are refused unread
MAX_POINTS = 20_000  # stroke points of one drawing
MAX_STROKES = 1_000  # strokes of one drawing (a digit takes one to four)
# One import: the zip file, its members, their unpacked bytes, and all their strokes and stroke
# points together. A point is kept in a float64 array (24 bytes: 2,000,000 points take 48 MB), a
# stroke as a dict and an array (about 330 bytes, even empty: 200,000 strokes take 66 MB).
MAX_IMPORT_BYTES = 512 << 20
MAX_IMPORT_FILES = 20_000
MAX_ENTRY_BYTES = 46 + 300  # a central directory entry with a name of up to 300 bytes
MAX_IMPORT_UNPACKED = 1 << 30
MAX_IMPORT_POINTS = 2_000_000
MAX_IMPORT_STROKES = 200_000
# Members stored or deflated, as mnistpad writes them: zipfile unpacks a bzip2 or LZMA member's
# data a whole chunk at a time, whatever its declared size (a few bytes can unpack to gigabytes).
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What reading a damaged zip member can raise, besides zipfile.BadZipFile (an OSError, ValueError
# or EOFError from a truncated or corrupt stream, RuntimeError for an encrypted one).
ZIP_ERRORS = (OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error,
              lzma.LZMAError, zipfile.BadZipFile)  # fmt: skip
# Fine-tuning: a few epochs from the weights in use, on the person's drawings repeated so they
# weigh as much as this many MNIST images, mixed with that many MNIST training images.
MNIST_MIX = 10_000
FINE_TUNE = TrainConfig(
    preset="fine-tune",
    epochs=5,
    lr=0.1,
    batch_size=64,
    shuffle=True,
    keep_best=False,
    halve_on_plateau=False,
)


class HandwritingError(Exception):
    """A personal drawing file or an import cannot be used; the message says which and why."""


class ImportCancelled(HandwritingError):
    """The person cancelled an import; nothing was added."""


@dataclass(frozen=True)
class Drawing:
    id: str  # 32 hex digits, also the file's name
    label: int
    name: str  # the class name when it was labelled
    image: np.ndarray  # (28, 28) float32 in [0, 1], MNIST-style (not deskewed)
    strokes: list  # [{"width": w, "points": (n, 3) float64 array of x, y, pressure}, ...]
    created: str
    held_out: bool


def _to_json(drawing: Drawing) -> dict:
    return {
        "format": "mnistpad-drawing",
        "version": 1,
        "id": drawing.id,
        "label": drawing.label,
        "name": drawing.name,
        "held_out": drawing.held_out,
        "created": drawing.created,
        "image": _grey_levels(drawing.image).tolist(),
        "strokes": [
            {"width": stroke["width"], "points": np.asarray(stroke["points"]).tolist()}
            for stroke in drawing.strokes
        ],
    }


def _encoded(drawing: Drawing, source: str) -> bytes:
    """The drawing's file as it is written: HandwritingError if the reader would refuse it as too
    large (numbers are written back as floats, so a file read just under the limit can grow)."""
    text = json.dumps(_to_json(drawing), separators=(",", ":")).encode()
    if len(text) > MAX_FILE_BYTES:
        raise HandwritingError(
            f"{source}: would be written as {len(text):,} bytes, over the {MAX_FILE_BYTES:,} a"
            " drawing's file may have"
        )
    return text


def in_classes(drawing: Drawing, classes: Sequence[str]) -> bool:
    """Whether the drawing is of one of `classes`: its label is one of them, under the name it was
    labelled with (a drawing labelled 1 as "banana" is not of the digits' class 1)."""
    return drawing.label < len(classes) and classes[drawing.label] == drawing.name


def _grey_levels(image: np.ndarray) -> np.ndarray:
    """The 784 grey levels (0 to 255) a drawing's file keeps of its image."""
    return np.clip(np.round(np.asarray(image, np.float32).reshape(-1) * 255), 0, 255).astype(int)


def _shown(name: str) -> str:
    """A file name from outside as a message can show it: short, on one line."""
    name = name[:200]
    return name if name.isprintable() else repr(name)


def _from_json(text: bytes, source: str) -> Drawing:
    """Parse and validate one drawing file; HandwritingError says what is wrong with it."""
    if len(text) > MAX_FILE_BYTES:
        raise HandwritingError(f"{source}: larger than {MAX_FILE_BYTES:,} bytes")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise HandwritingError(f"{source}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != "mnistpad-drawing":
        raise HandwritingError(f"{source}: not an mnistpad drawing")
    if data.get("version") != 1:
        raise HandwritingError(f"{source}: drawing format version {data.get('version')!r}")
    label, name, ident = data.get("label"), data.get("name"), data.get("id")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < MAX_CLASSES:
        raise HandwritingError(f"{source}: label {label!r} is not a class number")
    if not (isinstance(name, str) and 0 < len(name) <= MAX_CLASS_NAME):
        raise HandwritingError(f"{source}: the class name must be a short text")
    if not (isinstance(ident, str) and ID.fullmatch(ident)):
        raise HandwritingError(f"{source}: the id must be 32 hexadecimal digits")
    image = data.get("image")
    levels = np.zeros(0)
    if isinstance(image, list) and len(image) == 784 and {type(v) for v in image} <= {int}:
        try:
            levels = np.array(image, dtype=np.int64)
        except OverflowError:  # a number too large for 64 bits
            pass
    if len(levels) != 784 or levels.min() < 0 or levels.max() > 255:
        raise HandwritingError(f"{source}: the image must be 784 grey levels from 0 to 255")
    return Drawing(
        id=ident,
        label=label,
        name=name,
        image=(levels.astype(np.float32) / np.float32(255)).reshape(28, 28),
        strokes=_strokes(data.get("strokes", []), source),
        created=str(data.get("created", ""))[:40],
        held_out=bool(data.get("held_out", False)),
    )


def _strokes(strokes, source: str) -> list:
    """The strokes with their points as (n, 3) arrays; HandwritingError if they are not lists of
    [x, y, pressure] points of finite numbers, or number more than MAX_STROKES or have more than
    MAX_POINTS points (counted before any is parsed: empty strokes cost memory too)."""
    wrong = HandwritingError(f"{source}: the strokes are not lists of [x, y, pressure] points")
    if not isinstance(strokes, list):
        raise wrong
    if len(strokes) > MAX_STROKES:
        raise HandwritingError(f"{source}: more than {MAX_STROKES:,} strokes")
    parsed, total = [], 0
    for stroke in strokes:
        if not (isinstance(stroke, dict) and is_finite_number(stroke.get("width"))):
            raise wrong
        path = stroke.get("points")
        if isinstance(path, np.ndarray):  # already parsed
            path = path.tolist()
        if not (isinstance(path, list) and all(type(p) is list and len(p) == 3 for p in path)):
            raise wrong
        total += len(path)
        if total > MAX_POINTS:
            raise HandwritingError(f"{source}: more than {MAX_POINTS:,} stroke points")
        if not {type(v) for p in path for v in p} <= {int, float}:  # no text, true or null
            raise wrong
        try:
            points = np.array(path, dtype=np.float64).reshape(-1, 3)
        except OverflowError:
            raise wrong from None
        if not np.isfinite(points).all():
            raise wrong
        parsed.append({"width": float(stroke["width"]), "points": points})
    return parsed


def _points(drawing: Drawing) -> int:
    return sum(len(stroke["points"]) for stroke in drawing.strokes)


def _folder_trouble(folder: Path, error: OSError) -> str:
    """Why `folder` cannot be read or written, for a person."""
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            return "it is a file, not a folder" if part == folder else f"{part} is a file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return str(error.strerror or error)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> bytes:
    """The unpacked bytes of one zip member, or HandwritingError saying why not."""
    cannot = f"cannot read member {_shown(info.filename)}"
    if info.flag_bits & 0x1:
        raise HandwritingError(f"{source}: {cannot} (encrypted)")
    if info.compress_type not in ZIP_METHODS:
        method = info.compress_type
        raise HandwritingError(f"{source}: {cannot} (compression method {method} not supported)")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_FILE_BYTES + 1)
    except ZIP_ERRORS as error:
        raise HandwritingError(f"{source}: {cannot} (damaged: {error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise HandwritingError(f"{source}: {_shown(info.filename)} is too large")
    return data


def _check_directory(stream, path: Path | str) -> None:
    """Refuse a zip whose central directory is larger than MAX_IMPORT_FILES entries can need,
    before zipfile parses it whole (ten million entries took 3.7 GB and a minute)."""
    declared = zip_directory(stream)  # None: not a zip, which zipfile says
    if declared is not None:
        entries, directory = declared
        if entries > MAX_IMPORT_FILES or directory > MAX_IMPORT_FILES * MAX_ENTRY_BYTES:
            raise HandwritingError(f"{path}: more than {MAX_IMPORT_FILES:,} files")


def _read_zip(
    path: Path | str,
    classes: Sequence[str] | None = None,
    progress: Callable[[int, int], bool] | None = None,
) -> list[tuple[str, Drawing]]:
    """The drawings of an exported zip, each with the member it came from (for messages), every
    member checked (see `PersonalSet.import_from`)."""
    try:
        stream = open_regular(path, MAX_IMPORT_BYTES)
    except OSError as error:
        raise HandwritingError(f"{path}: cannot read ({error.strerror or error})") from None
    with stream:
        _check_directory(stream, path)
        try:
            archive = zipfile.ZipFile(stream)
        except (*ZIP_ERRORS, zipfile.LargeZipFile) as error:
            raise HandwritingError(f"{path}: not a zip of drawings ({error})") from None
        with archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) > MAX_IMPORT_FILES:
                raise HandwritingError(f"{path}: more than {MAX_IMPORT_FILES:,} files")
            for info in members:
                if info.file_size > MAX_FILE_BYTES:
                    raise HandwritingError(f"{path}: {_shown(info.filename)} is too large")
            unpacked = sum(info.file_size for info in members)
            if unpacked > MAX_IMPORT_UNPACKED:
                raise HandwritingError(
                    f"{path}: {unpacked:,} bytes unpacked, over the limit of"
                    f" {MAX_IMPORT_UNPACKED:,}"
                )
            drawings, seen, points, strokes = [], {}, 0, 0
            for done, info in enumerate(members):
                if progress is not None and not progress(done, 2 * len(members)):
                    raise ImportCancelled("import cancelled: nothing was added")
                source = f"{path}: {_shown(info.filename)}"
                drawing = _from_json(_read_member(archive, info, str(path)), source)
                if classes is not None and not in_classes(drawing, classes):
                    raise HandwritingError(f"{source}: {_not_in(drawing, classes)}")
                if drawing.id in seen:
                    raise HandwritingError(f"{source}: the same id as {seen[drawing.id]}")
                seen[drawing.id] = _shown(info.filename)
                points += _points(drawing)
                strokes += len(drawing.strokes)
                for count, limit, what in (
                    (points, MAX_IMPORT_POINTS, "stroke points"),
                    (strokes, MAX_IMPORT_STROKES, "strokes"),
                ):
                    if count > limit:
                        raise HandwritingError(f"{path}: more than {limit:,} {what} in all")
                drawings.append((source, drawing))
    return drawings


def _not_in(drawing: Drawing, classes: Sequence[str]) -> str:
    """Why `drawing` is not of one of `classes`."""
    label, n = drawing.label, len(classes)
    if label >= n:
        return f"label {label} is not a class of the weights in use (they have {n}: 0 to {n - 1})"
    return (
        f"labelled {label} as {drawing.name!r}, but class {label} of the weights in use is"
        f" {classes[label]!r}"
    )


class PersonalSet:
    """The labelled drawings in one folder, created when the first drawing is added.

    The folder is read once, when first needed; afterwards `add`, `remove` and `import_from` keep
    that index (and the count of each class) up to date, so labelling never re-reads the folder.
    `reload` reads it again. `import_from` may run in another thread: a lock guards the index.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._lock = threading.RLock()
        self._index: dict[str, Drawing] | None = None  # by id, oldest first
        self._problems: list[str] = []
        self._counts: Counter = Counter()  # (label, name, held_out) -> drawings
        self._unreadable: str | None = None  # why the folder cannot be listed

    def reload(self) -> None:
        """Read the folder again when next needed (after other programs changed it)."""
        with self._lock:
            self._index = None

    def _load(self) -> dict[str, Drawing]:
        with self._lock:
            if self._index is None:
                self._read_folder()
            return self._index

    def _read_folder(self) -> None:
        drawings, problems, self._unreadable = [], [], None
        try:
            names = sorted(e.name for e in os.scandir(self.folder) if e.name.endswith(".json"))
        except FileNotFoundError:
            names = []  # no drawing kept yet
        except OSError as error:
            names, self._unreadable = [], _folder_trouble(self.folder, error)
            problems.append(f"{self.folder}: cannot read the folder ({self._unreadable})")
        for name in names:
            try:
                drawing = _from_json(read_regular(self.folder / name, MAX_FILE_BYTES), _shown(name))
                if name != f"{drawing.id}.json":
                    raise HandwritingError(f"{_shown(name)}: the id inside is not the file name")
                drawings.append(drawing)
            except OSError as error:
                problems.append(f"{_shown(name)}: cannot read ({error.strerror or error})")
            except HandwritingError as error:
                problems.append(str(error))
            except (ValueError, TypeError, OverflowError) as error:  # a case validation missed
                problems.append(f"{_shown(name)}: cannot be used ({error})")
        drawings.sort(key=lambda drawing: (drawing.created, drawing.id))
        self._index = {drawing.id: drawing for drawing in drawings}
        self._counts = Counter(_key(drawing) for drawing in drawings)
        self._problems = problems

    def drawings(self) -> tuple[list[Drawing], list[str]]:
        """All readable drawings, oldest first, and a message for each file that is not (and for
        a folder that cannot be read)."""
        with self._lock:
            return list(self._load().values()), list(self._problems)

    def counts(self) -> Counter:
        """How many drawings there are of each (label, name, held_out)."""
        with self._lock:
            self._load()
            return Counter(self._counts)

    def problems(self) -> list[str]:
        """A message for each file that cannot be read, and for a folder that cannot be read."""
        with self._lock:
            self._load()
            return list(self._problems)

    def add(self, image: np.ndarray, strokes: list, label: int, name: str) -> Drawing:
        """Keep a labelled drawing; every fifth of its class is held out. HandwritingError says
        why it cannot be kept."""
        with self._lock:
            self._load()
            same_class = self._counts[(label, name, False)] + self._counts[(label, name, True)]
            drawing = Drawing(
                id=uuid.uuid4().hex,
                label=int(label),
                name=name,
                image=(_grey_levels(image).astype(np.float32) / np.float32(255)).reshape(28, 28),
                strokes=_strokes(strokes, "the drawing"),
                created=datetime.now(UTC).isoformat(timespec="microseconds"),
                held_out=(same_class + 1) % HELD_OUT_EVERY == 0,
            )
            self._write(drawing, "the drawing")
            self._keep([drawing])
            return drawing

    def _keep(self, drawings: list[Drawing]) -> None:
        """Add written drawings to the index, keeping it oldest first."""
        index = self._load()
        newest = next(reversed(index.values())).created if index else ""
        for drawing in drawings:
            index[drawing.id] = drawing
            self._counts[_key(drawing)] += 1
        if len(drawings) > 1 or any(drawing.created < newest for drawing in drawings):
            ordered = sorted(index.values(), key=lambda drawing: (drawing.created, drawing.id))
            self._index = {drawing.id: drawing for drawing in ordered}

    def remove(self, drawing: Drawing) -> None:
        with self._lock:
            if not ID.fullmatch(drawing.id):
                raise HandwritingError(f"no drawing has the id {drawing.id!r}")
            try:
                (self.folder / f"{drawing.id}.json").unlink(missing_ok=True)
            except OSError as error:
                trouble = _folder_trouble(self.folder, error)
                message = f"cannot remove the drawing from {self.folder}: {trouble}"
                raise HandwritingError(message) from None
            kept = self._load().pop(drawing.id, None)
            if kept is not None:
                self._counts[_key(kept)] -= 1

    def restore(self, drawing: Drawing) -> None:
        """Keep a drawing removed earlier again, as it was (undoing `remove`)."""
        with self._lock:
            self._write(drawing, "the drawing")
            self._keep([drawing])

    def relabel(self, drawing: Drawing, label: int, name: str) -> Drawing:
        """The drawing kept under another class (its file rewritten in place); returns it."""
        with self._lock:
            relabelled = replace(drawing, label=int(label), name=name)
            self._write(relabelled, "the relabelled drawing")
            kept = self._load().pop(drawing.id, None)
            if kept is not None:
                self._counts[_key(kept)] -= 1
            self._keep([relabelled])
            return relabelled

    def _write(self, drawing: Drawing, source: str) -> None:
        """Write the drawing's file, or raise HandwritingError (naming `source`) if it cannot be
        written, or could not be read back."""
        target = self.folder / f"{drawing.id}.json"
        assert ID.fullmatch(drawing.id) and target.parent == self.folder  # never elsewhere
        text = _encoded(drawing, source)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(target, lambda out: out.write(text))
        except OSError as error:
            trouble = _folder_trouble(self.folder, error)
            raise HandwritingError(f"cannot keep the drawing in {self.folder}: {trouble}") from None

    def export(self, path: Path | str) -> int:
        """Write all readable drawings into one zip; return how many. HandwritingError when the
        folder exists but cannot be read or a drawing is too large to import again, OSError when
        the zip cannot be written."""
        drawings, _ = self.drawings()
        if self._unreadable:
            raise HandwritingError(f"cannot read the folder {self.folder}: {self._unreadable}")

        def write(out) -> None:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                for drawing in drawings:
                    name = f"{drawing.id}.json"
                    archive.writestr(name, _encoded(drawing, f"{self.folder / name}"))

        write_atomically(path, write)
        return len(drawings)

    def import_from(
        self,
        path: Path | str,
        classes: Sequence[str] | None = None,
        progress: Callable[[int, int], bool] | None = None,
    ) -> tuple[int, int]:
        """Add the drawings of an exported zip; return (added, already there).

        Nothing is added unless every file in the zip is a valid drawing, of one of `classes`
        (when given; see `in_classes`), and the zip keeps within the MAX_IMPORT_* limits: all are
        checked before the first is written, and if writing one fails (or one would be written
        larger than can be read back), those written are removed.
        `progress(done, total)` is called along the way; when it returns False the import stops
        with ImportCancelled and nothing is added. Raises HandwritingError saying why.
        """
        incoming = _read_zip(path, classes, progress)
        total = 2 * len(incoming)
        with self._lock:
            index = self._load()
            new = [(source, drawing) for source, drawing in incoming if drawing.id not in index]
            written = []
            try:
                for source, drawing in new:
                    if progress is not None and not progress(len(incoming) + len(written), total):
                        raise ImportCancelled("import cancelled: nothing was added")
                    self._write(drawing, source)
                    written.append(drawing)
            except BaseException:  # undo: nothing is added
                for drawing in written:
                    with suppress(OSError):
                        (self.folder / f"{drawing.id}.json").unlink(missing_ok=True)
                raise
            self._keep(written)
        if progress is not None:
            progress(total, total)
        return len(new), len(incoming) - len(new)


def _key(drawing: Drawing) -> tuple[int, str, bool]:
    """What `PersonalSet.counts` counts drawings by."""
    return drawing.label, drawing.name, drawing.held_out


def drawing_arrays(
    drawings: list[Drawing], held_out: bool, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 784) float32 images and (N,) uint8 labels of the held-out or the training drawings of
    `classes` (see `in_classes`: drawings of other classes are left out)."""
    chosen = [d for d in drawings if d.held_out == held_out and in_classes(d, classes)]
    images = np.array([drawing.image.reshape(-1) for drawing in chosen], dtype=np.float32)
    labels = np.array([drawing.label for drawing in chosen], dtype=np.uint8)
    return images.reshape(-1, 784), labels


def fine_tune_data(mnist: Dataset, drawings: list[Drawing], seed: int = 0) -> Dataset:
    """MNIST_MIX MNIST training images and the person's training drawings repeated to weigh as
    much, with MNIST's dev and test sets: fine-tuning learns the person's writing without
    forgetting MNIST (dev keeps watching it). Drawings of classes the data does not have are
    left out."""
    n_classes = len(mnist.classes)
    images, labels = drawing_arrays(drawings, held_out=False, classes=mnist.classes)
    if not len(labels):
        if any(not drawing.held_out for drawing in drawings):
            raise HandwritingError(
                f"none of your drawings is of one of the {n_classes} classes in use:"
                " label a few with these classes first"
            )
        raise HandwritingError("no drawings to learn from yet: label a few first")
    rng = np.random.default_rng(seed)
    mix = rng.choice(len(mnist.train_labels), min(MNIST_MIX, len(mnist.train_labels)), False)
    repeats = max(1, MNIST_MIX // len(labels))
    return replace(
        mnist,
        train_images=np.concatenate([mnist.train_images[mix], np.tile(images, (repeats, 1))]),
        train_labels=np.concatenate([mnist.train_labels[mix], np.tile(labels, repeats)]),
    )


def accuracy_on(model: Model, images: np.ndarray, labels: np.ndarray) -> float | None:
    """Accuracy on a possibly empty set (None when there is nothing to measure)."""
    return model.accuracy(images, labels) if len(labels) else None
