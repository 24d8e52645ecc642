"""The session's runs: kept with their curves, laid over the plots when ticked, exported."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
from gui_support import start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer


def differing_share(png: QImage, svg) -> float:
    """The share of pixels that differ clearly between a PNG and an SVG rendered at its size."""
    png = png.convertToFormat(QImage.Format.Format_RGB32)
    drawn = QImage(png.size(), QImage.Format.Format_RGB32)
    drawn.fill(png.pixel(0, 0))  # the plots' background
    painter = QPainter(drawn)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()

    def pixels(image):
        rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
        rows = rows.reshape(image.height(), image.bytesPerLine())[:, : 4 * image.width()]
        return rows.reshape(image.height(), image.width(), 4)[..., :3].astype(int)

    return float((np.abs(pixels(png) - pixels(drawn)).max(axis=2) > 96).mean())


def two_runs(window, qtbot):
    start(window, qtbot, "fast", epochs=2)
    wait_until_done(window, qtbot)
    start(window, qtbot, "fast", epochs=1, seed=1)
    wait_until_done(window, qtbot)
    return window.runs


def test_every_run_is_kept_and_ticked_runs_are_laid_over_the_plots(window, qtbot):
    assert window.runs.list.count() == 1 and "appear here" in window.runs.list.item(0).text()
    assert not window.runs.list.item(0).flags() & Qt.ItemFlag.ItemIsEnabled  # a hint, not a run
    runs = two_runs(window, qtbot)
    assert runs.list.count() == 2 and "2: Linear · fast · 1 epoch" in runs.list.item(1).text()
    assert window.plots.compared == []
    runs.list.item(0).setCheckState(Qt.CheckState.Checked)
    runs.list.item(1).setCheckState(Qt.CheckState.Checked)
    assert len(window.plots.compared) == 6  # dev loss, dev accuracy, training accuracy each
    _, dev_accuracy = window.plots.compared[1][1].getData()
    expected = [100 * row["dev_accuracy"] for row in runs.runs[0]["history"]]
    assert np.allclose(dev_accuracy, expected)
    runs.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert len(window.plots.compared) == 3


def test_a_new_run_keeps_the_longer_runs_laid_over_it_in_view(window):
    plots = window.plots
    row = {"dev_loss": 0.3, "dev_accuracy": 0.9, "train_accuracy": 0.91}
    plots.set_compared([("linear", "#800080", [row | {"epoch": e} for e in range(1, 21)])])
    plots.clear(epochs=15)  # a CNN run of 15 epochs starts: the 20-epoch run stays whole
    assert plots.loss_plot.getPlotItem().viewRange()[0][1] >= 20
    plots.set_compared([])
    plots.clear(epochs=3)
    assert plots.loss_plot.getPlotItem().viewRange()[0][1] < 4


def test_curves_export_to_csv_and_plots_to_png_and_svg(window, qtbot, qtlog, dialogs, tmp_path):
    shown, answers = dialogs
    runs = two_runs(window, qtbot)
    runs.list.item(0).setCheckState(Qt.CheckState.Checked)
    answers["save"] = str(tmp_path / "curves.csv")
    assert runs.export_curves_dialog()
    rows = list(csv.DictReader((tmp_path / "curves.csv").read_text().splitlines()))
    assert len(rows) == 2 + 1  # the ticked run's two epochs and the weights in use's one
    assert rows[0]["run"].startswith("1: Linear · fast") and rows[2]["run"].startswith("in use")
    assert float(rows[1]["dev_accuracy"]) == runs.runs[0]["history"][1]["dev_accuracy"]

    answers["save"] = str(tmp_path / "plots")  # the chosen filter (PNG here) gives the suffix
    assert runs.export_plots_dialog()
    image = QImage(str(tmp_path / "plots.png"))
    assert not image.isNull() and image.width() == window.plots.width()
    answers["save"] = str(tmp_path / "plots.svg")
    assert runs.export_plots_dialog()
    root = ET.parse(tmp_path / "plots.svg").getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 50  # vector drawing of curves
    # Data-point markers are vector shapes, not pieces of pyqtgraph's bitmap marker sheet (which an
    # SVG receives whole, squashed into each marker): the only pictures are plot-sized backgrounds.
    pictures = [item for item in root.iter() if item.tag.endswith("image")]
    assert all(float(picture.get("width")) >= window.plots.width() / 2 for picture in pictures)
    # Rendered back at the PNG's size, the SVG looks like the PNG, text included.
    with qtlog.disabled():  # a one-point line is an empty path, which QtSvg warns about
        differing = differing_share(QImage(str(tmp_path / "plots.png")), tmp_path / "plots.svg")
    assert differing < 0.01, differing

    answers["save"] = str(tmp_path / "missing" / "curves.csv")
    assert not runs.export_curves_dialog()
    assert "cannot write in" in shown["critical"][-1][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "plots.png", "plots.svg"]
