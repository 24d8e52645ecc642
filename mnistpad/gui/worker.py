"""Training off the GUI: a QObject worker in a QThread, speaking only through signals.

The worker's thread reads the data if the window has none yet, and its deskewed copy if the run
needs one (both from the data cache after the first time, see data.py), then runs the training
itself in a child process (`mnistpad.train_process`) so the window never shares Python's
interpreter lock with the trainer, and forwards the child's events as signals. The events are
frozen dataclasses holding copies of the parameters. Stopping sets a flag that the trainer polls
between steps; pausing, resuming and single steps are asked for the same way.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..data import DataError, Dataset, deskewed, load_dataset
from ..networks import Model
from ..train import ConfigError, EpochEnd, Finished, Paused, Progress, Scoring, TrainConfig
from ..train_process import STOP_GRACE_S, TrainingProcess, TrainingProcessError

# A CNN scores 70,000 images in 10-40 s on 2 busy cores (and in seconds on more); a scoring
# process that still works after this long is ended all the same when the window closes.
SCORING_LIMIT_MS = 120_000


class TrainingWorker(QObject):
    """One training run. Create it, then `start()`; it loads the data first if not given any."""

    data_loaded = Signal(object)  # Dataset, when the worker had to read it
    data_prepared = Signal(object)  # the Dataset deskewed, when the worker had to deskew it
    progress = Signal(object)  # train.Progress
    epoch_end = Signal(object)  # train.EpochEnd
    paused = Signal()  # the run waits between two steps (after a pause, or a single step)
    scoring = Signal()  # no step is left: the kept weights are being scored
    finished = Signal(object)  # train.Finished: the run is over and these are its kept weights
    failed = Signal(str)  # the run could not start or broke: a message for the person

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset | None,
        data_folder: Path | None = None,
        initial: Model | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.initial = initial  # weights to train further, or None for a fresh model
        self.dataset = dataset
        self.data_folder = data_folder
        self.result: Finished | None = None
        self.error = ""  # why the run failed, once it has
        self.process: TrainingProcess | None = None
        self._stop_requested = False
        self._pause_requested = False
        self._steps_requested = 0  # single steps asked for before the process existed
        self._thread = QThread()
        self._thread.setObjectName("mnistpad-training")
        self.moveToThread(self._thread)
        self._thread.started.connect(self.run)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the run to end after its current step; safe to call from any thread."""
        self._stop_requested = True
        if self.process is not None:
            self.process.request_stop()

    def pause(self, paused: bool) -> None:
        """Pause the run after its current step, or resume it; safe to call from any thread."""
        self._pause_requested = paused
        if self.process is not None and paused:
            self.process.pause()
        elif self.process is not None:
            self.process.resume()

    def step(self) -> None:
        """One more step of a paused run."""
        if self.process is not None:
            self.process.step()
        else:
            self._steps_requested += 1

    def abandon(self) -> None:
        """End the run STOP_GRACE_S from now, even while its process scores the kept weights
        (a frozen one would score forever): the run then fails, without weights."""
        self._stop_requested = True
        if self.process is not None:
            self.process.abandon()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def join(self, timeout_ms: int = round(STOP_GRACE_S * 1000) + 1000) -> bool:
        """Stop the run and wait for its thread to end; True when it has. A child process that
        does not answer the stop request in time is ended (by the process itself after
        STOP_GRACE_S, here at the latest). One that answered and scores the kept weights (a CNN
        takes seconds) is waited for while it uses the processor, up to SCORING_LIMIT_MS, and
        ended once it has not for STOP_GRACE_S: frozen (stopped, swapping), it would never end."""
        self.request_stop()
        if self._thread.wait(timeout_ms):
            return True
        process, why = self.process, "did not end when asked"
        if process is not None and process.scoring:
            process.is_working()  # from now on
            step, waited = round(STOP_GRACE_S * 1000), 0
            why = f"took over {SCORING_LIMIT_MS // 1000} s to score the kept weights"
            while waited < SCORING_LIMIT_MS:
                if self._thread.wait(step):
                    return True
                waited += step
                if not process.is_working():
                    why = "stopped working while it scored the kept weights"
                    break
        if process is not None:
            process.end(f"the training process {why} and was ended; the run's weights are lost")
        return self._thread.wait(2_000)

    @Slot()
    def run(self) -> None:
        try:
            if self.dataset is None:
                self.dataset = load_dataset(self.data_folder)
                self.data_loaded.emit(self.dataset)
            self.config.validate(n_train=len(self.dataset.train_labels))  # before any process
            if self.config.deskew and not self.dataset.deskewed:  # here, so the window can keep it
                self.dataset = deskewed(self.dataset)
                self.data_prepared.emit(self.dataset)
            self.process = TrainingProcess(self.dataset, self.config, self.initial)
            if self._stop_requested:  # asked before the process existed
                self.process.request_stop()
            if self._pause_requested:
                self.process.pause()
                for _ in range(self._steps_requested):
                    self.process.step()
            for event in self.process.events():
                if isinstance(event, Progress):
                    self.progress.emit(event)
                elif isinstance(event, EpochEnd):
                    self.epoch_end.emit(event)
                elif isinstance(event, Paused):
                    self.paused.emit()
                elif isinstance(event, Scoring):
                    self.scoring.emit()
                elif isinstance(event, Finished):
                    self.result = event
                    self.finished.emit(event)
        except (DataError, ConfigError, TrainingProcessError) as error:
            self._fail(str(error))
        except MemoryError:
            self._fail("training ran out of memory")
        except Exception as error:  # never let a worker die silently
            self._fail(f"training failed unexpectedly: {error!r}")
        finally:
            self._thread.quit()

    def _fail(self, text: str) -> None:
        self.error = text
        self.failed.emit(text)
