"""The plots and the window's panes fit the screen, from 1024x768 to 2560x1440: compared runs are
named and told apart, the axes fit the curves, a zoom can be undone, and nothing is cut off."""

from __future__ import annotations

import numpy as np
import pytest
from gui_support import shown
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from mnistpad.gui.inside_pictures import BAR_TEXT, ColourBar
from mnistpad.gui.views import TrainingPlots, run_pen_style
from mnistpad.gui.window import first_size


def history(start: float, end: float, epochs: int) -> list[dict]:
    """A run's per-epoch rows with dev accuracy rising from `start` to `end`."""
    rising = np.linspace(start, end, epochs)
    return [
        {
            "epoch": epoch + 1,
            "train_loss": 0.5 - value / 4,
            "dev_loss": 0.5 - value / 4,
            "train_accuracy": value - 0.01,
            "dev_accuracy": value,
        }
        for epoch, value in enumerate(rising)
    ]


@pytest.fixture
def plots(qtbot):
    return shown(qtbot, TrainingPlots(), 900, 700)


def key_names(plots: TrainingPlots) -> list[str]:
    """The key's entries as the person reads them."""
    return [label.item.toPlainText() for _, label in plots.key.items]


def accuracy_range(plots: TrainingPlots) -> tuple[float, float]:
    return tuple(plots.accuracy_plot.getPlotItem().viewRange()[1])


def test_compared_runs_are_named_in_a_key_under_the_curves(plots):
    plots.set_history(history(0.90, 0.92, 5), best_epoch=4)
    plots.set_compared(
        [
            ("1: Linear · fast · 5 epochs", "#9467bd", history(0.9, 0.93, 5)),
            ("<b>2</b>: from a file", "#1b9e77", history(0.95, 0.99, 8)),
        ]
    )
    QApplication.processEvents()
    names = key_names(plots)
    assert names[0] == "best: epoch 4"
    assert names[1:3] == ["1: Linear · fast · 5 epochs", "<b>2</b>: from a file"]  # plain text
    view = plots.accuracy_plot.getPlotItem().getViewBox().sceneBoundingRect()
    key = plots.key.sceneBoundingRect()
    assert key.top() >= view.bottom()  # under the curves, covering none
    plots.set_compared([])
    assert key_names(plots) == ["best: epoch 4"]


def test_the_accuracy_axis_fits_the_compared_curves_not_the_running_one(plots):
    plots.clear(epochs=8)
    for step in range(100):  # the first epoch's running accuracy from chance, then about 0.9
        plots.add_running(step / 50, 1.0, 0.1 + 0.8 * step / 50 if step < 50 else 0.9, 0.01)
    plots.add_epoch(history(0.90, 0.92, 2)[0], best_epoch=1)
    plots.add_epoch(history(0.90, 0.92, 2)[1], best_epoch=2)
    plots.set_compared(
        [
            ("1", run_pen_style(0), history(0.93, 0.97, 8)),
            ("2", run_pen_style(1), history(0.96, 0.99, 8)),
        ]
    )
    low, high = accuracy_range(plots)
    assert 85 < low < 89 and 99 < high < 101  # 89% to 99%, with a margin; not 10% to 100%
    assert plots.loss_plot.getPlotItem().viewRange()[0][1] >= 8  # every epoch in view
    for step in range(100, 150):  # the third epoch's running loss, below every epoch's point
        plots.add_running(step / 50, 0.02, 0.995, 0.01)
    plots.redraw()
    low, _ = plots.loss_plot.getPlotItem().viewRange()[1]
    assert low <= 0.02  # the curve being drawn stays in view


def test_the_step_size_is_plotted_within_the_epoch_when_it_moves(plots):
    plots.clear(epochs=2)
    for step in range(40):  # a held step size: nothing to see, no plot
        plots.add_running(step / 20, 0.5, 0.9, 0.01)
    plots.redraw()
    assert plots.step_plot.isHidden()
    plots.clear(epochs=2)
    for step in range(40):  # one cycle: up, then down, within the run's two epochs
        plots.add_running(step / 20, 0.5, 0.9, 0.006 * min(step, 40 - step) / 20)
    plots.redraw()
    assert not plots.step_plot.isHidden()
    x, y = plots.curves["step"].getData()
    finite = np.isfinite(y)
    assert finite.sum() == 40 and x[finite][np.argmax(y[finite])] == 1.0  # the peak mid-run
    left, right = plots.step_plot.getPlotItem().viewRange()[0]  # the epochs of the plots
    assert left <= 0 and 2 <= right < 2.2
    # A finished run from a file: the epochs' steps as a staircase (halved on a plateau)
    plots.set_history(
        [dict(row, lr=0.01 / 2**index) for index, row in enumerate(history(0.9, 0.92, 3))], 3
    )
    assert not plots.step_plot.isHidden()
    _, y = plots.curves["step"].getData()
    assert list(y[np.isfinite(y)]) == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]


def test_twelve_runs_are_drawn_with_twelve_pens_readable_on_light_and_dark(plots):
    def contrast(colour: str, background: str) -> float:
        def luminance(name: str) -> float:
            rgb = np.array(QColor(name).getRgbF()[:3])
            linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
            return float(linear @ [0.2126, 0.7152, 0.0722])

        light, dark = sorted((luminance(colour), luminance(background)), reverse=True)
        return (light + 0.05) / (dark + 0.05)

    pens = [run_pen_style(index) for index in range(12)]
    assert len({colour for colour, _ in pens}) == 12  # twelve colours, none repeated
    for colour, _ in pens:
        assert contrast(colour, "#ffffff") > 2 and contrast(colour, "#1e1e1e") > 2.5, colour
    assert run_pen_style(12)[0] == pens[0][0] and run_pen_style(12)[1] != pens[0][1]
    plots.set_compared([(str(i), pen, history(0.9, 0.95, 3)) for i, pen in enumerate(pens)])
    drawn = {(curve.opts["pen"].color().name(), curve.opts["pen"].style())
             for curve, _ in plots.compared_names}  # fmt: skip
    assert len(drawn) == 12
    assert len(key_names(plots)) == 12 + 1  # and the note on the dashed training curves


