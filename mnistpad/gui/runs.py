"""The session's runs under the curves: tick runs to compare them, export curves and plots.

Every training run of the session is kept with its settings and per-epoch curves; ticked runs are
laid over the plots (for example naive against optimized, as in the report's figures). The curves
of the ticked runs and of the weights in use export as one CSV table, the plots as PNG or SVG;
every export is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QBuffer, QByteArray, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..export import curves_csv
from ..files import write_atomically
from ..networks import KIND_NAMES, describe
from ..train import Finished
from .dialogs import Folders, tip
from .views import TrainingPlots, run_pen_style


class RunsPanel(QWidget):
    """The list of the session's runs with tick boxes, and the export buttons."""

    exported = Signal(str)  # the path written

    def __init__(
        self,
        plots: TrainingPlots,
        in_use: Callable[[], tuple[str, dict, list[dict]] | None],
        folders: Folders,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.plots, self.in_use, self.folders = plots, in_use, folders
        self.runs: list[dict] = []  # name, settings, history, colour
        self.list = QListWidget()
        self.list.setMaximumHeight(96)
        self.list.setWordWrap(True)  # no sideways scrolling in a narrow window
        self.list.setToolTip(
            "Every training run of this session. Tick runs to lay their dev curves (solid) and\n"
            "training accuracy (dashed) over the plots, for example naive against optimized."
        )
        self.list.itemChanged.connect(lambda _: self._compare())
        hint = QListWidgetItem("The runs you train appear here: tick two to compare their curves.")
        hint.setFlags(Qt.ItemFlag.NoItemFlags)  # greyed, not a run
        self.list.addItem(hint)
        export_csv = QPushButton("Export curves...")
        export_csv.setToolTip(
            "Save the per-epoch numbers of the ticked runs and of the weights\n"
            "in use as a CSV table"
        )
        export_csv.clicked.connect(self.export_curves_dialog)
        export_plot = QPushButton("Export plots...")
        export_plot.setToolTip("Save the two plots as they are shown, as PNG or SVG")
        export_plot.clicked.connect(self.export_plots_dialog)
        buttons = QVBoxLayout()
        buttons.addWidget(export_csv)
        buttons.addWidget(export_plot)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)

    def keep(self, result: Finished, data: str) -> None:
        """Add a finished run (one with at least one epoch) to the list."""
        if not result.history:
            return
        if not self.runs:
            self.list.clear()  # the hint goes
        config, epochs = result.config, len(result.history)
        kind = KIND_NAMES[result.model.kind]
        plural = "" if epochs == 1 else "s"
        name = f"{len(self.runs) + 1}: {kind} · {config.preset} · {epochs} epoch{plural}"
        colour = run_pen_style(len(self.runs))[0]
        self.runs.append(
            {
                "name": name,
                "settings": config.as_dict(),
                "history": [vars(stats) for stats in result.history],
                "colour": colour,
            }
        )
        item = QListWidgetItem(f"{name} · test {result.test_accuracy:.2%}")
        item.setToolTip(
            tip(
                f"{describe(result.model)}, {config.preset} preset: batch {config.batch_size},"
                f" {config.optimizer} step {config.lr:g}, seed {config.seed}"
                f"{', deskewed inputs' if config.deskew else ''}"
                f"{', augmented' if config.augment else ''}"
                f"{', real-writing styles' if config.styles else ''}, data: {data}"
            )
        )
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Unchecked)
        item.setForeground(QColor(colour))
        self.list.addItem(item)

    def ticked(self) -> list[dict]:
        return [
            run
            for index, run in enumerate(self.runs)
            if self.list.item(index).checkState() == Qt.CheckState.Checked
        ]

    def _compare(self) -> None:
        self.plots.set_compared(
            [(run["name"], run["colour"], run["history"]) for run in self.ticked()]
        )

    @Slot()
    def export_curves_dialog(self) -> bool:
        runs = [(run["name"], run["settings"], run["history"]) for run in self.ticked()]
        if (in_use := self.in_use()) is not None:
            runs.append(in_use)
        text = curves_csv(runs).encode()

        def save(path: str, _filter: str) -> str:
            return str(write_atomically(path, lambda out: out.write(text)))

        return self._exported(
            self.folders.save_as(self, "Export curves", "curves.csv", "CSV (*.csv)", save)
        )

    @Slot()
    def export_plots_dialog(self) -> bool:
        filters = "PNG image (*.png);;SVG drawing (*.svg)"
        saved = self.folders.save_as(self, "Export plots", "curves.png", filters, self._save_plots)
        return self._exported(saved)

    def _save_plots(self, path: str, chosen: str) -> str:
        """The plots as they are shown: PNG pixels, or SVG vectors (by the name's suffix)."""
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QBuffer.OpenModeFlag.WriteOnly)
        if path.lower().endswith(".svg"):
            svg = QSvgGenerator()
            svg.setOutputDevice(buffer)
            svg.setSize(self.plots.size())
            svg.setViewBox(self.plots.rect())
            svg.setResolution(self.plots.logicalDpiX())  # text as large as on screen
            svg.setTitle("mnistpad training curves")
            painter = QPainter(svg)
            with self.plots.exporting():  # markers as vector shapes, not bitmap fragments
                self.plots.render(painter, QPoint())
            painter.end()
        else:
            self.plots.grab().save(buffer, "PNG")
        buffer.close()
        return str(write_atomically(path, lambda out: out.write(bytes(data))))

    def _exported(self, path: str | None) -> bool:
        if path is not None:
            self.exported.emit(path)
        return path is not None
