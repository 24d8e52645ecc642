"""The data cache under attack: rows rewritten in place, entries and folders another user can
write, links planted in /tmp, foreign files beside the entries, gzip bombs within every per-file
limit, and a process whose mapped entry is rewritten. Each test performs the attack on real files
and then checks what the person depends on: the data used is exactly the files' data, nothing of
theirs is written or deleted, and the window keeps painting while a large folder is read."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from test_cache import N_TRAIN, assert_same, entry_file, fresh
from test_data import small_folder
from test_hostile_data import ROOT, gzip_of_zeros_after, in_child

from mnistpad import cache as store
from mnistpad import data
from mnistpad.cache import CACHE_ENV, cache_folder, entry_name
from mnistpad.data import DataError, cached_data, load_dataset
from mnistpad.gui import session as session_module

ROW = 28 * 28 * 4  # bytes of one float32 image
OTHER_USER = 54321  # a uid no one has here: files "another user" made (chown needs root)
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making another user's files needs root"
)


@pytest.fixture
def source(tmp_path) -> Path:
    return small_folder(tmp_path / "d", n_train=N_TRAIN)


def rewrite_rows(path: Path, rows: list[int]) -> None:
    """Overwrite these rows of a cached .npy file in place (same size, same inode), as the attack
    on the sampling fingerprint did: other pixels, the file otherwise untouched."""
    offset = path.stat().st_size - np.load(path, mmap_mode="r").nbytes
    with open(path, "r+b") as stream:
        for row in rows:
            stream.seek(offset + row * ROW)
            stream.write(np.full(784, 0.5, np.float32).tobytes())


# -- security 1: the whole content is checked -----------------------------------------------------


@pytest.mark.parametrize("rows", [[1], [4_999], [1, 2, 3, 4, 5, 6, 7, 9_998]])
def test_rows_rewritten_in_place_are_never_used(cache, source, rows):
    """The old fingerprint hashed every 8th dev row (10,000 rows, 31 MB): rows 1-7 were free."""
    reference = fresh(source)
    load_dataset(source)
    rewrite_rows(entry_file(cache, ".dev_images.npy"), rows)
    again = load_dataset(source)
    assert_same(again, reference)
    assert cached_data(again) is not None  # written again, whole
    assert_same(load_dataset(source), reference)


def test_rows_rewritten_after_the_entry_was_checked_and_settled_are_never_used(
    cache, source, monkeypatch
):
    """Once hashed whole and settled, an unchanged file is not hashed again: its change time,
    which every write moves, says whether it is unchanged."""
    monkeypatch.setattr(store, "SETTLED_NS", 0)  # settled at once (else 2 s later)
    reference = fresh(source)
    load_dataset(source)
    manifest = entry_file(cache, ".json")
    recorded = json.loads(manifest.read_text())["checked"]
    assert set(recorded) == set(data.ARRAYS)  # every file hashed whole, its identity recorded
    path = entry_file(cache, ".dev_images.npy")
    while os.stat(path).st_ctime_ns == recorded["dev_images"][-1]:  # within the clock's tick
        rewrite_rows(path, [3])
    assert_same(load_dataset(source), reference)


# -- security 2: no one else may write the cache ---------------------------------------------------


def group_writable(folder: Path) -> None:
    folder.mkdir()
    folder.chmod(0o770)


def under_a_folder_all_may_write(folder: Path) -> None:
    folder.parent.mkdir()
    folder.parent.chmod(0o777)  # not sticky: anyone may rename the cache folder and put a link


def owned_by_another_user(folder: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making another user's folder needs root")
    folder.mkdir(mode=0o700)
    os.chown(folder, OTHER_USER, -1)


@pytest.mark.parametrize(
    "make", [group_writable, under_a_folder_all_may_write, owned_by_another_user]
)
def test_a_cache_folder_someone_else_could_write_is_not_used(tmp_path, monkeypatch, make):
    folder = tmp_path / "shared" / "cache"
    if make is not under_a_folder_all_may_write:
        folder.parent.mkdir()
    make(folder)
    monkeypatch.setenv(CACHE_ENV, str(folder))
    source_folder = small_folder(tmp_path / "d", n_train=N_TRAIN)
    assert cache_folder() is None
    dataset = load_dataset(source_folder)
    assert cached_data(dataset) is None and dataset.train_images.flags.writeable
    assert not folder.exists() or not any(folder.iterdir())  # nothing written there


def forge(cache: Path, array: str) -> None:
    """Replace an entry's array by other data of its shape, with a manifest that names it: what
    anyone who can write the folder can do (`cp` and `mv`), a full hash notwithstanding."""
    path = entry_file(cache, f".{array}.npy")
    forged = np.roll(np.load(path), 1, axis=0)  # each forgery moves the rows on by one
    planted = path.with_name("planted.npy")
    np.save(planted, forged)
    planted.replace(path)
    manifest_path = entry_file(cache, ".json")
    manifest = json.loads(manifest_path.read_text())
    manifest["arrays"][array]["sha256"] = hashlib.sha256(forged).hexdigest()
    manifest.pop("checked", None)
    manifest_path.write_text(json.dumps(manifest))


@as_root
@pytest.mark.parametrize("planted", ["the array", "the manifest"])
def test_an_entry_another_user_swapped_is_never_used(cache, source, planted):
    reference = fresh(source)
    load_dataset(source)
    forge(cache, "test_images")
    forged = load_dataset(source)  # the person's own files pass every check of their content
    assert forged.test_images.tobytes() != reference.test_images.tobytes()
    del forged
    forge(cache, "test_images")
    suffix = ".test_images.npy" if planted == "the array" else ".json"
    os.chown(entry_file(cache, suffix), OTHER_USER, -1)  # what ownership alone tells
    again = load_dataset(source)
    assert_same(again, reference)
    for path in cache.iterdir():  # the entry written again: no one else may write it
        info = path.stat()
        assert info.st_uid == os.geteuid() and info.st_mode & 0o022 == 0, path.name


def test_an_entry_file_the_group_may_write_is_never_used(cache, source):
    """Owned by the person, but a member of the group could have written it in place."""
    reference = fresh(source)
    load_dataset(source)
    forge(cache, "dev_images")
    entry_file(cache, ".dev_images.npy").chmod(0o664)
    entry_file(cache, ".json").chmod(0o664)
    assert_same(load_dataset(source), reference)
    assert entry_file(cache, ".dev_images.npy").stat().st_mode & 0o777 == 0o600


# -- security 3: links planted in a folder shared with all -----------------------------------------


def documents(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """The victim's own folder, with files of theirs (one named as a cache file would be)."""
    folder = tmp_path / "Documents"
    folder.mkdir()
    names = ["report.pdf", f"{'ab' * 32}.pdf", f"{'cd' * 32}.json"]
    for name in names:
        (folder / name).write_bytes(name.encode() * 100)
    return folder, {name: (folder / name).read_bytes() for name in names}


