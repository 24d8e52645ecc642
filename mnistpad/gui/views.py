"""What the window shows: the model's 28x28 input, its probabilities, and the training curves."""

from __future__ import annotations

from contextlib import contextmanager
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QGroupBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..networks import Model, describe, in_words, parameter_count
from .canvas import SquareWidget
from .dialogs import tip
from .inside import evidence_overlay, rgb_image
from .texts import numbered

# Colours that read well on light and dark backgrounds alike (Tableau 10).
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#9c9c9c",
)


BAR_WIDTH = 0.7  # of the space of one class
RUNNING = "training (running)"


def configure_pyqtgraph(palette: QPalette) -> None:
    """Plots follow the window's palette, light or dark; call before creating any plot."""
    pg.setConfigOptions(
        antialias=True,
        background=palette.color(QPalette.ColorRole.Base),
        foreground=palette.color(QPalette.ColorRole.Text),
        imageAxisOrder="row-major",
    )


def label_classes(plot: pg.PlotWidget, classes: list[str], about: str) -> bool:
    """Name the classes under a bar chart's bars, with `about` as its tooltip. Long names
    (Fashion-MNIST's) would overlap under the bars: the bars are numbered instead, the tooltip
    lists the names, and True is returned. Of more than ten classes four are always named, and
    the others as there is room."""
    by_number = numbered(classes)
    ticks = [(i, str(i) if by_number else name) for i, name in enumerate(classes)]
    levels, n = [ticks], len(classes)
    if n > 10:  # pyqtgraph draws the first level whole, and the next ones while there is room
        levels, placed = [], set()
        for step in sorted({-(-n // shown) for shown in (4, 8, 16)} | {1}, reverse=True):
            levels.append([tick for tick in ticks if tick[0] % step == 0 and tick[0] not in placed])
            placed.update(tick[0] for tick in levels[-1])
    item = plot.getPlotItem()
    item.getAxis("bottom").setTicks(levels)
    item.setXRange(-0.6, len(classes) - 0.4, padding=0)
    listed = "".join(f"\n{i}: {name}" for i, name in enumerate(classes) if by_number)
    plot.setToolTip(tip(about + listed))
    return by_number


def _curve(plot: pg.PlotItem, colour: str, name: str, symbol: str | None = None):
    """A thin line for running values, or a thicker one with markers for epoch-end values."""
    if symbol is None:
        return plot.plot(pen=pg.mkPen(colour, width=1), name=name, connect="finite")
    return plot.plot(
        pen=pg.mkPen(colour, width=2),
        symbol=symbol,
        symbolSize=6,
        symbolBrush=colour,
        symbolPen=None,
        name=name,
    )


class DigitPreview(SquareWidget):
    """The 28x28 image the model receives, drawn as large pixels, white ink on black like MNIST."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self.overlay: QImage | None = None  # the evidence map, when it is shown
        self.setMinimumSize(112, 112)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip(
            "Exactly what the model receives: your drawing cropped, scaled to 20x20 pixels and\n"
            "centred by its centre of mass in a 28x28 field, as MNIST's digits were made."
        )

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = None if image is None else np.asarray(image, dtype=np.float32).reshape(28, 28)
        self.update()

    def set_evidence(self, evidence: np.ndarray | None) -> None:
        """Lay the evidence map (28, 28) over the input, or take it away with None."""
        self.overlay = None if evidence is None else rgb_image(evidence_overlay(evidence))
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        square = self.square()
        painter.fillRect(square, Qt.GlobalColor.black)
        if self.image is not None:
            grey = np.ascontiguousarray(np.round(self.image * 255).astype(np.uint8))
            picture = QImage(grey.data, 28, 28, 28, QImage.Format.Format_Grayscale8)
            painter.drawImage(square, picture)  # nearest-neighbour: each input pixel stays a square
            if self.overlay is not None:
                painter.drawImage(square, self.overlay)
        else:
            painter.setPen(QColor(GREY))
            painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "28 x 28\ninput")
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(square.adjusted(0, 0, -1, -1))
        painter.end()


class ProbabilityChart(pg.PlotWidget):
    """Ten bars, one per class, the predicted one highlighted and its probability written on it."""

    def __init__(self, classes: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(170, 160)  # ten readable bars, even in a 1024-pixel-wide window
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # nothing to do with the keyboard here
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        plot = self.getPlotItem()
        plot.setLabel("left", "probability (%)")
        plot.setLabel("bottom", "class")
        plot.setYRange(0, 105, padding=0)
        plot.getAxis("left").setTicks([[(value, str(value)) for value in range(0, 101, 20)]])
        plot.showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(
            x=np.arange(10), height=np.zeros(10), width=BAR_WIDTH, brush=BLUE
        )
        plot.addItem(self.bars)
        self.value_label = pg.TextItem(anchor=(0.5, 1.0))
        self.value_label.setFont(QFont(self.font().family(), 10, QFont.Weight.Bold))
        plot.addItem(self.value_label)
        self.hint = pg.TextItem(
            "Draw a digit\nto see what the\nmodel thinks",
            color=self.palette().color(QPalette.ColorRole.PlaceholderText),
            anchor=(0.5, 0.5),
        )
        plot.addItem(self.hint)
        self.set_classes(classes)

    def set_classes(self, classes: list[str]) -> None:
        self.classes = list(classes)
        about = "The model's probability for each class; the highest is its prediction."
        self.numbered = label_classes(self, self.classes, about)
        self.hint.setPos((len(self.classes) - 1) / 2, 50)
        self.set_probabilities(None)

    def set_probabilities(self, probabilities: np.ndarray | None) -> None:
        """Show the probabilities, or nothing (and a hint) when there is no drawing."""
        n = len(self.classes)
        if probabilities is None:
            self.bars.setOpts(x=np.arange(n), height=np.zeros(n), brushes=[BLUE] * n)
            self.value_label.setText("")
            self.hint.setVisible(True)
            return
        percent = 100 * np.asarray(probabilities, dtype=float)
        best = int(percent.argmax())
        brushes = [ORANGE if index == best else BLUE for index in range(n)]
        self.bars.setOpts(x=np.arange(n), height=percent, brushes=brushes)
        self.value_label.setText(f"{percent[best]:.1f}%")
        self.value_label.setColor(self.palette().color(QPalette.ColorRole.Text))
        # Kept inside the plot: aligned with the bar's outer edge at either end of the chart, and
        # written inside a tall bar rather than above it (where a short chart would clip it).
        edge = 0.0 if best == 0 else 1.0 if best == n - 1 else 0.5
        inside = percent[best] > 80
        self.value_label.setAnchor((edge, 0.0 if inside else 1.0))
        x = best + (edge - 0.5) * BAR_WIDTH
        self.value_label.setPos(x, percent[best] - 1 if inside else percent[best] + 1)
        self.hint.setVisible(False)


class TrainingPlots(QWidget):
    """Loss and accuracy against epochs: running training values within each epoch, and a point per
    epoch for the epoch's training examples and for the dev set at its end."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget()
        self.accuracy_plot = pg.PlotWidget()
        for widget in (self.loss_plot, self.accuracy_plot):  # mouse only: no focus without a ring
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        loss, accuracy = self.loss_plot.getPlotItem(), self.accuracy_plot.getPlotItem()
        loss.setTitle("Loss")
        loss.setLabel("left", "loss (lower is better)")
        loss.setLabel("bottom", "epoch")
        accuracy.setTitle("Accuracy")
        accuracy.setLabel("left", "accuracy (%)")
        accuracy.setLabel("bottom", "epoch")
        accuracy.setXLink(loss)
        for plot, corner in ((loss, (-10, 10)), (accuracy, (-10, -10))):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=corner, labelTextSize="9pt")  # where the curves rarely are
            for name in ("left", "bottom"):
                plot.getAxis(name).enableAutoSIPrefix(False)
                # Major ticks and grid lines only: the minor grid made each repaint 3 times as
                # slow (25 ms instead of 8), which stalled the window while training.
                plot.getAxis(name).setStyle(maxTickLevel=0)
        self.curves = {
            "running_loss": _curve(loss, GREY, RUNNING),
            "train_loss": _curve(loss, BLUE, "training", symbol="o"),
            "dev_loss": _curve(loss, ORANGE, "held-out", symbol="s"),
            "running_accuracy": _curve(accuracy, GREY, RUNNING),
            "train_accuracy": _curve(accuracy, BLUE, "training", symbol="o"),
            "dev_accuracy": _curve(accuracy, ORANGE, "held-out", symbol="s"),
        }
        self.best_line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(GREEN, width=1, style=Qt.PenStyle.DashLine),
            label="best",
            labelOpts={"position": 0.5, "color": GREEN},
        )
        self.best_line.setVisible(False)
        accuracy.addItem(self.best_line)
        self.loss_plot.setToolTip(
            "Mean cross-entropy, in nats. Training: each example just before its own update,\n"
            "averaged over the epoch so far (grey) and the whole epoch (points); held-out: the\n"
            "10,000 dev images, kept apart from training, at each epoch's end."
        )
        self.accuracy_plot.setToolTip(
            "Share of images classified right. Training: each example just before its own update,\n"
            "over the epoch so far (grey) and the whole epoch (points); held-out: the 10,000 dev\n"
            "images, kept apart from training, at each epoch's end. The dashed line marks the\n"
            "best epoch on them."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.accuracy_plot)
        self.compared: list[tuple] = []  # (plot, curve) of other runs, laid over these
        self.compared_epochs = 0  # the most epochs of those runs
        self.running_named = True  # the running curves have legend entries
        self.clear()

    def clear(self, epochs: int | None = None) -> None:
        """Forget all points; with `epochs`, fix the epoch axis for a run of that length, so the
        curves grow into a still frame (and the axes need not be redrawn at every point)."""
        plot = self.loss_plot.getPlotItem()
        if epochs:  # wide enough for the runs laid over it too
            plot.setXRange(0, max(epochs, self.compared_epochs), padding=0.04)
        else:
            plot.enableAutoRange(axis="x")
        self.running: list[tuple[float, float, float]] = []  # (epoch position, loss, accuracy)
        self.epochs: list[dict] = []
        self.best_epoch = 0
        self.redraw()

    def add_running(self, position: float, loss: float, accuracy: float) -> None:
        if not np.isfinite(loss):
            return
        if self.running and int(np.ceil(position)) != int(np.ceil(self.running[-1][0])):
            self.running.append((np.nan, np.nan, np.nan))  # a new epoch: break the line
        self.running.append((position, loss, accuracy))

    def add_epoch(self, stats: dict, best_epoch: int) -> None:
        """One epoch's points; a row without finite losses (diverged, or a file's row that
        leaves them out) is not plotted."""
        losses = [stats.get(key) for key in ("train_loss", "dev_loss", "epoch")]
        if all(isinstance(value, int | float) and np.isfinite(value) for value in losses):
            self.epochs.append(stats)
        self.best_epoch = best_epoch

    def set_history(self, history: list[dict], best_epoch: int) -> None:
        """Show a finished run's per-epoch curves (from a weight file)."""
        self.clear()
        for stats in history:
            self.add_epoch(stats, best_epoch)
        self.redraw()

    def set_compared(self, runs: list[tuple[str, str, list[dict]]]) -> None:
        """Lay other runs' per-epoch curves over the plots: (label, colour, history) each; dev
        accuracy and loss as solid lines, training accuracy dashed. The runs list, in the same
        colours, is their legend (entries in the plots' legends would cover the curves)."""
        for plot, item in self.compared:
            plot.removeItem(item)  # from the legend too
        self.compared = []
        self.compared_epochs = max((row["epoch"] for _, _, rows in runs for row in rows), default=0)
        loss, accuracy = self.loss_plot.getPlotItem(), self.accuracy_plot.getPlotItem()
        for _name, colour, history in runs:
            epoch = np.array([row["epoch"] for row in history], dtype=float)
            values = {key: np.array([row[key] for row in history], dtype=float)
                      for key in ("dev_loss", "dev_accuracy", "train_accuracy")}  # fmt: skip
            solid = pg.mkPen(colour, width=1.5)
            dashed = pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)
            dots = {"symbol": "o", "symbolSize": 4, "symbolBrush": colour, "symbolPen": None}
            self.compared += [  # dots on the dev points: a one-epoch run shows too
                (loss, loss.plot(epoch, values["dev_loss"], pen=solid, **dots)),
                (accuracy, accuracy.plot(epoch, 100 * values["dev_accuracy"], pen=solid, **dots)),
                (accuracy, accuracy.plot(epoch, 100 * values["train_accuracy"], pen=dashed)),
            ]
        if runs:
            loss.enableAutoRange(axis="x")

    @contextmanager
    def exporting(self):
        """Draw for an export: pyqtgraph otherwise paints data-point markers from a bitmap
        atlas, which an SVG file receives whole, squashed into every marker."""
        items = [
            item
            for widget in (self.loss_plot, self.accuracy_plot)
            for item in widget.scene().items()
            if hasattr(item, "setExportMode")
        ]
        for item in items:
            item.setExportMode(True, {"antialias": True})
        try:
            yield
        finally:
            for item in items:
                item.setExportMode(False)

    def redraw(self) -> None:
        running = np.array(self.running, dtype=float).reshape(-1, 3)
        if self.running_named != bool(len(running)):  # no legend entry for an empty curve
            self.running_named = bool(len(running))
            for key in ("running_loss", "running_accuracy"):
                legend = self.curves[key].getViewBox().parentItem().legend
                if self.running_named:
                    legend.addItem(self.curves[key], RUNNING)
                else:
                    legend.removeItem(self.curves[key])
        self.curves["running_loss"].setData(running[:, 0], running[:, 1])
        self.curves["running_accuracy"].setData(running[:, 0], 100 * running[:, 2])
        keys = ("epoch", "train_loss", "dev_loss", "train_accuracy", "dev_accuracy")
        rows = [[row.get(key, np.nan) for key in keys] for row in self.epochs]
        table = np.array(rows, dtype=float).reshape(-1, len(keys))
        epoch = table[:, 0]
        self.curves["train_loss"].setData(epoch, table[:, 1])
        self.curves["dev_loss"].setData(epoch, table[:, 2])
        self.curves["train_accuracy"].setData(epoch, 100 * table[:, 3])
        self.curves["dev_accuracy"].setData(epoch, 100 * table[:, 4])
        self.best_line.setVisible(self.best_epoch > 0)
        self.best_line.setValue(self.best_epoch)


