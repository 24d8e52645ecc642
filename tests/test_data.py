"""Reading MNIST-format data: the bundled files, the split, and clear errors for damaged folders."""

from __future__ import annotations

import functools
import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mnistpad.data import DIGITS, FILES, DataError, bundled_mnist_dir, load_dataset, read_idx

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_bundled_mnist_is_split_50k_10k_10k(mnist):
    assert mnist.train_images.shape == (50_000, 784) and mnist.train_labels.shape == (50_000,)
    assert mnist.dev_images.shape == (10_000, 784) and mnist.dev_labels.shape == (10_000,)
    assert mnist.test_images.shape == (10_000, 784) and mnist.test_labels.shape == (10_000,)
    for images in (mnist.train_images, mnist.dev_images, mnist.test_images):
        assert images.dtype == np.float32 and images.min() == 0.0 and images.max() == 1.0
    for labels in (mnist.train_labels, mnist.dev_labels, mnist.test_labels):
        assert labels.dtype == np.uint8
    # the published label counts prove these are the genuine files, in the genuine order
    training = np.concatenate([mnist.train_labels, mnist.dev_labels])
    assert np.bincount(training).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist.test_labels).tolist() == TEST_COUNTS
    # dev is the last 10,000 of the training file
    raw = read_idx(bundled_mnist_dir() / "train-images-idx3-ubyte.gz")
    assert np.array_equal(mnist.dev_images[-1], raw[-1].reshape(-1) / np.float32(255))
    assert mnist.classes == tuple("0123456789")


@pytest.fixture
def data_copy(tmp_path) -> Path:
    folder = tmp_path / "mnist"
    shutil.copytree(bundled_mnist_dir(), folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_raw_uncompressed_files_read_the_same(tmp_path, mnist):
    for name in FILES.values():
        (tmp_path / name).write_bytes(
            gzip.decompress((bundled_mnist_dir() / f"{name}.gz").read_bytes())
        )
    raw = load_dataset(tmp_path)
    assert np.array_equal(raw.test_images, mnist.test_images)
    assert np.array_equal(raw.train_labels, mnist.train_labels)


def write_idx(
    path: Path, array: np.ndarray, magic: int | None = None, compress: bool = True
) -> None:
    path.write_bytes(idx_bytes(array, magic, compress))


def idx_bytes(array: np.ndarray, magic: int | None = None, compress: bool = True) -> bytes:
    magic = magic if magic is not None else 0x0800 + array.ndim
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    return gzip.compress(data) if compress else data


def small_folder(folder: Path, n_train=10_050, n_test=20) -> Path:
    folder.mkdir(exist_ok=True)
    for name, content in small_files(n_train, n_test).items():
        (folder / name).write_bytes(content)
    return folder


@functools.cache
def small_files(n_train: int, n_test: int) -> dict[str, bytes]:
    """small_folder's files, made once for each size (compressing 8 MB of noise takes a third of a
    second, and some sixty tests use such a folder)."""
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        files[f"{split}-images-idx3-ubyte.gz"] = idx_bytes(rng.integers(0, 256, (n, 28, 28)))
        files[f"{split}-labels-idx1-ubyte.gz"] = idx_bytes(rng.integers(0, 10, n))
    return files


def test_any_folder_of_idx_files_is_read_and_split(tmp_path):
    dataset = load_dataset(small_folder(tmp_path / "d"))
    assert len(dataset.train_labels) == 50 and len(dataset.dev_labels) == 10_000
    assert len(dataset.test_labels) == 20


def expect_error(folder: Path, file_part: str, reason: str) -> None:
    with pytest.raises(DataError) as caught:
        load_dataset(folder)
    assert file_part in str(caught.value.path)
    assert reason in caught.value.reason


def test_damaged_bundled_file_fails_its_checksum(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    expect_error(data_copy, "t10k-labels", "checksum mismatch")


def test_missing_file_is_named(data_copy):
    (data_copy / "train-labels-idx1-ubyte.gz").unlink()
    expect_error(data_copy, "train-labels-idx1-ubyte", "missing")


def test_missing_folder(tmp_path):
    expect_error(tmp_path / "nowhere", "nowhere", "no such folder")


def test_wrong_magic(tmp_path):
    folder = small_folder(tmp_path / "d")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28)), magic=0x0801)
    expect_error(folder, "t10k-images", "magic number")


def test_not_an_idx_file_at_all(tmp_path):
    folder = small_folder(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"<html>not found</html>"))
    expect_error(folder, "t10k-labels", "not an IDX file")


def test_truncated_data(tmp_path):
    folder = small_folder(tmp_path / "d")
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    expect_error(folder, "train-images", "truncated")


def test_truncated_gzip_stream(tmp_path):
    folder = small_folder(tmp_path / "d")
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    expect_error(folder, "train-labels", "damaged gzip")


def test_counts_that_disagree(tmp_path):
    folder = small_folder(tmp_path / "d")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(19))
    expect_error(folder, "t10k-labels", "19 labels")


def test_labels_out_of_range(tmp_path):
    folder = small_folder(tmp_path / "d")
    (folder / "classes.txt").write_text("\n".join("abcdefghij"))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(20, 10))
    expect_error(folder, "t10k-labels", "out of range")


def test_class_names_come_from_the_folders_classes_txt(tmp_path):
    folder = small_folder(tmp_path / "d")
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (folder / "classes.txt").write_text("\n".join(names) + "\n\n")
    assert load_dataset(folder).classes == tuple(names)
    (folder / "classes.txt").write_text("only one\n")
    expect_error(folder, "classes.txt", "2 to 256 class names")
    (folder / "classes.txt").write_bytes(b"\xff\xfe bad")
    expect_error(folder, "classes.txt", "cannot read")


def test_without_names_labels_are_digits_or_numbers(tmp_path):
    folder = small_folder(tmp_path / "d")
    assert load_dataset(folder).classes == DIGITS
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 12)
    assert load_dataset(folder).classes == tuple(str(label) for label in range(12))


FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


@pytest.mark.skipif(not FASHION.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_is_recognised_and_named():
    dataset = load_dataset(FASHION)
    assert dataset.classes[0] == "T-shirt/top" and dataset.classes[9] == "Ankle boot"
    assert len(dataset.train_labels) == 50_000 and len(dataset.test_labels) == 10_000


def test_wrong_image_size(tmp_path):
    folder = small_folder(tmp_path / "d")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32)))
    expect_error(folder, "t10k-images", "32x32")


def test_enormous_declared_size_is_refused_without_allocating(tmp_path):
    folder = small_folder(tmp_path / "d")
    header = struct.pack(">IIII", 0x0803, 4_000_000_000, 28, 28)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header))
    expect_error(folder, "t10k-images", "declares")


def test_trailing_bytes(tmp_path):
    folder = small_folder(tmp_path / "d")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"extra"))
    expect_error(folder, "t10k-labels", "unexpected bytes")


def test_too_few_training_images_for_a_dev_set(tmp_path):
    expect_error(small_folder(tmp_path / "d", n_train=10_000), "d", "too few")
