"""Fine-tuning the weights in use on the person's own drawings, and saying what it changed.

Fine-tuning keeps its last epoch's weights (FINE_TUNE does not keep the best dev epoch): the dev
set is MNIST's, there only to show that MNIST is not forgotten, and the epoch best on it is often
the first, before the person's writing was learnt. The result says so, beside the best dev epoch.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QWidget

from ..data import DataError
from ..handwriting import FINE_TUNE, HandwritingError, drawing_arrays, fine_tune_data
from ..networks import Model, describe
from ..preprocess import deskew
from ..train import ConfigError, Finished, TrainConfig
from .dialogs import message
from .handwriting_panel import HandwritingPanel
from .run_controller import RunController
from .session import Session

# The networks start from weights Adam found: small Adam steps, for few epochs, adjust them without
# undoing them (plain SGD at the linear model's step size would).
NETWORK_LR = 1e-4
NETWORK_EPOCHS = 3


def fine_tune_config(model: Model, deskewed: bool, n_train: int) -> TrainConfig:
    """FINE_TUNE for the model in use: its kind and width, its inputs; Adam for a network."""
    config = replace(
        FINE_TUNE, model=model.kind, hidden=model.shape.get("hidden", 0), deskew=deskewed
    )
    if model.kind != "linear":
        config = replace(config, optimizer="adam", lr=NETWORK_LR, epochs=NETWORK_EPOCHS)
    if config.shape != model.shape:
        raise ConfigError(
            f"the window trains only the default layer sizes, and these weights are a"
            f" {describe(model)}"
        )
    return config.validate(n_train)


class FineTuning(QObject):
    """A run from the weights in use on the drawings mixed with MNIST (see handwriting.py); the
    Handwriting tab then shows MNIST and held-out accuracy before and after."""

    def __init__(
        self, parent: QWidget, session: Session, run: RunController, panel: HandwritingPanel
    ) -> None:
        super().__init__(parent)
        self.window, self.session, self.run, self.panel = parent, session, run, panel
        self.before: Future | None = None  # scores of the weights fine-tuning started from
        self.classes: tuple[str, ...] = ()  # the classes it learns, of the data it trains on
        self.learnt_from = 0  # the person's drawings it trains on
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistpad-scores")
        panel.fine_tune_requested.connect(self.start)
        run.finished.connect(self._on_finished)
        run.failed.connect(self._on_failed)
        session.weights_changed.connect(self._mark_drawings)

    @Slot()
    def _mark_drawings(self) -> None:
        """The gallery's right/wrong marks follow the weights in use."""
        session = self.session
        self.panel.set_reader(session.model, session.deskews, session.classes)

    @Slot()
    def start(self) -> None:
        session = self.session
        if self.run.training or session.model is None:
            return
        try:
            data = fine_tune_data(session.loaded_dataset(), self.panel.personal.drawings()[0])
            config = fine_tune_config(session.model, session.deskews, len(data.train_labels))
        except (DataError, HandwritingError, ConfigError) as error:
            message(self.window, "warning", "Cannot fine-tune", f"{error}.")
            return
        self.classes = data.classes
        drawings = self.panel.personal.drawings()[0]
        self.learnt_from = len(drawing_arrays(drawings, held_out=False, classes=data.classes)[1])
        # The starting weights' test accuracy takes a CNN seconds: measured beside the run (numpy
        # leaves the interpreter lock while it multiplies), never in the window's thread.
        model, inputs = session.model, session.test_inputs(session.deskews)
        labels, held_out = session.dataset.test_labels, self.held_out(model, session.deskews)
        self.before = self.helper.submit(lambda: (model.accuracy(inputs, labels), *held_out))
        self.run.start(config, dataset=data, initial=session.model)

    def held_out(self, model: Model, deskewed: bool) -> tuple[int, int]:
        """How many of the held-out drawings of the classes it learns the model reads right, and
        their count."""
        images, labels = drawing_arrays(
            self.panel.personal.drawings()[0], held_out=True, classes=self.classes
        )
        if not len(labels):
            return 0, 0
        read = model.predict(deskew(images) if deskewed else images)
        return int((read == labels).sum()), len(labels)

    @Slot(object)
    def _on_finished(self, result: Finished) -> None:
        if self.before is None:
            return  # an ordinary run
        before, self.before = self.before.result(), None  # done long before any run ends
        after = (result.test_accuracy, *self.held_out(result.model, result.config.deskew))
        (_, right_before, n), (_, right_after, _) = before, after
        ran = len(result.history)
        if result.config.keep_best:
            kept = f"kept epoch {result.kept_epoch}, the best on MNIST's held-out images"
        else:
            last = f"its last epoch ({result.kept_epoch})" if result.kept_epoch else "the latest"
            kept = f"kept {last}, as fine-tuning does"
            if result.best_epoch and result.best_epoch == result.kept_epoch:
                kept += ", also the best on MNIST's held-out images"
            elif result.best_epoch:
                kept += (
                    f" (MNIST's held-out images, best at epoch {result.best_epoch}, only check that"
                    " MNIST is not forgotten)"
                )
        yours = (
            f"Your held-out drawings (never trained on): {right_before} of {n} read right"
            f" before, {right_after} of {n} after; the marks below show which."
            if n
            else "None of your drawings is held out yet (every fifth of a class is), so nothing"
            " measures yet how well it reads you."
        )
        self.panel.result.setText(
            f"Fine-tuned on {self.learnt_from} of your drawings mixed with MNIST, {ran} epoch"
            f"{'s' * (ran != 1)}; {kept}.\n{yours}\nMNIST test accuracy"
            f" {before[0]:.2%} before, {after[0]:.2%} after."
        )

    @Slot(str)
    def _on_failed(self, _text: str) -> None:
        self.before = None
