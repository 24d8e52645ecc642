"""Shared fixtures: the real bundled MNIST (loaded once) and small synthetic datasets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mnistpad.blas import one_blas_thread

# One BLAS thread, as the `mnistpad` command and its training child have (blas.py), set before
# numpy loads: the tests then compute what the app computes. (With two, OpenBLAS's kernels on some
# processors sum in another order, and a run in the child differed from one in the test's own
# process in the last bits of the weights.)
one_blas_thread()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mnistpad.cache import CACHE_ENV  # noqa: E402
from mnistpad.data import DIGITS, Dataset, load_dataset  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the tests never need a display
# The person's own cache of decoded data (data.py) is never touched: it is off unless a test points
# it at a folder of its own (test_cache.py), and `mnist` has one for the session.
os.environ[CACHE_ENV] = ""

pytest_plugins = ["gui_support"]  # the window fixtures, shared by the GUI test modules


@pytest.fixture(autouse=True)
def user_data(tmp_path_factory, monkeypatch) -> Path:
    """Each test's own user data folder (QStandardPaths reads XDG_DATA_HOME when asked): the runs
    a window keeps and the drawings it labels never reach the person's, nor another test."""
    folder = tmp_path_factory.mktemp("user-data")  # beside tmp_path: tests list theirs
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


SHARED_CACHE = "data-cache"  # beside the pytest-xdist workers' own temporary folders


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory, request) -> Iterator[Path]:
    """The session's data cache folder (the `mnist` fixture's; the commands test_cli.py runs read
    the bundled MNIST through it too, as a person's do through theirs). The pytest-xdist workers
    share one, as two windows share a person's: MNIST is decoded and deskewed, and the unsure
    rule's parts made, once for the run rather than once in each worker."""
    if not hasattr(request.config, "workerinput"):
        folder = tmp_path_factory.mktemp(SHARED_CACHE)
        yield folder
        shutil.rmtree(folder)  # 440 MB, not to be kept with pytest's last temporary folders
        return
    folder = tmp_path_factory.getbasetemp().parent / SHARED_CACHE  # removed by the controller
    folder.mkdir(exist_ok=True)
    yield folder


def pytest_sessionfinish(session) -> None:
    """The controller of pytest-xdist's workers removes the data cache they shared (their
    temporary folders are in its own, as pytest-xdist makes them)."""
    if hasattr(session.config, "workerinput"):
        return
    shared = session.config._tmp_path_factory.getbasetemp() / SHARED_CACHE
    if shared.is_dir():
        shutil.rmtree(shared)
    shared.with_suffix(".lock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def mnist(data_cache) -> Dataset:
    """The bundled MNIST as the app reads it: through the data cache, memory-mapped, read-only
    (its deskewed copy, made by the first run that deskews, goes into the same folder). One
    worker decodes it while the other waits for its entry (a lock beside the folder)."""
    with pytest.MonkeyPatch.context() as patch, _first_comes_first(data_cache):
        patch.setenv(CACHE_ENV, str(data_cache))
        return load_dataset()


@contextmanager
def _first_comes_first(folder: Path) -> Iterator[None]:
    """An exclusive lock on a file beside `folder` (none where fcntl is not there)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def synthetic_dataset(n_train: int = 600, seed: int = 0, dtype=np.float32) -> Dataset:
    """Ten separable blobs of 784 pixels: small enough for unit tests, learnable in an epoch."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, size=(10, 784))

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = np.clip(centres[labels] + rng.normal(0, 0.3, size=(n, 784)), 0, 1).astype(dtype)
        return images, labels

    train_images, train_labels = sample(n_train)
    dev_images, dev_labels = sample(200)
    test_images, test_labels = sample(200)
    return Dataset(
        train_images,
        train_labels,
        dev_images,
        dev_labels,
        test_images,
        test_labels,
        classes=DIGITS,
        folder=None,
    )


@pytest.fixture
def through_the_data_cache(data_cache, monkeypatch) -> None:
    """Commands read MNIST as a person's do, through a data cache: the session's, where the first
    decode (and deskew, and the unsure rule's parts) is kept for the next command, not made again
    by each (test_cli.py, and every test that runs a command in its own process or calls its
    main)."""
    monkeypatch.setenv(CACHE_ENV, str(data_cache))


@pytest.fixture
def tiny() -> Dataset:
    return synthetic_dataset()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Iterator[Path]:
    """A data cache folder of the test's own (test_cache.py, test_hostile_cache.py)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    yield folder
    if folder.exists():  # 30-100 MB, not to be kept with pytest's last temporary folders
        folder.chmod(0o700)
        shutil.rmtree(folder)
