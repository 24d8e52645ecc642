"""Training runs as the window sees them: one at a time, started, watched, stopped, finished.

The controller owns the worker (and through it the training child), turns the worker's signals
into its own for the run in progress only (a stopped run's last queued signals are dropped), and
puts a finished run's kept weights in use in the session, once `keep` has kept them (the window's
runs list, which writes them to the person's runs folder). The views are told in later turns of
the event loop (`later`), so that the run's end does not hold the window in one long turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication

from ..data import Dataset
from ..networks import Model
from ..train import EpochEnd, Finished, Progress, TrainConfig
from ..weights import run_meta
from .later import Later
from .session import Session
from .worker import TrainingWorker

TRAINED_HERE = "trained in this session, not saved"
SCORING = "scoring the kept weights..."
SCORING_ASKED = "scoring; Stop again drops it..."  # after a Stop: a second one drops the run


class RunController(QObject):
    """Starts and stops runs; says what the run in progress does."""

    started = Signal(object)  # the TrainConfig of a run that starts
    progress = Signal(object)  # train.Progress of the run in progress
    epoch_end = Signal(object)  # train.EpochEnd
    finished = Signal(object)  # train.Finished; its kept weights are in use now (views: later)
    failed = Signal(str)  # the run could not start or broke off: a message for the person
    stopping = Signal()  # a stop was asked for
    scoring = Signal()  # no step is left: the kept weights are being scored
    paused_changed = Signal(bool)  # Pause or Resume pressed (the run waits once `paused` comes)
    paused = Signal()  # the run waits between two steps, after a pause or a single step

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.worker: TrainingWorker | None = None  # the latest run's
        self.training = False
        self.live_model: Model | None = None  # the weights being trained
        self.last_progress: Progress | None = None
        self.ending = ""  # what a run that takes no more steps does: stopping, scoring
        self.started_at = 0.0  # time.monotonic() when Train was pressed
        self.paused_since = 0.0  # time.monotonic() when Pause was pressed; 0: not paused
        self.paused_for = 0.0  # seconds the run was paused before, not counted as its time
        # Keeps a finished run's weights: (model, meta, result) -> (its name, kept on disk).
        self.keep: Callable[[Model, dict, Finished], tuple[str, bool]] | None = None
        # A run's end settles the state at once and shows it piece by piece, a turn each: the
        # views' work, queued here by the controller and the window, runs by `shutdown` at the
        # latest.
        self.later = Later(self)

    @property
    def config(self) -> TrainConfig | None:
        return self.worker.config if self.worker is not None else None

    @property
    def dataset(self) -> Dataset | None:
        """The data the latest run trained on."""
        return self.worker.dataset if self.worker is not None else None

    def live_name(self) -> str:
        """What the views call the model being trained: "live CNN, epoch 7/15"."""
        config, event = self.config, self.last_progress
        kind = {"linear": "linear model", "mlp": "MLP", "cnn": "CNN"}[config.model]
        epoch = f", epoch {event.epoch}/{config.epochs}" if event is not None else ", starting"
        return f"live {kind}{epoch}"

    def model_in_view(self) -> tuple[Model | None, bool]:
        """The model whose opinion the window shows (the one learning, while a run is on) and
        whether it takes deskewed inputs."""
        if self.training and self.live_model is not None:
            return self.live_model, self.worker.config.deskew
        return self.session.model, self.session.deskews

    @property
    def is_paused(self) -> bool:
        return self.training and self.paused_since > 0

    def can_pause(self) -> bool:
        """Whether Pause (or Resume) means something: a run that still takes steps."""
        return self.training and not self.ending

    def elapsed(self) -> float:
        """Seconds since Train was pressed, the time paused left out."""
        now = time.monotonic()
        return now - self.started_at - self.paused_for - (now - self.paused_since) * self.is_paused

    def set_paused(self, paused: bool) -> None:
        """Pause the run after its current step, or resume it."""
        if not self.can_pause() or paused == self.is_paused:
            return
        if paused:
            self.paused_since = time.monotonic()
        else:
            self.paused_for += time.monotonic() - self.paused_since
            self.paused_since = 0.0
        self.worker.pause(paused)
        self.paused_changed.emit(paused)

    @Slot()
    def step(self) -> None:
        """One more step (a mini-batch, or one example) of a paused run."""
        if self.is_paused and self.can_pause():
            self.worker.step()

    def fraction_done(self) -> float:
        event = self.last_progress
        if not self.training or event is None:
            return 0.0
        return (event.epoch - 1 + event.seen / event.total) / self.worker.config.epochs

    def start(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        initial: Model | None = None,
    ) -> None:
        """Train as `config` says on the data in use (or `dataset`), from scratch (or from
        `initial`). Ignored while a run is on."""
        if self.training:
            return
        self.later.finish()  # the previous run's end shown first
        if self.worker is not None:  # the previous run's thread may still be winding down
            self.worker.join()
        self.training = True
        self.started_at = time.monotonic()
        self.paused_since, self.paused_for = 0.0, 0.0
        self.last_progress, self.live_model, self.ending = None, None, ""
        own_data = dataset is None
        if own_data and config.deskew:
            dataset = self.session.deskewed_for_run()  # deskewed by an earlier run: not again
        worker = TrainingWorker(
            config, dataset or self.session.dataset, self.session.data_folder, initial
        )
        worker.data_loaded.connect(self._on_data_loaded)
        if own_data:
            worker.data_prepared.connect(self._on_data_prepared)
        worker.progress.connect(self._on_progress)
        worker.epoch_end.connect(self._on_epoch_end)
        worker.scoring.connect(self._on_scoring)
        worker.paused.connect(self._on_paused)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self.worker = worker
        self.started.emit(config)
        worker.start()

    @Slot()
    def stop(self) -> None:
        """Ask the run to stop. Asked again while the kept weights are scored, end it without
        them: a training process that froze while scoring would never end otherwise."""
        if not (self.training and self.worker is not None):
            return
        if self.ending == SCORING_ASKED:
            self.worker.abandon()
            self.ending = "dropping the run..."
        else:
            self.worker.request_stop()
            self.ending = SCORING_ASKED if self.ending == SCORING else self.ending or "stopping..."
        self.stopping.emit()

    def shutdown(self) -> None:
        """Stop a run and wait for its thread; its kept weights become the ones in use, or
        `failed` says why there are none; the views are shown its end (`later`) at once."""
        if self.worker is None:
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a CNN scores for seconds
        try:
            self.worker.join()
        finally:
            QApplication.restoreOverrideCursor()
        if self.training and self.worker.result is not None:
            self._finish(self.worker.result)
        elif self.training:  # the run broke off before it had a result
            self._end()
            if self.worker.error:
                self.failed.emit(self.worker.error)
        self.later.finish()

    def _current(self) -> bool:
        """Whether a worker signal being handled belongs to the run in progress."""
        return self.training and self.sender() is self.worker

    @Slot(object)
    def _on_data_loaded(self, dataset: Dataset) -> None:
        if self._current():
            self.session.dataset = dataset

    @Slot(object)
    def _on_data_prepared(self, deskewed: Dataset) -> None:
        if self._current():
            self.session.keep_deskewed(self.session.dataset, deskewed)

    @Slot(object)
    def _on_progress(self, event: Progress) -> None:
        if self._current():
            self.last_progress, self.live_model = event, event.model
            self.progress.emit(event)

    @Slot()
    def _on_paused(self) -> None:
        if self._current() and self.is_paused:
            self.paused.emit()

    @Slot()
    def _on_scoring(self) -> None:
        if self._current():
            self.ending = SCORING_ASKED if self.ending else SCORING
            self.scoring.emit()

    @Slot(object)
    def _on_epoch_end(self, event: EpochEnd) -> None:
        if self._current():
            self.live_model = event.model
            self.epoch_end.emit(event)

    @Slot(object)
    def _on_finished(self, result: Finished) -> None:
        if self._current():
            self._finish(result)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        if self._current():
            self._end()
            self.failed.emit(text)

    def _end(self) -> None:
        if self.is_paused:  # the time since is not the run's either
            self.paused_for += time.monotonic() - self.paused_since
        self.training, self.live_model, self.paused_since = False, None, 0.0

    def _finish(self, result: Finished) -> None:
        self._end()
        dataset = self.worker.dataset
        meta = run_meta(result, list(dataset.classes), dataset.name)
        name, kept = (
            (TRAINED_HERE, False) if self.keep is None else self.keep(result.model, meta, result)
        )
        # The run is kept on disk and its weights are in use now; the views follow in later turns
        self.session.use_weights(result.model, meta, name, unsaved=not kept, tell=False)
        self.later.add(self.session.weights_changed.emit)
        self.finished.emit(result)
