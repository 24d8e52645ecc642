"""Presentation mode with the real window: zoom, theme, full screen, and pictures of the view."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from gui_support import circle, line
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.present import ZOOMS, system_look
from mnistpad.gui.views import configure_pyqtgraph
from mnistpad.gui.window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(autouse=True)
def system_look_after(qapp):
    """The application's font, style and palette as they were, for the tests that follow."""
    look = system_look()
    yield
    qapp.setFont(look.font)
    qapp.setStyle(look.style)
    qapp.setPalette(look.palette)
    configure_pyqtgraph(look.palette)


def axis_points(plot, size) -> float:
    """The size of an axis's text: its own font or "12pt", or (None) the plot's font."""
    if isinstance(size, str):
        return float(size.removesuffix("pt"))
    return (size or plot.font()).pointSizeF()


def sizes(window) -> dict[str, float]:
    """What a zoom must scale: text, the canvas, the preview, and the charts' text and lines."""
    QApplication.processEvents()  # Qt posts the new font to each widget
    axis = window.chart.getPlotItem().getAxis("left")
    loss_axis = window.plots.loss_plot.getPlotItem().getAxis("bottom")
    return {
        "font": window.panel.font().pointSizeF(),
        "prediction": window.draw.prediction.font().pointSizeF(),
        "canvas": window.canvas.minimumWidth(),
        "preview": window.preview.minimumWidth(),
        "chart": window.chart.minimumHeight(),
        "chart ticks": axis_points(window.chart, axis.style["tickFont"]),
        "curve ticks": axis_points(window.plots.loss_plot, loss_axis.style["tickFont"]),
        "axis label": axis_points(window.chart, axis.labelStyle.get("font-size")),
        "curve width": window.plots.curves["dev_loss"].opts["pen"].widthF(),
        "marker": window.plots.curves["dev_loss"].opts["symbolSize"],
        "best line": window.plots.best_line.pen.widthF(),
        "chart value": window.chart.value_label.textItem.font().pointSizeF(),
    }


def test_zoom_scales_fonts_canvas_and_charts_together_and_ctrl_0_restores(window, qtbot):
    before = sizes(window)
    qtbot.keyClick(window, Qt.Key.Key_Equal, CTRL)  # Ctrl+=: 125%
    qtbot.keyClick(window, Qt.Key.Key_Plus, CTRL)  # Ctrl++: 150%
    assert window.present.zoom == 1.5
    zoomed = sizes(window)
    for name, size in before.items():
        assert zoomed[name] == pytest.approx(1.5 * size, abs=1), name
    qtbot.keyClick(window, Qt.Key.Key_Minus, CTRL)
    assert window.present.zoom == 1.25
    assert sizes(window)["font"] == pytest.approx(1.25 * before["font"])
    qtbot.keyClick(window, Qt.Key.Key_0, CTRL)
    assert window.present.zoom == 1.0
    assert sizes(window) == pytest.approx(before)
    assert window.handwriting.personal.drawings()[0] == []  # Ctrl+0 labelled nothing


def test_the_zoom_stops_at_its_ends(window, qtbot):
    for _ in range(len(ZOOMS) + 1):
        window.present.zoom_in()
    assert window.present.zoom == ZOOMS[-1]
    for _ in range(len(ZOOMS) + 1):
        window.present.zoom_out()
    assert window.present.zoom == ZOOMS[0]


def test_zoom_and_theme_survive_a_restart_and_a_damaged_setting_falls_back(window, qtbot):
    base = sizes(window)
    window.present.set_zoom(2.0)
    window.present.set_theme("dark")
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.present.zoom == 2.0 and again.present.theme == "dark"
    assert sizes(again)["canvas"] == 2 * base["canvas"]
    assert QApplication.font().pointSizeF() == pytest.approx(2 * system_look().font.pointSizeF())
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    again.close()
    again.settings.setValue("view/zoom", "huge")
    again.settings.setValue("view/theme", "<b>neon</b>")
    third = MainWindow()
    qtbot.addWidget(third)
    assert third.present.zoom == 1.0 and third.present.theme == "system"
    assert sizes(third)["canvas"] == base["canvas"]


