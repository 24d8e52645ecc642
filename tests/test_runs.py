"""The session's runs: kept with their curves, laid over the plots when ticked, exported."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
from gui_support import start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage


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
    assert runs.list.count() == 2 and "2: fast, 1 epochs" in runs.list.item(1).text()
    assert window.plots.compared == []
    runs.list.item(0).setCheckState(Qt.CheckState.Checked)
    runs.list.item(1).setCheckState(Qt.CheckState.Checked)
    assert len(window.plots.compared) == 6  # dev loss, dev accuracy, training accuracy each
    _, dev_accuracy = window.plots.compared[1][1].getData()
    expected = [100 * row["dev_accuracy"] for row in runs.runs[0]["history"]]
    assert np.allclose(dev_accuracy, expected)
    runs.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert len(window.plots.compared) == 3


def test_curves_export_to_csv_and_plots_to_png_and_svg(window, qtbot, dialogs, tmp_path):
    shown, answers = dialogs
    runs = two_runs(window, qtbot)
    runs.list.item(0).setCheckState(Qt.CheckState.Checked)
    answers["save"] = str(tmp_path / "curves.csv")
    assert runs.export_curves_dialog()
    rows = list(csv.DictReader((tmp_path / "curves.csv").read_text().splitlines()))
    assert len(rows) == 2 + 1  # the ticked run's two epochs and the weights in use's one
    assert rows[0]["run"].startswith("1: fast") and rows[2]["run"].startswith("in use")
    assert float(rows[1]["dev_accuracy"]) == runs.runs[0]["history"][1]["dev_accuracy"]

    answers["save"] = str(tmp_path / "plots.png")
    assert runs.export_plots_dialog()
    image = QImage(str(tmp_path / "plots.png"))
    assert not image.isNull() and image.width() == window.plots.width()
    answers["save"] = str(tmp_path / "plots.svg")
    assert runs.export_plots_dialog()
    root = ET.parse(tmp_path / "plots.svg").getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 50  # vector drawing of curves

    answers["save"] = str(tmp_path / "missing" / "curves.csv")
    assert not runs.export_curves_dialog()
    assert "cannot write in" in shown["critical"][-1][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.csv", "plots.png", "plots.svg"]
