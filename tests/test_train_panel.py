"""The Train panel: a model's own settings, "(modified)", a run stuck at chance, Stop that asks
before losing much training, and the time a run should take."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from gui_support import start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from mnistpad.gui import train_panel
from mnistpad.gui.epoch_times import rough_duration
from mnistpad.gui.train_panel import TrainPanel
from mnistpad.model import LinearModel
from mnistpad.train import PRESETS, EpochEnd, EpochStats


def shown_panel(qtbot) -> TrainPanel:
    panel = TrainPanel()
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def pick_model(qtbot, panel: TrainPanel, name: str) -> None:
    """Choose a model with the keyboard, as a person does."""
    panel.model.setFocus()
    while panel.model.currentText() != name:
        index = panel.model.findText(name)
        key = Qt.Key.Key_Down if index > panel.model.currentIndex() else Qt.Key.Key_Up
        qtbot.keyClick(panel.model, key)


def test_choosing_a_model_loads_its_presets_settings_and_says_so(qtbot):
    panel = shown_panel(qtbot)
    assert panel.preset.currentText() == "deskew" and panel.lr.value() == 1.0
    pick_model(qtbot, panel, "CNN")
    config = panel.config()
    cnn = PRESETS["cnn"]
    assert (config.optimizer, config.lr, config.epochs) == ("adam", cnn.lr, cnn.epochs)
    assert config.optimizer == "adam" and config.lr < 0.01  # not SGD at 1.0
    assert panel.preset.currentText() == "cnn"
    assert "loaded the cnn preset's settings" in panel.status.text()
    pick_model(qtbot, panel, "Linear")
    assert panel.preset.currentText() == "deskew" and panel.config().optimizer == "sgd"


def test_the_preset_box_says_modified_while_a_field_differs(qtbot):
    panel = shown_panel(qtbot)
    panel.preset.setCurrentText("optimized")
    assert panel.preset.currentText() == "optimized"
    panel.epochs.setFocus()
    qtbot.keyClick(panel.epochs, Qt.Key.Key_Up)
    assert panel.preset.currentText() == "optimized (modified)"
    assert panel.config().preset == "optimized"  # the file still says where it started
    qtbot.keyClick(panel.epochs, Qt.Key.Key_Down)
    assert panel.preset.currentText() == "optimized"
    qtbot.mouseClick(panel.shuffle, Qt.MouseButton.LeftButton)
    assert panel.preset.currentText() == "optimized (modified)"
    panel.preset.setCurrentText("fast")  # another preset: all its fields, so plain again
    assert panel.preset.currentText() == "fast"
    assert [panel.preset.itemText(i) for i in range(panel.preset.count())] == list(PRESETS)


def epoch_end(dev_accuracy: float, epoch: int = 1) -> EpochEnd:
    model = LinearModel(W=np.zeros((10, 784), np.float32), b=np.zeros(10, np.float32))
    stats = EpochStats(epoch, 2.3, 0.1, 2.3, dev_accuracy, 1.0, 3.0 * epoch)
    return EpochEnd(stats=stats, best_epoch=epoch, model=model)


def test_a_run_stuck_at_chance_after_an_epoch_says_so(qtbot):
    panel = shown_panel(qtbot)
    panel.show_epoch_end(epoch_end(0.1064), {"dev_accuracy": 0.1064})
    assert "Still at chance after epoch 1: the step size may be" in panel.status.text()
    assert "10.64% (epoch 1)" in panel.status.text()
    panel.show_epoch_end(epoch_end(0.9012, 2), {"dev_accuracy": 0.9012})
    assert "chance" not in panel.status.text()


def test_the_window_shows_the_warning_after_a_real_epoch_at_chance(window, qtbot, tiny):
    """A run whose held-out images are all blank, one in ten of each class: whatever it learns,
    it reads them all alike, at exactly chance."""
    window.session.dataset = replace(
        tiny, dev_images=np.zeros_like(tiny.dev_images), dev_labels=np.arange(200) % 10
    )
    said = []  # the panel's line right after the window handled each epoch's end
    window.run.epoch_end.connect(lambda _: said.append(window.panel.status.text()))
    start(window, qtbot, "fast", epochs=1)
    wait_until_done(window, qtbot)
    assert window.plots.epochs[0]["dev_accuracy"] == 0.1
    assert len(said) == 1 and "Still at chance after epoch 1" in said[0]


def test_esc_during_a_long_run_asks_and_no_keeps_training(window, qtbot, dialogs, monkeypatch):
    shown, answers = dialogs
    monkeypatch.setattr(train_panel, "ASK_BEFORE_STOP_S", 0.0)  # every run counts as long
    start(window, qtbot, "naive", epochs=50)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    answers["question"] = QMessageBox.StandardButton.Cancel  # "Keep training"
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert shown["question"][-1][0] == "Stop training?"
    assert window.run.training and not window.run.ending  # still training
    answers["question"] = QMessageBox.StandardButton.Discard  # "Stop training"
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert len(shown["question"]) == 2 and window.run.ending
    wait_until_done(window, qtbot)
    assert window.run.worker.result.stopped


def test_a_stop_that_loses_little_needs_no_question(window, qtbot, dialogs):
    shown, _ = dialogs
    start(window, qtbot, "naive", epochs=50)
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # at once: nothing to lose yet
    wait_until_done(window, qtbot)
    assert shown["question"] == [] and window.run.worker.result.stopped


def test_the_view_menu_names_its_keys_as_a_person_does(window):
    texts = [
        act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        for act in window.menuBar().actions()[3].menu().actions()
    ]
    assert texts[1] == "Ctrl+Shift+Tab" and not any("Backtab" in text for text in texts)


def test_the_estimate_follows_the_epochs_and_then_the_runs_own_time(window, qtbot, tiny):
    panel = window.panel
    panel.preset.setCurrentText("cnn")
    panel.epochs.setValue(15)
    assert panel.estimate.text() == "about 3 min"  # 15 epochs of about 11 s: a first guess
    panel.epochs.setValue(30)
    assert panel.estimate.text() == "about 6 min"
    panel.preset.setCurrentText("fast")
    panel.epochs.setValue(2)
    window.session.dataset = tiny
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    wait_until_done(window, qtbot)
    measured = window.plots.epochs[-1]["seconds"] / 2
    key = panel.timing.key(panel.config())
    assert float(window.settings.value(key)) == measured  # remembered for the next session
    assert panel.estimate.text() == f"about {rough_duration(2 * measured)}"  # at once
    panel.epochs.setValue(200)
    assert panel.estimate.text() == f"about {rough_duration(200 * measured)}"


def test_the_progress_text_is_beside_the_bar_not_over_its_fill(window, qtbot):
    panel = window.panel
    panel.show_progress(0.5, "epoch 3/15 - 40 s left")
    assert not panel.progress.isTextVisible()
    assert (
        panel.progress_text.text() == "epoch 3/15 - 40 s left" and panel.progress_text.isVisible()
    )
