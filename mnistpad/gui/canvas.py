"""The drawing canvas: strokes from a mouse, pen tablet or touch screen, kept as vectors.

Strokes live in a fixed 280x280 coordinate square, whatever the widget's size, so resizing the
window rescales the drawing instead of changing it. `ink()` renders them, anti-aliased, into a
280x280 raster (1 = ink) for MNIST-style preprocessing; the screen gets the same strokes drawn
crisply at the widget's size.

Undo takes back the last stroke or the last Clear (a Clear is one step: the whole drawing comes
back). Drawing gives the canvas the keyboard focus, so that Delete and Ctrl+Z act on the drawing
just made rather than on whatever had the focus before (the Handwriting gallery's drawings).
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
        # what Undo takes back, last first: None for a stroke, or the strokes a Clear removed
        self.history: list[list[Stroke] | None] = []
        self.notice = ""  # said over the canvas: the preview shows something else than it
        self.pen_width = DEFAULT_WIDTH
        self._drawing = False
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_AcceptTouchEvents, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip(
            "Draw one digit here with the mouse, a pen or a finger.\n"
            "Delete clears the canvas; Ctrl+Z undoes the last stroke, or the Clear."
        )
        self.setAccessibleName("Drawing canvas")

    # -- what other code uses --------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.strokes

    def clear(self) -> None:
        """Clear the drawing; Undo brings it back whole."""
        if self.strokes:
            self.history.append(self.strokes)
            self.strokes = []
            self._drawing = False
            self._changed()

    def undo(self) -> None:
        """Take back the last stroke, or the last Clear."""
        if not self.history:
            return
        step = self.history.pop()
        if step is None:
            self.strokes.pop()
        else:
            self.strokes = step
        self._drawing = False
        self._changed()

    def set_notice(self, text: str) -> None:
        """Say `text` (plain) over the canvas, or nothing with ""."""
        self.notice = text
        self.update()

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
        self.setFocus(Qt.FocusReason.MouseFocusReason)  # a pen's press too: Delete acts here
        self._drawing = True
        self.strokes.append(Stroke(width=self.pen_width))
        self.history.append(None)
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
        paper = paper_colour(palette)
        painter.fillRect(square, paper)
        focused = self.hasFocus()
        frame = palette.color(QPalette.ColorRole.Highlight) if focused else frame_colour(palette)
        painter.setPen(QPen(frame, 2.0))
        painter.drawRect(square.adjusted(1, 1, -1, -1))
        if not self.strokes and not self.notice:
            hint = palette.color(QPalette.ColorRole.PlaceholderText)
            painter.setPen(hint)
            font = painter.font()
            font.setPointSizeF(font.pointSizeF() * 1.3)
            painter.setFont(font)
            painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        painter.save()
        painter.translate(square.topLeft())
        painter.setOpacity(0.3 if self.notice else 1.0)  # not what the preview shows
        self._paint_strokes(painter, palette.color(QPalette.ColorRole.Text), square.width() / SIDE)
        painter.restore()
        if self.notice:  # plain text, on the paper, over the faded strokes
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            room = square.adjusted(12, 12, -12, -12)
            text = painter.boundingRect(room, flags, self.notice).adjusted(-6, -4, 6, 4)
            paper.setAlpha(220)
            painter.fillRect(text, paper)
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(room, flags, self.notice)
        painter.end()

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.update()  # the frame shows where Delete and Ctrl+Z act

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.update()

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


def _mix(colour: QColor, other: QColor, share: float) -> QColor:
    """`share` of the way from `colour` to `other`."""
    pairs = zip(colour.getRgbF()[:3], other.getRgbF()[:3], strict=True)
    return QColor.fromRgbF(*(a + (b - a) * share for a, b in pairs))


def frame_colour(palette: QPalette) -> QColor:
    """A frame that stands out from the window in any palette, light or dark: halfway from the
    window's colour to its text's (the Mid role of a dark theme can be the window's colour)."""
    window = palette.color(QPalette.ColorRole.Window)
    return _mix(window, palette.color(QPalette.ColorRole.WindowText), 0.45)


def paper_colour(palette: QPalette) -> QColor:
    """The canvas's paper: the palette's Base, unless it is too close to the window's colour to
    tell them apart (dark themes), then a shade towards the text's colour."""
    base, window = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Window)
    if abs(base.lightnessF() - window.lightnessF()) >= 0.04:
        return base
    return _mix(window, palette.color(QPalette.ColorRole.Text), 0.08)


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
