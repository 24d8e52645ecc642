"""The cache of decoded and deskewed data: the same arrays as a fresh decode, keyed by the files
read, damaged or hostile entries never used nor waited on, and the training child mapping the
same files. Every test has a cache folder of its own (conftest turns the person's cache off)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_data import small_folder, write_idx
from timeouts import within

from mnistpad import cache as store
from mnistpad import data, files, train_process
from mnistpad.cache import CACHE_ENV, cache_folder, entry_name
from mnistpad.data import (
    ARRAYS,
    CachedData,
    DataError,
    cached_data,
    deskewed,
    load_dataset,
    reopen,
)
from mnistpad.train import Finished, model_inputs, preset, train
from mnistpad.train_process import TrainingProcess, TrainingProcessError

N_TRAIN = 10_300  # 300 training images after the 10,000 of dev: a run takes a fraction of a second


@pytest.fixture
def source(tmp_path) -> Path:
    return small_folder(tmp_path / "d", n_train=N_TRAIN)


def fresh(folder: Path | None = None):
    """The dataset decoded from its files, the cache off."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, "")
        return load_dataset(folder)


def assert_same(ours, reference) -> None:
    for name in ARRAYS:
        mine, theirs = getattr(ours, name), getattr(reference, name)
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, name
        assert mine.tobytes() == theirs.tobytes(), name
    assert ours.classes == reference.classes and ours.folder == reference.folder


def entry_file(cache: Path, suffix: str, deskewed_entry: bool = False) -> Path:
    """A file of the one entry (of the decoded or the deskewed images) in `cache`."""
    for manifest in cache.glob("*.json"):
        if ("deskew" in json.loads(manifest.read_text())["key"]) == deskewed_entry:
            return manifest.with_suffix(suffix)
    raise AssertionError("no such entry")


def test_a_cache_hit_gives_exactly_the_arrays_of_a_fresh_decode(cache, source):
    reference = fresh(source)
    first = load_dataset(source)  # decoded, written, and mapped back
    second = load_dataset(source)  # from the cache
    for dataset in (first, second):
        assert_same(dataset, reference)
        assert cached_data(dataset) is not None
        assert not any(getattr(dataset, name).flags.writeable for name in ARRAYS)
    assert len(list(cache.glob("*.json"))) == 1 and len(list(cache.glob("*.npy"))) == 6
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)


def test_bundled_mnist_through_the_cache_is_a_fresh_decode(mnist):
    assert cached_data(mnist) is not None  # conftest reads it through a cache of the session's
    assert_same(mnist, fresh())


def test_the_cache_is_not_read_when_a_source_file_changed(cache, source):
    load_dataset(source)
    write_idx(source / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 7)
    changed = load_dataset(source)
    assert changed.test_labels.tolist() == (np.arange(20) % 7).tolist()
    assert_same(changed, fresh(source))
    assert len(list(cache.glob("*.json"))) == 2  # a second entry; the first stays valid


def test_a_file_failing_its_checksum_is_refused_though_the_cache_has_its_entry(cache, source):
    sums = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in source.iterdir()]
    (source / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    load_dataset(source)
    path = source / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8] + bytes(8))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset(source)


def test_data_that_fails_its_checks_is_never_cached(cache, source):
    write_idx(source / "t10k-labels-idx1-ubyte.gz", np.zeros(19))
    with pytest.raises(DataError, match="19 labels"):
        load_dataset(source)
    assert not any(cache.iterdir())


def test_a_copy_with_other_arrays_is_not_taken_for_the_cache_entry(cache, source):
    dataset = load_dataset(source)
    assert cached_data(dataset) is not None
    assert cached_data(replace(dataset, train_images=dataset.train_images * 0)) is None
    assert cached_data(copy.deepcopy(dataset)) is None  # its arrays can be changed
    assert cached_data(fresh(source)) is None


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def other_shape(path: Path) -> None:
    np.save(path, np.zeros((19, 784), np.float32))


def other_dtype(path: Path) -> None:
    np.save(path, np.load(path).astype(np.float64))


def other_data_same_shape(path: Path) -> None:  # a foreign file: only the SHA-256 tells
    np.save(path, np.load(path)[::-1])