def contrast(one: QColor, other: QColor) -> float:
    """WCAG's contrast ratio of two colours (1 to 21)."""

    def luminance(colour: QColor) -> float:
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                  for c in (colour.redF(), colour.greenF(), colour.blueF())]  # fmt: skip
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("theme", "dark"), [("dark", True), ("light", False)])
def test_the_theme_colours_the_widgets_and_the_plots_at_once(window, qtbot, theme, dark):
    send_stroke(window.canvas, circle())  # a probability written on the chart
    window.present.set_theme(theme)
    QApplication.processEvents()  # Qt posts the new palette to each widget
    palette = QApplication.palette()
    assert (palette.color(QPalette.ColorRole.Window).lightness() < 80) == dark
    assert window.canvas.palette().color(QPalette.ColorRole.Base) == palette.color(
        QPalette.ColorRole.Base
    )
    for plot in (window.chart, window.plots.loss_plot, window.plots.accuracy_plot):
        background = plot.backgroundBrush().color()
        assert (background.lightness() < 80) == dark
        axis = plot.getPlotItem().getAxis("bottom")
        assert contrast(axis.textPen().color(), background) > 7  # the axis text
        for curve in plot.getPlotItem().listDataItems():
            if not isinstance(curve, pg.PlotDataItem):
                continue  # the chart's bars: filled in blue and orange
            pen = pg.mkPen(curve.opts["pen"])
            if pen.style() != Qt.PenStyle.NoPen:  # Tableau's orange on white: 2.4
                assert contrast(pen.color(), background) > 2.2, (theme, pen.color().name())
    chart = window.chart.backgroundBrush().color()
    assert contrast(window.chart.hint.color, chart) > 2.5
    assert contrast(window.chart.value_label.color, chart) > 7  # "99.9%" on its bar


def test_full_screen_with_f11_and_esc_leaves_it(window, qtbot):
    window.showMaximized()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.isFullScreen()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.isFullScreen() and window.isMaximized()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert not window.isFullScreen()


def test_f9_hides_the_training_settings_and_gives_their_width_to_the_drawing_and_tabs(
    window, qtbot
):
    window.resize(1024, 768)
    window.show()
    QApplication.processEvents()
    drawing, tabs = window.splitter.widget(0).width(), window.splitter.widget(2).width()
    window._save_settings()
    qtbot.keyClick(window, Qt.Key.Key_F9)
    QApplication.processEvents()
    assert window.middle_pane.isHidden()
    assert window.splitter.widget(0).width() + window.splitter.widget(2).width() > drawing + tabs
    window._save_settings()  # the widths kept are the three panes', not a hidden one's 0
    assert all(width > 0 for width in window.settings.value("splitter"))
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert not window.middle_pane.isHidden()


def test_copy_view_puts_the_drawing_or_the_tab_used_last_on_the_clipboard(window, qtbot):
    send_stroke(window.canvas, circle())
    qtbot.keyClick(window, Qt.Key.Key_C, CTRL | Qt.KeyboardModifier.ShiftModifier)
    picture = QApplication.clipboard().image()
    left = window.splitter.widget(0)  # the canvas, the preview, the prediction and its chart
    ratio = left.devicePixelRatioF()
    assert (picture.width(), picture.height()) == (left.width() * ratio, left.height() * ratio)
    assert "drawing" in window.statusBar().currentMessage()
    window.tabs.setCurrentWidget(window.handwriting_page)  # a tab used: the tab is taken
    qtbot.keyClick(window, Qt.Key.Key_C, CTRL | Qt.KeyboardModifier.ShiftModifier)
    picture = QApplication.clipboard().image()
    page = window.handwriting_page.widget()  # the gallery's whole page, scrolled parts too
    assert (picture.width(), picture.height()) == (page.width() * ratio, page.height() * ratio)
    assert "Handwriting tab" in window.statusBar().currentMessage()
    send_stroke(window.canvas, line((0.5, 0.2), (0.5, 0.8)))  # drawing again: the drawing
    assert window.present.view()[0] is left


