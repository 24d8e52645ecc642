"""The Errors tab: where the weights in use go wrong on the test set, and on which images.

A confusion matrix (rows: the true class, columns: the prediction) counts the test images of each
kind; clicking a cell lists that cell's images, the most confident mistakes first, and
double-clicking one (or Enter) sends it to the preview, where its evidence map can be inspected.
Every kind of model is classified alike; a CNN takes seconds over MNIST's 10,000 test images, so
it is classified in a thread of its own while the tab says so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..data import DataError, Dataset
from ..model import OutputOverflow, confusion_matrix, softmax
from ..networks import Model, describe
from ..train_process import NICENESS
from .dialogs import plain, tip
from .errors_classes import PER_CLASS_TIP, TrainingBrowser, learned_from, show_per_class
from .session import Session

MAX_SHOWN = 300  # images listed for one cell; the count says how many there are
SLOW_KINDS = {"cnn"}  # models classified off the GUI thread (the others take well under a second)
SLOW_IMAGES = 20_000  # and test sets as large as this, whatever the model (up to 290,000 images)
COLLECT_MS = 15  # how often the window looks for the result of work done in a thread


def icon_gallery(icon: int, tip: str) -> QListWidget:
    """A list of small images in rows that reflow with the width, each with a caption."""
    gallery = QListWidget()
    gallery.setViewMode(QListWidget.ViewMode.IconMode)
    gallery.setIconSize(QSize(icon, icon))
    gallery.setGridSize(QSize(icon + 16, icon + 28))
    gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
    gallery.setMovement(QListWidget.Movement.Static)
    gallery.setUniformItemSizes(True)
    gallery.setToolTip(tip)
    return gallery


def digit_icon(image: np.ndarray, size: int = 56) -> QIcon:
    grey = np.ascontiguousarray(np.round(255 * image.reshape(28, 28)).astype(np.uint8))
    picture = QImage(grey.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(picture.scaled(size, size)))


def read_test_set(session: Session, deskewed: bool) -> tuple[Dataset, np.ndarray] | str:
    """The data in use and its test images as a model with (or without) deskewed inputs sees
    them, or why not, in words."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        return session.loaded_dataset(), session.test_inputs(deskewed)
    except DataError as error:
        return f"Cannot read the test set: {error}"
    finally:
        QApplication.restoreOverrideCursor()


def other_classes(dataset: Dataset, classes: list[str]) -> str:
    """Why weights of these classes are not scored on `dataset`, or "" if they can be."""
    if list(dataset.classes) == list(classes):
        return ""
    return (
        f"The weights in use are for other classes than {dataset.name}'s: train on this data or"
        " open weights made for it."
    )


def in_thread(
    owner: QObject, name: str, work: Callable[[], object], deliver: Callable[[object], None]
) -> None:
    """Run work() in a thread of its own, then deliver(its result), or the exception it raised
    (overflow, no memory, or a bug: a panel must not say "Classifying..." forever), in the
    window's thread. The thread touches no Qt object: a timer of `owner` collects the result
    (a thread that emitted the panel's signal held the panel, and a window closed meanwhile was
    then freed, or emitted into, from that thread: a crash). Gone with `owner`, it delivers
    nothing."""
    done: Future = Future()

    def run() -> None:
        try:  # background work, as the training child is: the window comes first (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        except (AttributeError, OSError):
            pass
        try:
            done.set_result(work())
        except Exception as error:
            done.set_result(error)

    collector = QTimer(owner)
    collector.setInterval(COLLECT_MS)

    def collect() -> None:
        if done.done():
            collector.stop()
            collector.deleteLater()
            deliver(done.result())

    collector.timeout.connect(collect)
    collector.start()
    threading.Thread(target=run, name=name, daemon=True).start()


class FollowsWhenShown:
    """A tab (a QWidget, after this in the bases) that follows the weights in use only while it
    is shown: other weights or data mark it stale, and it refreshes when shown again."""

    stale = True  # what is shown is not about the weights and data in use
    paint_first = False  # shown, refresh once the tab is painted (reading the data can take
    # seconds the first time; the Errors tab's tests expect its matrix at once)

    def refresh(self) -> None:
        raise NotImplementedError

    def refresh_when_shown(self) -> None:
        self.stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.stale and self.paint_first:
            QTimer.singleShot(0, self._refresh_if_stale)
        elif self.stale:
            self.refresh()

    def _refresh_if_stale(self) -> None:
        if self.stale and self.isVisible():
            self.refresh()


def inspect_caption(index: int, true_class: str, read_as: str, sure: float) -> str:
    """What the preview says of a test image sent to it (from the Errors or the Map tab)."""
    return f"test image #{index}: true class {true_class}, read as {read_as} ({sure:.1%})"


