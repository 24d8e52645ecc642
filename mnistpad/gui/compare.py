"""Compare on my drawing: what every model at hand reads in it, side by side.

The readers are the model in view (the weights in use, or the one being trained), every bundled
model, and the models the caller adds (the runs ticked in the runs list), each reading the drawing
as it was trained to, deskewed or not. One model is shown once: the model in view that is a
bundled file is named "in use: bundled CNN". A bundled file is read once, when first needed; one
that is missing is left out, one that cannot be read is named in a note, as is a model for other
classes than those in use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ..networks import KIND_NAMES, Model, describe
from ..preprocess import deskew
from ..weights import BUNDLED_MODELS, WeightFileError, default_weights, load_weights
from .dialogs import plain, tip
from .texts import FittedLabel
from .views import BLUE, GREEN, ORANGE, PURPLE, RED, label_classes

# One colour per reader, in the legend's order: Tableau 10 (readable on light and dark), without
# its yellow and grey (faint on a light background, and grey reads as "disabled").
COLOURS = (BLUE, ORANGE, GREEN, RED, PURPLE, "#76b7b2", "#9c755f", "#ff9da7")
MAX_READERS = len(COLOURS)  # more would repeat a colour, and their bars would be hair-thin
GROUP_WIDTH = 0.8  # of the space of one class, shared by its bars
LONE_WIDTH = 0.7  # one reader's bar, as wide as the probability chart's

# name, model, deskews its inputs, its classes, and optionally its colour (a run's, as the runs
# list and the curves show it)
Extra = tuple[str, Model, bool, list[str]] | tuple[str, Model, bool, list[str], str]


@dataclasses.dataclass
class Reader:
    """A model that reads the drawing, as the legend names it."""

    name: str  # plain: "in use: Linear", "bundled CNN", a run's name
    model: Model
    deskews: bool
    origin: str  # for the tooltip: "the model in use", "the bundled cnn.npz"
    # the same weights found again elsewhere (a bundled file in use, a ticked run), for the tooltip
    also: list[str] = dataclasses.field(default_factory=list)
    colour: str = ""  # its own (a run's), else one of COLOURS

    def same_as(self, other: Reader) -> bool:
        """Whether both give the same answers: the same weights read the same way."""
        if self.deskews != other.deskews or self.model.kind != other.model.kind:
            return False
        if self.model is other.model:
            return True
        mine, theirs = self.model.params, other.model.params
        return mine.keys() == theirs.keys() and all(
            mine[key].shape == theirs[key].shape and np.array_equal(mine[key], theirs[key])
            for key in mine
        )

    def about(self) -> str:
        """What it is precisely, for its tooltip."""
        inputs_read = "deskewed inputs" if self.deskews else "inputs not deskewed"
        also = "".join(f"; also {origin}" for origin in self.also)
        return f"{describe(self.model)}: {self.origin}{also}, {inputs_read}"


class CompareView(QWidget):
    """A legend row per reader (its colour, name and reading) above one bar per reader for each
    class. Rows and bars are kept and reused: the view follows the pen many times a second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = default_weights().parent
        self.loaded: dict[Path, tuple[Model, bool, list[str]] | str] = {}  # read once each
        self.readers: list[Reader] = []  # as shown, in the legend's order
        self.probabilities: list[np.ndarray | None] = []  # as shown, per reader
        self.classes: list[str] = []  # the names under the bars
        self.numbered = False  # whether the bars and the readings name the classes by number
        self.plot = pg.PlotWidget(enableMenu=False)  # no menu: none built
        self.plot.setMinimumSize(170, 120)
        self.plot.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setLabel("left", "probability (%)")
        item.setLabel("bottom", "class")
        item.setYRange(0, 105, padding=0)
        item.getAxis("left").setTicks([[(value, str(value)) for value in range(0, 101, 20)]])
        item.showGrid(y=True, alpha=0.25)
        self.bars: list[pg.BarGraphItem] = []  # one set per reader, made when first needed
        self.swatches: list[QLabel] = []
        self.names: list[FittedLabel] = []  # the legend's rows; those past the readers hidden
        self.readings: list[QLabel] = []  # beside each name: what it reads, never cut
        self.legend = QGridLayout()
        self.legend.setContentsMargins(0, 0, 0, 0)
        self.legend.setHorizontalSpacing(4)
        self.legend.setVerticalSpacing(0)
        self.legend.setColumnStretch(1, 1)
        self.note = FittedLabel(lines=2, wrap=True)  # the whole text in its tooltip if cut
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self.legend)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)
        self.setToolTip(
            "What each model reads in your drawing, side by side: for each class, one bar per\n"
            "model, in the order and colours of the list above. Each model reads the drawing as\n"
            "it was trained to (deskewed or not)."
        )

    def show_drawing(
        self,
        field: np.ndarray | None,
        model: Model | None,
        deskewed: bool,
        classes: list[str],
        where: str = "in use",
        extra: Sequence[Extra] = (),
    ) -> None:
        """Show what each reader reads in `field` (28, 28), the drawing MNIST-style and not
        deskewed. `model` is the one in view, named by `where` ("in use", "being trained"),
        which takes deskewed inputs if `deskewed`; `extra` adds (name, model, deskews, classes)
        readers, such as the runs ticked in the runs list."""
        self._set_classes(classes)
        readers, notes = self._readers(model, deskewed, classes, where, extra)
        self._show_readers(readers)
        inputs = {}
        if field is not None:
            inputs[False] = np.asarray(field, dtype=np.float32).reshape(-1)
        self.probabilities = []
        for reader, reading in zip(readers, self.readings, strict=False):
            if field is None:
                reading.setText("")
                self.probabilities.append(None)
                continue
            if reader.deskews not in inputs:
                inputs[True] = deskew(inputs[False])
            probabilities = reader.model.probabilities(inputs[reader.deskews])
            best = int(probabilities.argmax())
            reading.setText(f"{self._class_name(best)} ({probabilities[best]:.1%})")
            self.probabilities.append(probabilities)
        self._set_bars()
        if field is None and readers:
            notes.append("Draw a digit to compare the models.")
        elif len(readers) == 1 and not notes:
            notes.append("No other model to compare with: tick runs in the runs list to add them.")
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))

    def _readers(
        self,
        model: Model | None,
        deskewed: bool,
        classes: list[str],
        where: str,
        extra: Sequence[Extra],
    ) -> tuple[list[Reader], list[str]]:
        """The readers to show, each once, and the notes on those left out."""
        readers: list[Reader] = []
        notes: list[str] = []
        other_classes: list[str] = []  # the models left out for being for other classes

        def add(reader: Reader, its_classes: list[str], what: str) -> None:
            if list(its_classes) != list(classes):
                other_classes.append(what)
                return
            for shown in readers:
                if shown.same_as(reader):
                    if shown is readers[0] and model is not None and not shown.also:
                        shown.name = f"{where}: {reader.name}"  # "in use: bundled CNN"
                    shown.also.append(reader.origin)
                    return
            readers.append(reader)

        if model is not None:
            kind = KIND_NAMES[model.kind]
            readers.append(Reader(f"{where}: {kind}", model, deskewed, f"the model {where}"))
        for file_name in BUNDLED_MODELS:
            entry = self._bundled(file_name, notes)
            if entry is not None:
                bundled, deskews, its_classes = entry
                name = f"bundled {KIND_NAMES[bundled.kind]}"
                origin = f"the bundled {file_name}"
                add(Reader(name, bundled, deskews, origin), its_classes, origin)
        for name, extra_model, deskews, its_classes, *colour in extra:
            add(
                Reader(name, extra_model, deskews, name, colour=colour[0] if colour else ""),
                its_classes,
                name,
            )
        if other_classes:
            notes.append(
                f"Left out, for other classes than those in use: {', '.join(other_classes)}."
            )
        if len(readers) > MAX_READERS:
            left_out = ", ".join(reader.name for reader in readers[MAX_READERS:])
            notes.append(f"Left out, {MAX_READERS} models at most: {left_out}.")
            del readers[MAX_READERS:]
        taken = {reader.colour for reader in readers}
        free = iter(colour for colour in COLOURS if colour not in taken)
        for reader in readers:
            reader.colour = reader.colour or next(free)
        return readers, notes

    def _show_readers(self, readers: list[Reader]) -> None:
        """The legend's rows and the bar sets for `readers`; made only when more are needed, and
        their tooltips set only when the readers change."""
        shown = [(reader.name, reader.about(), reader.colour) for reader in self.readers]
        self.readers = readers
        if shown == [(reader.name, reader.about(), reader.colour) for reader in readers]:
            return
        while len(self.names) < len(readers):
            row = len(self.names)
            swatch = QLabel("■")
            name = FittedLabel()  # one line each, cut short in a narrow pane
            reading = plain(QLabel())
            reading.setAlignment(Qt.AlignmentFlag.AlignRight)
            for label in (name, reading):
                small = label.font()
                small.setPointSizeF(small.pointSizeF() * 0.9)  # room for the plot
                label.setFont(small)
            self.legend.addWidget(swatch, row, 0)
            self.legend.addWidget(name, row, 1)
            self.legend.addWidget(reading, row, 2)
            self.swatches.append(swatch)
            self.names.append(name)
            self.readings.append(reading)
            self._fit_reading(reading)
            bars = pg.BarGraphItem(x=[], height=[], width=LONE_WIDTH, pen=None)
            self.plot.getPlotItem().addItem(bars)
            self.bars.append(bars)
        rows = zip(self.swatches, self.names, self.readings, strict=True)
        for row, (swatch, name, reading) in enumerate(rows):
            used = row < len(readers)
            for widget in (swatch, name, reading):
                widget.setVisible(used)
            about = readers[row].about() if used else ""
            if used:
                swatch.setStyleSheet(f"color: {readers[row].colour}")
                self.bars[row].setOpts(brush=readers[row].colour)
            name.setText(readers[row].name if used else "")
            name.setToolTip(about)  # FittedLabel makes it a plain-text tooltip
            what = "What it reads, and how sure it is"
            if self.numbered:
                what += " (the classes by number: the chart's tooltip names them)"
            reading.setToolTip(tip(f"{what}.\n{about}") if used else "")

    def _class_name(self, index: int) -> str:
        """A class as the bars' axis names it: by number if the names are long."""
        return str(index) if self.numbered else self.classes[index]

    def _fit_reading(self, reading: QLabel) -> None:
        """Room for the longest reading, so that the names beside do not move as the pen does."""
        shown = [self._class_name(index) for index in range(len(self.classes))] or ["0"]
        widest = max(shown, key=reading.fontMetrics().horizontalAdvance)
        reading.setMinimumWidth(reading.fontMetrics().horizontalAdvance(f"{widest} (100.0%)"))

    def _set_bars(self) -> None:
        """Each reader's bars side by side within each class's space, as wide as fits."""
        count = len(self.readers)
        width = LONE_WIDTH if count == 1 else GROUP_WIDTH / max(count, 1)
        for index, bars in enumerate(self.bars):
            probabilities = self.probabilities[index] if index < count else None
            if probabilities is None:
                bars.setOpts(x=[], height=[])
                continue
            offset = (index - (count - 1) / 2) * width
            x = np.arange(len(probabilities)) + offset
            bars.setOpts(x=x, height=100 * np.asarray(probabilities, dtype=float), width=width)

    def _set_classes(self, classes: list[str]) -> None:
        if list(classes) == self.classes:
            return
        self.classes = list(classes)
        self.readers = []  # the legend's tooltips say how the classes are named: made again
        self.numbered = label_classes(
            self.plot,
            self.classes,
            "Each class's probability by each model: one bar per model, left to right in the"
            " order of the list above.",
        )
        for reading in self.readings:
            self._fit_reading(reading)

    def _bundled(self, file_name: str, notes: list[str]) -> tuple[Model, bool, list[str]] | None:
        """(model, deskews, classes) of the bundled file `file_name`, or None if it is missing
        or cannot be read (then named in `notes`)."""
        path = self.folder / file_name
        if path not in self.loaded:
            if not path.is_file():
                return None  # not bundled (yet): looked for again next time
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
        return entry
