"""What the window shows: the model's 28x28 input, its probabilities, and the training curves."""

from __future__ import annotations

from contextlib import contextmanager
from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..networks import Model, describe, in_words, parameter_count
from .canvas import SquareWidget
from .dialogs import tip
from .inside import evidence_overlay, rgb_image
from .texts import numbered, positive_number, training_words

# Colours that read well on light and dark backgrounds alike (Tableau 10).
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#b07aa1",
    "#9c9c9c",
)


# Runs laid over the curves: twelve colours apart from one another and from the curves' own blue,
# orange, grey and green, readable on light and dark backgrounds; past twelve runs they come back
# with another dash (never the dashes of the runs' training curves).
RUN_COLOURS = ("#9467bd", "#1b9e77", "#e7298a", "#17becf", "#8c564b", "#d62728",
               "#40c040", "#6060ff", "#bcbd22", "#ff00ff", "#a6761d", "#e68fac")  # fmt: skip
RUN_DASHES = (
    Qt.PenStyle.SolidLine,
    Qt.PenStyle.DotLine,
    Qt.PenStyle.DashDotLine,
    Qt.PenStyle.DashDotDotLine,
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


RunPen = str | tuple[str, Qt.PenStyle]  # a colour, or a colour and a dash


def run_pen_style(index: int) -> tuple[str, Qt.PenStyle]:
    """The colour and dash of the index-th run (from 0) laid over the curves."""
    turn, place = divmod(index, len(RUN_COLOURS))
    return RUN_COLOURS[place], RUN_DASHES[turn % len(RUN_DASHES)]


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
        # as large as the space beside the chart allows: a square on a large screen
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
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
        super().__init__(parent, enableMenu=False)  # no menu: none built
        self.setMinimumSize(170, 160)  # ten readable bars, even in a 1024-pixel-wide window
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # nothing to do with the keyboard here
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
        self.best = 0  # the class whose probability the label shows
        self.value_label = pg.TextItem(anchor=(0.5, 1.0))
        self.value_label.setFont(QFont(self.font().family(), 10, QFont.Weight.Bold))
        plot.addItem(self.value_label)
        plot.getViewBox().sigResized.connect(self._keep_label_inside)
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
        # Written inside a tall bar rather than above it (where a short chart would clip it).
        inside = percent[best] > 80
        self.value_label.setAnchor((0.5, 0.0 if inside else 1.0))
        self.value_label.setPos(best, percent[best] - 1 if inside else percent[best] + 1)
        self.best = best
        self._keep_label_inside()
        self.hint.setVisible(False)

    def _keep_label_inside(self) -> None:
        """Move the probability's label sideways from over its bar as far as it takes to stay
        inside the chart ("100.0%" is wider than two bars of a narrow chart)."""
        view = self.getPlotItem().getViewBox()
        x_range = view.viewRange()[0]
        pixel = view.viewPixelSize()[0]  # classes per pixel
        half = (self.value_label.boundingRect().width() / 2 + 2) * pixel  # 2 pixels in
        if not self.value_label.toPlainText() or not np.isfinite(half):
            return
        low, high = x_range[0] + half, x_range[1] - half
        x = min(max(self.best, low), high) if low <= high else sum(x_range) / 2
        self.value_label.setPos(x, self.value_label.pos().y())


class Key(pg.LegendItem):
    """A legend laid out under a plot (pyqtgraph's floats over the curves, and would keep to the
    plot's corner in a layout)."""

    def updateSize(self) -> None:
        self.updateGeometry()  # the plot's layout places it and gives it its size


def fit_legend(legend: pg.LegendItem) -> None:
    """The legend as large as its texts: pyqtgraph sizes it from its rows' present sizes, so a row
    grown by a zoom, or widened by an entry since removed, stayed so (its text adrift from its
    line's sample), and the legend kept to its corner only as it grew."""
    for _sample, label in legend.items:
        label.resize(label.preferredSize())
    legend.updateSize()


class KeySample(pg.ItemSample):
    """A curve's sample in a key: a picture only (pyqtgraph's hides the curve when clicked)."""

    def mouseClickEvent(self, event) -> None:
        event.accept()


def fitted_range(values: list[np.ndarray]) -> tuple[float, float] | None:
    """The span of the finite `values` with a margin, or None without any."""
    finite = np.concatenate([np.ravel(v) for v in values] or [np.zeros(0)])
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    low, high = float(finite.min()), float(finite.max())
    margin = 0.08 * (high - low) or 0.05 * abs(high) or 1.0  # one value: a band around it
    return low - margin, high + margin


STEP_PLOT_HEIGHTS = (64, 120)  # the step size's plot under the curves: least and most height


class TrainingPlots(QWidget):
    """Loss and accuracy against epochs: running training values within each epoch, and a point per
    epoch for the epoch's training examples and for the dev set at its end; other runs' curves
    laid over them, named in a key under the plots.

    The axes fit the per-epoch values (the running curve starts far lower, and would squeeze
    them into a band). The mouse wheel zooms and dragging pans; a Reset view button appears
    then, and a double-click or the right-click menu resets too."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # pyqtgraph's menus speak its own jargon (ours instead), and not built: 9 ms a plot
        self.loss_plot = pg.PlotWidget(enableMenu=False)
        self.accuracy_plot = pg.PlotWidget(enableMenu=False)
        loss, accuracy = self.loss_plot.getPlotItem(), self.accuracy_plot.getPlotItem()
        loss.setTitle("Loss")
        loss.setLabel("left", "loss (lower is better)")
        loss.setLabel("bottom", "epoch")
        accuracy.setTitle("Accuracy")
        accuracy.setLabel("left", "accuracy (%)")
        accuracy.setLabel("bottom", "epoch")
        accuracy.setXLink(loss)
        # The step size, under them, shown when it moves (a schedule, or halving on a plateau)
        self.step_plot = pg.PlotWidget(enableMenu=False)
        step = self.step_plot.getPlotItem()
        step.setLabel("left", "step")  # short: the plot is low (its tooltip says more)
        step.setXLink(loss)
        self.step_plot.setFixedHeight(STEP_PLOT_HEIGHTS[1])  # resizeEvent fits it to the room
        self.step_plot.hide()
        self.step_plot.setToolTip(
            "The step size (learning rate) through the run: a one-cycle or cosine schedule moves\n"
            "it within each epoch; the plateau rule halves it between epochs.\n"
            "Wheel: zoom; drag: move; double-click: reset the view."
        )
        loss.addLegend(offset=(-10, 10), labelTextSize="9pt")  # top right: where loss rarely is
        self.widgets = (self.loss_plot, self.accuracy_plot, self.step_plot)
        for widget in self.widgets:
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # mouse only: no focus without a ring
            widget.hideButtons()  # its "A" would fit the running curve too
            widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            widget.customContextMenuRequested.connect(self._menu)
            widget.viewport().installEventFilter(self)  # a double-click resets the view
            plot = widget.getPlotItem()
            plot.getViewBox().sigRangeChangedManually.connect(self._zoomed)
            plot.showGrid(x=True, y=True, alpha=0.2)
            for name in ("left", "bottom"):
                plot.getAxis(name).enableAutoSIPrefix(False)
                # Major ticks and grid lines only: the minor grid made each repaint 3 times as
                # slow (25 ms instead of 8), which stalled the window while training.
                plot.getAxis(name).setStyle(maxTickLevel=0)
        # The key of the best epoch's line and of the runs laid over these curves: under the
        # accuracy plot, where it covers no curve however many runs it names.
        self.key_points = 9.0  # the size of the key's text (presentation mode zooms it)
        self.key = Key(labelTextSize="9pt")
        accuracy.layout.addItem(self.key, 4, 1)
        self.curves = {
            "running_loss": _curve(loss, GREY, RUNNING),
            "train_loss": _curve(loss, BLUE, "training", symbol="o"),
            "dev_loss": _curve(loss, ORANGE, "held-out", symbol="s"),
            "running_accuracy": _curve(accuracy, GREY, RUNNING),
            "train_accuracy": _curve(accuracy, BLUE, "training", symbol="o"),
            "dev_accuracy": _curve(accuracy, ORANGE, "held-out", symbol="s"),
            "step": step.plot(pen=pg.mkPen(GREEN, width=2), connect="finite"),
        }
        best_pen = pg.mkPen(GREEN, width=1, style=Qt.PenStyle.DashLine)
        self.best_line = pg.InfiniteLine(angle=90, movable=False, pen=best_pen)
        self.best_line.setVisible(False)
        self.best_sample = pg.PlotDataItem(pen=best_pen)  # the line's picture in the key
        accuracy.addItem(self.best_line)
        self.loss_plot.setToolTip(
            "Mean cross-entropy, in nats. Training: each example just before its own update,\n"
            "averaged over the epoch so far (grey) and the whole epoch (points); held-out: the\n"
            "10,000 dev images, kept apart from training, at each epoch's end.\n"
            "Wheel: zoom; drag: move; double-click: reset the view."
        )
        self.accuracy_plot.setToolTip(
            "Share of images classified right. Training: each example just before its own update,\n"
            "over the epoch so far (grey) and the whole epoch (points); held-out: the 10,000 dev\n"
            "images, kept apart from training, at each epoch's end. The green dashed line marks\n"
            "the best epoch on them.\n"
            "Wheel: zoom; drag: move; double-click: reset the view."
        )
        self.reset_button = QToolButton(self)  # over the loss plot's top left corner
        self.reset_button.setText("Reset view")
        self.reset_button.setToolTip("Show all the curves again, as before zooming or moving")
        self.reset_button.clicked.connect(self.reset_view)
        self.reset_button.hide()
        self.zoomed = False  # the view is as the mouse left it, not fitted to the curves
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.accuracy_plot)
        layout.addWidget(self.step_plot)
        self.compared: list[tuple] = []  # (plot, curve) of other runs, laid over these
        self.compared_names: list[tuple] = []  # (its dev accuracy curve, name) of each run
        self.compared_epochs = 0  # the most epochs of those runs
        self.compared_runs: list[tuple] = []  # what set_compared was last given
        self.running_named = True  # the running curve has a legend entry
        self.keyed: tuple | None = None  # the names and columns of the key shown
        self.clear()

    def clear(self, epochs: int | None = None) -> None:
        """Forget all points; with `epochs`, fix the epoch axis for a run of that length, so the
        curves grow into a still frame (and the axes need not be redrawn at every point)."""
        self.planned_epochs = epochs or 0
        # (epoch position, loss, accuracy, step size)
        self.running: list[tuple[float, float, float, float]] = []
        self.epochs: list[dict] = []
        self.best_epoch = 0
        self.reset_view()

    def add_running(self, position: float, loss: float, accuracy: float, lr: float) -> None:
        if not np.isfinite(loss):
            return
        if self.running and int(np.ceil(position)) != int(np.ceil(self.running[-1][0])):
            self.running.append((np.nan, np.nan, np.nan, np.nan))  # a new epoch: break the line
        self.running.append((position, loss, accuracy, lr))

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

    def set_compared(self, runs: list[tuple[str, RunPen, list[dict]]]) -> None:
        """Lay other runs' per-epoch curves over the plots: (name, colour or (colour, dash) as
        `run_pen_style` gives, history) each; dev accuracy and loss in the run's dash, training
        accuracy dashed. The key under the plots names them. The same runs again change nothing
        (the runs list lays them again at each change of its own: a redraw takes 5-10 ms)."""
        if runs == self.compared_runs:
            return
        self.compared_runs = list(runs)
        for plot, item in self.compared:
            plot.removeItem(item)
        self.compared, self.compared_names = [], []
        self.compared_epochs = max((row["epoch"] for _, _, rows in runs for row in rows), default=0)
        loss, accuracy = self.loss_plot.getPlotItem(), self.accuracy_plot.getPlotItem()
        for name, pen, history in runs:
            colour, dash = pen if isinstance(pen, tuple) else (pen, Qt.PenStyle.SolidLine)
            epoch = np.array([row["epoch"] for row in history], dtype=float)
            values = {key: np.array([row[key] for row in history], dtype=float)
                      for key in ("dev_loss", "dev_accuracy", "train_accuracy")}  # fmt: skip
            dev = pg.mkPen(colour, width=1.5, style=dash)
            dashed = pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)
            dots = {"symbol": "o", "symbolSize": 4, "symbolBrush": colour, "symbolPen": None}
            dev_accuracy = accuracy.plot(epoch, 100 * values["dev_accuracy"], pen=dev, **dots)
            self.compared += [  # dots on the dev points: a one-epoch run shows too
                (loss, loss.plot(epoch, values["dev_loss"], pen=dev, **dots)),
                (accuracy, dev_accuracy),
                (accuracy, accuracy.plot(epoch, 100 * values["train_accuracy"], pen=dashed)),
            ]
            self.compared_names.append((dev_accuracy, name))
        self.keyed = None  # the key changes
        self.redraw()

    def _draw_steps(self, running: np.ndarray) -> None:
        """The step size as the run reported it within each epoch, or for a finished run, as a
        staircase of its epochs' steps; the plot shows only when the step size moves."""
        if len(running):
            x, y = running[:, 0], running[:, 3]
        else:
            rows = [(row["epoch"], row.get("lr", np.nan)) for row in self.epochs]
            x = np.array([[e - 1, e, np.nan] for e, _ in rows], dtype=float).ravel()
            y = np.array([[lr, lr, np.nan] for _, lr in rows], dtype=float).ravel()
        self.curves["step"].setData(x, y)
        finite = y[np.isfinite(y)]
        self.step_plot.setVisible(bool(finite.size and finite.max() > finite.min() * (1 + 1e-9)))

    def _update_key(self) -> None:
        """Name the best epoch's line and the runs laid over the curves, under the accuracy
        plot, in as many columns as fit, or as keep it within an eighth of the plots' height
        with the names cut short (whole in their tooltips); names shown as plain text (a
        file's may look like markup)."""
        curves = [(self.best_sample, f"best: epoch {self.best_epoch}")] * (self.best_epoch > 0)
        curves += self.compared_names
        if self.compared_names:
            dashed = pg.PlotDataItem(pen=pg.mkPen(GREY, width=1.5, style=Qt.PenStyle.DashLine))
            curves.append((dashed, "dashed: training"))
        font = QFont(self.font())
        # 9 points, a whole number of pixels: an SVG export's text matches the PNG's (zoomed in
        # presentation mode)
        font.setPointSizeF(self.key_points)
        metrics = QFontMetrics(font)
        widest = max((metrics.horizontalAdvance(name) for _, name in curves), default=0)
        room = self.accuracy_plot.width() - 70  # the left axis takes about 60 pixels
        rows = max(2, self.height() // 8 // (metrics.height() + 4))
        fewest = max(1, -(-len(curves) // rows))  # columns
        whole = room // (widest + 32)  # columns of whole names (a sample takes 32 pixels)
        columns = max(1, min(whole, len(curves))) if whole >= fewest else fewest
        width = min(widest, room // columns - 32)
        shown = [
            name
            if metrics.horizontalAdvance(name) <= width  # elidedText cuts some that fit exactly
            else metrics.elidedText(name, Qt.TextElideMode.ElideRight, width)
            for _, name in curves
        ]
        if (shown, columns) == self.keyed:
            return
        self.keyed = (shown, columns)
        layout = self.accuracy_plot.getPlotItem().layout
        layout.removeItem(self.key)  # a new key: pyqtgraph's miscounts its cells once changed
        self.key.scene().removeItem(self.key)
        self.key = Key(labelTextSize=f"{self.key_points:.3g}pt", colCount=columns)
        for (curve, name), text in zip(curves, shown, strict=True):
            self.key.addItem(KeySample(curve), escape(text))
            self.key.items[-1][1].setToolTip(tip(name))
        layout.addItem(self.key, 4, 1)
        layout.activate()  # in place at once, for an export too

    # -- the view: fitted to the curves, or as the mouse left it ------------------------------

    def _zoomed(self) -> None:
        self.zoomed = True
        self.reset_button.show()
        self.reset_button.raise_()  # over the plots

    def reset_view(self) -> None:
        """Fit the view to the curves again, and keep it fitted as they grow."""
        self.zoomed = False
        self.reset_button.hide()
        self.redraw()

    def _fit(self) -> None:
        """Epochs from 0 to the longest run's end (the planned one's too); values to the
        per-epoch points and the running ones (after the first epoch, once it has ended), so the
        curve being drawn stays in view."""
        running = np.array(self.running, dtype=float).reshape(-1, 4)
        epochs = [row["epoch"] for row in self.epochs] + [0]
        last = max(self.planned_epochs, self.compared_epochs, *epochs, *running[:, 0][-1:])
        loss, accuracy = self.loss_plot.getPlotItem(), self.accuracy_plot.getPlotItem()
        if last > 0:
            loss.setXRange(0, last, padding=0.04)
        per_epoch = {"loss": [], "accuracy": []}
        for curve in ("train_loss", "dev_loss", "train_accuracy", "dev_accuracy"):
            per_epoch[curve.split("_")[1]].append(self.curves[curve].getData()[1])
        for plot, item in self.compared:
            per_epoch["loss" if plot is loss else "accuracy"].append(item.getData()[1])
        # The running curve: all there is of the first epoch; after it, its later part (the
        # first epoch's start, far lower, would squeeze everything else into a corner)
        later = running if not self.epochs else running[running[:, 0] > 1]
        per_epoch["loss"].append(later[:, 1])
        per_epoch["accuracy"].append(100 * later[:, 2])
        for plot, values in ((loss, per_epoch["loss"]), (accuracy, per_epoch["accuracy"])):
            span = fitted_range([v for v in values if v is not None])
            if span is not None:
                plot.setYRange(*span, padding=0)
        steps = self.curves["step"].getData()[1]
        if steps is not None and np.isfinite(steps).any():
            self.step_plot.getPlotItem().setYRange(0, np.nanmax(steps), padding=0.08)

    def _menu(self, position) -> None:
        menu = QMenu(self)
        menu.addAction("Reset view", self.reset_view).setEnabled(self.zoomed)
        menu.exec(self.sender().mapToGlobal(position))

    def eventFilter(self, watched, event) -> bool:
        double = event.type() == QEvent.Type.MouseButtonDblClick
        if double and event.button() == Qt.MouseButton.LeftButton:
            self.reset_view()
        return False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # A glance at the step size's shape: at most a sixth of the height, the curves keep the
        # rest (at 1024x768 a fixed 120 px squeezed the accuracy plot to 70 px)
        low, high = STEP_PLOT_HEIGHTS
        self.step_plot.setFixedHeight(max(low, min(high, self.height() // 6)))
        hint = self.reset_button.sizeHint()
        self.reset_button.setGeometry(4, 4, hint.width(), hint.height())
        self._update_key()

    @contextmanager
    def exporting(self):
        """Draw for an export: pyqtgraph otherwise paints data-point markers from a bitmap
        atlas, which an SVG file receives whole, squashed into every marker; and an SVG file
        is not clipped to the plots, so the points out of view (the running curve's first
        epoch, or anything after a zoom) are left out. The Reset view button is too."""
        items = [
            item
            for widget in self.widgets
            for item in widget.scene().items()
            if hasattr(item, "setExportMode")
        ]
        for item in items:
            item.setExportMode(True, {"antialias": True})
        hidden = []  # (curve, x, y) of the curves with points out of view
        for widget in self.widgets:
            (left, right), (bottom, top) = widget.getPlotItem().viewRange()
            for curve in widget.getPlotItem().listDataItems():
                x, y = curve.getData()
                if x is None or not len(x):
                    continue
                with np.errstate(invalid="ignore"):
                    out = (x < left) | (x > right) | (y < bottom) | (y > top)
                if out.any():
                    hidden.append((curve, x, y))
                    curve.setData(x, np.where(out, np.nan, y))
        self.reset_button.hide()
        try:
            yield
        finally:
            for item in items:
                item.setExportMode(False)
            for curve, x, y in hidden:
                curve.setData(x, y)
            self.reset_button.setVisible(self.zoomed)

    def redraw(self) -> None:
        running = np.array(self.running, dtype=float).reshape(-1, 4)
        if self.running_named != bool(len(running)):  # no legend entry for an empty curve
            self.running_named = bool(len(running))
            legend = self.loss_plot.getPlotItem().legend
            if self.running_named:
                legend.addItem(self.curves["running_loss"], RUNNING)
            else:
                legend.removeItem(self.curves["running_loss"])
                fit_legend(legend)
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
        self._draw_steps(running)
        self.best_line.setVisible(self.best_epoch > 0)
        self.best_line.setValue(self.best_epoch)
        self._update_key()
        if not self.zoomed:  # else the view stays as the person left it
            self._fit()


WEIGHTS_TIP = (
    "The weights that classify your drawing, with the settings and results recorded in their"
    " file. Held-out images: the 10,000 training images kept aside to choose the best epoch"
    " (the report's dev set)."
)


def _training_images(training: dict) -> str:
    """What the training accuracy was measured on: the labels trained on, noisy ones if so."""
    noisy = positive_number(training.get("label_noise"))
    return "training images (by their noisy labels)" if noisy else "training images"


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
            settings = f"{get('preset', '?')} preset, {epochs}, {training_words(training)}" + (
                f", on {get('data')}" if get("data") not in (None, "bundled MNIST") else ""
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
                (_training_images(training), "train_accuracy"),
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
