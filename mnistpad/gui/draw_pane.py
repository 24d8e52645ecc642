"""The left pane: the canvas and its tools, the Label row, and what the model reads.

The drawing is made MNIST-style (`preprocess.mnist_style`) on every change; the pane shows that
input (deskewed when the model in view wants it), the prediction, how sure it is, every class's
probability and, when the unsure rule (unsure.py) says so, "Not sure this is a digit". An image
from the data, or a picture file read as `mnistpad predict` reads it, can be inspected in its
place until the next stroke; the canvas says so meanwhile.

The pane fits a 1024x768 screen whatever the classes: up to MAX_LABEL_BUTTONS of them get Label
buttons, in rows, and more are chosen from a list; the prediction is cut short to its width.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..networks import Model
from ..pictures import PICTURE_FORMATS, PictureError, digit_picture
from ..preprocess import deskew, mnist_style
from ..unsure import UnsureRule
from .canvas import DrawingCanvas
from .compare import CompareView
from .dialogs import Folders, message, tip
from .texts import FittedLabel, button_text, numbered
from .views import DigitPreview, ProbabilityChart

DEFAULT_PEN_WIDTH = 22
BUTTONS_PER_ROW = 16  # a row of Label buttons fits the pane in a 1024-pixel-wide window
MAX_LABEL_BUTTONS = 3 * BUTTONS_PER_ROW  # EMNIST Balanced's 47 classes; more are chosen in a list
PICTURE_FILTER = f"Pictures ({' '.join(f'*.{kind}' for kind in sorted(PICTURE_FORMATS))})"


class DrawPane(QWidget):
    """Canvas, pen, Undo/Clear, Label buttons, the 28x28 input, the prediction and the chart."""

    input_changed = Signal()  # a stroke changed the drawing, or an image is inspected
    label_requested = Signal(int)  # the person labelled the drawing as this class
    evidence_toggled = Signal(bool)
    compare_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field: np.ndarray | None = None  # the drawing made MNIST-style, (28, 28)
        self.inspecting = ""  # what the field shows when it is not the drawing
        self.current_input: np.ndarray | None = None  # what the model in view receives

        self.canvas = DrawingCanvas()
        self.canvas.changed.connect(self.classify_drawing)
        self.pen_width = QSlider(Qt.Orientation.Horizontal)
        self.pen_width.setRange(6, 48)
        self.pen_width.setValue(DEFAULT_PEN_WIDTH)
        self.pen_width.setToolTip("Pen width for new strokes.")
        self.pen_width.setAccessibleName("Pen width")
        self.pen_width.valueChanged.connect(self.canvas.set_pen_width)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip(
            "Remove the last stroke, or bring back a cleared drawing (Ctrl+Z)."
        )
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the canvas (Delete); Undo brings the drawing back.")
        self.clear_button.clicked.connect(self.canvas.clear)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Pen"))
        tools.addWidget(self.pen_width, 1)
        tools.addWidget(self.undo_button)
        tools.addWidget(self.clear_button)
        self.labelled: list[str] = []  # the classes the Label row is for
        self.label_row = QWidget()  # remade for each set of classes
        self.label_buttons: list[QPushButton] = []  # one per class, or none with a list
        self.label_choice: QComboBox | None = None  # the list, with many classes
        self.label_button: QPushButton | None = None  # labels as the class chosen in the list

        self.preview = DigitPreview()
        # a class name: smaller, then cut short, rather than widen the pane
        self.prediction = FittedLabel("-", smallest=self.font().pointSizeF())
        self.prediction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 2.6)
        font.setBold(True)
        self.prediction.setFont(font)
        self.prediction.setToolTip("The model's prediction for your drawing and how sure it is.")
        self.confidence = FittedLabel("draw a digit", lines=2)
        self.confidence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # "Not sure this is a digit": shown only then, on one line (smaller, or cut short with
        # the whole text in its tooltip, rather than push the preview up at a large zoom)
        self.unsure_note = FittedLabel("", smallest=self.font().pointSizeF() * 0.8)
        self.unsure_note.hide()
        self.unsure_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bold = QFont(self.font())
        bold.setBold(True)
        self.unsure_note.setFont(bold)
        self.show_evidence = QCheckBox("evidence")
        self.show_evidence.setToolTip(
            "Colour the input by how much each pixel counts for the class chosen in the\n"
            "Inside tab (the prediction unless you click a template): red for, blue against."
        )
        self.show_evidence.toggled.connect(self.evidence_toggled)
        self.show_compare = QCheckBox("compare")
        self.show_compare.setToolTip(
            "Show the linear model's probabilities beside a network's (an MLP or a CNN) for the\n"
            "same drawing: the weights in use and a bundled model of the other kind."
        )
        self.show_compare.toggled.connect(self._on_compare_toggled)
        checks = QVBoxLayout()
        checks.setSpacing(0)
        checks.addWidget(self.show_evidence)
        checks.addWidget(self.show_compare)
        left_column = QVBoxLayout()
        left_column.addWidget(self.preview)
        left_column.addLayout(checks)
        left_column.setAlignment(checks, Qt.AlignmentFlag.AlignHCenter)
        left_column.addWidget(self.prediction)
        left_column.addWidget(self.confidence)
        left_column.addWidget(self.unsure_note)
        left_column.addStretch(1)
        self.chart = ProbabilityChart([str(digit) for digit in range(10)])
        self.compare = CompareView()
        self.charts = QStackedWidget()  # the chart, or the comparison in its place
        self.charts.addWidget(self.chart)
        self.charts.addWidget(self.compare)
        reading = QHBoxLayout()
        reading.addLayout(left_column, 1)  # the preview grows with the pane, as the chart does
        reading.addWidget(self.charts, 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 3)
        layout.addLayout(tools)
        layout.addWidget(self.label_row)
        layout.addLayout(reading, 2)

    @property
    def classes(self) -> list[str]:
        return self.chart.classes

    def set_classes(self, classes: list[str]) -> None:
        """Name the classes of the weights in use on the chart and the Label row."""
        self.chart.set_classes(classes)
        if list(classes) == self.labelled:
            return  # the Label row is for these classes already
        self.labelled = list(classes)
        row = QWidget()
        grid = QGridLayout(row)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        grid.addWidget(QLabel("Label"), 0, 0)
        self.label_buttons, self.label_choice, self.label_button = [], None, None
        if len(classes) <= MAX_LABEL_BUTTONS:
            by_number = numbered(classes)  # one style for all the buttons
            for index, name in enumerate(classes):
                button = QPushButton(str(index) if by_number else button_text(name))
                key = f" (key {index})" if index < 10 else ""
                button.setToolTip(
                    tip(f"Label the drawing as {name} and keep it in your handwriting set{key}")
                )
                button.setMinimumWidth(10)
                button.clicked.connect(lambda _=False, i=index: self.label_requested.emit(i))
                line, column = divmod(index, BUTTONS_PER_ROW)
                grid.addWidget(button, line, column + 1)
                grid.setColumnStretch(column + 1, 1)
                self.label_buttons.append(button)
            controls = self.label_buttons
        else:
            self.label_choice = QComboBox()  # its entries are plain text, on one line each
            self.label_choice.addItems(
                [f"{index}: {' '.join(name.split())}" for index, name in enumerate(classes)]
            )
            self.label_choice.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            self.label_choice.setMinimumContentsLength(8)
            self.label_choice.setToolTip("The class to label the drawing as (keys 0-9 label 0-9)")
            self.label_button = QPushButton("Keep")
            self.label_button.setToolTip(
                "Label the drawing as the class chosen and keep it in your handwriting set"
            )
            self.label_button.clicked.connect(
                lambda: self.label_requested.emit(self.label_choice.currentIndex())
            )
            grid.addWidget(self.label_choice, 0, 1)
            grid.addWidget(self.label_button, 0, 2)
            grid.setColumnStretch(1, 1)
            controls = [self.label_choice, self.label_button]
        self.layout().replaceWidget(self.label_row, row)
        self.label_row.hide()
        self.label_row.deleteLater()
        self.label_row = row
        # in reading order
        chain = [self.clear_button, *controls, self.show_evidence, self.show_compare]
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)

    @Slot(bool)
    def _on_compare_toggled(self, on: bool) -> None:
        self.charts.setCurrentWidget(self.compare if on else self.chart)
        self.compare_toggled.emit(on)

    @Slot()
    def classify_drawing(self) -> None:
        """Make the drawing MNIST-style; called on every change of the canvas."""
        self.field = None if self.canvas.is_empty() else mnist_style(self.canvas.ink())
        self.inspecting = ""
        self.canvas.set_notice("")
        self.input_changed.emit()

    def inspect(self, image: np.ndarray, caption: str) -> None:
        """Show an image (already MNIST-style) instead of the drawing, until the person draws
        again; `caption` says what it is, as plain text."""
        self.field = np.asarray(image, dtype=np.float32).reshape(28, 28)
        self.inspecting = caption
        self.canvas.set_notice(
            f"The preview shows {caption}.\n\nDraw here to go back to your drawing."
        )
        self.input_changed.emit()

    def open_picture(self, path: str | Path) -> bool:
        """Read a picture file as `mnistpad predict` does and inspect it; a picture that cannot
        be read is said in a message, and the canvas and the preview stay as they were."""
        try:
            field, digits = digit_picture(Path(path))
        except PictureError as error:
            text = f"{error}.\n\nThe canvas and the preview are unchanged."
            message(self, "critical", "Cannot read the picture", text)
            return False
        caption = f"the picture {Path(path).name}"
        if digits > 1:
            caption += f", {digits} digits side by side: read as one digit, do not trust it"
        self.inspect(field, caption)
        return True

    def open_picture_dialog(self, folders: Folders) -> bool:
        path = folders.open_file(self, "Open a picture of a digit", f"{PICTURE_FILTER};;All (*)")
        return bool(path) and self.open_picture(path)

    def show_trust(self, rule: UnsureRule | None) -> bool:
        """Say beside the prediction when the input is unlike the training images (True)."""
        verdict = None if rule is None or self.field is None else rule.judge(self.field)
        unsure = verdict is not None and verdict.unsure
        digits = self.classes == [str(digit) for digit in range(10)]
        words = "Not sure this is a digit" if digits else "Not sure this is one of the classes"
        self.unsure_note.setText(words if unsure else "")
        self.unsure_note.setVisible(unsure)
        self.unsure_note.setToolTip(
            f"The model reads something, but {verdict.why()}." if unsure else ""
        )
        return unsure

    def strokes(self) -> list[dict]:
        """The drawing's strokes as the handwriting set keeps them: to a hundredth of a canvas
        unit (and a thousandth of full pressure), so that a drawing of as many points as the set
        takes always fits in a drawing's file (floats written in full took up to 58 bytes a
        point, and 18,000 points a mebibyte)."""
        return [
            {
                "width": stroke.width,
                "points": [
                    [round(p.x(), 2), round(p.y(), 2), round(w, 3)]
                    for p, w in zip(stroke.points, stroke.pressures, strict=True)
                ],
            }
            for stroke in self.canvas.strokes
        ]

    def prepare_input(self, deskewed: bool) -> np.ndarray | None:
        """The input the model in view receives, (28, 28), shown in the preview."""
        self.current_input = self.field
        if self.field is not None and deskewed:
            self.current_input = deskew(self.field.reshape(-1)).reshape(self.field.shape)
        self.preview.set_image(self.current_input)
        return self.current_input

    def show_reading(
        self, model: Model | None, evidence: np.ndarray | None, rule: UnsureRule | None = None
    ) -> None:
        """What `model` reads in the prepared input, with an evidence overlay (or None), and
        whether to trust it when there is a `rule` for the model (unsure.py)."""
        self.preview.set_evidence(evidence)
        unsure = self.show_trust(rule)
        probabilities = None
        if self.current_input is not None and model is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                probabilities = model.probabilities(self.current_input.reshape(-1))
        if probabilities is None or not np.isfinite(probabilities).all():
            self.chart.set_probabilities(None)
            self.prediction.setText("-")
            overflow = "the weights overflow\non this input (too large)"
            self.confidence.setText("draw a digit" if probabilities is None else overflow)
            return
        best = int(probabilities.argmax())
        self.chart.set_probabilities(probabilities)
        self.prediction.setText(self.chart.classes[best])
        # "sure" only of an input like the training images: of a smiley, the model's number
        sure = (
            f"the model: {probabilities[best]:.1%}" if unsure else f"{probabilities[best]:.1%} sure"
        )
        self.confidence.setText(f"{self.inspecting}\n{sure}" if self.inspecting else sure)
