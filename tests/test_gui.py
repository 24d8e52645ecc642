"""The window, driven as a person would: real widgets, synthetic mouse events, real MNIST.

Only the modal dialogs (file choosers and message boxes) are replaced, as pytest-qt advises,
because nobody is there to click them.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest
from gui_support import (
    NAMES,
    circle,
    line,
    named_idx_folder,
    shown_probabilities,
    start,
    wait_until_done,
)
from PySide6.QtCore import QMimeData, QObject, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtCore import Signal as QtSignal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QToolBar, QWidget

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.run_controller import SCORING_ASKED
from mnistpad.gui.window import DEFAULT_WEIGHTS, MainWindow
from mnistpad.preprocess import deskew
from mnistpad.weights import load_weights

# -- drawing ---------------------------------------------------------------------------------


def test_an_empty_canvas_shows_no_prediction(window):
    assert window.preview.image is None
    assert shown_probabilities(window).sum() == 0
    assert window.draw.prediction.text() == "-"
    assert window.chart.hint.isVisible()


def test_drawing_updates_the_preview_and_probabilities_during_the_stroke(window):
    send_stroke(window.canvas, line((0.5, 0.15), (0.5, 0.85))[:8], release=False)
    assert window.preview.image is not None  # before the mouse is released
    middle = shown_probabilities(window)
    send_stroke(window.canvas, line((0.5, 0.15), (0.5, 0.85)))
    assert window.preview.image.shape == (28, 28) and window.preview.image.max() == 1.0
    probabilities = shown_probabilities(window)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert not np.allclose(middle, 0)
    assert not window.chart.hint.isVisible()


@pytest.mark.parametrize(
    ("label", "strokes"), [("1", [line((0.5, 0.12), (0.5, 0.88))]), ("0", [circle()])]
)
def test_simple_drawings_are_read_right(window, label, strokes):
    for stroke in strokes:
        send_stroke(window.canvas, stroke)
    assert window.draw.prediction.text() == label
    assert int(np.argmax(shown_probabilities(window))) == int(label)
    assert window.draw.confidence.text().endswith("% sure")


def test_the_preview_is_the_mnist_style_input_centred_in_28x28(window):
    send_stroke(window.canvas, line((0.1, 0.1), (0.3, 0.3)))  # a small stroke in a corner
    image = window.draw.field
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20  # scaled up into the 20-pixel box
    mass = image.sum()
    assert abs((image.sum(axis=1) @ np.arange(28)) / mass - 14) < 1
    assert abs((image.sum(axis=0) @ np.arange(28)) / mass - 14) < 1
    # the default weights take deskewed inputs: the preview shows the slanted stroke upright
    upright = window.preview.image
    assert np.array_equal(upright, deskew(image.reshape(-1)).reshape(28, 28))
    cols = np.flatnonzero(upright.max(axis=0) > 0.5)
    assert cols[-1] - cols[0] + 1 <= 10  # an upright bar as wide as the pen; the line spans 20
    mass = upright.sum()
    assert abs((upright.sum(axis=1) @ np.arange(28)) / mass - 14) < 0.05  # centred exactly
    assert abs((upright.sum(axis=0) @ np.arange(28)) / mass - 14) < 0.05


def test_clear_and_undo(window, qtbot):
    send_stroke(window.canvas, line((0.5, 0.15), (0.5, 0.85)))
    one_stroke = window.preview.image.copy()
    send_stroke(window.canvas, line((0.3, 0.3), (0.7, 0.3)))
    assert not np.array_equal(window.preview.image, one_stroke)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.canvas.strokes) == 1
    np.testing.assert_array_equal(window.preview.image, one_stroke)
    window.draw.clear_button.click()
    assert window.canvas.is_empty() and window.preview.image is None
    assert shown_probabilities(window).sum() == 0 and window.draw.prediction.text() == "-"


def test_drawings_keep_their_shape_when_the_window_is_resized(window, qtbot):
    send_stroke(window.canvas, circle())
    before = window.preview.image.copy()
    window.resize(window.width() + 300, window.height() + 100)
    qtbot.wait(50)
    window.draw.classify_drawing()
    np.testing.assert_array_equal(window.preview.image, before)


# -- training --------------------------------------------------------------------------------


def test_training_runs_in_another_process_and_ends_with_the_new_weights_in_use(window, qtbot):
    send_stroke(window.canvas, circle())
    before_probabilities = shown_probabilities(window)
    default_W = window.session.model.W.copy()
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    start(window, qtbot, "fast", epochs=2)
    wait_until_done(window, qtbot)
    timer.stop()
    qtbot.waitUntil(lambda: not window.run.worker.is_running(), timeout=5_000)
    trainer = window.run.worker.process  # the child process that trained, and has ended cleanly
    assert trainer.pid not in (None, os.getpid()) and trainer.exitcode == 0
    assert len(ticks) > 10  # the GUI thread kept running its event loop during training
    assert len(window.plots.running) > 10 and len(window.plots.epochs) == 2
    assert window.table.rowCount() == 2
    assert not np.array_equal(window.session.model.W, default_W)
    # Kept as the first run of the list, in the runs folder: nothing to save before quitting.
    assert (
        not window.session.unsaved and "1: Linear · fast · 2 epochs" in window.weights_label.text()
    )
    assert window.runs.in_use_run().path.is_file()
    assert "Test accuracy" in window.panel.status.text()
    result = window.run.worker.result
    assert result.test_accuracy > 0.85 and window.panel.config().epochs == 2
    assert not np.allclose(shown_probabilities(window), before_probabilities)  # re-classified
    assert window.panel.train_button.isEnabled() and not window.panel.stop_button.isEnabled()


def test_stop_ends_a_slow_run_promptly_and_a_second_run_works(window, qtbot):
    start(window, qtbot, "naive", epochs=20)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    window.panel.stop_button.click()
    qtbot.waitUntil(lambda: not window.run.training, timeout=1_000)  # within a second
    assert window.run.worker.result.stopped
    assert "Stopped" in window.panel.status.text()
    assert np.isfinite(window.session.model.W).all()
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    assert not window.run.worker.result.stopped and len(window.plots.epochs) == 1


def test_save_then_load_round_trips_weights_curves_and_settings(window, qtbot, dialogs, tmp_path):
    shown, answers = dialogs
    start(window, qtbot, "fast", epochs=2, seed=5)
    wait_until_done(window, qtbot)
    trained_W = window.session.model.W.copy()
    answers["save"] = str(tmp_path / "mine")  # the .npz suffix is added
    window.actions.save.trigger()
    saved = tmp_path / "mine.npz"
    assert saved.exists() and not window.session.unsaved
    assert saved.name in window.weights_label.text() and str(saved) in window.info.text.text()
    assert window.runs.in_use_run().saved_to == str(saved)  # the list knows it is saved
    assert np.array_equal(load_weights(saved).model.W, trained_W)

    window.files.use_default_weights()
    assert window.panel.config().seed == 0 and len(window.plots.epochs) == 20
    answers["open"] = str(saved)
    window.actions.open.trigger()
    assert np.array_equal(window.session.model.W, trained_W)
    assert len(window.plots.epochs) == 2 and window.table.rowCount() == 2
    config = window.panel.config()
    assert (config.preset, config.epochs, config.seed, config.batch_size) == ("fast", 2, 5, 64)
    assert shown["critical"] == []


def test_a_corrupt_file_shows_an_error_and_keeps_the_weights(window, dialogs, tmp_path):
    shown, answers = dialogs
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a weight file")
    model_before = window.session.model
    answers["open"] = str(bad)
    window.actions.open.trigger()
    assert window.session.model is model_before
    assert len(shown["critical"]) == 1 and str(bad) in shown["critical"][0][1]
    assert "unchanged" in shown["critical"][0][1]


def test_dropping_a_weight_file_on_the_window_opens_it(window, tmp_path):
    copy = tmp_path / "dropped.npz"
    copy.write_bytes(DEFAULT_WEIGHTS.read_bytes())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(copy))])
    event = QDropEvent(
        QPointF(100, 100),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert copy.name in window.weights_label.text() and str(copy) in window.info.text.text()
    assert window.runs.in_use_run().origin == str(copy)  # and it joins the runs list


def test_closing_while_training_stops_and_joins_the_worker(window, qtbot, dialogs):
    shown, answers = dialogs
    start(window, qtbot, "naive")
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    worker = window.run.worker
    answers["question"] = QMessageBox.StandardButton.Discard
    assert window.close()
    assert not worker.is_running()
    assert not window.isVisible()
    assert shown["question"] == []  # nothing to ask: the stopped run is kept in the runs folder
    (kept,) = window.runs.runs
    assert kept.path.is_file() and load_weights(kept.path).meta["metrics"]["stopped"]


def test_quitting_with_weights_kept_nowhere_can_be_cancelled(window, qtbot, dialogs, tmp_path):
    shown, answers = dialogs
    blocker = tmp_path / "not a folder"
    blocker.write_text("")
    window.runs.store.folder = blocker / "runs"  # the runs folder cannot be made
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    answers["question"] = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible() and window.session.unsaved
    assert [title for title, _ in shown["question"]] == ["Save the trained weights?"]
    answers["question"] = QMessageBox.StandardButton.Discard
    assert window.close()


def test_window_size_and_splitter_are_remembered(qtbot, dialogs, settings_dir, mnist):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(796, 640)  # within the offscreen platform's 800x800 screen, over the minimum
    first.splitter.setSizes([310, 285, 195])
    qtbot.wait(20)
    size, sizes = first.size(), first.splitter.sizes()
    assert size.width() == 796
    first.close()
    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    qtbot.wait(20)
    assert second.size() == size
    assert second.splitter.sizes() == sizes


# -- the Qt binding itself -------------------------------------------------------------------


class _Emitter(QObject):
    signal = QtSignal(object)


def test_emitting_signals_keeps_reference_counts_intact(qapp):
    """PySide6 6.12.0 dropped a reference to True on every emission, which crashes Python 3.11
    after a few thousand signals; a broken binding must fail here, not in a person's session."""
    emitter, received = _Emitter(), []
    emitter.signal.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for index in range(500):
        emitter.signal.emit(index)
    assert len(received) == 500
    assert (sys.getrefcount(True), sys.getrefcount(None)) >= before


