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
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..networks import Model, describe
from ..projection import METHODS, SetMap, map_of
from .dialogs import choices, plain
from .errors import (
    SLOW_KINDS,
    FollowsWhenShown,
    in_thread,
    inspect_caption,
    other_classes,
    read_test_set,
)
from .map_plot import MapPlot
from .session import Session
from .texts import FittedLabel

# matplotlib's "tab10": ten colours told apart on light and dark backgrounds (past ten classes
# they come back: the key says which classes share one)
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip
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
        self.method = choices(METHODS)
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
        self.plot.pointed_at.connect(self._on_pointed_at)
        self.plot.clicked.connect(self.inspect)
        self.summary.setToolTip(  # not the plot's: it would cover the image pointed at
            "Each dot is a test image, coloured by its true class, placed by what the model\n"
            "computes from it: images it finds alike lie close. The star is your drawing.\n"
            "While a run trains, the map shows its model, placed again at each epoch's end.\n"
            "Point at a dot to see the image; click it to inspect it in the preview.\n"
            "The mouse wheel zooms, dragging moves, a double-click shows everything."
        )
        self.brushes: list = []  # one per point: its class's colour

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
            self,
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
        self.plot.show_nothing()

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
            self.plot.restyle()
            self._show_key()
        self.model, self.map, self.images = model, placed, images
        self.plot.show_points(placed.points, self.brushes)
        self._show_rings()
        self.show_drawing(self.drawing_input)
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
        self.plot.show_rings(self.map.points[self.map.predicted != self.labels] if on else None)

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
        self.plot.show_star(self.drawing_point)

    # -- pointing at a dot ---------------------------------------------------------------------

    def describe_image(self, index: int) -> str:
        probabilities = self.map.probabilities[index]
        read_as = int(probabilities.argmax())
        true_class = self.classes[int(self.labels[index])]
        return inspect_caption(index, true_class, self.classes[read_as], probabilities[read_as])

    @Slot(object)
    def _on_pointed_at(self, index: int | None) -> None:
        self.hovered = index
        if index is not None:
            self.plot.show_card(index, self.images[index], self.describe_image(index))

    @Slot(int)
    def inspect(self, index: int) -> None:
        """Send test image `index` to the preview."""
        self.inspect_requested.emit(self.images[index], self.describe_image(index))


def feature_words(model: Model) -> str:
    """What the map places the images by, in words."""
    if model.kind == "linear":
        return "ten logits"
    if model.kind == "cnn":
        return f"dense layer ({model.shape['hidden']} units)"
    return f"hidden layer ({model.shape['hidden']} units)"
