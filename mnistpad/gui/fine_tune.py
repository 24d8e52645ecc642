"""Fine-tuning the weights in use on the person's own drawings, and saying what it changed."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QWidget

from ..data import DataError
from ..handwriting import FINE_TUNE, HandwritingError, accuracy_on, drawing_arrays, fine_tune_data
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
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistpad-scores")
        panel.fine_tune_requested.connect(self.start)
        run.finished.connect(self._on_finished)
        run.failed.connect(self._on_failed)

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
        # The starting weights' test accuracy takes a CNN seconds: measured beside the run (numpy
        # leaves the interpreter lock while it multiplies), never in the window's thread.
        model, inputs = session.model, session.test_inputs(session.deskews)
        labels, held_out = session.dataset.test_labels, self.held_out(model, session.deskews)
        self.before = self.helper.submit(lambda: (model.accuracy(inputs, labels), *held_out))
        self.run.start(config, dataset=data, initial=session.model)

    def held_out(self, model: Model, deskewed: bool) -> tuple[float | None, int]:
        """The model's accuracy on the held-out drawings of the classes it learns (None without
        any), and their count."""
        images, labels = drawing_arrays(
            self.panel.personal.drawings()[0], held_out=True, classes=self.classes
        )
        return accuracy_on(model, deskew(images) if deskewed else images, labels), len(labels)

    @Slot(object)
    def _on_finished(self, result: Finished) -> None:
        if self.before is None:
            return  # an ordinary run
        before, self.before = self.before.result(), None  # done long before any run ends
        after = (result.test_accuracy, *self.held_out(result.model, result.config.deskew))
        n = after[2]

        def mine(score):
            return "-" if score is None else f"{score:.1%}"

        mnist = f"Fine-tuned. MNIST test accuracy {before[0]:.2%} → {after[0]:.2%}"
        self.panel.result.setText(
            f"{mnist}; your {n} held-out drawings {mine(before[1])} → {mine(after[1])}."
            if n
            else f"{mnist}. None of your drawings is held out yet: every fifth of a class is."
        )

    @Slot(str)
    def _on_failed(self, _text: str) -> None:
        self.before = None
