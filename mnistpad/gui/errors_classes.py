"""The Errors tab's figures per class: how often each class is read right (recall: of its test
images; precision: of the images read as it), under the confusion matrix, and a browser of the
training images of one class, what the model learned that class from (the subset and the labels
its run trained on, if it recorded any), a page at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..data import Dataset
from ..train import ConfigError, TrainConfig, training_choice
from .dialogs import plain, tip

PAGE = 60  # training images drawn at once
ICON = 40  # their size on screen
RELABELLED = QColor(225, 87, 89)  # the frame of an image learned under another class's label


def per_class(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(test images, predicted as, recall, precision) per class of a confusion matrix (rows: true
    class, columns: prediction); a share with nothing to divide is NaN."""
    right = np.diag(counts).astype(np.float64)
    images, predicted = counts.sum(axis=1), counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return images, predicted, right / images, right / predicted


def share(value: float) -> str:
    """A percentage without its sign (the row says it), to fit a narrow column."""
    return "-" if np.isnan(value) else f"{100 * value:.1f}"


PER_CLASS_TIP = (
    "n: the test images of the class. Recall: the share of them read right.\n"
    "Precision: the share of the images read as the class that are of it.\n"
    "Click a column to see the class's training images."
)


PER_CLASS_ROWS = ("n", "recall %", "precision %")


def show_per_class(table: QTableWidget, counts: np.ndarray, classes: list[str]) -> None:
    """Each class's test images, recall and precision in `table`, a column per class (as in the
    confusion matrix `counts` above it), a row per figure."""
    images, predicted, recall, precision = per_class(counts)
    table.clear()
    table.setRowCount(len(PER_CLASS_ROWS))
    table.setColumnCount(len(classes))
    table.setHorizontalHeaderLabels(list(classes))
    table.setVerticalHeaderLabels(list(PER_CLASS_ROWS))
    for column, name in enumerate(classes):
        right, n = int(counts[column, column]), int(images[column])
        texts = (str(n), share(recall[column]), share(precision[column]))
        why = (
            f"{n:,} test images of {name}",
            f"{right:,} of the {n:,} test images of {name} read right: {recall[column]:.2%}",
            f"{right:,} of the {int(predicted[column]):,} images read as {name} are of it:"
            f" {precision[column]:.2%}",
        )
        for row, (text, tooltip) in enumerate(zip(texts, why, strict=True)):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(tip(tooltip))
            table.setItem(row, column, item)