# -- reliability -------------------------------------------------------------------------------


def test_the_panel_cannot_hold_a_setting_that_training_would_refuse(window):
    from mnistpad.train import MAX_EPOCHS, MAX_LR, MAX_SEED

    panel = window.panel
    assert (panel.epochs.minimum(), panel.epochs.maximum()) == (1, MAX_EPOCHS)
    assert panel.lr.minimum() > 0 and panel.lr.maximum() == MAX_LR
    assert (panel.batch_size.minimum(), panel.seed.minimum(), panel.seed.maximum()) == (
        1,
        0,
        MAX_SEED,
    )
    for spin, text in ((panel.epochs, "-5"), (panel.lr, "abc"), (panel.batch_size, "0")):
        before = spin.value()
        spin.lineEdit().setText(text)
        spin.interpretText()
        assert spin.value() == before or spin.minimum() <= spin.value() <= spin.maximum()
    panel.config()  # whatever was typed, the panel's settings validate


def test_a_setting_the_data_cannot_support_is_refused_with_a_message(window, qtbot, dialogs, tiny):
    shown, _ = dialogs
    window.session.dataset = tiny  # 600 training images
    model_before = window.session.model
    start(window, qtbot, "fast", batch_size=1000)
    wait_until_done(window, qtbot)
    assert len(shown["critical"]) == 1 and "batch size" in shown["critical"][0][1]
    assert window.session.model is model_before and window.panel.train_button.isEnabled()