def wheel(widget, steps: int) -> None:
    """Turn the mouse wheel over the middle of a plot."""
    viewport = widget.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    event = QWheelEvent(
        centre,
        viewport.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)


def test_a_zoom_by_the_wheel_is_undone_by_reset_view_or_a_double_click(plots, qtbot):
    plots.set_history(history(0.90, 0.95, 10), best_epoch=9)
    fitted = accuracy_range(plots)
    assert not plots.reset_button.isVisible()
    assert not plots.accuracy_plot.getPlotItem().getViewBox().menuEnabled()  # pyqtgraph's menu
    wheel(plots.accuracy_plot, 3)
    assert accuracy_range(plots) != pytest.approx(fitted)
    assert plots.reset_button.isVisible()
    zoomed = accuracy_range(plots)
    plots.hide()  # another tab shown meanwhile
    plots.add_epoch(history(0.96, 0.96, 1)[0] | {"epoch": 11}, best_epoch=11)
    plots.redraw()
    plots.show()
    assert accuracy_range(plots) == pytest.approx(zoomed)  # a new point leaves the zoom alone
    qtbot.mouseClick(plots.reset_button, Qt.MouseButton.LeftButton)
    assert not plots.reset_button.isVisible()
    low, high = accuracy_range(plots)
    assert low < 90 and 96 < high < 97
    wheel(plots.loss_plot, -2)
    assert plots.reset_button.isVisible()
    qtbot.mouseDClick(plots.loss_plot.viewport(), Qt.MouseButton.LeftButton)
    assert not plots.reset_button.isVisible()
    assert accuracy_range(plots) == pytest.approx((low, high))


def at_size(window, qtbot, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.width() == width and window.height() == height)
    QApplication.processEvents()


def test_a_sure_reading_is_written_whole_over_any_bar(window, qtbot):
    at_size(window, qtbot, 1024, 768)
    chart = window.chart
    view = chart.getPlotItem().getViewBox().sceneBoundingRect()
    for best in range(10):
        probabilities = np.zeros(10)
        probabilities[best] = 1.0
        chart.set_probabilities(probabilities)
        label = chart.value_label.mapRectToScene(chart.value_label.boundingRect())
        assert chart.value_label.toPlainText() == "100.0%"
        assert view.contains(label), (best, label, view)


def test_at_1024x768_the_errors_matrix_and_the_epochs_table_fit_their_tab(window, qtbot):
    at_size(window, qtbot, 1024, 768)
    window.tabs.setCurrentWidget(window.errors_page)
    qtbot.waitUntil(lambda: window.errors.matrix.rowCount() == 10)
    QApplication.processEvents()
    page = window.errors_page
    assert page.widget().width() <= page.viewport().width()  # no sideways scrolling
    matrix = window.errors.matrix
    assert matrix.horizontalScrollBar().maximum() == 0  # all ten columns in view
    metrics = matrix.fontMetrics()
    for row, column in np.ndindex(10, 10):
        text = matrix.item(row, column).text()  # "1,135" too, whole
        assert metrics.horizontalAdvance(text) <= matrix.columnWidth(column) - 4, text

    window.tabs.setCurrentWidget(window.table)
    window.table.show_history(
        [row | {"lr": 0.0078125, "seconds": 1234.5} for row in history(0.9, 0.99, 12)]
    )
    QApplication.processEvents()
    assert window.table.horizontalScrollBar().maximum() == 0
    metrics = window.table.fontMetrics()
    for column in range(window.table.columnCount()):
        text = window.table.item(0, column).text()
        assert metrics.horizontalAdvance(text) <= window.table.columnWidth(column) - 4, text
    assert window.table.item(0, 5).toolTip() == "step: 0.0078125"  # exact where cut short


def test_colour_bars_are_as_wide_as_their_numbers(qtbot):
    bar = ColourBar()
    qtbot.addWidget(bar)
    for limit in (0.88, 0.0012, 123.4, 1.5e-7):
        bar.set_limit(limit)
        for text in (f"+{limit:.2g}", f"-{limit:.2g}"):
            assert BAR_TEXT + bar.fontMetrics().horizontalAdvance(text) <= bar.width(), text
    wide = bar.width()
    bar.set_limit(0.5)
    assert bar.width() == wide  # never narrower again: the pictures beside it stay still


def test_a_large_screen_gets_a_large_first_window_and_a_large_preview(window, qtbot):
    width, height = first_size(2560, 1440)
    assert width > 1280 and height > 800
    at_size(window, qtbot, 2560, 1400)  # maximised on a 2560x1440 screen
    preview = window.preview
    assert min(preview.width(), preview.height()) >= 250  # not 168 pixels in empty space
    assert window.chart.width() >= 2 * preview.width() * 0.8


def test_the_key_is_in_the_exported_plots(window, qtbot, dialogs, tmp_path):
    _, answers = dialogs
    at_size(window, qtbot, 1440, 900)  # room for whole names (a narrow pane cuts them short)
    window.plots.set_compared([("1: Linear · fast · 5 epochs", "#9467bd", history(0.9, 0.93, 5))])
    answers["save"] = str(tmp_path / "plots.svg")
    assert window.runs.export_plots_dialog()
    drawing = (tmp_path / "plots.svg").read_text()
    assert ">1: Linear · fast · 5 epochs<" in drawing and ">dashed: training<" in drawing
