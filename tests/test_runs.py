"""The runs list: every run kept with its weights and curves (across restarts too), put back in
use, laid over the plots when ticked, exported; and every view naming the model it shows."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import numpy as np
from gui_support import circle, shown_probabilities, start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QMessageBox

from mnistpad.gui import runs as runs_module
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.later import Later
from mnistpad.gui.window import DEFAULT_WEIGHTS, MainWindow
from mnistpad.networks import new_model


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
    # dev loss, dev accuracy, training accuracy of the first run; the second is in use, its
    # curves are the plots' own and are not drawn twice
    assert len(window.plots.compared) == 3
    _, dev_accuracy = window.plots.compared[1][1].getData()
    expected = [100 * row["dev_accuracy"] for row in runs.runs[0].meta["history"]]
    assert np.allclose(dev_accuracy, expected)
    runs.list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert window.plots.compared == []
    double_click(runs, 0, qtbot)  # the first in use: now the second is laid over its curves
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
    assert float(rows[1]["dev_accuracy"]) == runs.runs[0].meta["history"][1]["dev_accuracy"]

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
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "settings")  # the window's
    assert written == ["curves.csv", "plots.png", "plots.svg"]


def double_click(runs, row, qtbot):
    """As a mouse does it: a click, then the second press that the system reports as a double
    click (QTest's mouseDClick alone sends only the latter, which item views ignore)."""
    rect = runs.list.visualItemRect(runs.list.item(row))
    qtbot.mouseClick(runs.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(runs.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_second_run_leaves_the_first_usable_by_a_double_click(window, qtbot, dialogs):
    shown, _ = dialogs
    send_stroke(window.canvas, circle())
    runs = two_runs(window, qtbot)
    first, second = runs.runs
    assert window.session.model is second.model and "· in use" in runs.list.item(1).text()
    reading_second = shown_probabilities(window)
    double_click(runs, 0, qtbot)  # the first run, trained before: still there, in use again
    assert window.session.model is first.model and window.session.name == first.title
    assert "· in use" in runs.list.item(0).text() and "in use" not in runs.list.item(1).text()
    assert (
        first.title in window.windowTitle()
        and f"Read by: {first.title}" in window.reader_note.text()
    )
    assert len(window.plots.epochs) == 2 and window.table.rowCount() == 2  # its own curves
    assert window.panel.config().epochs == 2 and window.panel.config().seed == 0
    expected = first.model.probabilities(window.draw.prepare_input(False).reshape(-1))
    assert np.allclose(shown_probabilities(window), expected, atol=1e-6)
    assert not np.allclose(shown_probabilities(window), reading_second)
    assert shown["question"] == []  # nothing was at risk: both runs are kept


def test_kept_runs_and_opened_files_are_listed_again_after_a_restart(
    window, qtbot, dialogs, tmp_path
):
    shown, answers = dialogs
    start(window, qtbot, "fast", epochs=2)
    wait_until_done(window, qtbot)
    answers["text"] = "Fast, for Monday's class"
    assert window.runs.rename_dialog(window.runs.runs[0])
    opened = tmp_path / "cnn from a colleague.npz"
    opened.write_bytes((DEFAULT_WEIGHTS.parent / "cnn.npz").read_bytes())
    answers["open"] = str(opened)
    window.actions.open.trigger()
    window.actions.open.trigger()  # opened twice: listed once
    trained, from_file = window.runs.runs
    assert from_file.origin == str(opened) and window.session.model.kind == "cnn"
    window.runs.set_ticked(trained, True)
    assert window.close() and shown["question"] == []  # nothing to save: all is kept

    again = MainWindow()
    qtbot.addWidget(again)
    restored = again.runs.runs
    assert [run.title for run in restored] == ["1: Fast, for Monday's class", f"2: {opened.name}"]
    assert restored[0].meta["history"] == trained.meta["history"]
    for run, before in zip(restored, (trained, from_file), strict=True):
        for name, value in before.model.params.items():
            np.testing.assert_array_equal(run.model.params[name], value)
    # as the window was left: the opened file in use, the trained run ticked over its curves
    assert again.session.model is restored[1].model and again.session.name == restored[1].title
    assert again.runs.ticked() == [restored[0]] and len(again.plots.compared) == 3
    assert len(again.plots.epochs) == len(from_file.meta["history"])  # its own curves shown
    again.close()


def test_work_for_later_turns_runs_in_order_and_the_rest_at_once_on_finish(qtbot):
    later, done = Later(), []
    later.add(lambda: done.append(1), lambda: done.append(2))
    assert done == [] and later.busy  # nothing in the turn that queued it
    qtbot.waitUntil(lambda: not later.busy)
    assert done == [1, 2]
    later.add(lambda: done.append(3), lambda: done.append(4))
    later.finish()
    assert done == [1, 2, 3, 4] and not later.busy


def test_a_window_closed_as_a_run_ends_keeps_the_run_in_use_for_the_next_start(window, qtbot):
    """A run's end is shown over several turns of the event loop (`run.later`): closing the
    window before they ran loses nothing."""
    waiting = []

    def close(_result) -> None:
        waiting.append(window.run.later.busy)
        window.close()

    window.run.finished.connect(close)
    start(window, qtbot, "fast", epochs=1)
    qtbot.waitUntil(lambda: bool(waiting), timeout=60_000)
    assert waiting == [True] and not window.isVisible() and not window.run.later.busy
    title = "1: Linear · fast · 1 epoch"
    assert window.runs.in_use_run().title == title and window.session.name == title
    again = MainWindow()
    qtbot.addWidget(again)
    assert [run.title for run in again.runs.runs] == [title] and again.session.name == title
    again.close()


def test_a_damaged_kept_run_is_skipped_with_a_message_and_the_others_load(window, qtbot, tmp_path):
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    folder = window.runs.store.folder
    (folder / "run-2.npz").write_bytes(b"PK\x03\x04 damaged by a full disk")
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert [run.number for run in again.runs.runs] == [1]
    text = again.statusBar().currentMessage()
    assert "1 kept run not listed" in text and "run-2.npz: skipped" in text


def test_removing_a_run_saved_nowhere_else_asks_and_using_one_asks_for_weights_kept_nowhere(
    window, qtbot, dialogs
):
    shown, answers = dialogs
    runs = two_runs(window, qtbot)
    first, second = runs.runs
    answers["question"] = QMessageBox.StandardButton.Cancel
    assert not runs.remove_asking(first) and first.path.is_file() and len(runs.runs) == 2
    answers["question"] = QMessageBox.StandardButton.Yes
    assert runs.remove_asking(second)  # the one in use: its weights stay in use, kept nowhere
    assert not second.path.exists() and runs.runs == [first]
    assert window.session.model is second.model and window.session.unsaved
    answers["question"] = QMessageBox.StandardButton.Cancel  # "Save the trained weights?"
    double_click(runs, 0, qtbot)
    assert window.session.model is second.model  # not replaced without asking
    assert shown["question"][-1][0] == "Save the trained weights?"


def test_past_the_bound_saved_runs_go_first_and_unsaved_ones_only_when_asked(
    window, dialogs, monkeypatch
):
    shown, answers = dialogs
    monkeypatch.setattr(runs_module, "MAX_RUNS", 2)
    runs = window.runs
    meta = window.session.meta
    saved = runs.keep(new_model("linear", np.random.default_rng(1), 10), meta, "opened", "/x.npz")
    unsaved = runs.keep(new_model("linear", np.random.default_rng(2), 10), meta, "trained")
    runs.keep(new_model("linear", np.random.default_rng(3), 10), meta, "third")
    assert saved not in runs.runs and shown["question"] == []  # in a file of the person's
    answers["question"] = QMessageBox.StandardButton.No
    runs.keep(new_model("linear", np.random.default_rng(4), 10), meta, "fourth")
    assert unsaved in runs.runs and len(runs.runs) == 3  # kept: the person said no
    assert "Remove the oldest run?" in shown["question"][-1][0]
    answers["question"] = QMessageBox.StandardButton.Yes
    runs.keep(new_model("linear", np.random.default_rng(5), 10), meta, "fifth")
    assert unsaved not in runs.runs and not unsaved.path.exists()  # asked, then the next too
    assert [run.name for run in runs.runs] == ["fourth", "fifth"]
    assert runs.memory.text().startswith("2 runs, ")


def test_every_view_names_the_model_it_shows_while_a_run_trains(window, qtbot):
    before = window.session.name
    start(window, qtbot, "naive", epochs=20)
    qtbot.waitUntil(lambda: len(window.plots.epochs) >= 1, timeout=60_000)
    window._redraw()
    live = window.run.live_name()
    assert live.startswith("live linear model, epoch ") and live.endswith("/20")
    assert window.reader_note.text() == f"Read by: {live}"
    assert window.windowTitle().startswith(f"Training: {live}")
    assert live in window.weights_label.text()
    assert window.info.title() == "Weights in use until the run ends"
    live = "live linear model, epoch "  # the epoch goes on meanwhile
    for page, expected in (
        (window.inside_page, f"Inside: {live}"),
        (window.errors_page, f"Test errors of: {before} (in use before this run"),
        (window.tabs.widget(0), f"Curves of: the run in progress, {live}"),
    ):
        window.tabs.setCurrentWidget(page)
        assert window.tab_note.text().startswith(expected)
    window.panel.stop_button.click()
    wait_until_done(window, qtbot)
    title = window.runs.runs[-1].title
    assert window.reader_note.text() == f"Read by: {title}" and window.tab_note.text() == (
        f"Curves of: {title}"
    )
    window.tabs.setCurrentWidget(window.errors_page)
    assert window.tab_note.text() == f"Test errors of: {title}"
    assert window.info.title() == "Weights in use" and window.windowTitle().startswith(title)


def test_ticked_runs_read_the_drawing_beside_the_model_in_use(window, qtbot):
    runs = two_runs(window, qtbot)
    window.draw.show_compare.setChecked(True)
    send_stroke(window.canvas, circle())
    compare = window.draw.compare
    names = [name.text() for name in compare.names if name.isVisible()]
    assert not any(runs.runs[0].title in name for name in names)
    runs.set_ticked(runs.runs[0], True)  # ticking a run adds it to Compare at once
    names = [name.text() for name in compare.names if name.isVisible()]
    assert any(runs.runs[0].title in name for name in names)
    row = next(i for i, name in enumerate(compare.names) if runs.runs[0].title in name.text())
    expected = runs.runs[0].model.probabilities(window.draw.field.reshape(-1).astype(np.float32))
    assert np.allclose(compare.probabilities[row], expected, atol=1e-6)
    assert compare.readers[row].colour == runs.pen(runs.runs[0])[0]  # the list's own colour


def test_a_scheduled_run_shows_its_step_size_moving_within_the_epoch(window, qtbot, tiny):
    window.session.dataset = tiny
    start(window, qtbot, "mlp", epochs=2)  # one cycle: up, then down
    seen = set()

    def note_step() -> bool:
        window.dirty = True
        window._redraw()
        text = window.panel.progress.format()
        if " - step " in text:
            seen.add(text.rsplit(" - step ", 1)[1])
        return not window.run.training

    qtbot.waitUntil(note_step, timeout=60_000)
    assert len(seen) >= 2  # the step size shown changed while the run trained
    steps = [row["lr"] for row in window.plots.epochs]
    assert steps[0] > steps[1]  # and the epochs' step sizes follow the schedule


def test_damaged_run_numbers_in_the_settings_leave_the_default_in_use(window, qtbot):
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    window.close()
    for in_use, ticked in (("x", ["1e999", None]), ("1" + "0" * 30, "seven"), (99, [99, -1])):
        window.settings.setValue("runs/in_use", in_use)
        window.settings.setValue("runs/ticked", ticked)
        window.settings.sync()
        again = MainWindow()
        qtbot.addWidget(again)
        assert again.session.name == "bundled default" and again.runs.ticked() == []
        assert [run.number for run in again.runs.runs] == [1]
        again.settings.remove("runs")  # closing saves the state again
        again.close()