def test_save_view_writes_a_png_atomically_through_the_save_dialog(
    window, qtbot, dialogs, tmp_path
):
    shown, answers = dialogs
    send_stroke(window.canvas, circle())
    window.tabs.setCurrentWidget(window.inside_page)
    answers["save"] = str(tmp_path / "inside")  # the suffix is added
    saved = window.present.save_view_dialog()
    assert saved == str(tmp_path / "inside.png")
    image = QImage(saved)
    page = window.inside_page.widget()
    ratio = page.devicePixelRatioF()
    assert not image.isNull()
    assert (image.width(), image.height()) == (page.width() * ratio, page.height() * ratio)
    written = [path.name for path in tmp_path.iterdir() if path.suffix in (".png", ".tmp")]
    assert written == ["inside.png"]  # no temporary file left
    answers["save"] = str(tmp_path / "inside.png" / "view.png")  # in a file, not a folder
    assert window.present.save_view_dialog() is None  # said, nothing written
    assert shown["critical"][-1][0] == "Cannot save"
    assert QImage(saved).size() == image.size()


def overlapping(pane) -> list[tuple[str, str]]:
    """The drawing pane's controls that cover one another (names of the pairs)."""
    draw = pane.draw
    widgets = {
        "canvas": draw.canvas,
        "pen": draw.pen_width,
        "label row": draw.label_row,
        "preview": draw.preview,
        "evidence": draw.show_evidence,
        "compare": draw.show_compare,
        "prediction": draw.prediction,
        "confidence": draw.confidence,
        "chart": draw.charts,
    }
    places = {name: w.geometry().translated(w.parentWidget().mapTo(draw, w.pos()) - w.pos())
              for name, w in widgets.items()}  # fmt: skip
    names = list(places)
    return [
        (one, other)
        for i, one in enumerate(names)
        for other in names[i + 1 :]
        if places[one].intersects(places[other])
    ]


@pytest.mark.parametrize("zoom", [1.5, 2.0, ZOOMS[-1]])
def test_zoomed_in_a_1024x768_window_the_panes_scroll_and_nothing_overlaps(window, qtbot, zoom):
    window.present.set_zoom(zoom)
    window.resize(1024, 768)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 768)
    QApplication.processEvents()
    splitter, panes = window.splitter, window.panes
    least = splitter.minimumSizeHint()
    assert splitter.width() >= least.width() and splitter.height() >= least.height()
    assert panes.verticalScrollBar().maximum() > 0  # the rest is reached by scrolling
    for index in range(splitter.count()):  # no pane squeezed below what it needs
        pane = splitter.widget(index)
        assert pane.width() >= pane.minimumSizeHint().width(), index
    assert overlapping(window) == []
    window.present.reset_zoom()
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= 1024 * 0.95  # at 100% nothing scrolls
    assert panes.verticalScrollBar().maximum() == 0
    assert overlapping(window) == []


def test_the_view_menu_lists_the_presentation_keys(window, qtbot, dialogs):
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    texts = {a.text(): a.shortcut().toString() for a in view.actions()}
    assert texts["Zoom &in"] == "Ctrl+=" and texts["Zoom &out"] == "Ctrl+-"
    assert texts["&Actual size"] == "Ctrl+0" and texts["&Full screen"] == "F11"
    assert texts["&Copy view"] == "Ctrl+Shift+C" and "Sa&ve view as PNG..." in texts
    theme = next(a.menu() for a in view.actions() if a.menu() is not None)
    assert [a.text() for a in theme.actions()] == ["&System", "&Light", "&Dark"]
    theme.actions()[2].trigger()
    assert window.present.theme == "dark" and theme.actions()[2].isChecked()
    window.present.set_zoom(2.0)
    qtbot.keyClick(window, Qt.Key.Key_F1)  # the list of keys at 100%: zoomed, it outgrew 768 px
    title, text = dialogs[0]["information"][-1]
    assert title == "Keyboard shortcuts"
    assert "F11" in text and f"font-size: {system_look().font.pointSizeF():g}pt" in text