def learned_from(dataset: Dataset, training: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of `dataset`'s training set a run with the `training` settings (of its weight
    file) learned from and their labels as it learned them (drawn from its seed as it drew them),
    or None if it learned from all of them with their own labels or its settings do not fit."""
    try:
        config = TrainConfig.from_dict(training).validate(len(dataset.train_labels))
    except (ConfigError, TypeError):
        return None
    if not config.train_size and not config.label_noise:
        return None
    return training_choice(dataset.train_labels, len(dataset.classes), config)


def framed(icon: QIcon, size: int) -> QIcon:
    """`icon` with a frame in the colour of a relabelled image."""
    pixmap = icon.pixmap(size, size)
    painter = QPainter(pixmap)
    painter.setPen(QPen(RELABELLED, 4))
    painter.drawRect(pixmap.rect().adjusted(2, 2, -2, -2))
    painter.end()
    return QIcon(pixmap)


class TrainingBrowser(QWidget):
    """The training images of one class, a page at a time, each drawn when its page is shown
    into `gallery` by `icon(image, size)`. Activating one emits `inspect_requested` (the image, a
    caption)."""

    inspect_requested = Signal(object, str)

    def __init__(
        self,
        gallery: QListWidget,
        icon: Callable[[np.ndarray, int], QIcon],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.icon = icon
        self.images: np.ndarray | None = None  # (N, 784) the training images
        self.labels: np.ndarray | None = None  # their true labels
        self.classes: list[str] = []
        self.learned: tuple[np.ndarray, np.ndarray] | None = None  # see learned_from
        self.rows = np.arange(0)  # the images learned from, by index in `images`
        self.taught = np.arange(0)  # their labels as learned
        self.indices = np.arange(0)  # the chosen class's images, by position in `rows`
        self.first = 0  # position in `indices` of the page's first image
        self.choice = QComboBox()
        self.choice.setToolTip("The class whose training images are shown")
        self.choice.currentIndexChanged.connect(self.show_class)
        self.previous = QPushButton(f"◀ Previous {PAGE}")
        self.next = QPushButton(f"Next {PAGE} ▶")
        self.previous.clicked.connect(lambda: self.turn(-PAGE))
        self.next.clicked.connect(lambda: self.turn(PAGE))
        self.position = plain(QLabel(" "))
        self.position.setWordWrap(True)
        self.gallery = gallery
        self.gallery.itemActivated.connect(self._inspect)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Class"))
        bar.addWidget(self.choice)
        bar.addWidget(self.previous)
        bar.addWidget(self.next)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.position)
        layout.addWidget(self.gallery, 1)

    def set_data(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        classes: list[str],
        learned: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """The training set to browse, or the part of it and the labels a run `learned` from
        (see learned_from); the class chosen stays if there still is one."""
        same = (
            images is self.images
            and list(classes) == self.classes
            and (learned is None) == (self.learned is None)
            and (learned is None or all(map(np.array_equal, learned, self.learned)))
        )
        self.images, self.labels, self.classes = images, labels, list(classes)
        self.learned = learned
        self.rows, self.taught = learned or (np.arange(len(labels)), labels)
        if same:
            return
        chosen = max(self.choice.currentIndex(), 0)
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems(self.classes)  # a combo box shows its items as plain text
        self.choice.setCurrentIndex(min(chosen, len(self.classes) - 1))
        self.choice.blockSignals(False)
        self.show_class(self.choice.currentIndex())

    def show_class(self, index: int) -> None:
        if self.labels is None or not 0 <= index < len(self.classes):
            return
        if self.choice.currentIndex() != index:
            self.choice.setCurrentIndex(index)  # shows it, through currentIndexChanged
            return
        self.indices = np.flatnonzero(self.taught == index)
        self.first = 0
        self._render()

    def turn(self, step: int) -> None:
        last = max(len(self.indices) - 1, 0) // PAGE * PAGE
        self.first = min(max(self.first + step, 0), last)
        self._render()

    def shown_indices(self) -> list[int]:
        """The training images on the page, by their index in the training set."""
        return [int(index) for index in self.rows[self.indices[self.first : self.first + PAGE]]]

    def relabelled(self, index: int) -> bool:
        """Whether training image `index` (of the chosen class) was learned under a wrong label."""
        return int(self.labels[index]) != self.choice.currentIndex()

    def _render(self) -> None:
        shown = self.shown_indices()
        name = self.classes[self.choice.currentIndex()]
        self.gallery.clear()
        for index in shown:
            icon = self.icon(self.images[index], ICON)
            why = f"Training image #{index}, labelled {name}"
            if self.relabelled(index):
                icon = framed(icon, ICON)
                why += f" in training; its true class: {self.classes[int(self.labels[index])]}"
            item = QListWidgetItem(icon, f"#{index}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(tip(why))
            self.gallery.addItem(item)
        count = len(self.indices)
        text = f"{count:,} training images of {name}"
        if self.learned is not None:
            truth = self.labels[self.rows[self.indices]]
            wrong = int(np.count_nonzero(truth != self.choice.currentIndex()))
            text = (
                f"{count:,} of the {len(self.rows):,} training images this model learned from"
                f" are labelled {name}"
            )
            if wrong:
                text += f"; {wrong:,} of them are really another {self.kind()}"
        self.position.setText(
            text + (f"; {self.first + 1}-{self.first + len(shown)} shown" if count else "")
        )
        self.previous.setEnabled(self.first > 0)
        self.next.setEnabled(self.first + PAGE < count)

    def _inspect(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        name = self.classes[int(self.labels[index])]
        if self.relabelled(index):
            name += f" (labelled {self.choice.currentText()} in training)"
        self.inspect_requested.emit(self.images[index], f"training image #{index}: class {name}")

    def kind(self) -> str:
        """What a class is called: a digit if every class is one."""
        return "digit" if all(name.isdigit() for name in self.classes) else "class"
