"""Files from elsewhere: pipes, devices, huge sparse files, gzip and zip bombs, odd zip members.

Whatever sits under a data or weight file's name, reading it ends quickly with the one documented
error naming the file and saying what is wrong, never hangs and never fills memory. Calls that
would hang or swamp the machine if the reader regressed run in a child Python with a time limit
and a memory cap, so that a regression fails its test instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_data import small_folder, write_idx

from mnistpad import data
from mnistpad.data import DIGITS, DataError, load_dataset, read_idx
from mnistpad.model import LinearModel
from mnistpad.weights import WeightFileError, build_meta, load_weights, save_weights

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP = 1536 << 20  # address space of the child: numpy and a small dataset fit easily


def in_child(call: str) -> dict:
    """Run `call` in a fresh Python under MEMORY_CAP and a 20 s limit: {"loaded": True}, or the
    documented error's path and reason. Anything else (a traceback, a hang) fails the test."""
    script = textwrap.dedent(
        f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))
        from mnistpad.data import DataError, load_dataset
        from mnistpad.weights import WeightFileError, load_weights
        try:
            {call}
        except (DataError, WeightFileError) as error:
            print(json.dumps({{"path": str(error.path), "reason": error.reason}}))
        else:
            print(json.dumps({{"loaded": True}}))
        """
    )
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=20, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{call} did not return within 20 s")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def link_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def sparse_6_gb(path: Path) -> None:
    path.touch()
    os.truncate(path, 6_000_000_000)  # takes no space on disk


HOSTILE = {
    "folder": (Path.mkdir, "is a folder, not a file"),
    "named pipe": (fifo, "is a named pipe (FIFO), not a regular file"),
    "link to /dev/zero": (link_to_dev_zero, "is a device, not a regular file"),
    "6 GB sparse file": (sparse_6_gb, "is 6,000,000,000 bytes, over the limit of "),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize(
    "name",
    ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte", "classes.txt", "SHA256SUMS"],
)
def test_a_data_file_that_is_no_regular_file_is_named_and_never_read(tmp_path, kind, name):
    make, reason = HOSTILE[kind]
    folder = small_folder(tmp_path / "d")
    (folder / name).unlink(missing_ok=True)
    (folder / f"{name}.gz").unlink(missing_ok=True)  # the raw name is then the only candidate
    make(folder / name)
    outcome = in_child(f"load_dataset({str(folder)!r})")
    assert outcome["path"] == str(folder / name) and outcome["reason"].startswith(reason)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_weight_file_that_is_no_regular_file_is_refused_unread(tmp_path, kind):
    make, reason = HOSTILE[kind]
    make(tmp_path / "w.npz")
    outcome = in_child(f"load_weights({str(tmp_path / 'w.npz')!r})")
    assert outcome["path"] == str(tmp_path / "w.npz") and outcome["reason"].startswith(reason)


def test_a_regular_file_is_read_before_a_pipe_of_the_other_name(tmp_path):
    folder = small_folder(tmp_path / "d")
    os.mkfifo(folder / "train-images-idx3-ubyte")  # beside the regular .gz, which is read
    assert in_child(f"load_dataset({str(folder)!r})") == {"loaded": True}


def gzip_of_zeros_after(header: bytes, n_zeros: int) -> bytes:
    """A valid gzip of `header` then `n_zeros` zero bytes, made in well under a second: one
    deflated megabyte of zeros, independent of what precedes it, repeated."""
    chunk = bytes(1 << 20)
    repeats, rest = divmod(n_zeros, len(chunk))
    start, block, end = (zlib.compressobj(9, zlib.DEFLATED, -15) for _ in range(3))
    crc = zlib.crc32(header)
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    return b"".join(
        [
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff",  # gzip header: deflate, no name
            start.compress(header) + start.flush(zlib.Z_FULL_FLUSH),
            (block.compress(chunk) + block.flush(zlib.Z_FULL_FLUSH)) * repeats,
            end.compress(bytes(rest)) + end.flush(),
            struct.pack("<II", zlib.crc32(bytes(rest), crc), (len(header) + n_zeros) % 2**32),
        ]
    )


def test_a_gzip_bomb_is_refused_by_its_header_before_it_is_unpacked(tmp_path):
    folder = small_folder(tmp_path / "d")
    assert in_child(f"load_dataset({str(folder)!r})") == {"loaded": True}  # the cap is generous
    # 1.07 GB of valid images in a 1 MB file, with as many labels: unpacked and converted to
    # float32, 5 GB. Under the old limit of 1 GiB of pixels per file, this was read.
    count = 1_369_000
    bomb = gzip_of_zeros_after(struct.pack(">IIII", 0x0803, count, 28, 28), count * 784)
    assert len(bomb) < 1_100_000
    (folder / "train-images-idx3-ubyte.gz").write_bytes(bomb)
    labels = gzip_of_zeros_after(struct.pack(">II", 0x0801, count), count)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(labels)
    outcome = in_child(f"load_dataset({str(folder)!r})")
    assert outcome["path"] == str(folder / "train-images-idx3-ubyte.gz")
    assert outcome["reason"] == (
        "header declares 1,369,000 images; mnistpad reads at most 250,000 per file"
    )


def test_the_limit_on_images_per_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_IMAGES", 10_050)
    folder = small_folder(tmp_path / "d", n_train=10_050)
    assert len(load_dataset(folder).train_labels) == 50  # exactly at the limit
    for name, array, noun in (
        ("train-images-idx3-ubyte.gz", np.zeros((10_051, 28, 28)), "images"),
        ("train-labels-idx1-ubyte.gz", np.zeros(10_051), "labels"),
    ):
        write_idx(folder / name, array)
        with pytest.raises(DataError) as caught:
            read_idx(folder / name)
        assert caught.value.reason == (
            f"header declares 10,051 {noun}; mnistpad reads at most 10,050 per file"
        )
    huge_images = folder / "huge-images-idx3-ubyte"
    huge_images.write_bytes(struct.pack(">IIII", 0x0803, 10, 100_000, 100_000))
    with pytest.raises(DataError, match=r"over the limit of 196,000,000 bytes of data"):
        read_idx(huge_images)


def weight_file(path: Path, compression: int = zipfile.ZIP_STORED, change=None) -> Path:
    """A valid weight file whose members are compressed with `compression`; `change(info)` may
    alter W.npy's entry in the zip's directory, which zipfile trusts when reading it."""
    model = LinearModel.glorot(np.random.default_rng(0))
    meta = build_meta(DIGITS) | {"created": "2026-12-06T12:00:00+00:00"}  # same in every copy
    good = save_weights(path.with_name("good.npz"), model, meta)
    with zipfile.ZipFile(good) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(info, content)
            if name == "W.npy" and change:
                change(info)  # written into the directory when the zip is closed
    return path


def damage_w(path: Path) -> None:
    """Overwrite the start of W.npy's compressed data (for deflate: a block of a reserved type)."""
    content = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("W.npy")
    start = info.header_offset + 30 + len(info.filename)
    content[start : start + 16] = b"\xff" * 16
    path.write_bytes(bytes(content))


