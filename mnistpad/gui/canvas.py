"""The drawing canvas: strokes from a mouse, pen tablet or touch screen, kept as vectors.

Strokes live in a fixed 280x280 coordinate square, whatever the widget's size, so resizing the
window rescales the drawing instead of changing it. `ink()` renders them, anti-aliased, into a
280x280 raster (1 = ink) for MNIST-style preprocessing; the screen gets the same strokes drawn
crisply at the widget's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

SIDE = 280.0  # side of the drawing's coordinate square, and of the ink raster
DEFAULT_WIDTH = 22.0  # pen width in those units: a digit across the canvas gets MNIST-like strokes


@dataclass
class Stroke:
    width: float  # pen width in canvas units
    points: list[QPointF] = field(default_factory=list)
    pressures: list[float] = field(default_factory=list)  # 1.0 for a mouse


class SquareWidget(QWidget):
    """A widget that shows its content in the largest centred square of its area."""

    side_hint = 168

    def square(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def sizeHint(self) -> QSize:
        return QSize(self.side_hint, self.side_hint)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width


class DrawingCanvas(SquareWidget):
    """A square pad to draw a digit on. Emits `changed` on every change, during a stroke too."""

    changed = Signal()
    side_hint = 420

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strokes: list[Stroke] = []
        self.pen_width = DEFAULT_WIDTH
        self._drawing = False
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(
            "Draw one digit here with the mouse, a pen or a finger.\n"
            "Ctrl+Z undoes the last stroke; Delete clears the canvas."
        )
        self.setAccessibleName("Drawing canvas")

    # -- what other code uses --------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.strokes

    def clear(self) -> None:
        if self.strokes:
            self.strokes.clear()
            self._drawing = False
            self._changed()

    def undo(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self._drawing = False
            self._changed()

    def set_pen_width(self, width: float) -> None:
        self.pen_width = float(width)

    def ink(self) -> np.ndarray:
        """(280, 280) float64 ink intensities in [0, 1], rendered with anti-aliasing."""
        image = QImage(int(SIDE), int(SIDE), QImage.Format.Format_Grayscale8)
        image.fill(0)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_strokes(painter, QColor(255, 255, 255), scale=1.0)
        painter.end()
        stride = image.bytesPerLine()
        pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * image.height())
        return pixels.reshape(image.height(), stride)[:, : image.width()] / 255.0

    # -- input -----------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position(), 1.0)

    def mouseMoveEvent(self, event) -> None:
        if self._drawing and event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position(), 1.0)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._drawing:
            self._extend(event.position(), 1.0)
            self._drawing = False

    def tabletEvent(self, event) -> None:
        """A pen tablet: the pressure sets the stroke's width, as with a real pen."""
        pressure = max(0.2, event.pressure())
        kind = event.type()
        if kind == QEvent.Type.TabletPress:
            self._begin(event.position(), pressure)
        elif kind == QEvent.Type.TabletMove and self._drawing:
            self._extend(event.position(), pressure)
        elif kind == QEvent.Type.TabletRelease and self._drawing:
            self._drawing = False
        event.accept()  # no synthesised mouse events on top

    # Touch screens: Qt turns the first touch point into mouse events, handled above.

    def _begin(self, position: QPointF, pressure: float) -> None:
        self._drawing = True
        self.strokes.append(Stroke(width=self.pen_width))
        self._extend(position, pressure)

    def _extend(self, position: QPointF, pressure: float) -> None:
        stroke = self.strokes[-1]
        point = self._to_canvas(position)
        if stroke.points and stroke.points[-1] == point:
            return
        stroke.points.append(point)
        stroke.pressures.append(pressure)
        self._changed()

    def _changed(self) -> None:
        self.update()
        self.changed.emit()

    # -- geometry and painting --------------------------------------------------------------

    def _to_canvas(self, position: QPointF) -> QPointF:
        square = self.square()
        scale = SIDE / square.width()
        x = min(max((position.x() - square.x()) * scale, 0.0), SIDE)
        y = min(max((position.y() - square.y()) * scale, 0.0), SIDE)
        return QPointF(x, y)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        square = self.square()
        painter.fillRect(square, palette.color(QPalette.ColorRole.Base))
        border = QPen(palette.color(QPalette.ColorRole.Mid), 1.0)
        painter.setPen(border)
        painter.drawRect(square.adjusted(0.5, 0.5, -0.5, -0.5))
        if not self.strokes:
            hint = palette.color(QPalette.ColorRole.PlaceholderText)
            painter.setPen(hint)
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        painter.translate(square.topLeft())
        self._paint_strokes(painter, palette.color(QPalette.ColorRole.Text), square.width() / SIDE)
        painter.end()

    def _paint_strokes(self, painter: QPainter, color: QColor, scale: float) -> None:
        painter.save()
        painter.scale(scale, scale)
        pen = QPen(color)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        for stroke in self.strokes:
            points = stroke.points
            if len(set(stroke.pressures)) == 1:  # a mouse or a steady pen: one path, one call
                pen.setWidthF(stroke.width * stroke.pressures[0])
                painter.setPen(pen)
                if len(points) == 1:
                    painter.drawPoint(points[0])
                else:
                    painter.drawPolyline(points)
                continue
            for index in range(1, len(points)):  # varying pressure: each segment its own width
                pen.setWidthF(stroke.width * stroke.pressures[index])
                painter.setPen(pen)
                painter.drawLine(QLineF(points[index - 1], points[index]))
        painter.restore()


def mouse_event(canvas: DrawingCanvas, kind: QEvent.Type, x: float, y: float) -> QMouseEvent:
    """A left-button mouse event at (x, y), fractions (0-1) of the canvas's drawing square."""
    square = canvas.square()
    position = QPointF(square.x() + x * square.width(), square.y() + y * square.height())
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    button = none if kind == QEvent.Type.MouseMove else left
    buttons = none if kind == QEvent.Type.MouseButtonRelease else left
    return QMouseEvent(
        kind,
        position,
        canvas.mapToGlobal(position),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )


def send_stroke(
    canvas: DrawingCanvas, points: list[tuple[float, float]], release: bool = True
) -> None:
    """Draw one stroke through real mouse events: press, moves and (unless told not to) release.
    Points are fractions of the drawing square (0-1). Used by the screenshot script and tests."""
    kinds = [QEvent.Type.MouseButtonPress] + [QEvent.Type.MouseMove] * (len(points) - 1)
    if release:
        kinds[-1] = QEvent.Type.MouseButtonRelease
    for kind, (x, y) in zip(kinds, points, strict=True):
        QApplication.sendEvent(canvas, mouse_event(canvas, kind, x, y))