def test_a_diverging_run_stops_with_a_message_and_finite_weights(window, qtbot, dialogs):
    from conftest import synthetic_dataset

    shown, _ = dialogs
    exploding = synthetic_dataset()
    exploding.train_images[:] *= 1e30
    exploding.train_labels[:] = np.random.default_rng(0).integers(
        0, 10, len(exploding.train_labels)
    )
    window.session.dataset = exploding
    start(window, qtbot, "fast", epochs=3, lr=1000.0)
    wait_until_done(window, qtbot)
    assert window.run.worker.result.diverged
    assert len(shown["warning"]) == 1 and "diverged" in shown["warning"][0][1]
    assert np.isfinite(window.session.model.W).all() and np.isfinite(window.session.model.b).all()
    for curve in window.plots.curves.values():
        x, y = curve.getData()
        if y is not None:
            assert np.isfinite(y[np.isfinite(x)]).all()


def test_a_failed_save_says_why_and_changes_nothing(window, qtbot, dialogs, tmp_path):
    shown, answers = dialogs
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    answers["save"] = str(tmp_path / "no such folder" / "w.npz")
    assert not window.files.save_weights_dialog()
    assert len(shown["critical"]) == 1 and "cannot write" in shown["critical"][0][1]
    assert window.runs.in_use_run().saved_to == ""  # kept in the runs folder, not saved elsewhere


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_thirty_start_stop_cycles_leave_the_app_working_without_growing(window, qtbot):
    for cycle in range(30):
        start(window, qtbot, "fast", epochs=20)
        qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
        window.panel.stop_button.click()
        # the window back to idle and the worker's thread ended (either may come first)
        qtbot.waitUntil(
            lambda: not window.run.training and not window.run.worker.is_running(), timeout=5_000
        )
        assert window.run.worker.result.stopped
        if cycle == 4:
            baseline, files = rss_mb(), len(os.listdir("/proc/self/fd"))
    assert rss_mb() - baseline < 40
    assert len(os.listdir("/proc/self/fd")) <= files  # each run's pipe to its process is closed
    send_stroke(window.canvas, circle())
    assert window.preview.image is not None and window.draw.prediction.text() != "-"