@as_root
@pytest.mark.parametrize("cache_name", ["mnistpad-cache", "mnistpad-cache/inside"])
def test_a_link_another_user_planted_in_tmp_is_not_followed(tmp_path, monkeypatch, cache_name):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp
    victim, before = documents(tmp_path)
    link = shared / "mnistpad-cache"
    link.symlink_to(victim)
    os.chown(link, OTHER_USER, -1, follow_symlinks=False)
    monkeypatch.setenv(CACHE_ENV, str(shared / cache_name))
    assert cache_folder() is None
    for _ in range(2):
        dataset = load_dataset(small_folder(tmp_path / "d", n_train=N_TRAIN))
        assert cached_data(dataset) is None
    assert {path.name: path.read_bytes() for path in victim.iterdir()} == before


def test_the_persons_own_link_in_tmp_is_followed(tmp_path, monkeypatch):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    target = tmp_path / "elsewhere"
    (shared / "mine").symlink_to(target)
    monkeypatch.setenv(CACHE_ENV, str(shared / "mine" / "cache"))
    assert cache_folder() == target / "cache"
    assert cached_data(load_dataset(small_folder(tmp_path / "d", n_train=N_TRAIN))) is not None
    assert len(list((target / "cache").glob("*.json"))) == 1


# -- defect 8: the clean-up removes only what the cache wrote -------------------------------------


