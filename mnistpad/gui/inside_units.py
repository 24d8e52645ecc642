"""The Inside tab's views of a network: a page of its first layer's units (an MLP's hidden units,
a CNN's filters, each with the feature map it makes of the input), and buttons to choose a class.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QImage
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .dialogs import plain, tip
from .inside_pictures import ColourBar, Heatmap, diverging, rgb_image, sequential

PAGE = 32  # units shown at once; Previous and Next show the others
COLUMNS = 8
SMALLEST_POINTS = 5.0  # a caption's font is made smaller than the window's down to this


def kept_in_place(widget: QWidget) -> QWidget:
    """`widget`, set to keep its place in the layout when hidden (a last page is not full)."""
    policy = widget.sizePolicy()
    policy.setRetainSizeWhenHidden(True)
    widget.setSizePolicy(policy)
    return widget


def fitted_font(font: QFont, lines: list[str], room: int) -> QFont:
    """`font`, or a smaller one (down to SMALLEST_POINTS) in which each of `lines` fits `room`
    pixels."""
    font = QFont(font)
    while font.pointSizeF() > SMALLEST_POINTS and room > 0:
        if max(map(QFontMetricsF(font).horizontalAdvance, lines), default=0) <= room:
            break
        font.setPointSizeF(max(font.pointSizeF() - 0.5, SMALLEST_POINTS))
    return font


class UnitGrid(QWidget):
    """A page of units: each one's input weights as a small picture on one diverging scale, a
    caption and, if there are maps, the map it makes of the input beneath its weights."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.weights = np.zeros((0, 1, 1), dtype=np.float32)  # (units, height, width)
        self.limit = 1.0
        self.pictures: dict[int, QImage] = {}  # unit -> its weights as a picture, once shown
        self.order = np.arange(0)  # the units in the order they are shown
        self.label: Callable[[int], tuple[str, str]] = lambda unit: (f"#{unit}", "")
        self.maps: np.ndarray | None = None  # (units, height, width), or None: no input
        self.map_limit = 1.0
        self.first = 0  # position in `order` of the page's first unit
        self.tiles: list[Heatmap] = []
        self.map_tiles: list[Heatmap] = []
        self.captions: list[QLabel] = []
        self.fitting = QTimer(self, singleShot=True, interval=0)
        self.fitting.timeout.connect(self.fit_captions)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self.weights_bar = ColourBar()
        self.weights_bar.setToolTip("Weight scale: the largest weight either way.")
        self.maps_bar = kept_in_place(ColourBar(sequential=True))
        self.maps_bar.setToolTip("Feature map scale: the strongest response in your input.")
        self.maps_title = kept_in_place(QLabel("maps"))
        self.with_maps = False
        bars = QVBoxLayout()
        bars.addWidget(QLabel("weights"), 0, Qt.AlignmentFlag.AlignHCenter)
        bars.addWidget(self.weights_bar, 1)
        bars.addWidget(self.maps_title, 0, Qt.AlignmentFlag.AlignHCenter)
        bars.addWidget(self.maps_bar, 1)
        top = QHBoxLayout()
        top.addLayout(self.grid, 1)
        top.addLayout(bars)
        self.previous = QPushButton(f"◀ Previous {PAGE}")
        self.next = QPushButton(f"Next {PAGE} ▶")
        self.previous.clicked.connect(lambda: self.turn(-PAGE))
        self.next.clicked.connect(lambda: self.turn(PAGE))
        self.position = QLabel()
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages = QWidget()
        pages = QHBoxLayout(self.pages)
        pages.setContentsMargins(0, 0, 0, 0)
        pages.addWidget(self.previous)
        pages.addWidget(self.position, 1)
        pages.addWidget(self.next)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top, 1)
        layout.addWidget(self.pages)

    def set_units(self, weights: np.ndarray, with_maps: bool) -> None:
        """Show these units' weights (units, height, width); the page stays if their number
        does (weights that change as a model learns), else it goes back to the first."""
        if len(weights) != len(self.weights) or with_maps != self.with_maps:
            self._build(min(len(weights), PAGE), with_maps)
            self.first = 0
        self.weights, self.pictures, self.with_maps = weights, {}, with_maps
        self.limit = float(np.abs(weights).max(initial=0.0)) or 1.0
        self.weights_bar.set_limit(self.limit)
        self.pages.setVisible(len(weights) > PAGE)
        self.order, self.maps = np.arange(len(weights)), None
        self.maps_title.hide()
        self.maps_bar.hide()

    def set_view(
        self,
        order: np.ndarray,
        label: Callable[[int], tuple[str, str]],
        maps: np.ndarray | None = None,
    ) -> None:
        """Show the units in `order`, each with the caption and tooltip `label(unit)` gives and
        its map in `maps` (or none)."""
        self.order, self.label, self.maps = order, label, maps
        if maps is not None:
            self.map_limit = float(maps.max()) or 1.0
            self.maps_bar.set_limit(self.map_limit)
        for widget in (self.maps_title, self.maps_bar):  # a scale only with maps to read
            widget.setVisible(maps is not None)
        self._render()

    def clear(self) -> None:
        """No model: an empty page."""
        self.set_units(np.zeros((0, 1, 1), dtype=np.float32), with_maps=False)
        self._render()

    def turn(self, step: int) -> None:
        self.first = min(max(self.first + step, 0), max(len(self.order) - 1, 0) // PAGE * PAGE)
        self._render()

    def shown_units(self) -> list[int]:
        """The units on the page, in order."""
        return [int(unit) for unit in self.order[self.first : self.first + len(self.tiles)]]

    def _build(self, slots: int, with_maps: bool) -> None:
        for widget in self.tiles + self.map_tiles + self.captions:
            self.grid.removeWidget(widget)
            widget.hide()  # at once: deleteLater waits for the event loop
            widget.deleteLater()
        self.tiles, self.map_tiles, self.captions = [], [], []
        rows = 3 if with_maps else 2  # grid rows per row of units
        for slot in range(slots):
            row, column = divmod(slot, COLUMNS)
            tile = kept_in_place(Heatmap())
            self.grid.addWidget(tile, rows * row, column)
            self.tiles.append(tile)
            if with_maps:
                picture = kept_in_place(Heatmap())
                self.grid.addWidget(picture, rows * row + 1, column)
                self.map_tiles.append(picture)
            caption = kept_in_place(plain(QLabel()))
            caption.installEventFilter(self)  # its font fits its width: see fit_captions
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            # room for a unit's number and its part in a logit: the grid keeps its height
            caption.setMinimumHeight(2 * caption.fontMetrics().lineSpacing())
            self.grid.addWidget(caption, rows * row + rows - 1, column)
            self.captions.append(caption)

    def _picture(self, unit: int) -> QImage:
        if unit not in self.pictures:
            self.pictures[unit] = rgb_image(diverging(self.weights[unit], self.limit))
        return self.pictures[unit]

    def _render(self) -> None:
        units = self.shown_units()
        for slot, tile in enumerate(self.tiles):
            shown = slot < len(units)
            widgets = [tile, self.captions[slot], *self.map_tiles[slot : slot + 1]]
            for widget in widgets:
                widget.setVisible(shown)
            if not shown:
                continue
            unit = units[slot]
            caption, tooltip = self.label(unit)
            tile.set_picture(self._picture(unit))
            self.captions[slot].setText(caption)
            for widget in widgets:
                widget.setToolTip(tooltip)
            if self.map_tiles:
                maps = self.maps
                self.map_tiles[slot].set_rgb(
                    None if maps is None else sequential(maps[unit], self.map_limit)
                )
        if units:
            last = self.first + len(units)
            self.position.setText(f"{self.first + 1}-{last} of {len(self.order)}")
        self.previous.setEnabled(self.first > 0)
        self.next.setEnabled(self.first + len(self.tiles) < len(self.order))
        self.fit_captions()

    def fit_captions(self) -> None:
        """One font for the page's captions, the grid's or one small enough that each line of
        them fits the narrowest caption: whole, not clipped, in a narrow tab."""
        shown = [caption for caption in self.captions if not caption.isHidden()]
        lines = [line for caption in shown for line in caption.text().split("\n")]
        room = min((caption.contentsRect().width() for caption in shown), default=0)
        font = fitted_font(self.font(), lines, room)
        for caption in self.captions:
            if caption.font() != font:
                caption.setFont(font)

    def eventFilter(self, watched, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:  # the others too: fit them all once laid out
            self.fitting.start()
        return False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # a zoom, once it has set every font
            self.fitting.start()


class ClassButtons(QWidget):
    """A button per class, with its logit once there is an input: the class whose evidence is
    shown is checked, the prediction is in bold. `clicked` gives the class's index."""

    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: list[str] = []
        self.buttons: list[QPushButton] = []
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)

    def set_classes(self, classes: list[str]) -> None:
        for button in self.buttons:
            self.grid.removeWidget(button)
            button.hide()
            button.deleteLater()
        self.classes, self.buttons = list(classes), []
        columns = 5 if len(classes) <= 10 else COLUMNS
        for index, name in enumerate(self.classes):
            button = QPushButton()
            button.setCheckable(True)
            button.setToolTip(tip(name))
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, index=index: self.clicked.emit(index))
            self.grid.addWidget(button, *divmod(index, columns))
            self.buttons.append(button)
        self.show_logits(None, None)

    def show_logits(self, shown: int | None, logits: np.ndarray | None) -> None:
        best = None if logits is None else int(logits.argmax())
        for index, (button, name) in enumerate(zip(self.buttons, self.classes, strict=True)):
            button.setChecked(index == shown)
            has_logit = logits is not None and index < len(logits)
            text = f"{name}: {logits[index]:+.2f}" if has_logit else name
            button.setText(text.replace("&", "&&"))  # plain text, but "&x" would be a shortcut
            font = button.font()
            font.setBold(index == best)
            button.setFont(font)
