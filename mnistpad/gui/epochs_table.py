"""The Epochs tab: every epoch's numbers as a table."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

# On two lines, so that the seven columns share a narrow pane (a 1024-pixel-wide window) without
# a sideways scroll; each column's tooltip says what it holds.
COLUMNS = (
    ("epoch", "The epoch's number, from 1"),
    ("train\nloss", "Mean cross-entropy of the epoch's training examples, each taken just\n"
     "before its own update"),
    ("train\nacc.", "Share of the epoch's training examples classified right, by the labels\n"
     "trained on (with label noise, the noisy ones)"),
    ("held-out\nloss", "Mean cross-entropy on the 10,000 held-out training images (the dev\n"
     "set) at the epoch's end"),
    ("held-out\nacc.", "Share of the held-out images (the dev set) classified right at the\n"
     "epoch's end"),
    ("step", "The step size used during the epoch"),
    ("time", "Training time since the start of the run"),
)  # fmt: skip


class EpochsTable(QTableWidget):
    """One row an epoch: loss and accuracy on the training and dev sets, step size, time. The
    columns share the width; a number cut short is whole in its tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        for column, (name, about) in enumerate(COLUMNS):
            header = QTableWidgetItem(name)
            header.setToolTip(about)
            self.setHorizontalHeaderItem(column, header)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setMinimumSectionSize(24)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setToolTip(
            "Every epoch's numbers: loss and accuracy on the training and dev\n"
            "sets, the step size used, and the time since the start."
        )

    def show_history(self, history: list[dict]) -> None:
        self.setRowCount(0)
        for stats in history:
            self.add_epoch(stats)

    def add_epoch(self, stats: dict) -> None:
        row = self.rowCount()
        self.insertRow(row)
        nan = float("nan")
        step = stats.get("lr", nan)
        values = (
            f"{stats.get('epoch', '')}",
            f"{stats.get('train_loss', nan):.4f}",
            f"{stats.get('train_accuracy', nan):.2%}",
            f"{stats.get('dev_loss', nan):.4f}",
            f"{stats.get('dev_accuracy', nan):.2%}",
            f"{step:.3g}",  # 0.00781: whole in its column; exact in the tooltip
            duration(stats.get("seconds", nan)),
        )
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            name = COLUMNS[column][0].replace("\n", " ")
            item.setToolTip(f"{name}: {f'{step:.6g}' if name == 'step' else text}")
            self.setItem(row, column, item)


def duration(seconds: float) -> str:
    """12.3 s, or 20:34 past a minute (narrower than 1234.5 s)."""
    if not seconds >= 60:  # NaN too
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
