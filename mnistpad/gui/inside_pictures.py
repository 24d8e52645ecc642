"""The Inside tab's pictures: colour scales for weights and maps, small square heat maps, and the
colour bars that turn their colours back into numbers.

Weights, gradients and evidence use one diverging scale centred on zero (red: for, blue: against);
feature maps, which are never negative, a sequential one from white (zero) to purple.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .canvas import SquareWidget

NEGATIVE, POSITIVE = np.array([33, 102, 172]), np.array([178, 24, 43])  # ColorBrewer RdBu ends
WHITE = np.array([247, 247, 247])
STRONG = np.array([63, 0, 125])  # ColorBrewer Purples' dark end: the strongest response
BAR_TEXT = 21  # where a colour bar's numbers start, right of its colours


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB uint8 (..., 3): white at 0, red towards +limit, blue towards -limit."""
    t = np.clip(np.asarray(values, dtype=np.float64) / (limit or 1.0), -1.0, 1.0)[..., None]
    colour = np.where(t >= 0, WHITE + t * (POSITIVE - WHITE), WHITE - t * (NEGATIVE - WHITE))
    return np.round(colour).astype(np.uint8)


def sequential(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB uint8 (..., 3): white at 0 (and below), purple at +limit."""
    t = np.clip(np.asarray(values, dtype=np.float64) / (limit or 1.0), 0.0, 1.0)[..., None]
    return np.round(WHITE + t * (STRONG - WHITE)).astype(np.uint8)


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
    """A small colour image drawn as large square pixels; clicking it emits `clicked`."""

    clicked = Signal()

    def __init__(self, minimum: int = 28, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture: QImage | None = None
        self.selected = False
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_rgb(self, rgb: np.ndarray | None) -> None:
        self.set_picture(None if rgb is None else rgb_image(rgb))

    def set_picture(self, picture: QImage | None) -> None:
        self.picture = picture
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
    """A colour scale with its limits, so the colours read as numbers: diverging (-limit, 0,
    +limit) or, for maps that are never negative, sequential (0 to limit). As wide as its
    numbers need."""

    def __init__(self, sequential: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sequential = sequential
        self.setMinimumHeight(84)
        self.set_limit(1.0)

    def set_limit(self, limit: float) -> None:
        self.limit = limit
        # Room for the usual numbers ("-0.088"), more for any wider, and never less again: a
        # scale that changed width with every stroke would shake the pictures beside it.
        texts = ["-0.088", *(text for _, _, text in self._stops())]
        widest = max(map(self.fontMetrics().horizontalAdvance, texts))
        self.setFixedWidth(max(self.minimumWidth(), BAR_TEXT + widest + 4))
        self.update()

    def _stops(self) -> tuple[tuple[float, float, str], ...]:
        """(place from the top, value on the scale, its label) of each labelled colour."""
        limit = f"{self.limit:.2g}"
        if self.sequential:
            return (0.0, 1.0, limit), (1.0, 0.0, "0")
        return (0.0, 1.0, f"+{limit}"), (0.5, 0.0, "0"), (1.0, -1.0, f"-{limit}")

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        bar = QRect(4, 8, 14, self.height() - 16)
        gradient = QLinearGradient(bar.topLeft(), bar.bottomLeft())
        colours = sequential if self.sequential else diverging
        for stop, value, _ in self._stops():
            gradient.setColorAt(stop, QColor(*colours(value, 1.0).tolist()))
        painter.fillRect(bar, gradient)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        for fraction, _, text in self._stops():
            y = round(bar.top() + fraction * bar.height())
            painter.drawText(
                QRect(BAR_TEXT, y - 8, self.width() - BAR_TEXT, 16),
                Qt.AlignmentFlag.AlignVCenter,
                text,
            )
        painter.end()