def test_zooming_in_and_back_gives_every_text_its_size_again(window, qtbot):
    window.resize(1440, 900)  # room for the matrix's numbers at the font's own size
    qtbot.waitUntil(lambda: window.width() == 1440)
    window.tabs.setCurrentWidget(window.errors_page)  # its matrix fits its text to its cells
    qtbot.waitUntil(lambda: window.errors.probabilities is not None, timeout=10_000)
    QApplication.processEvents()
    matrix = window.errors.matrix
    widgets = [matrix.horizontalHeader(), matrix.verticalHeader(), window.draw.prediction]
    before = [widget.font().pointSizeF() for widget in widgets]
    widths = window.splitter.sizes()
    for zoom in (1.75, 1.0):
        window.present.set_zoom(zoom)
        QApplication.processEvents()
    assert window.splitter.sizes() == widths  # the panes as wide as before, too
    assert [widget.font().pointSizeF() for widget in widgets] == pytest.approx(before)


def legend_layout(legend) -> list[float]:
    """The legend's size and each line sample's and text's place and size in it (x, y, width,
    height each)."""
    QApplication.processEvents()
    rects = [legend.boundingRect()]
    for sample, label in legend.items:
        rects += [sample.geometry(), label.geometry()]
    return [number for r in rects for number in (r.x(), r.y(), r.width(), r.height())]


def legend_corner(legend) -> tuple[float, float]:
    """The legend's distances from its plot's right and top edges."""
    right = legend.parentItem().width() - legend.pos().x() - legend.width()
    return right, legend.pos().y()


def test_the_loss_legend_keeps_its_corner_and_comes_back_as_it_was_after_a_zoom(window, qtbot):
    window.tabs.setCurrentWidget(window.plots.parentWidget())  # the Curves tab
    legend = window.plots.loss_plot.getPlotItem().legend
    before, corner = legend_layout(legend), legend_corner(legend)
    qtbot.keyClick(window, Qt.Key.Key_Plus, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_Plus, CTRL)
    zoomed = legend_layout(legend)
    assert zoomed[11] > before[11]  # its first text taller
    for row in range(len(legend.items)):  # each text beside its line's sample
        _, y, _, height, _, text_y, _, text_height = zoomed[4 + 8 * row : 12 + 8 * row]
        assert abs((y + height / 2) - (text_y + text_height / 2)) <= 2
    assert legend_corner(legend) == pytest.approx(corner, abs=1)
    qtbot.keyClick(window, Qt.Key.Key_0, CTRL)
    assert legend_layout(legend) == pytest.approx(before)
    assert legend_corner(legend) == pytest.approx(corner, abs=1)


def test_the_loss_legend_shrinks_when_the_running_curve_leaves_it(window):
    plots = window.plots
    legend = plots.loss_plot.getPlotItem().legend
    plots.running = [(0.1, 2.0, 0.5, 1.0)]  # a run's first steps: "training (running)" named
    plots.redraw()
    width = legend.boundingRect().width()
    plots.running = []
    plots.redraw()
    assert len(legend.items) == 2 and legend.boundingRect().width() < width
    labels = [label for _sample, label in legend.items]  # as wide as theirs, not the one gone
    widest = max(label.preferredSize().width() for label in labels)
    assert max(label.geometry().width() for label in labels) == pytest.approx(widest)
