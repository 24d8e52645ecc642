"""What the window is working with: the weights in use, where they came from, and the data.

The session holds the state and says when it changes; panels listen and show it. It knows no
widget. The data is read when first needed (the window opens before MNIST is decoded), and the
deskewed copies that deskewing models need are made once per dataset and kept. Reading a folder
or deskewing its images takes seconds for the largest datasets (300,000 images), so both are done
in a thread while the window keeps painting (`in_background`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TypeVar

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Signal

from ..data import Dataset, cached_data, load_dataset
from ..data import deskewed as deskewed_dataset
from ..networks import Model
from ..preprocess import deskew
from ..weights import default_weights, input_deskew

DEFAULT_WEIGHTS = default_weights()
T = TypeVar("T")


def in_background(future: Future[T]) -> T:
    """The result of `future` (or its exception, raised here), the window's thread painting and
    running its timers meanwhile; what the person types or clicks waits until it is done, as it
    would for any call that takes time. From any other thread, simply waits."""
    if threading.current_thread() is threading.main_thread() and QCoreApplication.instance():
        while not wait([future], timeout=0.02).done:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    return future.result()


class Session(QObject):
    """The weights in use and the data in use, observed by the window's panels."""

    weights_changed = Signal()  # other weights are in use (or they were saved)
    dataset_changed = Signal()  # other data is in use

    def __init__(self, data_folder: Path | None = None) -> None:
        super().__init__()
        self.model: Model | None = None  # the weights in use
        self.meta: dict = {}  # their file's metadata (classes, training, metrics, history)
        self.source = ""  # where they came from: "bundled default", a path, or a run
        self.name = ""  # what every view calls them: a file's name, a run's title
        self.unsaved = False  # trained here and kept nowhere (not even in the runs list's folder)
        self.data_folder = data_folder  # None: the bundled MNIST
        self.dataset: Dataset | None = None  # read when first needed
        self.deskewed_data: tuple = (None, None)  # (a dataset, the same deskewed), from a run
        self._deskewed_tests: tuple = (None, None)  # (a dataset, its test images deskewed)
        self._data_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistpad-data")
        self._under_way: dict[tuple, Future] = {}  # the data thread's work, by what it makes

    # -- the weights ---------------------------------------------------------------------------

    def use_weights(
        self,
        model: Model,
        meta: dict,
        source: str,
        unsaved: bool,
        name: str = "",
        tell: bool = True,
    ) -> None:
        """Put `model` in use; `name` is what the views call it (by default `source`). Without
        `tell`, the caller emits `weights_changed` when the views are to follow."""
        self.model, self.meta, self.source, self.unsaved = model, meta, source, unsaved
        self.name = name or source
        if tell:
            self.weights_changed.emit()

    def saved_as(self, path: Path) -> None:
        self.source, self.name, self.unsaved = str(path), path.name, False
        self.weights_changed.emit()

    @property
    def classes(self) -> list[str]:
        """The class names of the weights in use (the digits before any are loaded)."""
        return list(self.meta.get("classes", [str(digit) for digit in range(10)]))

    @property
    def deskews(self) -> bool:
        """Whether the weights in use take deskewed inputs."""
        return input_deskew(self.meta)

    def curves_in_use(self) -> tuple[str, dict, list[dict]] | None:
        """(name, settings, per-epoch curves) of the weights in use, if their file has curves."""
        if not self.meta.get("history"):
            return None
        return f"in use ({self.source})", self.meta.get("training", {}), self.meta["history"]

    # -- the data ------------------------------------------------------------------------------

    def use_dataset(self, dataset: Dataset, folder: Path | None) -> None:
        self.dataset, self.data_folder = dataset, folder
        self.dataset_changed.emit()

    def read_dataset(self, folder: Path | None) -> Dataset:
        """The data in `folder` (None: the bundled MNIST), read in the data thread (DataError if
        it cannot be)."""
        return self._in_background(("read", folder), lambda: load_dataset(folder))

    def loaded_dataset(self) -> Dataset:
        """The data in use, read now if it has not been (DataError if it cannot be)."""
        if self.dataset is None:
            dataset = self.read_dataset(self.data_folder)
            if self.dataset is None:  # else a run read it meanwhile
                self.dataset = dataset
        return self.dataset

    def _in_background(self, what: tuple, work: Callable[[], T]) -> T:
        """work()'s result, made in the data thread while the window paints (`in_background`).
        Asked for again meanwhile (a timer or a run's signal can ask), the same work is awaited,
        never started twice: each copy of the largest dataset takes 0.94 GB."""
        future = self._under_way.get(what)
        if future is None:
            future = self._under_way[what] = self._data_thread.submit(work)
        try:
            return in_background(future)
        finally:
            if self._under_way.get(what) is future:
                del self._under_way[what]

    def keep_deskewed(self, original: Dataset, deskewed: Dataset) -> None:
        """Keep a run's deskewed copy of `original`, for later runs and test scores."""
        self.deskewed_data = (original, deskewed)

    def deskewed_for_run(self) -> Dataset | None:
        """The data in use deskewed by an earlier run, if any."""
        original, deskewed = self.deskewed_data
        return deskewed if original is self.dataset and original is not None else None

    def test_inputs(self, deskewed: bool) -> np.ndarray:
        """The test images of the data in use as a model with (or without) deskewed inputs sees
        them: deskewed once per dataset, or taken from a training run's deskewed copy."""
        dataset = self.loaded_dataset()
        if not deskewed:
            return dataset.test_images
        copy = self.deskewed_for_run()
        if copy is None and cached_data(dataset) is not None:  # mapped from the cache (made and
            # cached first if need be), and kept for runs too
            copy = self._in_background(("deskewed", id(dataset)), lambda: deskewed_dataset(dataset))
            self.keep_deskewed(dataset, copy)
        if copy is not None:
            return copy.test_images
        if self._deskewed_tests[0] is not dataset:
            images = self._in_background(("test", id(dataset)), lambda: deskew(dataset.test_images))
            self._deskewed_tests = (dataset, images)
        return self._deskewed_tests[1]