def not_npy(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def link_to_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def link_outside(path: Path) -> None:
    """A link to a valid copy of the same file outside the cache folder: never followed."""
    outside = path.parent.parent / "outside.npy"
    path.rename(outside)
    path.symlink_to(outside)


def sparse_6_gb(path: Path) -> None:
    os.truncate(path, 6_000_000_000)


def folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE = {
    "truncated": truncate,
    "another shape": other_shape,
    "another dtype": other_dtype,
    "other data of the same shape": other_data_same_shape,
    "not a .npy file": not_npy,
    "named pipe": fifo,
    "link to /dev/zero": link_to_dev_zero,
    "link outside the cache": link_outside,
    "6 GB sparse file": sparse_6_gb,
    "folder": folder,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("suffix", [".test_images.npy", ".train_labels.npy"])
def test_a_damaged_entry_is_decoded_again_never_used_nor_waited_on(cache, source, damage, suffix):
    reference = fresh(source)
    load_dataset(source)
    path = entry_file(cache, suffix)
    DAMAGE[damage](path)
    outside = cache.parent / "outside.npy"
    before = (outside.read_bytes(), outside.stat().st_ino) if outside.exists() else None

    dataset = within(20, lambda: load_dataset(source))
    assert_same(dataset, reference)
    if damage == "folder":  # cannot be replaced: the data is used from memory
        assert cached_data(dataset) is None
        return
    assert cached_data(dataset) is not None
    assert path.is_file() and not path.is_symlink()  # written again, in place of the link
    if before is not None:  # the link's target was not replaced through the link
        assert (outside.read_bytes(), outside.stat().st_ino) == before
    assert_same(within(20, lambda: load_dataset(source)), reference)  # and read from there


def deep_json(path: Path) -> None:
    path.write_text("[" * 3000 + "]" * 3000)


def manifest_of_another_entry(path: Path) -> None:
    manifest = json.loads(path.read_text())
    manifest["key"] = manifest["key"].replace("0", "1")
    path.write_text(json.dumps(manifest))


def a_count_too_large(path: Path) -> None:
    manifest = json.loads(path.read_text())
    manifest["arrays"]["train_labels"]["shape"] = [10**12]
    path.write_text(json.dumps(manifest))


MANIFEST_DAMAGE = {
    "not JSON": lambda path: path.write_bytes(b"\xff\x00 not json"),
    "JSON nested too deep": deep_json,
    "the manifest of another entry": manifest_of_another_entry,
    "a count too large": a_count_too_large,
    "named pipe": fifo,
    "link to /dev/zero": link_to_dev_zero,
    "huge": sparse_6_gb,
}


@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGE))
def test_a_damaged_manifest_is_a_miss(cache, source, damage):
    reference = fresh(source)
    load_dataset(source)
    MANIFEST_DAMAGE[damage](entry_file(cache, ".json"))
    dataset = within(20, lambda: load_dataset(source))
    assert_same(dataset, reference)
    assert cached_data(dataset) is not None


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch, source):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(CACHE_ENV, "")
    assert cache_folder() is None
    dataset = load_dataset(source)
    assert cached_data(dataset) is None and dataset.train_images.flags.writeable
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_the_default_folder_is_the_xdg_cache_home_else_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "mnistpad"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # as the XDG specification says
    assert cache_folder() == tmp_path / "home" / ".cache" / "mnistpad"


def full_disk(monkeypatch, cache: Path) -> None:
    real = files.write_atomically

    def fail_after_some(path, write):
        if str(path).endswith(".test_images.npy"):
            raise OSError(28, "No space left on device")
        return real(path, write)

    monkeypatch.setattr(files, "write_atomically", fail_after_some)


def file_in_the_way(monkeypatch, cache: Path) -> None:
    cache.mkdir()
    (cache / "file").write_text("a file, not a folder")
    monkeypatch.setenv(CACHE_ENV, str(cache / "file" / "cache"))


def writable_by_all(monkeypatch, cache: Path) -> None:
    cache.mkdir()
    cache.chmod(0o777)


