"""The playground's knobs in the window: the training-set size and label noise in the Train panel
and the Weights box, and Pause / Resume / Step on a real run in its child process."""

from __future__ import annotations

from conftest import synthetic_dataset
from gui_support import start, wait_until_done
from PySide6.QtCore import Qt

from mnistpad.gui.runs import knob_words
from mnistpad.train import MAX_TRAIN_SIZE, PRESETS, Progress

CLICK = Qt.MouseButton.LeftButton


def test_the_knobs_set_the_runs_config_and_the_weights_box_says_them(window, qtbot):
    panel = window.panel
    panel.preset.setCurrentText("fast")
    assert panel.train_size.value() == MAX_TRAIN_SIZE and panel.label_noise.value() == 0
    assert panel.config() == PRESETS["fast"]  # all the images, clean: the preset itself
    panel.train_size.setValue(500)
    panel.label_noise.setValue(20)
    assert panel.preset.currentText() == "fast (modified)"
    config = panel.config()
    assert config.train_size == 500 and config.label_noise == 0.2
    panel.epochs.setValue(2)
    qtbot.mouseClick(panel.train_button, CLICK)
    assert not panel.train_size.isEnabled() and not panel.label_noise.isEnabled()
    wait_until_done(window, qtbot)
    assert window.run.worker.result.history[-1].train_accuracy > 0  # trained on its 500
    assert window.session.meta["training"]["train_size"] == 500
    text = window.info.text.text()
    assert "500 training images" in text and "20% label noise" in text
    # the run's name sets it apart from the same preset on all the images, clean
    assert window.runs.in_use_run().title == "1: Linear · fast · 2 epochs · 500 images · 20% noise"
    panel.set_config(PRESETS["naive"])
    assert panel.train_size.value() == MAX_TRAIN_SIZE and panel.label_noise.value() == 0


def test_a_runs_name_says_only_the_knobs_that_differ_from_all_the_images_clean():
    assert knob_words(PRESETS["fast"].as_dict()) == ""
    assert knob_words({"train_size": 12_000, "label_noise": 0.0}) == " · 12,000 images"
    assert knob_words({"train_size": 0, "label_noise": 0.05}) == " · 5% noise"


def test_the_estimate_of_a_run_on_fewer_images_is_its_own(window, qtbot):
    panel = window.panel
    panel.preset.setCurrentText("fast")
    panel.epochs.setValue(20)
    whole = panel.timing.epoch_seconds(panel.config())
    panel.train_size.setValue(5_000)
    assert panel.timing.epoch_seconds(panel.config()) == whole / 10  # a first guess
    window.session.dataset = synthetic_dataset(n_train=640)
    panel.train_size.setValue(100)
    qtbot.mouseClick(panel.train_button, CLICK)
    wait_until_done(window, qtbot)
    measured = window.plots.epochs[-1]["seconds"] / 20
    assert panel.timing.epoch_seconds(panel.config()) == measured
    panel.train_size.setValue(MAX_TRAIN_SIZE)  # a run on all the images is not timed by it
    assert panel.timing.epoch_seconds(panel.config()) == whole


def progress_steps(event: Progress) -> int:
    return (event.epoch - 1) * event.total + event.seen


def test_pause_holds_the_run_step_takes_one_batch_and_resume_goes_on(window, qtbot):
    window.session.dataset = synthetic_dataset(n_train=640)  # ten batches of 64 an epoch
    panel, run = window.panel, window.run
    events = []
    run.progress.connect(events.append)
    assert not panel.pause_button.isEnabled() and not window.actions.pause.isEnabled()
    start(window, qtbot, "fast", epochs=1000)
    qtbot.waitUntil(lambda: len(events) >= 3, timeout=30_000)
    assert panel.pause_button.isEnabled() and not panel.step_button.isEnabled()
    with qtbot.waitSignal(run.paused, timeout=10_000):
        qtbot.mouseClick(panel.pause_button, CLICK)
    assert panel.pause_button.text() == "Resume" and panel.step_button.isEnabled()
    assert window.actions.step.isEnabled()
    held = len(events)
    qtbot.wait(300)
    assert len(events) == held  # nothing moves while paused
    window._redraw()
    assert panel.progress_text.text().startswith("paused in epoch")
    for _ in range(2):
        with qtbot.waitSignal(run.paused, timeout=10_000):
            qtbot.mouseClick(panel.step_button, CLICK)
        assert len(events) == held + 1  # exactly one more step, shown
        assert progress_steps(events[-1]) == progress_steps(events[-2]) + 64
        held += 1
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)  # Resume
    assert panel.pause_button.text() == "Pause" and not panel.step_button.isEnabled()
    qtbot.waitUntil(lambda: len(events) > held + 5, timeout=30_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not panel.pause_button.isEnabled()  # stopping: nothing to pause
    wait_until_done(window, qtbot)
    assert run.worker.result.stopped


def test_closing_the_window_while_paused_stops_the_run_cleanly(window, qtbot):
    window.session.dataset = synthetic_dataset(n_train=640)
    start(window, qtbot, "fast", epochs=1000)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    window.activateWindow()
    with qtbot.waitSignal(window.run.paused, timeout=10_000):
        qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    worker = window.run.worker
    window.close()
    assert not window.isVisible() and not window.run.training
    assert not worker.is_running() and worker.result.stopped
    assert worker.process.exitcode == 0  # it answered the stop, paused as it was
    assert window.run.paused_for > 0  # the time paused set aside, not counted as the run's