def test_closing_mid_training_joins_the_worker_within_a_second(window, qtbot, dialogs):
    import time

    start(window, qtbot, "optimized")
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    began = time.monotonic()
    assert window.close()
    assert time.monotonic() - began < 1.0
    assert not window.run.worker.is_running()


def freeze_while_scoring(window, qtbot):
    """Unsaved weights of a first run in use, then a CNN run stopped in its first epoch, whose
    process scores the kept weights (10-40 s on 2 busy cores) and is frozen with SIGSTOP while
    it does."""
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    start(window, qtbot, "cnn")
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=60_000)
    window.panel.stop_button.click()
    qtbot.waitUntil(lambda: window.run.ending == SCORING_ASKED, timeout=30_000)
    process = window.run.worker.process
    os.kill(process.pid, signal.SIGSTOP)
    return process


def test_a_second_stop_ends_a_run_frozen_while_scoring_and_keeps_the_weights(
    window, qtbot, dialogs
):
    shown, _ = dialogs
    process = freeze_while_scoring(window, qtbot)
    kept = window.session.model
    assert "Stop again" in window.panel.progress.format()
    window.panel.stop_button.click()  # before: nothing ended a frozen child, ever
    wait_until_done(window, qtbot, timeout=30_000)
    assert process.exitcode == -signal.SIGKILL
    title, text = shown["critical"][-1]
    assert title == "Training failed" and "ended while it scored the kept weights" in text
    assert window.session.model is kept and window.runs.in_use_run() is window.runs.runs[0]
    assert window.panel.train_button.isEnabled() and window.panel.progress.format() == "failed"


def test_closing_ends_a_run_frozen_while_scoring_and_keeps_what_the_window_had(
    window, qtbot, dialogs
):
    shown, _ = dialogs
    process = freeze_while_scoring(window, qtbot)
    kept = window.session.model
    assert window.close()  # before: the window waited 120 s for the frozen child
    assert process.exitcode == -signal.SIGKILL and not window.run.worker.is_running()
    assert "stopped working while it scored the kept weights" in shown["critical"][-1][1]
    assert shown["question"] == []  # the first run is kept: nothing to ask
    assert window.session.model is kept and window.runs.in_use_run() is window.runs.runs[0]


