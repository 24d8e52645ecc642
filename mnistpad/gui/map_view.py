"""The Map tab: the test images as points, placed by what the model makes of them.

Each test image is a dot, coloured by its true class, where the model's features put it
(projection.py: the layer before the output, projected by PCA or Fisher's discriminant). Images
the model finds alike lie together: a good model's classes are islands, and the misread images
(rings, when ticked) sit between them or on another class's island. Hovering over a dot shows the
image; clicking it sends it to the preview, as the Errors tab does; the drawing on the canvas is
the star, placed by the same projection. While a run trains, the map is placed again at each
epoch's end with the live model, turned to match the previous map, so the classes can be seen
pulling apart. The features come from a thread (a CNN takes seconds over 10,000 images); the
window only moves the dots.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..networks import Model, describe
from ..projection import METHODS, SetMap, map_of
from .dialogs import plain
from .errors import (
    SLOW_KINDS,
    FollowsWhenShown,
    digit_icon,
    in_thread,
    inspect_caption,
    other_classes,
    read_test_set,
)
from .session import Session
from .texts import FittedLabel

# matplotlib's "tab10": ten colours told apart on light and dark backgrounds (past ten classes
# they come back: the key says which classes share one)
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
DOT_SIZE = 4  # pixels
RING_SIZE = 10
NEAR = 8  # pixels from a dot within which the mouse is over it
KEY_COLUMNS = 5


class MapPanel(FollowsWhenShown, QWidget):
    """The test set placed by a model's features, with the drawing among it."""

    paint_first = True
    inspect_requested = Signal(object, str)  # (784,) image as in the dataset, a caption
    placed = Signal(object)  # (the request, its SetMap or the exception), from a thread

    def __init__(
        self,
        session: Session | None = None,
        model_in_view: Callable[[], tuple[Model | None, bool]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.model_in_view = session, model_in_view
        if session is not None:
            session.weights_changed.connect(self.refresh_when_shown)
            session.dataset_changed.connect(self.refresh_when_shown)
        self.model: Model | None = None  # the model the map shows
        self.map: SetMap | None = None
        self.images: np.ndarray | None = None  # the test images as the dataset holds them
        self.labels: np.ndarray | None = None
        self.classes: list[str] = []
        self.working = False  # a thread is placing a map
        self.waiting: tuple | None = None  # the newest request made meanwhile
        self.hovered: int | None = None  # the test image under the mouse
        self.drawing_input: np.ndarray | None = None  # (784,) the drawing as the model gets it
        self.drawing_point: np.ndarray | None = None  # where the drawing lies, (2,)
        self.placed.connect(self._on_placed)

        self.summary = plain(QLabel("The map appears here once the test set is placed."))
        self.summary.setWordWrap(True)
        self.method = QComboBox()
        for key, name in METHODS.items():
            self.method.addItem(name, key)
        self.method.setToolTip(
            "How the model's features are laid flat:\n"
            "PCA: the two directions in which the images differ most (classes unknown);\n"
            "Fisher LDA: the two directions that best separate the classes (test labels used)."
        )
        self.method.currentIndexChanged.connect(self.refresh_when_shown)
        self.rings = QCheckBox("rings: misread")
        self.rings.setToolTip("Ring each test image the model misreads.")
        self.rings.toggled.connect(self._show_rings)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Projection"))
        controls.addWidget(self.method)
        controls.addWidget(self.rings)
        controls.addStretch(1)

        self.plot = MapPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setAspectLocked(True)  # a circle of images stays a circle
        self.summary.setToolTip(  # not the plot's: it would cover the image pointed at
            "Each dot is a test image, coloured by its true class, placed by what the model\n"
            "computes from it: images it finds alike lie close. The star is your drawing.\n"
            "Point at a dot to see the image; click it to inspect it in the preview.\n"
            "The mouse wheel zooms, dragging moves, a double-click shows everything."
        )
        self.dots = Dots(size=DOT_SIZE, pen=None)  # made once, then moved
        self.ring_dots = pg.ScatterPlotItem(size=RING_SIZE, brush=None)
        self.star = pg.ScatterPlotItem(size=22, symbol="star")
        self.pointed = pg.ScatterPlotItem(size=14, brush=None)
        self._colour_marks()
        for item_ in (self.dots, self.ring_dots, self.pointed, self.star):
            item.addItem(item_)
        self.ring_dots.setVisible(False)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.plot.viewport().installEventFilter(self)
        self.brushes: list = []  # one per point: its class's colour
        self.hover = HoverCard(self.plot)

        self.key = QWidget()
        self.key_layout = QGridLayout(self.key)
        self.key_layout.setContentsMargins(0, 0, 0, 0)
        self.key_layout.setHorizontalSpacing(8)
        self.key_layout.setVerticalSpacing(0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.key)

    def _colour_marks(self) -> None:
        """The rings and the star in the text's colour, on the plot's: dark on light, or light
        on dark (the theme can change while the window is open)."""
        text = self.palette().color(QPalette.ColorRole.Text)
        self.ring_dots.setPen(pg.mkPen(text, width=1.2))
        self.pointed.setPen(pg.mkPen(text, width=2))
        self.star.setPen(pg.mkPen(text, width=2))
        self.star.setBrush(pg.mkBrush(self.palette().color(QPalette.ColorRole.Base)))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.PaletteChange:
            self._colour_marks()

    # -- what the map shows -------------------------------------------------------------------

    def refresh(self) -> None:
        """Place the test set with the model in view (reading the data if need be)."""
        session = self.session
        model, deskewed = self.model_in_view() if self.model_in_view else (None, False)
        if session is None or model is None:
            return
        if self.map is None:
            self.summary.setText("Reading the test set...")
        test = read_test_set(session, deskewed)
        self.stale = False
        if isinstance(test, str):
            self.show_problem(test)
            return
        dataset, inputs = test
        live = model is not session.model  # a run's, of the data it trains on
        if not live and (problem := other_classes(dataset, session.classes)):
            self.show_problem(problem)
            return
        classes = list(dataset.classes)
        self.set_model(model, inputs, dataset.test_images, dataset.test_labels, classes)

    def set_model(
        self,
        model: Model,
        inputs: np.ndarray,
        images: np.ndarray,
        labels: np.ndarray,
        classes: list[str],
    ) -> None:
        """Place `inputs` (the test images prepared for the model) by `model`'s features;
        `images` are the same as the dataset holds them, for the hover card and the preview.
        The map is made in a thread and shown when it is done; asked again meanwhile, only the
        newest request is made next."""
        request = (model, inputs, images, labels, list(classes), self.method_key())
        if self.map is None or model.kind in SLOW_KINDS:  # seconds: say so meanwhile
            self.summary.setText(f"Placing the {len(inputs):,} test images by {describe(model)}...")
        if self.working:
            self.waiting = request
        else:
            self._start(request)

    def method_key(self) -> str:
        return self.method.currentData()

    def _start(self, request: tuple) -> None:
        model, inputs, _images, labels, _classes, method = request
        same_images = self.map is not None and len(self.map.points) == len(inputs)
        reference = self.map.points if same_images else None
        self.working = True
        in_thread(
            "mnistpad-map",
            lambda: map_of(model, inputs, labels, method, reference),
            lambda result: self.placed.emit((request, result)),
        )

    @Slot(object)
    def _on_placed(self, done: tuple) -> None:
        """Show a map made (maps come in the order asked for), then make the newest one asked
        for meanwhile, turned to match this one."""
        self.working = False
        request, result = done
        if isinstance(result, Exception):
            self.show_problem(f"Cannot place the test set: {result}")
        else:
            model, _inputs, images, labels, classes, _ = request
            self.show_map(model, result, images, labels, classes)
        if self.waiting is not None:  # newer weights, data or projection came meanwhile
            waiting, self.waiting = self.waiting, None
            self._start(waiting)

    def busy(self) -> bool:
        """Whether a map asked for is still being made."""
        return self.working or self.waiting is not None

    def show_problem(self, text: str) -> None:
        """Say why there is no map, and show none (not an older model's)."""
        self.summary.setText(text)
        self.model, self.map = None, None
        for item in (self.dots, self.ring_dots, self.star):
            item.setData(pos=np.zeros((0, 2)))
        self.hide_hover()

    def show_map(
        self,
        model: Model,
        placed: SetMap,
        images: np.ndarray,
        labels: np.ndarray,
        classes: list[str],
    ) -> None:
        """Move the dots to where `placed` puts them (the GUI thread's whole share of a map)."""
        if labels is not self.labels or list(classes) != self.classes:
            self.labels, self.classes = labels, list(classes)
            brushes = [pg.mkBrush(colour) for colour in CLASS_COLOURS]
            self.brushes = [brushes[label % len(brushes)] for label in labels.tolist()]
            self.dots.clear()  # restyled, not only moved
            self._show_key()
        first = self.map is None
        self.model, self.map, self.images = model, placed, images
        self.hide_hover()  # its dot may have moved
        self.dots.show_points(placed.points, self.brushes)
        self._show_rings()
        self.show_drawing(self.drawing_input)
        if first:
            self.show_all()
        wrong = int((placed.predicted != labels).sum())
        self.summary.setText(
            f"The {len(labels):,} test images placed by {describe(model)}'s"
            f" {feature_words(model)} ({METHODS[placed.method]}). {wrong:,} are misread"
            f" ({1 - wrong / len(labels):.2%} right). Point at a dot to see its image, click it"
            " to inspect it."
        )

    def _show_key(self) -> None:
        while self.key_layout.count():
            entry = self.key_layout.takeAt(0).widget()
            entry.hide()  # deleted once back in the event loop: not shown, nor painted, meanwhile
            entry.deleteLater()
        shown = min(len(self.classes), len(CLASS_COLOURS))
        for colour_index in range(shown):
            names = self.classes[colour_index :: len(CLASS_COLOURS)]
            entry = FittedLabel("● " + ", ".join(names))
            palette = entry.palette()
            palette.setColor(QPalette.ColorRole.WindowText, QColor(CLASS_COLOURS[colour_index]))
            entry.setPalette(palette)
            row, column = divmod(colour_index, KEY_COLUMNS)
            self.key_layout.addWidget(entry, row, column)

    @Slot()
    def _show_rings(self) -> None:
        on = self.rings.isChecked() and self.map is not None
        self.ring_dots.setVisible(on)
        if on:
            misread = self.map.predicted != self.labels
            self.ring_dots.setData(pos=self.map.points[misread])

    def misread_shown(self) -> np.ndarray:
        """The points ringed, (M, 2) (none while the rings are off)."""
        if not self.ring_dots.isVisible():
            return np.zeros((0, 2))
        x, y = self.ring_dots.getData()
        return np.column_stack([x, y])

    # -- the drawing ---------------------------------------------------------------------------

    def show_drawing(self, image: np.ndarray | None) -> None:
        """Place the drawing (the input the model receives, or None) as the star."""
        self.drawing_input = None if image is None else np.asarray(image).reshape(-1)
        self.drawing_point = None
        if self.drawing_input is not None and self.map is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                point = self.map.projection(self.model.features(self.drawing_input))
            if np.isfinite(point).all():
                self.drawing_point = point
        shown = self.drawing_point
        self.star.setData(pos=np.zeros((0, 2)) if shown is None else shown.reshape(1, 2))

    # -- pointing at a dot ---------------------------------------------------------------------

    def nearest(self, scene_position: QPointF) -> int | None:
        """The test image whose dot is within NEAR pixels of this point of the plot, if any."""
        if self.map is None or len(self.map.points) == 0:
            return None
        view = self.plot.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(scene_position):
            return None
        at = view.mapSceneToView(scene_position)
        width, height = view.viewPixelSize()
        dx = (self.map.points[:, 0] - at.x()) / width
        dy = (self.map.points[:, 1] - at.y()) / height
        distance = dx * dx + dy * dy
        index = int(distance.argmin())
        return index if distance[index] <= NEAR * NEAR else None

    def describe_image(self, index: int) -> str:
        probabilities = self.map.probabilities[index]
        read_as = int(probabilities.argmax())
        true_class = self.classes[int(self.labels[index])]
        return inspect_caption(index, true_class, self.classes[read_as], probabilities[read_as])

    @Slot(object)
    def _on_mouse_moved(self, scene_position: QPointF) -> None:
        index = self.nearest(scene_position)
        self.hovered = index
        if index is None:
            self.hide_hover()
            return
        self.pointed.setData(pos=self.map.points[index : index + 1])
        self.hover.show_image(self.images[index], self.describe_image(index))
        self.hover.place(self.plot.mapFromScene(scene_position))

    def show_all(self) -> None:
        """Fit the view to the map, and keep it fitted as the map moves, until the person zooms
        or drags."""
        self.plot.getPlotItem().getViewBox().enableAutoRange()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.show_all()
            return
        index = self.nearest(event.scenePos())
        if index is not None:
            event.accept()
            self.inspect(index)

    def inspect(self, index: int) -> None:
        """Send test image `index` to the preview."""
        self.inspect_requested.emit(self.images[index], self.describe_image(index))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == event.Type.Leave:  # the mouse left the plot
            self.hide_hover()
        return super().eventFilter(watched, event)

    def hide_hover(self) -> None:
        self.hovered = None
        self.hover.hide()
        self.pointed.setData(pos=np.zeros((0, 2)))


class MapPlot(pg.PlotWidget):
    """The plot, asking for little room: in the tab's scroll area, pyqtgraph's 600x480 made
    a 768-pixel-high window scroll the key out of sight."""

    def sizeHint(self) -> QSize:
        return QSize(240, 240)


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


def feature_words(model: Model) -> str:
    """What the map places the images by, in words."""
    if model.kind == "linear":
        return "ten logits"
    if model.kind == "cnn":
        return f"dense layer ({model.shape['hidden']} units)"
    return f"hidden layer ({model.shape['hidden']} units)"
