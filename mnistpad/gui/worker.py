"""Training off the GUI thread: a QObject worker in a QThread, speaking only through signals.

The worker runs `mnistpad.train.train` and forwards its events, which are frozen dataclasses
holding copies of the parameters, never arrays the trainer keeps changing. Stopping sets a flag
that the trainer polls between steps.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..data import DataError, Dataset, load_dataset
from ..train import ConfigError, EpochEnd, Finished, Progress, TrainConfig, train


class TrainingWorker(QObject):
    """One training run. Create it, then `start()`; it loads the data first if not given any."""

    data_loaded = Signal(object)  # Dataset, when the worker had to read it
    progress = Signal(object)  # train.Progress
    epoch_end = Signal(object)  # train.EpochEnd
    finished = Signal(object)  # train.Finished: the run is over and these are its kept weights
    failed = Signal(str)  # the run could not start or broke: a message for the person

    def __init__(
        self, config: TrainConfig, dataset: Dataset | None, data_folder: Path | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.data_folder = data_folder
        self.result: Finished | None = None
        self._stop = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("mnistpad-training")
        self.moveToThread(self._thread)
        self._thread.started.connect(self.run)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the run to end after its current step; safe to call from any thread."""
        self._stop.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def join(self, timeout_ms: int = 10_000) -> bool:
        """Stop the run and wait for its thread to end; True when it has."""
        self.request_stop()
        return self._thread.wait(timeout_ms)

    @Slot()
    def run(self) -> None:
        try:
            if self.dataset is None:
                self.dataset = load_dataset(self.data_folder)
                self.data_loaded.emit(self.dataset)
            for event in train(self.dataset, self.config, should_stop=self._stop.is_set):
                if isinstance(event, Progress):
                    self.progress.emit(event)
                elif isinstance(event, EpochEnd):
                    self.epoch_end.emit(event)
                elif isinstance(event, Finished):
                    self.result = event
                    self.finished.emit(event)
        except (DataError, ConfigError) as error:
            self.failed.emit(str(error))
        except MemoryError:
            self.failed.emit("training ran out of memory")
        except Exception as error:  # never let a worker die silently
            self.failed.emit(f"training failed unexpectedly: {error!r}")
        finally:
            self._thread.quit()