def test_the_clean_up_removes_only_what_the_cache_wrote(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_ENTRIES", 1)
    cache.mkdir(mode=0o700)
    names = [f"{index:064x}.pdf" for index in range(8)]
    names += [f"{'e' * 64}.npy", f"{'f' * 64}.train_images.npy.bak", f".{'a' * 64}.json.tmp"]
    names += [f"{'b' * 64}.json", f"{'b' * 64}.train_images.npy"]  # a JSON of someone else's
    for name in names:
        (cache / name).write_bytes(b"the person's own " + name.encode())
        os.utime(cache / name, (1, 1))  # long ago: the first to go, were they entries
    folders = [small_folder(tmp_path / f"d{index}", n_train=10_010 + index) for index in range(2)]
    entries = [entry_name(cached_data(load_dataset(folder)).key) for folder in folders]
    remaining = {path.name for path in cache.iterdir()}
    assert remaining >= set(names)
    assert f"{entries[1]}.json" in remaining and f"{entries[0]}.json" not in remaining
    for name in names:
        assert (cache / name).read_bytes() == b"the person's own " + name.encode()


# -- defect 6: what a small folder can cost --------------------------------------------------------


def four_bombs(folder: Path, train: int, test: int) -> Path:
    """Images and labels of zeros, in gzip files of a few hundred kilobytes."""
    folder.mkdir()
    for prefix, count in (("train", train), ("t10k", test)):
        images = gzip_of_zeros_after(struct.pack(">IIII", 0x0803, count, 28, 28), count * 784)
        labels = gzip_of_zeros_after(struct.pack(">II", 0x0801, count), count)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(images)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(labels)
    return folder


def test_four_gzip_bombs_within_the_per_file_limit_are_refused_by_their_headers(tmp_path):
    """250,000 images in each file, the per-file limit: 4.6 GB of memory and 3 GB of cache
    before; now refused from the headers, in a child that could not unpack them (1.5 GB)."""
    folder = four_bombs(tmp_path / "bombs", 250_000, 250_000)
    assert sum(path.stat().st_size for path in folder.iterdir()) < 1_000_000
    outcome = in_child(f"load_dataset({str(folder)!r})")
    assert outcome == {
        "path": str(folder),
        "reason": "its training and test files declare 500,000 images; mnistpad reads at most"
        " 300,000 in all",
    }


def test_the_budget_counts_the_training_and_test_images_together(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_DATASET_IMAGES", 10_070)
    assert len(load_dataset(small_folder(tmp_path / "fits", n_train=10_050)).test_labels) == 20
    with pytest.raises(DataError, match="declare 10,071 images; mnistpad reads at most 10,070"):
        load_dataset(small_folder(tmp_path / "over", n_train=10_050, n_test=21))


def cache_bytes(cache: Path) -> int:
    return sum(path.stat().st_size for path in cache.iterdir())


def test_the_cache_keeps_within_its_byte_budget(cache, tmp_path, monkeypatch):
    entry = 10_073 * (ROW + 1)  # the arrays of one dataset of 10,053 + 20 images, or fewer
    monkeypatch.setattr(store, "MAX_CACHE_BYTES", round(2.5 * entry))
    for index in range(4):
        dataset = load_dataset(small_folder(tmp_path / f"d{index}", n_train=10_050 + index))
        assert cached_data(dataset) is not None
        assert cache_bytes(cache) <= 2.5 * entry + 2 * 8192  # headers and manifests
    assert len(list(cache.glob("*.json"))) == 2
    before = sorted(cache.iterdir())
    monkeypatch.setattr(store, "MAX_CACHE_BYTES", entry - 1)  # an entry larger than it all
    dataset = load_dataset(small_folder(tmp_path / "large", n_train=10_060))
    assert cached_data(dataset) is None and sorted(cache.iterdir()) == before


@pytest.fixture
def window_ticks(qtbot):
    """Set by a timer of the window's thread, about every 10 ms, while that thread runs."""
    ticked = threading.Event()
    timer = QTimer()
    timer.timeout.connect(ticked.set)
    timer.start(10)
    yield ticked
    timer.stop()


def only_while_the_window_runs(function, ticked: threading.Event):
    """`function`, which fails unless it is called outside the window's thread and that thread
    keeps running its timers meanwhile (as it paints)."""

    def call(*args):
        assert threading.current_thread() is not threading.main_thread()
        ticked.clear()
        assert ticked.wait(20), "the window's thread stood still while the data was read"
        return function(*args)

    return call


def test_a_data_folder_is_read_while_the_window_keeps_painting(
    window, tmp_path, monkeypatch, window_ticks
):
    reading = only_while_the_window_runs(session_module.load_dataset, window_ticks)
    monkeypatch.setattr(session_module, "load_dataset", reading)
    assert window.files.open_dataset(small_folder(tmp_path / "d"))
    assert len(window.session.dataset.train_labels) == 50
    window.session.dataset, window.session.data_folder = None, tmp_path / "empty"
    (tmp_path / "empty").mkdir()
    window.tabs.setCurrentWidget(window.errors_page)  # reads the data in use, in the thread too
    assert "Cannot read the test set" in window.errors.summary.text()


def test_the_errors_tab_deskews_the_test_set_while_the_window_keeps_painting(
    window, tiny, monkeypatch, window_ticks
):
    deskewing = only_while_the_window_runs(session_module.deskew, window_ticks)
    monkeypatch.setattr(session_module, "deskew", deskewing)
    window.session.dataset = tiny  # in memory, not cached: deskewed here (the default weights)
    assert window.session.deskews
    window.tabs.setCurrentWidget(window.errors_page)
    assert window.errors.matrix.rowCount() == 10
    assert window.errors.probabilities.shape == (len(tiny.test_labels), 10)


# -- defect 16: a mapped entry is never cut short by mnistpad --------------------------------------


def test_rewriting_an_entry_leaves_a_process_that_maps_it_running(cache, source):
    """A file cut short while mapped ends the process ("Bus error"); mnistpad replaces its files
    whole, so a process that maps an entry outlives its rewriting. In a child: a Bus error there
    fails this test instead of ending the test run."""
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from mnistpad.data import load_dataset
        mapped = load_dataset({str(source)!r})
        for path in Path({str(cache)!r}).glob("*.json"):
            path.write_text("damaged: the entry is written again")
        again = load_dataset({str(source)!r})
        print(sum(float(getattr(mapped, n).sum()) for n in ("train_images", "test_images")))
        """
    )
    env = os.environ | {CACHE_ENV: str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    reference = fresh(source)
    assert float(done.stdout) == pytest.approx(
        float(reference.train_images.sum()) + float(reference.test_images.sum())
    )
