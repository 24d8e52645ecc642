"""The window's rough edges, each seen once by a new user: messages that show, a chart label that
stays inside its chart, keyboard use, a stale matrix, drawings that can be deleted or relabelled.
Real widgets, real MNIST; only modal dialogs are answered by the test."""

from __future__ import annotations

import numpy as np
from gui_support import circle, named_idx_folder, start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.views import RUNNING, WeightsInfo
from mnistpad.gui.window import first_size


def test_a_refusal_is_said_in_the_status_bar_beside_the_weights(window, qtbot, mnist):
    window.draw.inspect(mnist.test_images[0], "test image #0, a 7")
    qtbot.keyClick(window, "2")  # labelling an image of the test set: refused, and said
    assert "Draw a digit first" in window.statusBar().currentMessage()
    assert window.handwriting.personal.drawings()[0] == []
    status = window.statusBar()  # the weights label leaves room for the message
    assert window.weights_label.width() < status.width() * 0.6
    assert window.weights_label.isVisible()


def test_the_probability_label_stays_inside_the_chart(window, qtbot):
    window.resize(1024, 768)  # the smallest screen mnistpad is laid out for
    qtbot.waitUntil(lambda: window.width() == 1024)
    chart = window.chart
    assert chart.width() >= 170  # its minimum: ten readable bars
    view = chart.getPlotItem().getViewBox().sceneBoundingRect()
    for best in (0, 4, 9):
        for top in (1.0, 0.55):
            probabilities = np.full(10, (1 - top) / 9)
            probabilities[best] = top
            chart.set_probabilities(probabilities)
            QApplication.processEvents()
            label = chart.value_label.mapRectToScene(chart.value_label.boundingRect())
            assert view.contains(label), (best, top, label, view)


def test_the_tab_order_follows_the_layout_and_skips_the_plots(window, qtbot):
    window.draw.pen_width.setFocus()
    stops = []
    for _ in range(40):
        stops.append(QApplication.focusWidget())
        window.focusNextChild()
    names = [w.text() if hasattr(w, "text") else type(w).__name__ for w in stops]
    clear = names.index("Clear")
    assert names[clear + 1 : clear + 11] == [str(digit) for digit in range(10)]
    assert names[clear + 11] == "evidence"
    assert not {"ProbabilityChart", "PlotWidget"} & {type(widget).__name__ for widget in stops}


