"""A person's own handwriting: labelled drawings kept on disk, and fine-tuning on them.

Each labelled drawing is one small JSON file in the personal folder (written atomically): its
label and class name, the strokes as drawn (canvas units, 280 a side, with pen width and pressure)
and the 28x28 MNIST-style image the model saw, as 784 grey levels. Every fifth drawing of each
class is held out: fine-tuning never trains on it, so it measures how well the model reads the
person's writing. The set moves between machines as a zip of those files; imports are validated
as strictly as weight files, since they may come from anywhere.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .data import MAX_CLASS_NAME, MAX_CLASSES, Dataset
from .files import write_atomically
from .model import LinearModel
from .train import TrainConfig
from .weights import is_finite_number

HELD_OUT_EVERY = 5  # the 5th, 10th, ... drawing of each class is held out
MAX_FILE_BYTES = 1 << 20  # one drawing's JSON; larger files are refused unread
MAX_IMPORT_FILES = 100_000
MAX_POINTS = 20_000  # per drawing
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


@dataclass(frozen=True)
class Drawing:
    id: str
    label: int
    name: str  # the class name when it was labelled
    image: np.ndarray  # (28, 28) float32 in [0, 1], MNIST-style (not deskewed)
    strokes: list  # [{"width": w, "points": [[x, y, pressure], ...]}, ...]
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
        "image": np.round(drawing.image.reshape(-1) * 255).astype(int).tolist(),
        "strokes": drawing.strokes,
    }


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
    if not (isinstance(ident, str) and 0 < len(ident) <= 64 and ident.isprintable()):
        raise HandwritingError(f"{source}: the id must be a short text")
    image = data.get("image")
    if not (
        isinstance(image, list)
        and len(image) == 784
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in image)
    ):
        raise HandwritingError(f"{source}: the image must be 784 grey levels from 0 to 255")
    strokes = data.get("strokes", [])
    if not _valid_strokes(strokes):
        raise HandwritingError(f"{source}: the strokes are not lists of [x, y, pressure] points")
    return Drawing(
        id=ident,
        label=label,
        name=name,
        image=(np.array(image, dtype=np.float32) / np.float32(255)).reshape(28, 28),
        strokes=strokes,
        created=str(data.get("created", ""))[:40],
        held_out=bool(data.get("held_out", False)),
    )


def _valid_strokes(strokes) -> bool:
    if not isinstance(strokes, list):
        return False
    points = 0
    for stroke in strokes:
        if not (isinstance(stroke, dict) and is_finite_number(stroke.get("width"))):
            return False
        path = stroke.get("points")
        if not isinstance(path, list):
            return False
        points += len(path)
        if points > MAX_POINTS or not all(
            isinstance(p, list) and len(p) == 3 and all(is_finite_number(v) for v in p)
            for p in path
        ):
            return False
    return True


class PersonalSet:
    """The labelled drawings in one folder, created when the first drawing is added."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def drawings(self) -> tuple[list[Drawing], list[str]]:
        """All readable drawings, oldest first, and a message for each file that is not."""
        drawings, problems = [], []
        for path in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                drawings.append(_from_json(path.read_bytes(), path.name))
            except OSError as error:
                problems.append(f"{path.name}: cannot read ({error.strerror or error})")
            except HandwritingError as error:
                problems.append(str(error))
        drawings.sort(key=lambda drawing: (drawing.created, drawing.id))
        return drawings, problems

    def add(self, image: np.ndarray, strokes: list, label: int, name: str) -> Drawing:
        """Keep a labelled drawing; every fifth of its class is held out."""
        same_class = sum(drawing.label == label for drawing in self.drawings()[0])
        created = datetime.now(UTC).isoformat(timespec="microseconds")
        drawing = Drawing(
            id=uuid.uuid4().hex,
            label=int(label),
            name=name,
            image=np.asarray(image, dtype=np.float32).reshape(28, 28),
            strokes=strokes,
            created=created,
            held_out=(same_class + 1) % HELD_OUT_EVERY == 0,
        )
        self._write(drawing)
        return drawing

    def remove(self, drawing: Drawing) -> None:
        (self.folder / f"{drawing.id}.json").unlink(missing_ok=True)

    def _write(self, drawing: Drawing) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_to_json(drawing)).encode()
        write_atomically(self.folder / f"{drawing.id}.json", lambda out: out.write(text))

    def export(self, path: Path | str) -> int:
        """Write all drawings into one zip; return how many."""
        drawings, _ = self.drawings()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for drawing in drawings:
                archive.writestr(f"{drawing.id}.json", json.dumps(_to_json(drawing)))
        write_atomically(path, lambda out: out.write(buffer.getvalue()))
        return len(drawings)

    def import_from(self, path: Path | str) -> tuple[int, int]:
        """Add the drawings of an exported zip; return (added, already there). Nothing is added
        unless every file in the zip is a valid drawing."""
        try:
            with zipfile.ZipFile(path) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                if len(members) > MAX_IMPORT_FILES:
                    raise HandwritingError(f"{path}: more than {MAX_IMPORT_FILES:,} files")
                incoming = []
                for info in members:
                    if info.file_size > MAX_FILE_BYTES:
                        raise HandwritingError(f"{path}: {info.filename} is too large")
                    incoming.append(_from_json(archive.read(info), f"{path}: {info.filename}"))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
            raise HandwritingError(f"{path}: not a zip of drawings ({error})") from None
        except OSError as error:
            raise HandwritingError(f"{path}: cannot read ({error.strerror or error})") from None
        known = {drawing.id for drawing in self.drawings()[0]}
        added = [drawing for drawing in incoming if drawing.id not in known]
        for drawing in {drawing.id: drawing for drawing in added}.values():
            self._write(drawing)
        return len({drawing.id for drawing in added}), len(incoming) - len(added)


def drawing_arrays(drawings: list[Drawing], held_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, 784) float32 images and (N,) uint8 labels of the held-out or the training drawings."""
    chosen = [drawing for drawing in drawings if drawing.held_out == held_out]
    images = np.array([drawing.image.reshape(-1) for drawing in chosen], dtype=np.float32)
    labels = np.array([drawing.label for drawing in chosen], dtype=np.uint8)
    return images.reshape(-1, 784), labels


def fine_tune_data(mnist: Dataset, drawings: list[Drawing], seed: int = 0) -> Dataset:
    """MNIST_MIX MNIST training images and the person's training drawings repeated to weigh as
    much, with MNIST's dev and test sets: fine-tuning learns the person's writing without
    forgetting MNIST (dev keeps watching it)."""
    images, labels = drawing_arrays(drawings, held_out=False)
    if not len(labels):
        raise HandwritingError("no drawings to learn from yet: label a few first")
    rng = np.random.default_rng(seed)
    mix = rng.choice(len(mnist.train_labels), min(MNIST_MIX, len(mnist.train_labels)), False)
    repeats = max(1, MNIST_MIX // len(labels))
    return replace(
        mnist,
        train_images=np.concatenate([mnist.train_images[mix], np.tile(images, (repeats, 1))]),
        train_labels=np.concatenate([mnist.train_labels[mix], np.tile(labels, repeats)]),
    )


def accuracy_on(model: LinearModel, images: np.ndarray, labels: np.ndarray) -> float | None:
    """Accuracy on a possibly empty set (None when there is nothing to measure)."""
    return model.accuracy(images, labels) if len(labels) else None