WEIGHTS_TIP = (
    "The weights that classify your drawing, with the settings and results recorded in their"
    " file. Held-out images: the 10,000 training images kept aside to choose the best epoch"
    " (the report's dev set)."
)


class WeightsInfo(QGroupBox):
    """Where the weights in use come from, how they were trained and how well they do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Weights in use", parent)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip(tip(WEIGHTS_TIP))
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)

    def show_weights(self, source: str, meta: dict, model: Model | None = None) -> None:
        training, metrics = meta.get("training", {}), meta.get("metrics", {})
        rows = [("From", escape(source))]
        if model is not None:
            rows.append(
                ("Model", escape(f"{in_words(model)}, {parameter_count(model):,} parameters"))
            )
        if training:
            get = training.get
            ran, planned = len(meta.get("history", [])), get("epochs", "?")
            epochs = (
                f"{ran} of {planned} epochs (stopped)"
                if metrics.get("stopped") and ran
                else f"{planned} epoch{'' if planned == 1 else 's'}"
            )
            settings = (
                f"{get('preset', '?')} preset, {epochs}, batch {get('batch_size', '?')},"
                f" {get('optimizer', 'sgd')} step {get('lr', '?')}, seed {get('seed', '?')}"
                + (", deskewed inputs" if get("deskew") else "")
                + (", augmented" if get("augment") else "")
                + (", real-writing styles" if get("styles") else "")
                + (f", on {get('data')}" if get("data") not in (None, "bundled MNIST") else "")
            )
            rows.append(("Trained", escape(settings)))
        if metrics.get("kept_epoch"):
            kept, best = metrics["kept_epoch"], metrics.get("best_epoch")
            if kept == best:
                text = f"epoch {kept}, the best on the held-out images"
            else:  # the last epoch, kept as the policy says (no "keep the best epoch")
                text = f"epoch {kept}, the last (the best on the held-out images: {best or '?'})"
            rows.append(("Kept", escape(text)))
        accuracy = [
            f"{name} {metrics[key]:.2%}"
            for name, key in (
                ("training images", "train_accuracy"),
                ("held-out", "dev_accuracy"),
                ("test", "test_accuracy"),
            )
            if isinstance(metrics.get(key), float)
        ]
        if accuracy:
            rows.append(("Accuracy", ", ".join(accuracy)))
        if meta.get("created"):
            rows.append(("Created", escape(str(meta["created"]).replace("T", " "))))
        if model is not None:  # the precise layers, for who wants them
            self.setToolTip(
                tip(f"{WEIGHTS_TIP}\n\n{describe(model)}: layer sizes, input to output.")
            )
        self.text.setText(
            "<table cellspacing='3'>"
            + "".join(f"<tr><td><b>{name}</b></td><td>{value}</td></tr>" for name, value in rows)
            + "</table>"
        )