def test_ctrl_tab_moves_between_tabs_and_help_lists_the_keys(window, qtbot, dialogs):
    shown, _ = dialogs
    first = window.tabs.currentIndex()
    qtbot.keyClick(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == (first + 1) % window.tabs.count()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    title, text = shown["information"][-1]
    assert title == "Keyboard shortcuts" and "Ctrl+Tab" in text and "<td>" in text


def test_the_first_window_fits_small_screens_and_stays_usable_there(window, qtbot):
    for screen in ((1024, 768), (1280, 720), (1366, 768)):
        width, height = first_size(*screen)
        assert width <= screen[0] and height + 40 <= screen[1]  # room for a title bar
    assert first_size(1440, 900) == (1280, 800)
    assert first_size(1920, 1080) == (1536, 864)  # 80% of a larger screen
    assert first_size(2560, 1440) == (2048, 1152)
    smallest = window.minimumSizeHint()
    assert smallest.width() <= 1024 * 0.95 and smallest.height() <= 768 * 0.92


def test_a_dataset_of_other_classes_clears_the_errors_matrix(window, qtbot, dialogs, tmp_path):
    window.tabs.setCurrentWidget(window.errors_page)
    assert window.errors.matrix.rowCount() == 10
    assert window.files.open_dataset(named_idx_folder(tmp_path / "fruit"))
    assert window.errors.matrix.rowCount() == 0 and window.errors.gallery.count() == 0
    assert "other classes" in window.errors.summary.text()
    window.files.use_bundled_mnist()  # and back
    assert window.session.dataset.name == "bundled MNIST" and window.session.data_folder is None
    assert window.errors.matrix.rowCount() == 10


def test_label_buttons_follow_one_style_whatever_the_class_names(window, qtbot, dialogs, tmp_path):
    (tmp_path / "mixed").mkdir()
    names = ["0", "one", "two", "3", "4", "five", "6", "7", "8", "nine"]
    window.draw.set_classes(names)
    assert [button.text() for button in window.draw.label_buttons] == [str(i) for i in range(10)]
    assert "five" in window.draw.label_buttons[5].toolTip()


def test_a_stopped_run_is_summed_up_with_the_epochs_it_ran(window, qtbot):
    info = WeightsInfo()
    meta = {
        "training": {"preset": "naive", "epochs": 20, "batch_size": 1, "lr": 0.01, "seed": 0},
        "metrics": {"stopped": True, "kept_epoch": 13},
        "history": [{"epoch": epoch} for epoch in range(1, 14)],
    }
    info.show_weights("trained in this session, not saved", meta)
    assert "13 of 20 epochs (stopped)" in info.text.text()
    assert "epoch 13, the last (the best on the held-out images: ?)" in info.text.text()
    info.show_weights("a run", meta | {"metrics": {"kept_epoch": 3, "best_epoch": 3}})
    assert "epoch 3, the best on the held-out images" in info.text.text()  # as the policy did
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    assert "after 1 of 1 epochs" in window.panel.status.text()
    assert "training)" in window.panel.progress.format()  # the whole wait, and the training


def test_the_running_curve_has_a_legend_entry_only_while_it_has_points(window, qtbot):
    def legend_names():
        legend = window.plots.loss_plot.getPlotItem().legend
        return [label.text for _, label in legend.items]

    assert RUNNING not in legend_names()  # the default weights' file has no running curve
    start(window, qtbot, "fast", epochs=1)
    qtbot.waitUntil(lambda: RUNNING in legend_names(), timeout=30_000)
    wait_until_done(window, qtbot)
    window.files.use_default_weights()
    assert RUNNING not in legend_names()


def test_while_training_the_status_says_the_live_model_is_shown(window, qtbot):
    start(window, qtbot, "naive")
    assert "being trained" in window.weights_label.text()
    window.run.stop()
    wait_until_done(window, qtbot)
    assert "being trained" not in window.weights_label.text()
    assert window.windowTitle().startswith("1: Linear · naive · 0 of 20 epochs")
    assert not window.isWindowModified()  # kept in the runs list: nothing would be lost


def test_exports_remember_their_folder(window, qtbot, dialogs, tmp_path):
    _, answers = dialogs
    (tmp_path / "exports").mkdir()
    answers["save"] = str(tmp_path / "exports" / "curves.csv")
    assert window.runs.export_curves_dialog()
    assert window.folders.last() == str(tmp_path / "exports")


def test_drawings_can_be_deleted_and_relabelled_with_undo(window, qtbot):
    for _ in range(3):
        send_stroke(window.canvas, circle())
        qtbot.keyClick(window, "0")
    personal, gallery = window.handwriting.personal, window.handwriting.gallery
    assert gallery.count() == 3
    newest = gallery.item(0)
    gallery.setCurrentItem(newest)
    gallery.setFocus()
    qtbot.keyClick(gallery, Qt.Key.Key_Delete)  # deletes the drawing, not the canvas
    assert gallery.count() == 2 and len(personal.drawings()[0]) == 2
    gone = newest.data(Qt.ItemDataRole.UserRole)
    assert not (personal.folder / f"{gone}.json").exists()
    window.handwriting.undo_button.click()
    assert gallery.count() == 3 and (personal.folder / f"{gone}.json").exists()

    gallery.setCurrentItem(gallery.item(1))
    window.handwriting.relabel_selected(6)
    personal.reload()  # as a new window would read it
    assert sorted(drawing.label for drawing in personal.drawings()[0]) == [0, 0, 6]
    assert "0: 2+0" in window.handwriting.counts.text()
    window.handwriting.undo_button.click()
    personal.reload()
    assert [drawing.label for drawing in personal.drawings()[0]] == [0, 0, 0]
    assert not window.handwriting.undo_button.isEnabled()
