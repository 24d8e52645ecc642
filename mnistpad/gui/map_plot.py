"""The Map tab's plot: 10,000 dots moved as the map changes, the rings, the star, and the card
showing the image under the mouse. It knows points, not models: the panel (map_view.py) says
where things are and what the card shows."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QGraphicsItem, QHBoxLayout, QLabel, QWidget

from .dialogs import plain
from .errors import digit_icon

DOT_SIZE = 4  # pixels
RING_SIZE = 10
RING_ALPHA = 0.3  # a weak model's ~1,000 rings, opaque, made a blob hiding the dots and the star
NEAR = 8  # pixels from a dot within which the mouse is over it
NONE = np.zeros((0, 2))


class MapPlot(pg.PlotWidget):
    """Dots (one per test image), rings, the star and the dot pointed at; says which dot the
    mouse is over (`pointed_at`, None when none) and which one is clicked."""

    pointed_at = Signal(object)  # the index of the dot under the mouse, or None
    clicked = Signal(int)  # the index of a dot clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)  # no menu: none built
        self.hideButtons()
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setAspectLocked(True)  # a circle of images stays a circle
        self.points: np.ndarray | None = None  # (N, 2), where the dots are
        self.dots = Dots(size=DOT_SIZE, pen=None)  # made once, then moved
        # kept as a picture while only the star moves: a stroke's repaint of the plot took 5.7
        # ms of CPU (10,000 dots drawn again), 1.5 ms with it (60 strokes a second while drawing)
        self.dots.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.ring_dots = pg.ScatterPlotItem(size=RING_SIZE, brush=None)
        self.star = pg.ScatterPlotItem(size=22, symbol="star")
        self.pointed = pg.ScatterPlotItem(size=14, brush=None)
        self._colour_marks()
        for mark in (self.dots, self.ring_dots, self.pointed, self.star):
            item.addItem(mark)
        self.ring_dots.setVisible(False)
        self.card = HoverCard(self)
        self.mouse = QPointF()  # where the mouse last was, in the scene
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.viewport().installEventFilter(self)

    def sizeHint(self) -> QSize:
        """Little: in the tab's scroll area pyqtgraph's 600x480 made a 768-pixel-high window
        scroll the key out of sight."""
        return QSize(240, 240)

    def _colour_marks(self) -> None:
        """The rings and the star in the text's colour, on the plot's: dark on light, or light
        on dark (the theme can change while the window is open); the rings thin and half
        transparent, over the dots."""
        text = self.palette().color(QPalette.ColorRole.Text)
        ring = QColor(text)
        ring.setAlphaF(RING_ALPHA)
        self.ring_dots.setPen(pg.mkPen(ring, width=1))
        self.pointed.setPen(pg.mkPen(text, width=2))
        self.star.setPen(pg.mkPen(text, width=2))
        self.star.setBrush(pg.mkBrush(self.palette().color(QPalette.ColorRole.Base)))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange and hasattr(self, "star"):  # (not while
            self._colour_marks()  # pyqtgraph's __init__ styles the view, before the marks exist)

    # -- what is shown -------------------------------------------------------------------------

    def show_points(self, points: np.ndarray, brushes: list) -> None:
        """The dots at `points` (N, 2), the i-th filled with brushes[i]; the first map is fitted
        to the view."""
        first = self.points is None
        self.points = points
        self.hide_card()  # its dot may have moved
        self.dots.show_points(points, brushes)
        if first:
            self.show_all()

    def restyle(self) -> None:
        """The next dots are coloured anew (other images), not only moved."""
        self.dots.clear()

    def show_nothing(self) -> None:
        self.points = None
        for mark in (self.dots, self.ring_dots, self.star):
            mark.setData(pos=NONE)
        self.hide_card()

    def show_rings(self, points: np.ndarray | None) -> None:
        """Rings around these points (M, 2), or none."""
        self.ring_dots.setVisible(points is not None)
        if points is not None:
            self.ring_dots.setData(pos=points)

    def rings_shown(self) -> np.ndarray:
        """The points ringed, (M, 2) (none while the rings are off)."""
        if not self.ring_dots.isVisible():
            return NONE
        return np.column_stack(self.ring_dots.getData())

    def show_star(self, point: np.ndarray | None) -> None:
        self.star.setData(pos=NONE if point is None else np.reshape(point, (1, 2)))

    def show_all(self) -> None:
        """Fit the view to the map, and keep it fitted as the map moves, until the person zooms
        or drags."""
        self.getPlotItem().getViewBox().enableAutoRange()

    # -- pointing at a dot ---------------------------------------------------------------------

    def nearest(self, scene_position: QPointF) -> int | None:
        """The dot within NEAR pixels of this point of the scene, if any."""
        if self.points is None or len(self.points) == 0:
            return None
        view = self.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(scene_position):
            return None
        at = view.mapSceneToView(scene_position)
        width, height = view.viewPixelSize()
        dx = (self.points[:, 0] - at.x()) / width
        dy = (self.points[:, 1] - at.y()) / height
        distance = dx * dx + dy * dy
        index = int(distance.argmin())
        return index if distance[index] <= NEAR * NEAR else None

    def show_card(self, index: int, image: np.ndarray, caption: str) -> None:
        """Ring dot `index` and show its image beside the mouse."""
        self.pointed.setData(pos=self.points[index : index + 1])
        self.card.show_image(image, caption)
        self.card.place(self.mapFromScene(self.mouse))

    def hide_card(self) -> None:
        self.card.hide()
        self.pointed.setData(pos=NONE)

    @Slot(object)
    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        self.mouse = scene_position
        index = self.nearest(scene_position)
        if index is None:
            self.hide_card()
        self.pointed_at.emit(index)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.show_all()
            return
        index = self.nearest(event.scenePos())
        if index is not None:
            event.accept()
            self.clicked.emit(index)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == event.Type.Leave:  # the mouse left the plot
            self.hide_card()
            self.pointed_at.emit(None)
        return super().eventFilter(watched, event)


class Dots(pg.ScatterPlotItem):
    """A scatter plot whose dots keep their colours while they move: setData restyles each of
    10,000 dots (37 ms, measured in bench/map_speed.py); moving them costs about 1 ms."""

    def show_points(self, points: np.ndarray, brushes: list) -> None:
        """The dots at `points` (N, 2), the i-th filled with brushes[i] (set when N changes)."""
        if len(self.data) != len(points):
            self.setData(pos=points, brush=brushes)
            return
        self.data["x"], self.data["y"] = points[:, 0], points[:, 1]
        self.bounds = [None, None]  # pyqtgraph's cached data bounds, as setData resets them
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.invalidate()


class HoverCard(QFrame):
    """The image under the mouse, with what it is, shown beside the pointer over the plot."""

    SIZE = 84

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.Box)
        self.setAutoFillBackground(True)
        self.picture = QLabel()
        self.picture.setFixedSize(self.SIZE, self.SIZE)
        self.caption = plain(QLabel())
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(2 * self.SIZE)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def show_image(self, image: np.ndarray, caption: str) -> None:
        self.picture.setPixmap(digit_icon(image, self.SIZE).pixmap(self.SIZE, self.SIZE))
        self.caption.setText(caption.removeprefix("test image "))
        self.adjustSize()
        self.show()
        self.raise_()

    def place(self, pointer) -> None:
        """Beside the pointer, inside the plot."""
        room = self.parentWidget().rect()
        x, y = pointer.x() + 14, pointer.y() + 14
        if x + self.width() > room.right():
            x = pointer.x() - 14 - self.width()
        if y + self.height() > room.bottom():
            y = pointer.y() - 14 - self.height()
        self.move(max(0, x), max(0, y))