class CountsTable(QTableWidget):
    """The confusion matrix: its columns share the pane's width, and its text gets smaller (down to
    6.5 points) rather than cut short in narrow cells (1135 in a 1024-pixel-wide window)."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_text()

    def fit_text(self) -> None:
        font = QFont(QApplication.font(self))
        cells = np.ndindex(self.rowCount(), self.columnCount())
        texts = [item.text() for cell in cells if (item := self.item(*cell))]
        widest = max(map(QFontMetrics(font).horizontalAdvance, texts), default=0)
        cell = self.viewport().width() / max(self.columnCount(), 1) - 8  # the cell's margins
        if widest > cell > 0:
            font.setPointSizeF(max(6.5, font.pointSizeF() * cell / widest))
        self.setFont(font)


class ErrorsPanel(FollowsWhenShown, QWidget):
    """Confusion matrix of a model on a test set, and a gallery of one cell's images."""

    inspect_requested = Signal(object, str)  # (784,) image as in the dataset, a caption
    classified = Signal(int, object)  # (classification number, its results), from a thread

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        if session is not None:  # follow the weights and the data in use, while shown
            session.weights_changed.connect(self.refresh_when_shown)
            session.dataset_changed.connect(self.refresh_when_shown)
        self.images: np.ndarray | None = None  # the test images as the dataset holds them
        self.labels: np.ndarray | None = None
        self.classes: list[str] = []
        self.probabilities: np.ndarray | None = None  # (N, C) of the model shown
        self.classifications = 0  # started so far: only the newest one's results are shown
        self.classified.connect(self._on_classified)
        self.summary = plain(QLabel("The confusion matrix appears here once the test set is read."))
        self.summary.setWordWrap(True)
        self.matrix = CountsTable()
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.setToolTip(
            "Test images by true class (rows) and predicted class (columns).\n"
            "Click a cell to see its images."
        )
        self.matrix.cellClicked.connect(self.show_cell)
        self.per_class = CountsTable()  # under the matrix, a column per class as in it
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.per_class.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.per_class.setTextElideMode(Qt.TextElideMode.ElideNone)  # "1135" fits, not "11..."
        self.per_class.setToolTip(PER_CLASS_TIP)
        self.per_class.cellClicked.connect(lambda _, column: self.browse(column))
        self.caption = plain(QLabel(" "))
        self.caption.setWordWrap(True)  # on one line, it made the tab wider than a small screen
        self.gallery = icon_gallery(
            56,
            "Each image with the model's probability for its prediction.\n"
            "Double-click one (or press Enter) to inspect it in the preview.",
        )
        self.gallery.itemActivated.connect(self._inspect)
        self.browser = TrainingBrowser(
            icon_gallery(
                40,
                "Training images of the chosen class: what the model learned it from.\n"
                "Double-click one (or press Enter) to inspect it in the preview.",
            ),
            digit_icon,
        )
        self.browser.inspect_requested.connect(self.inspect_requested)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.caption)
        lower_layout.addWidget(self.gallery)
        self.lower = QTabWidget()
        self.lower.addTab(lower, "Test images of the cell")
        self.lower.addTab(self.browser, "Training images by class")
        self.matrix.cellClicked.connect(lambda *_: self.lower.setCurrentIndex(0))
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.matrix, 1)
        top_layout.addWidget(self.per_class)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

    def refresh(self) -> None:
        """Classify the test set with the weights in use (reading the data if need be)."""
        session = self.session
        if session is None or session.model is None:
            return
        test = read_test_set(session, session.deskews)
        if isinstance(test, str):
            self.show_problem(test)
            return
        dataset, inputs = test
        # the data's own training images, or those (and the labels) the run in use learned from
        self.browser.set_data(
            dataset.train_images,
            dataset.train_labels,
            list(dataset.classes),
            learned_from(dataset, session.meta.get("training", {})),
        )
        if problem := other_classes(dataset, session.classes):
            self.show_problem(problem)
            return
        self.set_results(
            session.model, inputs, dataset.test_images, dataset.test_labels, session.classes
        )
        self.stale = False

    def show_problem(self, text: str) -> None:
        """Say why there is no matrix, and show none (not an older model's)."""
        self.summary.setText(text)
        self.probabilities = None
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.per_class.clear()
        self.per_class.setRowCount(0)
        self.per_class.setColumnCount(0)
        self.caption.setText(" ")
        self.gallery.clear()

    def set_results(
        self,
        model: Model,
        inputs: np.ndarray,
        images: np.ndarray,
        labels: np.ndarray,
        classes: list[str],
    ) -> None:
        """Classify `inputs` (the test images prepared for the model) and show where it errs;
        `images` are the same images as the dataset holds them, for the gallery. A slow model
        is classified in a thread, and the results are shown when it is done."""
        self.classifications += 1
        data = (images, labels, list(classes))
        if model.kind not in SLOW_KINDS and len(inputs) < SLOW_IMAGES:
            try:
                probabilities = softmax(model.checked_logits(inputs))
            except OutputOverflow as error:
                self.show_problem(f"Cannot classify the test set: {error}")
                return
            self.show_results(probabilities, *data)
            return
        self.show_problem(f"Classifying the {len(inputs):,} test images with {describe(model)}...")
        number = self.classifications

        in_thread(
            self,
            "mnistpad-errors",
            lambda: (softmax(model.checked_logits(inputs)), *data),
            lambda result: self.classified.emit(number, result),
        )

    def _on_classified(self, number: int, result: tuple | Exception) -> None:
        if number != self.classifications:
            return  # other weights or data came since
        if isinstance(result, Exception):
            self.show_problem(f"Cannot classify the test set: {result}")
        else:
            self.show_results(*result)

    def show_results(
        self, probabilities: np.ndarray, images: np.ndarray, labels: np.ndarray, classes: list[str]
    ) -> None:
        """The confusion matrix of these (N, C) probabilities of the test images."""
        self.images, self.labels, self.classes = images, labels, list(classes)
        self.probabilities = probabilities
        predicted = self.probabilities.argmax(axis=1)
        counts = confusion_matrix(labels, predicted, len(classes))
        n = len(classes)
        self.matrix.clear()
        self.matrix.setRowCount(n)
        self.matrix.setColumnCount(n)
        self.matrix.setHorizontalHeaderLabels([f"→{name}" for name in classes])
        self.matrix.setVerticalHeaderLabels(list(classes))
        per_row = np.maximum(counts.sum(axis=1, keepdims=True), 1)
        for row in range(n):
            for column in range(n):
                count = int(counts[row, column])
                item = QTableWidgetItem(str(count) if count else "")  # no comma: narrow cells
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / per_row[row, 0]
                if row == column:
                    item.setBackground(QColor(89, 161, 79, round(40 + 100 * share)))
                elif count:
                    item.setBackground(QColor(225, 87, 89, round(min(1.0, 8 * share) * 200)))
                item.setToolTip(
                    tip(
                        f"{count:,} test images of {classes[row]} read as {classes[column]}"
                        f" ({share:.1%} of the {classes[row]}s)"
                    )
                )
                self.matrix.setItem(row, column, item)
        self.matrix.fit_text()
        show_per_class(self.per_class, counts, self.classes)
        self.per_class.updateGeometries()  # its row titles' width, before its text is fitted
        self.per_class.fit_text()
        rows = self.per_class.verticalHeader().length() + self.per_class.horizontalHeader().height()
        self.per_class.setFixedHeight(rows + 2 * self.per_class.frameWidth())
        wrong = int(len(labels) - np.trace(counts))
        self.summary.setText(
            f"Test accuracy {1 - wrong / len(labels):.2%}: {wrong:,} of {len(labels):,} test"
            " images are misread. Rows: the true class; columns: the prediction. Click a cell to"
            " see its images."
        )
        pair = np.unravel_index(np.argmax(counts - np.diag(np.diag(counts))), counts.shape)
        self.show_cell(int(pair[0]), int(pair[1]))  # start with the commonest confusion

    def browse(self, index: int) -> None:
        """The training images of class `index`."""
        self.browser.show_class(index)
        self.lower.setCurrentWidget(self.browser)

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        if self.probabilities is None:
            return
        self.matrix.setCurrentCell(true_class, predicted_class)
        predicted = self.probabilities.argmax(axis=1)
        indices = np.flatnonzero((self.labels == true_class) & (predicted == predicted_class))
        confidence = self.probabilities[indices, predicted_class]
        indices = indices[np.argsort(-confidence, kind="stable")]  # surest first
        true_name, predicted_name = self.classes[true_class], self.classes[predicted_class]
        shown = min(len(indices), MAX_SHOWN)
        self.caption.setText(
            f"{len(indices):,} test images of {true_name} read as {predicted_name}"
            + (f", the {shown} surest shown" if shown < len(indices) else "")
            + (", surest first. Double-click one to inspect it." if len(indices) else ".")
        )
        self.gallery.clear()
        for index in indices[:shown]:
            probabilities = self.probabilities[index]
            item = QListWidgetItem(
                digit_icon(self.images[index]), f"{probabilities[predicted_class]:.0%}"
            )
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            sure, right = probabilities[predicted_class], probabilities[true_class]
            item.setToolTip(
                tip(
                    f"Test image #{index}: a {true_name}, read as {predicted_name} with"
                    f" {sure:.1%} ({true_name}: {right:.1%})"
                )
            )
            self.gallery.addItem(item)

    def _inspect(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        probabilities = self.probabilities[index]
        read_as = int(probabilities.argmax())
        true_class = self.classes[int(self.labels[index])]
        self.inspect_requested.emit(
            self.images[index],
            inspect_caption(index, true_class, self.classes[read_as], probabilities[read_as]),
        )
