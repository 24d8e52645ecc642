"""Inside the model: each class's weights as a 28x28 template, and the evidence a drawing gives.

A linear model's logit for class c is z_c = sum_i W[c, i] x_i + b[c]: the template W[c] says how
much each pixel's ink counts for c (red: for, blue: against), and the evidence map W[c] * x says how
much it counted in this drawing. Both use one diverging colour scale centred on zero.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPalette, QPen
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..model import LinearModel
from .canvas import SquareWidget
from .dialogs import plain, tip

NEGATIVE, POSITIVE = np.array([33, 102, 172]), np.array([178, 24, 43])  # ColorBrewer RdBu ends
WHITE = np.array([247, 247, 247])


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB uint8 (..., 3): white at 0, red towards +limit, blue towards -limit."""
    t = np.clip(np.asarray(values, dtype=np.float64) / (limit or 1.0), -1.0, 1.0)[..., None]
    colour = np.where(t >= 0, WHITE + t * (POSITIVE - WHITE), WHITE - t * (NEGATIVE - WHITE))
    return np.round(colour).astype(np.uint8)


def evidence_overlay(evidence: np.ndarray) -> np.ndarray:
    """RGBA uint8 (28, 28, 4) to lay over the input: red or blue, as opaque as the evidence is
    strong relative to the strongest pixel."""
    t = evidence / (float(np.abs(evidence).max()) or 1.0)
    rgba = np.zeros((*evidence.shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(t[..., None] >= 0, POSITIVE, NEGATIVE)
    rgba[..., 3] = np.round(255 * np.abs(t) ** 0.6)
    return rgba


def rgb_image(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of the (H, W, 3 or 4) uint8 pixels (RGB or RGBA)."""
    rgb = np.ascontiguousarray(rgb)
    height, width, channels = rgb.shape
    kind = QImage.Format.Format_RGB888 if channels == 3 else QImage.Format.Format_RGBA8888
    return QImage(rgb.data, width, height, channels * width, kind).copy()


class Heatmap(SquareWidget):
    """A 28x28 colour image drawn as large square pixels; clicking it emits `clicked`."""

    clicked = Signal()

    def __init__(self, minimum: int = 28, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture: QImage | None = None
        self.selected = False
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_rgb(self, rgb: np.ndarray | None) -> None:
        self.picture = None if rgb is None else rgb_image(rgb)
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        square = self.square()
        if self.picture is not None:
            painter.drawImage(square, self.picture)
        else:
            painter.fillRect(square, self.palette().color(QPalette.ColorRole.AlternateBase))
        colour = self.palette().color(
            QPalette.ColorRole.Highlight if self.selected else QPalette.ColorRole.Mid
        )
        painter.setPen(QPen(colour, 3 if self.selected else 1))
        painter.drawRect(
            square.adjusted(1, 1, -2, -2) if self.selected else square.adjusted(0, 0, -1, -1)
        )
        painter.end()


class ColourBar(QWidget):
    """The diverging scale with its limits, so the colours read as numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit = 1.0
        self.setFixedWidth(56)
        self.setMinimumHeight(84)

    def set_limit(self, limit: float) -> None:
        self.limit = limit
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        bar = QRect(4, 8, 14, self.height() - 16)
        gradient = QLinearGradient(bar.topLeft(), bar.bottomLeft())
        for stop, value in ((0.0, 1.0), (0.5, 0.0), (1.0, -1.0)):
            gradient.setColorAt(stop, QColor(*diverging(value, 1.0).tolist()))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        for fraction, text in (
            (0.0, f"+{self.limit:.2g}"),
            (0.5, "0"),
            (1.0, f"-{self.limit:.2g}"),
        ):
            y = round(bar.top() + fraction * bar.height())
            painter.drawText(QRect(21, y - 8, 35, 16), Qt.AlignmentFlag.AlignVCenter, text)
        painter.end()


class InsidePanel(QWidget):
    """The templates of all classes (click one to choose it) and, for the input in view, the
    evidence for the chosen class, with every class's logit."""

    class_chosen = Signal(int)  # a class clicked, or -1: back to following the prediction

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: LinearModel | None = None
        self.classes: list[str] = []
        self.input: np.ndarray | None = None  # (784,) what the model receives
        self.chosen: int | None = None  # None: follow the prediction
        self.tiles: list[Heatmap] = []
        self.captions: list[QLabel] = []
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        self.template_bar = ColourBar()
        self.template_bar.setToolTip(
            "Weight scale of the templates: the largest weight either way."
        )
        templates = QHBoxLayout()
        templates.addLayout(self.grid, 1)
        templates.addWidget(self.template_bar)

        self.template = Heatmap(84)
        self.template.setToolTip("The chosen class's template: its row of W.")
        self.evidence = Heatmap(84)
        self.evidence.setToolTip(
            "Evidence: weight times ink, pixel by pixel. Red pixels raise the chosen class's\n"
            "logit, blue ones lower it; paper (no ink) gives none."
        )
        self.evidence_bar = ColourBar()
        self.evidence_bar.setToolTip("Evidence scale: the largest contribution either way.")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        pair = QHBoxLayout()
        for title, widget in (
            ("Template", self.template),
            ("Evidence in your input", self.evidence),
        ):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>{title}</b>"), 0, Qt.AlignmentFlag.AlignHCenter)
            column.addWidget(widget, 1)
            pair.addLayout(column, 1)
        pair.addWidget(self.evidence_bar)

        layout = QVBoxLayout(self)
        heading = QLabel(
            "<b>Templates</b>: each class's weights as an image. Red pixels are evidence for the"
            " class when inked, blue against. Click one to see its evidence below (click it again"
            " to follow the prediction)."
        )
        heading.setWordWrap(True)
        layout.addWidget(heading)
        layout.addLayout(templates, 3)
        layout.addLayout(pair, 3)
        layout.addWidget(self.explanation)

    def set_classes(self, classes: list[str]) -> None:
        if list(classes) == self.classes:
            return
        self.classes = list(classes)
        for widget in self.tiles + self.captions:
            self.grid.removeWidget(widget)
            widget.deleteLater()
        self.tiles, self.captions = [], []
        columns = 5 if len(classes) <= 10 else 8
        for index, name in enumerate(self.classes):
            tile = Heatmap()
            tile.setToolTip(tip(f"Template of {name}: click to see its evidence in your input"))
            tile.clicked.connect(lambda index=index: self._tile_clicked(index))
            caption = plain(QLabel(name))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setWordWrap(True)  # long class names wrap instead of widening the column
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            row, column = divmod(index, columns)
            self.grid.addWidget(tile, 2 * row, column)
            self.grid.addWidget(caption, 2 * row + 1, column)
            self.tiles.append(tile)
            self.captions.append(caption)
        if self.chosen is not None and self.chosen >= len(self.classes):
            self.chosen = None

    def show(self, model: LinearModel | None, image: np.ndarray | None) -> None:
        """Show the templates of `model` (redrawn only when it is another model) and the
        evidence that `image`, the model's (28, 28) input or None, gives."""
        if model is not self.model and model is not None:
            limit = float(np.abs(model.W).max()) or 1.0
            self.template_bar.set_limit(limit)
            for tile, row in zip(self.tiles, model.W, strict=False):
                tile.set_rgb(diverging(row.reshape(28, 28), limit))
        self.model = model
        self.input = None if image is None else np.asarray(image, dtype=np.float32).reshape(-1)
        self._show_evidence()

    def choose(self, index: int | None) -> None:
        """Show the evidence for class `index`, or for the predicted class with None."""
        self.chosen = index
        self._show_evidence()
        self.class_chosen.emit(-1 if index is None else index)

    def _tile_clicked(self, index: int) -> None:
        """Choose the class, or go back to following the prediction if it was chosen already."""
        self.choose(None if index == self.chosen else index)

    def shown_class(self) -> int | None:
        if self.model is None:
            return None
        if self.chosen is not None:
            return self.chosen
        return int(self.model.logits(self.input).argmax()) if self.input is not None else 0

    def evidence_map(self) -> np.ndarray | None:
        """(28, 28) contributions of each pixel to the shown class's logit, or None."""
        shown = self.shown_class()
        if shown is None or self.input is None:
            return None
        return (self.model.W[shown] * self.input).reshape(28, 28)

    def _show_evidence(self) -> None:
        shown = self.shown_class()
        for index, tile in enumerate(self.tiles):
            tile.selected = index == shown
            tile.update()
        if shown is None:
            self.template.set_rgb(None)
            self.evidence.set_rgb(None)
            self.explanation.setText("")
            return
        limit = self.template_bar.limit
        self.template.set_rgb(diverging(self.model.W[shown].reshape(28, 28), limit))
        evidence = self.evidence_map()
        name = self.classes[shown]
        if evidence is None:
            self.evidence.set_rgb(None)
            for caption, label in zip(self.captions, self.classes, strict=True):
                caption.setText(label)
            self.explanation.setText(
                f"Draw a digit to see the evidence for <b>{escape(name)}</b>."
            )
            return
        scale = float(np.abs(evidence).max()) or 1.0
        self.evidence_bar.set_limit(scale)
        self.evidence.set_rgb(diverging(evidence, scale))
        logits = self.model.logits(self.input)
        best = int(logits.argmax())
        for index, (caption, label) in enumerate(zip(self.captions, self.classes, strict=True)):
            text = f"{label}: {logits[index]:+.2f}"
            caption.setText(text)
            font = caption.font()
            font.setBold(index == best)
            caption.setFont(font)
        ink = float(evidence.sum())
        other = (
            ""
            if shown == best
            else f"; the prediction, {escape(self.classes[best])}, has {logits[best]:+.2f}"
        )
        self.explanation.setText(
            f"Logit of <b>{escape(name)}</b>: {ink:+.2f} evidence from the ink,"
            f" {self.model.b[shown]:+.2f} bias, <b>{logits[shown]:+.2f}</b> in all{other}. The"
            " number under each template is that class's logit for your input; the highest wins."
        )