def test_a_training_process_whose_output_is_unreadable_fails_with_a_message(
    window, qtbot, dialogs, tmp_path, monkeypatch
):
    shown, _ = dialogs
    (tmp_path / "sitecustomize.py").write_text("print('Welcome to the lab', flush=True)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the child's start-up prints
    before = window.session.model
    start(window, qtbot, "naive")
    wait_until_done(window, qtbot, timeout=30_000)
    assert window.run.worker.process.exitcode == -signal.SIGKILL  # ended, not waited for
    title, text = shown["critical"][-1]
    assert title == "Training failed"
    assert "output was unreadable (it begins with b'Welcome to t'" in text
    assert window.session.model is before


def test_a_missing_data_file_is_named_in_a_dialog_and_nothing_changes(
    window, qtbot, dialogs, tmp_path
):
    shown, _ = dialogs
    window.session.dataset, window.session.data_folder = None, tmp_path  # an empty folder
    model_before = window.session.model
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    assert len(shown["critical"]) == 1
    message = shown["critical"][0][1]
    assert "train-images-idx3-ubyte" in message and "missing" in message
    assert window.session.model is model_before and not window.session.unsaved


def test_starting_with_a_bad_weight_file_says_so_and_uses_the_default(
    qtbot, dialogs, settings_dir, tmp_path
):
    shown, _ = dialogs
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    win = MainWindow(bad)
    qtbot.addWidget(win)
    assert len(shown["critical"]) == 1 and str(bad) in shown["critical"][0][1]
    assert "default weights" in shown["critical"][0][1]
    assert "bundled default" in win.weights_label.text()


def test_damaged_settings_are_ignored(qtbot, dialogs, settings_dir):
    settings = QSettings()
    settings.setValue("pen_width", "thick")
    settings.setValue("geometry", b"garbage")
    settings.setValue("splitter", "nonsense")
    settings.sync()
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.draw.pen_width.value() == 22 and win.width() > 0


def test_a_damaged_layout_in_the_settings_falls_back_and_is_not_saved_again(
    qtbot, dialogs, settings_dir
):
    """A splitter state with 3000-pixel handles (a minimum window of 6774x3080), a toolbar on the
    side that leaves no room on this 800x800 screen, a geometry far off any screen."""
    splitter = QSplitter()
    for _ in range(3):
        splitter.addWidget(QWidget())
    splitter.setHandleWidth(3000)
    other = QMainWindow()
    toolbar = QToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    other.addToolBar(Qt.ToolBarArea.LeftToolBarArea, toolbar)
    other.setGeometry(-50_000, -50_000, 20_000, 15_000)
    settings = QSettings()
    settings.setValue("splitter", splitter.saveState())
    settings.setValue("window_state", other.saveState())
    settings.setValue("geometry", other.saveGeometry())
    settings.sync()
    for _ in range(2):  # the window as restored, then as restored from what it saved
        win = MainWindow()
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        screen = win.screen().availableGeometry()
        smallest = win.minimumSizeHint()
        assert smallest.width() <= screen.width() and smallest.height() <= screen.height()
        assert screen.contains(win.geometry())
        assert win.splitter.handleWidth() < 20 and min(win.splitter.sizes()) > 100
        assert win.toolBarArea(win.findChild(QToolBar)) == Qt.ToolBarArea.TopToolBarArea
        assert win.close()
    assert [int(width) for width in QSettings().value("splitter")] == win.splitter.sizes()


# -- other datasets --------------------------------------------------------------------------


def test_a_dataset_folder_brings_its_class_names_to_every_view(window, qtbot, dialogs, tmp_path):
    _, answers = dialogs
    assert window.files.open_dataset(named_idx_folder(tmp_path / "fruit"))
    assert "10 classes (apple, banana" in window.statusBar().currentMessage()
    assert "other classes" in window.statusBar().currentMessage()  # the digits' weights
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    assert window.chart.classes == NAMES and window.chart.numbered  # long names: bars numbered
    assert [caption.text().split(":")[0] for caption in window.inside.captions] == NAMES
    send_stroke(window.canvas, circle())
    assert window.draw.prediction.text() in NAMES
    window.tabs.setCurrentWidget(window.errors_page)
    assert window.errors.matrix.horizontalHeaderItem(0).text() == "→apple"
    assert window.run.worker.result.test_accuracy > 0.9  # the blobs are learnable
    answers["save"] = str(tmp_path / "fruit.npz")
    assert window.files.save_weights_dialog()
    assert load_weights(tmp_path / "fruit.npz").classes == NAMES
    window.files.use_default_weights()
    assert window.chart.classes == [str(digit) for digit in range(10)]
    assert "other classes" in window.errors.summary.text()  # digits' weights, fruit data


def test_a_folder_that_is_not_a_dataset_is_refused_and_nothing_changes(window, dialogs, tmp_path):
    shown, _ = dialogs
    dataset = window.session.dataset
    (tmp_path / "empty").mkdir()
    assert not window.files.open_dataset(tmp_path / "empty")
    assert len(shown["critical"]) == 1 and "train-images" in shown["critical"][0][1]
    assert window.session.dataset is dataset


def test_a_second_deskew_run_reuses_the_deskewed_data_and_gets_the_same_result(window, qtbot):
    start(window, qtbot, "deskew", epochs=1)
    wait_until_done(window, qtbot)
    first = window.run.worker.result
    data, deskewed = window.session.deskewed_data
    session = window.session
    assert data is session.dataset and deskewed.deskewed and not session.dataset.deskewed
    start(window, qtbot, "deskew", epochs=1)
    assert window.run.worker.dataset is deskewed  # handed over as it is, not deskewed again
    wait_until_done(window, qtbot)
    assert window.run.worker.result.model.W.tobytes() == first.model.W.tobytes()
    assert window.run.worker.result.test_accuracy == first.test_accuracy > 0.85