def encrypted(info: zipfile.ZipInfo) -> None:
    info.flag_bits |= 0x1


def method_99(info: zipfile.ZipInfo) -> None:
    info.compress_type = 99


NOT_AS_NUMPY_WRITES = "; mnistpad reads .npz files stored or deflated, as numpy writes them"
ODD_ZIPS = {
    "deflated, damaged": (
        zipfile.ZIP_DEFLATED,
        None,
        "not a valid .npz weight file (Error -3 while decompressing data: invalid block type)",
    ),
    # every member is compressed so; meta is read first (it says what the other members are)
    "bzip2, damaged": (
        zipfile.ZIP_BZIP2,
        None,
        "meta is compressed with bzip2" + NOT_AS_NUMPY_WRITES,
    ),
    "LZMA, damaged": (zipfile.ZIP_LZMA, None, "meta is compressed with LZMA" + NOT_AS_NUMPY_WRITES),
    "unknown method": (
        zipfile.ZIP_STORED,
        method_99,
        "W is compressed with method 99" + NOT_AS_NUMPY_WRITES,
    ),
    "encrypted": (
        zipfile.ZIP_STORED,
        encrypted,
        "W is encrypted; mnistpad reads only plain .npz files",
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_ZIPS))
def test_odd_or_damaged_zip_members_give_one_clear_error(tmp_path, case):
    compression, change, reason = ODD_ZIPS[case]
    path = weight_file(tmp_path / "w.npz", compression, change)
    if case.endswith("damaged"):
        damage_w(path)
    with pytest.raises(WeightFileError) as caught:
        load_weights(path)
    assert caught.value.path == path and caught.value.reason == reason


def test_deflated_members_as_savez_compressed_writes_them_are_read(tmp_path):
    good = load_weights(weight_file(tmp_path / "w.npz"))
    deflated = load_weights(weight_file(tmp_path / "d.npz", zipfile.ZIP_DEFLATED))
    assert np.array_equal(good.model.W, deflated.model.W) and good.meta == deflated.meta


def test_a_member_is_unpacked_only_as_far_as_its_declared_size(tmp_path):
    """A deflated W.npy whose 2 GiB of data follow the 31 KB it declares: only those are read."""
    path = weight_file(tmp_path / "w.npz")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    w_npy = members["W.npy"]
    zeros = bytes(1 << 20)
    start, block = zlib.compressobj(9, zlib.DEFLATED, -15), zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = b"".join(
        [
            start.compress(w_npy) + start.flush(zlib.Z_FULL_FLUSH),
            (block.compress(zeros) + block.flush(zlib.Z_FULL_FLUSH)) * 2048,
            zlib.compressobj(9, zlib.DEFLATED, -15).flush(),
        ]
    )
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            archive.writestr(info, stream if name == "W.npy" else content)
            if name == "W.npy":  # the directory: deflated, of W.npy's size and checksum
                info.compress_type = zipfile.ZIP_DEFLATED
                info.file_size, info.CRC = len(w_npy), zlib.crc32(w_npy)
    assert path.stat().st_size < 3_000_000
    assert in_child(f"load_weights({str(path)!r})") == {"loaded": True}
