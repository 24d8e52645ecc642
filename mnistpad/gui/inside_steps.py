"""The Inside tab's step-by-step view of one prediction: the last layer's weighed sum, its bias,
the logits, and softmax (minus the largest logit, exp, divided by the sum), with every number,
for every class; and the chosen class's steps written out, to check with a calculator."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..steps import Steps
from .dialogs import plain
from .errors import CountsTable

COLUMNS = (  # (heading, tooltip): short headings, for a table that fits a narrow pane
    ("w·{x}", "Step 1: the class's weights times the {what}, summed."),
    ("+ bias", "Step 2: the class's bias, added."),
    ("= z", "Step 2: the logit z (the largest in bold, on the max row)."),
    ("exp of\nz - max", "Steps 3 and 4: exp of the logit minus the largest logit (the max row)."),
    ("÷ sum", "Step 5: the exponential divided by their sum (the sum row): the probability."),
)
COLUMN_STEPS = ((0,), (1,), (1,), (2, 3), (4,))  # the written-out steps each column shows
HIGHLIGHT = "background: palette(highlight); color: palette(highlighted-text);"


TABLE_DECIMALS = 5  # the table's sums: exp of z - max from them is off by 1e-5 at most (relative),
TABLE_DIGITS = 4  # a tenth of the exponentials' last digit or less
SUM_DIGITS = 7
E_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?e[+-]\d+")  # "1.234e-05"


def signed(value: float, decimals: int = 6) -> str:
    """Six decimals by default: a float32 model's logits carry about seven significant digits.
    A zero is "+0.000", never "-0.000" (a zero bias, a tiny negative one)."""
    text = f"{value:+.{decimals}f}"
    return text.replace("-", "+") if float(text) == 0 else text


def number(value: float, digits: int = 6) -> str:
    return f"{value:.{digits}g}"


def decimals_tip(text: str) -> str:
    """The text with its numbers in e-notation written out ("1.234e-05": "0.00001234"), or ""
    without any."""

    def written_out(match: re.Match) -> str:
        mantissa = match.group().split("e")[0].lstrip("+-")
        digits = len(mantissa.replace(".", "").lstrip("0")) or 1
        value = float(match.group())
        return np.format_float_positional(value, precision=digits, fractional=False, trim="-")

    tip = E_NUMBER.sub(written_out, text)
    return tip if tip != text else ""


def sum_text(total: float) -> str:
    """The sum of the exponentials to 7 significant digits, trailing zeros kept ("1.500000")."""
    return f"{total:#.{SUM_DIGITS}g}"


def percent(probability: float) -> str:
    return f"{probability:.2%}" if probability >= 0.0001 else "under 0.01%"


def features_named(kind: str, steps: Steps) -> tuple[str, str]:
    """(the column's word for the features, the features in a sentence)."""
    size = len(steps.features)
    if kind == "linear":
        return "x", f"the {size} pixels (ink from 0 to 1)"
    layer = "hidden units'" if kind == "mlp" else "last dense layer's"
    return "h", f"the {size} {layer} activations (after ReLU)"


class StepsView(QWidget):
    """One prediction's numbers, class by class, under a button that opens and closes them (closed,
    they are not worked out). Clicking a cell emits `chosen(class, column)`: the class is shown on
    the Inside tab's pictures, the column's steps are highlighted."""

    chosen = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: Steps | None = None
        self.classes: list[str] = []
        self.kind = ""
        self.shown: int | None = None
        self.column: int | None = None  # the step chosen, as a column of the table
        self.laid_out: tuple = ()  # the classes and the kind of model the table is laid out for
        self.widest = 0  # the longest number the table's text was fitted to
        self.opener = QToolButton()
        self.opener.setText("One prediction, step by step")
        self.opener.setCheckable(True)
        self.opener.setAutoRaise(True)
        self.opener.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.opener.setArrowType(Qt.ArrowType.RightArrow)
        self.opener.setToolTip("The numbers from your input to the probabilities, to check by hand")
        self.opener.toggled.connect(self._opened)
        self.title = QLabel(
            "The last layer weighs what it receives and adds its bias (the logit z); softmax"
            " subtracts the largest logit, takes exp, and divides by the sum of the exponentials."
            " The table rounds (a sum to 7 digits); the steps under it carry more digits."
            " Click a cell to follow its class and step."
        )
        self.title.setWordWrap(True)
        self.table = CountsTable()  # its text gets smaller rather than cut in a narrow pane
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setColumnCount(len(COLUMNS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)  # numbers whole, never "1.6e-..."
        self.table.cellClicked.connect(self._cell_clicked)
        self.lines = [plain(QLabel()) for _ in range(5)]  # the chosen class's steps, one a line
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.title)
        body.addWidget(self.table)
        for line in self.lines:
            line.setWordWrap(True)
            body.addWidget(line)
        self.body.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.opener, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)

    def is_open(self) -> bool:
        return self.opener.isChecked()

    def show_steps(
        self,
        work: Callable[[], Steps] | None,
        classes: list[str],
        kind: str,
        shown: int | None,
    ) -> None:
        """The numbers `work()` works out (called only while the view is open; None: no input),
        the row of class `shown` selected."""
        self.setVisible(work is not None)
        steps = work() if work is not None and self.is_open() else None
        self.steps, self.classes, self.kind, self.shown = steps, list(classes), kind, shown
        if steps is None:
            return
        if (self.classes, kind) != self.laid_out:  # headings and rows only when they change
            self._lay_out(steps)
        largest = int(steps.logits.argmax())
        columns = (steps.products, steps.bias, steps.logits, steps.exponentials)
        rows = zip(*columns, steps.probabilities, strict=True)
        for row, numbers in enumerate(rows):  # short here (a narrow pane), in full in the lines
            texts = [signed(v, TABLE_DECIMALS) for v in numbers[:3]]
            texts += [number(v, TABLE_DIGITS) for v in numbers[3:]]
            for column, text in enumerate(texts):
                self._set(row, column, text, bold=row == largest and column == 2)
        total = sum_text(steps.total)
        last = ("", "", signed(steps.largest, TABLE_DECIMALS), "", ""), ("", "", "", total, "1")
        for row, texts in enumerate(last, start=len(classes)):
            for column, text in enumerate(texts):
                self._set(row, column, text)
        widest = max(len(self.table.item(row, 3).text()) for row in range(len(classes)))
        if widest > self.widest:  # longer numbers (the exponentials) than so far: fitted again
            self.widest = widest
            self.table.updateGeometries()  # the row titles' width, before the text is fitted
            self.table.fit_text()
            self.table.resizeRowsToContents()  # here, not on every new number: that is slow
            self.table.setFixedHeight(self._full_height())
        self._select()
        self._write_lines()

    def _lay_out(self, steps: Steps) -> None:
        self.laid_out, self.widest = (self.classes, self.kind), 0
        x, what = features_named(self.kind, steps)
        for column, (heading, tooltip) in enumerate(COLUMNS):
            item = QTableWidgetItem(heading.format(x=x))
            item.setToolTip(tooltip.format(what=what))
            self.table.setHorizontalHeaderItem(column, item)
        self.table.setRowCount(len(self.classes) + 2)
        self.table.setVerticalHeaderLabels([*self.classes, "max", "sum"])

    def choose_step(self, column: int | None) -> None:
        self.column = column
        self._write_lines()

    def highlighted_steps(self) -> tuple[int, ...]:
        """The written-out steps highlighted (none while the view is closed)."""
        if self.column is None or self.steps is None:
            return ()
        return COLUMN_STEPS[self.column]

    def _opened(self, opened: bool) -> None:
        self.opener.setArrowType(Qt.ArrowType.DownArrow if opened else Qt.ArrowType.RightArrow)
        self.body.setVisible(opened)

    def _set(self, row: int, column: int, text: str, bold: bool = False) -> None:
        item = self.table.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        item.setText(text)
        item.setToolTip(decimals_tip(text))
        font = item.font()
        if font.bold() != bold:
            font.setBold(bold)
            item.setFont(font)

    def _full_height(self) -> int:
        """Every row shown: the table never scrolls itself (the tab does)."""
        rows = self.table.verticalHeader().length()
        scrollbar = self.table.horizontalScrollBar()
        extra = scrollbar.sizeHint().height() if scrollbar.isVisible() else 0
        return rows + self.table.horizontalHeader().height() + 2 * self.table.frameWidth() + extra

    def _select(self) -> None:
        self.table.blockSignals(True)
        self.table.clearSelection()
        if self.shown is not None:
            column = 0 if self.column is None else self.column
            self.table.setCurrentCell(self.shown, column)
        self.table.blockSignals(False)

    def _cell_clicked(self, row: int, column: int) -> None:
        if row >= len(self.classes):  # the max and sum rows: the step, not a class
            row = self.shown if self.shown is not None else 0
        self.column = column
        self.chosen.emit(row, column)

    def _write_lines(self) -> None:
        steps, shown = self.steps, self.shown
        if steps is None or shown is None:
            return
        name, largest = self.classes[shown], int(steps.logits.argmax())
        _, features = features_named(self.kind, steps)
        shifted = steps.logits[shown] - steps.largest
        probability = steps.probabilities[shown]
        texts = (
            f"1. {features} times the weights of {name}, summed: {signed(steps.products[shown])}",
            f"2. plus the bias of {name}, {signed(steps.bias[shown])}: the logit"
            f" z = {signed(steps.logits[shown])}",
            f"3. minus the largest logit, {signed(steps.largest)} ({self.classes[largest]}):"
            f" z - max = {signed(shifted)}",
            f"4. exp({signed(shifted)}) = {number(steps.exponentials[shown])}",
            f"5. divided by the sum of the {len(self.classes)} exponentials,"
            f" {sum_text(steps.total)}: the probability of {name} is {number(probability)}"
            f" ({percent(probability)})",
        )
        highlighted = self.highlighted_steps()
        for index, (line, text) in enumerate(zip(self.lines, texts, strict=True)):
            line.setText(text)
            line.setToolTip(decimals_tip(text))
            line.setStyleSheet(HIGHLIGHT if index in highlighted else "")
