"""Compare on my drawing: the linear model's probabilities and the best other model's, side by side.

The linear model is the one in view if it is linear, else the bundled default; the other is the
one in view if it is an MLP or a CNN, else the bundled CNN (or, without it, the bundled MLP). Each
reads the drawing as it was trained to, deskewed or not. A bundled file is read once, when it is
first needed; one that is missing is left out, one that cannot be read is named in a note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ..networks import Model, describe
from ..preprocess import deskew
from ..weights import WeightFileError, default_weights, load_weights
from .dialogs import plain, tip
from .texts import FittedLabel
from .views import BLUE, ORANGE, label_classes

LINEAR_FILES = ("default.npz",)  # bundled files to compare with, the first present one is used
OTHER_FILES = ("cnn.npz", "mlp.npz")
COLOURS = (BLUE, ORANGE)  # the linear model's bars, the other model's
BAR_WIDTH = 0.38  # of the space of one class, for each of the two bars
OFFSETS = (-BAR_WIDTH / 2, BAR_WIDTH / 2)  # of the two bars from the class's position


class CompareView(QWidget):
    """Two bars per class, the linear model's and the other model's, with a legend above naming
    each model and what it reads."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = default_weights().parent
        self.loaded: dict[Path, tuple[Model, bool, list[str]] | str] = {}  # read once each
        self.probabilities: list[np.ndarray | None] = [None, None]  # as shown, per model
        self.classes: list[str] = []  # the names under the bars
        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(170, 120)
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setLabel("left", "probability (%)")
        item.setLabel("bottom", "class")
        item.setYRange(0, 105, padding=0)
        item.getAxis("left").setTicks([[(value, str(value)) for value in range(0, 101, 20)]])
        item.showGrid(y=True, alpha=0.25)
        self.bars = []
        for colour in COLOURS:
            bars = pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, brush=colour, pen=None)
            item.addItem(bars)
            self.bars.append(bars)
        legend = QGridLayout()
        legend.setContentsMargins(0, 0, 0, 0)
        legend.setHorizontalSpacing(4)
        legend.setVerticalSpacing(0)
        self.names: list[QLabel] = []
        small = self.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)  # room for the plot in a narrow pane
        for row, colour in enumerate(COLOURS):
            swatch = QLabel("■")
            swatch.setStyleSheet(f"color: {colour}")
            name = FittedLabel(lines=2, wrap=True)  # it names a class: cut short, not widened
            name.setFont(small)
            legend.addWidget(swatch, row, 0, Qt.AlignmentFlag.AlignTop)
            legend.addWidget(name, row, 1)
            self.names.append(name)
        legend.setColumnStretch(1, 1)
        self.note = plain(QLabel())
        self.note.setWordWrap(True)
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(legend)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)
        self.setToolTip(
            "The linear model's probabilities (blue) beside those of a network (orange) for the\n"
            "same drawing: the weights in use, and a bundled model of the other kind."
        )

    def show_drawing(
        self,
        field: np.ndarray | None,
        model: Model | None,
        deskewed: bool,
        classes: list[str],
        where: str = "in use",
    ) -> None:
        """Compare what the two models read in `field` (28, 28), the drawing MNIST-style and not
        deskewed. `model` is the one in view (`where` says which: in use, being trained), which
        takes deskewed inputs if `deskewed`."""
        self._set_classes(classes)
        notes = []
        readers = [None, None]  # (model, deskews, where, origin) of the linear model, the other
        if model is not None:
            in_view = (model, deskewed, where, f"the model {where}")
            if model.kind == "linear":
                readers[0] = in_view
                readers[1] = self._bundled(OTHER_FILES, classes, notes)
            else:
                readers[0] = self._bundled(LINEAR_FILES, classes, notes)
                readers[1] = in_view
            if readers[1] is None and not notes:
                notes.append(
                    "No bundled MLP or CNN to compare with: train one (preset mlp or cnn)."
                )
        inputs = {}
        if field is not None:
            inputs[False] = np.asarray(field, dtype=np.float32).reshape(-1)
        for index, reader in enumerate(readers):
            name = self.names[index]
            if reader is None:
                name.setText("-")
                name.setToolTip("")
                self._set_bars(index, None)
                continue
            reader_model, deskews, where, origin = reader
            inputs_read = "deskewed inputs" if deskews else "inputs not deskewed"
            name.setToolTip(tip(f"{describe(reader_model)}: {origin}, {inputs_read}"))
            if field is None:
                name.setText(f"{describe(reader_model)} ({where})")
                self._set_bars(index, None)
                continue
            if deskews not in inputs:
                inputs[True] = deskew(inputs[False])
            probabilities = reader_model.probabilities(inputs[deskews])
            best = int(probabilities.argmax())
            top = classes[best] if best < len(classes) else str(best)
            name.setText(f"{describe(reader_model)} ({where}): {top}, {probabilities[best]:.1%}")
            self._set_bars(index, probabilities)
        if field is None and model is not None:
            notes.append("Draw a digit to compare the two models.")
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))

    def _set_bars(self, index: int, probabilities: np.ndarray | None) -> None:
        self.probabilities[index] = probabilities
        bars = self.bars[index]
        if probabilities is None:
            bars.setOpts(x=[], height=[])
            return
        x = np.arange(len(probabilities)) + OFFSETS[index]
        bars.setOpts(x=x, height=100 * np.asarray(probabilities, dtype=float))

    def _set_classes(self, classes: list[str]) -> None:
        if list(classes) == self.classes:
            return
        self.classes = list(classes)
        label_classes(
            self.plot,
            self.classes,
            "Each class's probability by the linear model (left bar) and by the other model"
            " (right bar).",
        )

    def _bundled(self, names: tuple[str, ...], classes: list[str], notes: list[str]):
        """(model, deskews, where, origin) of the first of the bundled files `names` present, or
        None (a file that cannot be read, or is for other classes, is named in `notes`)."""
        for file_name in names:
            path = self.folder / file_name
            if path not in self.loaded:
                if not path.is_file():
                    continue  # not bundled (yet): looked for again next time
                try:
                    loaded = load_weights(path)
                except WeightFileError as error:
                    self.loaded[path] = f"Cannot read the bundled {file_name}: {error.reason}."
                else:
                    self.loaded[path] = (loaded.model, loaded.deskew, loaded.classes)
            entry = self.loaded[path]
            if isinstance(entry, str):
                notes.append(entry)
                return None
            model, deskews, its_classes = entry
            if its_classes != list(classes):
                notes.append(f"The bundled {file_name} is for other classes than those in use.")
                return None
            return model, deskews, "bundled", f"the bundled {file_name}"
        return None
