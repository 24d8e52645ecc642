"""Fine-tuning the weights in use on the person's own drawings, and saying what it changed."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QWidget

from ..data import DataError
from ..handwriting import FINE_TUNE, HandwritingError, accuracy_on, drawing_arrays, fine_tune_data
from ..model import LinearModel
from ..preprocess import deskew
from ..train import ConfigError, Finished
from .dialogs import message
from .handwriting_panel import HandwritingPanel
from .run_controller import RunController
from .session import Session


class FineTuning(QObject):
    """A run from the weights in use on the drawings mixed with MNIST (see handwriting.py); the
    Handwriting tab then shows MNIST and held-out accuracy before and after."""

    def __init__(
        self, parent: QWidget, session: Session, run: RunController, panel: HandwritingPanel
    ) -> None:
        super().__init__(parent)
        self.window, self.session, self.run, self.panel = parent, session, run, panel
        self.before: tuple | None = None  # scores of the weights fine-tuning started from
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
            config = replace(FINE_TUNE, deskew=session.deskews).validate(len(data.train_labels))
        except (DataError, HandwritingError, ConfigError) as error:
            message(self.window, "warning", "Cannot fine-tune", f"{error}.")
            return
        self.before = self.scores(session.model, session.deskews)
        self.run.start(config, dataset=data, initial=session.model)

    def scores(self, model: LinearModel, deskewed: bool) -> tuple:
        """(MNIST test accuracy, held-out drawings accuracy or None, held-out count)."""
        images, labels = drawing_arrays(
            self.panel.personal.drawings()[0], held_out=True, n_classes=model.n_classes
        )
        return (
            model.accuracy(self.session.test_inputs(deskewed), self.session.dataset.test_labels),
            accuracy_on(model, deskew(images) if deskewed else images, labels),
            len(labels),
        )

    @Slot(object)
    def _on_finished(self, result: Finished) -> None:
        if self.before is None:
            return  # an ordinary run
        before, self.before = self.before, None
        after = self.scores(result.model, result.config.deskew)
        n = after[2]

        def mine(score):
            return "-" if score is None else f"{score:.1%}"

        self.panel.result.setText(
            f"Fine-tuned. MNIST test accuracy {before[0]:.2%} → {after[0]:.2%}; your"
            f" {n} held-out drawings {mine(before[1])} → {mine(after[1])}."
            + ("" if n else " Label more drawings to have some held out.")
        )

    @Slot(str)
    def _on_failed(self, _text: str) -> None:
        self.before = None
