"""The Epochs tab: every epoch's numbers as a table."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget

COLUMNS = ("epoch", "train loss", "train acc.", "dev loss", "dev acc.", "step", "time")


class EpochsTable(QTableWidget):
    """One row an epoch: loss and accuracy on the training and dev sets, step size, time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
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
        values = (
            f"{stats.get('epoch', '')}",
            f"{stats.get('train_loss', float('nan')):.4f}",
            f"{stats.get('train_accuracy', float('nan')):.2%}",
            f"{stats.get('dev_loss', float('nan')):.4f}",
            f"{stats.get('dev_accuracy', float('nan')):.2%}",
            f"{stats.get('lr', float('nan')):.4g}",
            f"{stats.get('seconds', float('nan')):.1f} s",
        )
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(row, column, item)