def read_only(monkeypatch, cache: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write in a read-only folder")
    cache.mkdir(mode=0o500)


@pytest.mark.parametrize("trouble", [full_disk, file_in_the_way, writable_by_all, read_only])
def test_a_cache_folder_that_cannot_be_used_means_no_cache(cache, source, monkeypatch, trouble):
    trouble(monkeypatch, cache)
    for _ in range(2):
        dataset = load_dataset(source)
        assert_same(dataset, fresh(source))
        assert cached_data(dataset) is None
    if trouble is writable_by_all:
        assert not any(cache.iterdir())  # not even tried: others could have planted entries


def test_the_deskewed_copy_is_cached_and_exactly_what_model_inputs_makes(
    cache, source, monkeypatch
):
    reference = model_inputs(fresh(source), deskewed=True)
    original = load_dataset(source)
    made = deskewed(original)  # deskewed now, written, mapped back
    assert cached_data(made) is not None and made.deskewed
    monkeypatch.setattr(data.preprocess, "deskew", lambda images: pytest.fail("deskewed again"))
    again = deskewed(load_dataset(source))
    for dataset in (made, again):
        assert_same(dataset, reference)
        assert dataset.deskewed and cached_data(dataset).deskewed
    assert deskewed(again) is again


def test_another_deskew_version_misses_the_cache(cache, source, monkeypatch):
    deskewed(load_dataset(source))
    calls = []
    real = data.preprocess.deskew
    monkeypatch.setattr(data.preprocess, "deskew", lambda images: calls.append(1) or real(images))
    monkeypatch.setattr(data, "_deskew_version", lambda: "deskew changed")
    assert_same(deskewed(load_dataset(source)), model_inputs(fresh(source), True))
    assert len(calls) == 3  # train, dev and test deskewed again
    assert len(list(cache.glob("*.json"))) == 3


def test_data_in_memory_is_deskewed_in_memory(tiny):
    made = deskewed(tiny)
    assert cached_data(made) is None
    assert_same(made, model_inputs(tiny, True))


def test_least_recently_used_entries_are_removed_beyond_the_limit(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_ENTRIES", 2)
    folders = [small_folder(tmp_path / f"d{index}", n_train=10_010 + index) for index in range(3)]
    names = [entry_name(cached_data(load_dataset(folder)).key) for folder in folders[:2]]
    for path in cache.glob(f"{names[0]}.*"):  # written long ago,
        os.utime(path, (1, 1))
    load_dataset(folders[0])  # but used again: the most recent
    for path in cache.glob(f"{names[1]}.*"):  # the other one written and used long ago
        os.utime(path, (1, 1))
    stale = cache / f".{names[0]}.train_images.npy.0a1b2c3d.tmp"
    stale.write_bytes(b"left behind by a writer that was killed")
    os.utime(stale, (1, 1))
    load_dataset(folders[2])
    remaining = {path.name for path in cache.iterdir()}
    assert len(remaining) == 14 and not stale.exists()
    assert f"{names[0]}.json" in remaining and f"{names[1]}.json" not in remaining


# -- the training child ------------------------------------------------------------------------


@pytest.fixture
def handed_over(monkeypatch) -> list:
    """What each TrainingProcess in the test handed its child as the dataset."""
    seen = []
    real = pickle.dump

    def spy(work, stream, protocol=None):
        if isinstance(work, tuple) and len(work) == 3:
            seen.append(work[0])
        return real(work, stream, protocol=protocol)

    monkeypatch.setattr(train_process.pickle, "dump", spy)
    return seen


def assert_trains_as_in_process(dataset, config) -> None:
    remote = list(TrainingProcess(dataset, config).events())
    local = list(train(dataset, config))
    assert [type(e) for e in remote] == [type(e) for e in local]
    assert isinstance(remote[-1], Finished)
    assert remote[-1].model.W.tobytes() == local[-1].model.W.tobytes()
    assert remote[-1].model.b.tobytes() == local[-1].model.b.tobytes()
    for theirs, ours in zip(remote[-1].history, local[-1].history, strict=True):
        assert theirs.dev_loss == pytest.approx(ours.dev_loss, rel=1e-6)  # one BLAS thread there
        same = {"seconds": 0, "dev_loss": 0}
        assert vars(theirs) | same == vars(ours) | same


@pytest.mark.parametrize("config", [preset("optimized", epochs=2), preset("deskew", epochs=2)])
def test_the_child_maps_the_cached_files_and_trains_exactly_as_in_process(
    cache, source, handed_over, config
):
    dataset = load_dataset(source)
    if config.deskew:
        dataset = deskewed(dataset)
    assert_trains_as_in_process(dataset, config)
    assert handed_over == [cached_data(dataset)]  # a name, not 2 MB of arrays
    assert len(pickle.dumps(handed_over[0])) < 2000


def test_data_in_memory_is_still_handed_over_whole(tiny, handed_over):
    assert_trains_as_in_process(tiny, preset("fast", epochs=1))
    assert handed_over == [tiny]


def test_a_child_whose_entry_vanished_reads_the_files_again(cache, source, handed_over):
    dataset = load_dataset(source)
    for path in cache.iterdir():
        path.unlink()
    assert_trains_as_in_process(dataset, preset("fast", epochs=1))
    assert isinstance(handed_over[0], CachedData)


def test_a_child_whose_entry_and_files_changed_says_so(cache, source):
    dataset = load_dataset(source)
    for path in cache.iterdir():
        path.unlink()
    write_idx(source / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 7)
    with pytest.raises(TrainingProcessError, match="changed"):
        list(TrainingProcess(dataset, preset("fast", epochs=1)).events())
    with pytest.raises(DataError, match="changed"):
        reopen(cached_data(dataset))
