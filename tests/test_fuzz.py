"""Mutation fuzzing of the two readers of outside files: weight files and IDX data files.

Each case takes a valid file and damages it (bit flips, truncation, inserted, deleted or
overwritten bytes). Whatever the damage, the reader either returns something valid or raises its
one documented error; anything else escaping is a bug. Seeded, so every failure reproduces.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from mnistpad.data import DataError, load_dataset, read_idx
from mnistpad.model import LinearModel
from mnistpad.weights import WeightFileError, build_meta, load_weights, save_weights

CASES = 5000


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random kind of damage."""
    data = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:  # flip a few bits
        for _ in range(rng.integers(1, 9)):
            position = rng.integers(len(data))
            data[position] ^= 1 << rng.integers(8)
    elif kind == 1:  # truncate
        del data[rng.integers(len(data)) :]
    elif kind == 2:  # insert random bytes
        position = rng.integers(len(data) + 1)
        data[position:position] = rng.integers(
            0, 256, rng.integers(1, 65), dtype=np.uint8
        ).tobytes()
    elif kind == 3:  # delete a run of bytes
        start = rng.integers(len(data))
        del data[start : start + rng.integers(1, 65)]
    else:  # overwrite a run of bytes
        start = rng.integers(len(data))
        chunk = rng.integers(0, 256, rng.integers(1, 17), dtype=np.uint8).tobytes()
        data[start : start + len(chunk)] = chunk
    return bytes(data)


def test_damaged_weight_files_only_ever_raise_the_documented_error(tmp_path):
    model = LinearModel.glorot(np.random.default_rng(0))
    meta = build_meta(
        [str(d) for d in range(10)],
        training={"preset": "fast", "epochs": 1},
        metrics={"test_accuracy": 0.9, "best_epoch": 1},
        history=[{"epoch": 1, "train_loss": 0.3, "dev_accuracy": 0.9}],
    )
    original = save_weights(tmp_path / "good.npz", model, meta).read_bytes()
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    rng = np.random.default_rng(2026)
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "case.npz"
    for case in range(CASES):
        if case % 2:  # damage the file itself
            path.write_bytes(mutate(original, rng))
        else:  # damage one array inside an intact zip, to reach the array and metadata checks
            damaged = dict(members)
            name = sorted(members)[rng.integers(len(members))]
            damaged[name] = mutate(members[name], rng)
            with zipfile.ZipFile(path, "w") as archive:
                for member, content in damaged.items():
                    archive.writestr(member, content)
        try:
            loaded = load_weights(path)
        except WeightFileError as error:
            assert error.path == path and error.reason
            outcomes["refused"] += 1
            continue
        assert loaded.model.W.shape == (10, 784) and np.isfinite(loaded.model.W).all()
        assert np.isfinite(loaded.model.b).all() and len(loaded.classes) == 10
        outcomes["loaded"] += 1
    assert outcomes["refused"] > CASES / 2  # the damage was real, and it was seen


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_idx_files_only_ever_raise_the_documented_error(tmp_path, compressed):
    rng = np.random.default_rng(7 + compressed)
    images = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    original = idx_bytes(images)
    if compressed:
        original = gzip.compress(original)
    path = tmp_path / "images-idx3-ubyte"
    refused = 0
    for _ in range(CASES):
        path.write_bytes(mutate(original, rng))
        try:
            array = read_idx(path)
        except DataError as error:
            assert error.path == path and error.reason
            refused += 1
            continue
        assert array.dtype == np.uint8 and array.size == int(np.prod(array.shape))
    assert refused > CASES / 4


def test_damaged_label_files_in_a_data_folder_give_one_clear_error(tmp_path):
    rng = np.random.default_rng(11)
    folder = tmp_path / "data"
    folder.mkdir()
    n_train = 10_010
    (folder / "train-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((n_train, 28, 28), np.uint8))
    )
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(5, dtype=np.uint8)))
    labels = idx_bytes(rng.integers(0, 10, n_train, dtype=np.uint8))
    for _ in range(150):
        (folder / "train-labels-idx1-ubyte").write_bytes(mutate(labels, rng))
        try:
            dataset = load_dataset(folder)
        except DataError as error:
            assert "train-labels" in str(error.path) or "train-images" in str(error)
            continue
        assert max(dataset.train_labels.max(), dataset.dev_labels.max()) < len(dataset.classes)
