"""The window against hostile input: names that look like HTML, a frozen training child, damaged
settings, and files it must not replace without asking. Real widgets, real files, real MNIST."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
from gui_support import circle, start
from PySide6.QtWidgets import QLabel, QListWidget, QMessageBox, QTableWidget, QWidget

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.window import DEFAULT_WEIGHTS, MainWindow
from mnistpad.train_process import STOP_GRACE_S
from mnistpad.weights import load_weights, save_weights

# Each would make Qt read a device or allocate gigabytes if it were taken as HTML.
HOSTILE_NAMES = [
    '<img src="/dev/zero">',
    "<img width=30000 height=30000 src=x>",
    "<b>bold</b>",
    "<table><tr><td>x",
    "a & b",
    "=1+1",
    "six",
    "seven",
    "eight",
    "nine",
]


def every_tooltip(window) -> list[str]:
    tips = [widget.toolTip() for widget in window.findChildren(QWidget)]
    for view in window.findChildren(QListWidget):
        tips += [view.item(row).toolTip() for row in range(view.count())]
    for table in window.findChildren(QTableWidget):
        tips += [
            table.item(row, column).toolTip()
            for row in range(table.rowCount())
            for column in range(table.columnCount())
            if table.item(row, column) is not None
        ]
    return tips


def test_class_names_that_look_like_html_are_shown_as_text_everywhere(window, qtbot, tmp_path):
    default = load_weights(DEFAULT_WEIGHTS)
    hostile = tmp_path / "hostile.npz"
    save_weights(hostile, default.model, {**default.meta, "classes": HOSTILE_NAMES})
    assert window.files.open_weights(hostile)
    send_stroke(window.canvas, circle())
    for index in range(window.tabs.count()):  # the Inside and Errors tabs show the names
        window.tabs.setCurrentIndex(index)
        qtbot.wait(10)
    window.inside.choose(0)
    model, current = window.session.model, window.draw.current_input
    predicted = int(model.probabilities(current.reshape(-1)).argmax())
    assert window.draw.prediction.text() == HOSTILE_NAMES[predicted]
    shown = [label for label in window.findChildren(QLabel) if "<img" in label.text()]
    assert shown, "the names are shown somewhere"
    for label in shown:
        assert label.textFormat() == label.textFormat().PlainText, label.text()
    assert not [tip for tip in every_tooltip(window) if "<img" in tip]  # escaped: &lt;img
    assert [button.text() for button in window.draw.label_buttons[:2]] == ["0", "1"]


def test_a_frozen_training_child_is_ended_and_the_window_returns_to_idle(window, qtbot, dialogs):
    shown, _ = dialogs
    start(window, qtbot, "naive")
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    weights_before = window.session.model
    os.kill(window.run.worker.process.pid, signal.SIGSTOP)
    window.actions.stop.trigger()
    qtbot.waitUntil(lambda: not window.run.training, timeout=round(STOP_GRACE_S * 1000) + 5000)
    assert window.session.model is weights_before and window.actions.train.isEnabled()
    assert "did not answer the stop request" in shown["critical"][0][1]


def test_closing_with_a_frozen_training_child_does_not_hang(window, qtbot, dialogs):
    _, answers = dialogs
    start(window, qtbot, "naive")
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    worker = window.run.worker
    os.kill(worker.process.pid, signal.SIGSTOP)
    answers["question"] = QMessageBox.StandardButton.Discard
    assert window.close()
    assert not worker.is_running() and worker.process.exitcode is not None


def test_a_pen_width_too_large_for_qt_falls_back_to_the_default(qtbot, dialogs, settings_dir):
    from PySide6.QtCore import QSettings

    for value in (2147483648, -5, float("inf"), "1e400"):
        settings = QSettings()
        settings.setValue("pen_width", value)
        settings.sync()
        win = MainWindow()
        qtbot.addWidget(win)
        assert win.draw.pen_width.value() == 22


def test_a_settings_file_that_is_a_named_pipe_does_not_block_start_up(tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from PySide6.QtCore import QSettings
        from mnistpad.gui.app import make_application
        from mnistpad.gui.window import MainWindow

        app = make_application()
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {str(tmp_path)!r})
        os.makedirs({str(tmp_path / "mnistpad")!r})
        os.mkfifo({str(tmp_path / "mnistpad" / "mnistpad.ini")!r})
        window = MainWindow()
        print(window.statusBar().currentMessage())
        window.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert "named pipe" in result.stdout and "not remembered this session" in result.stdout


def test_saving_under_a_name_whose_npz_exists_asks_before_replacing(
    window, qtbot, dialogs, tmp_path
):
    shown, answers = dialogs
    existing = tmp_path / "mymodel.npz"
    existing.write_bytes(b"keep me")
    answers["save"] = str(tmp_path / "mymodel")  # Qt asked about "mymodel", not "mymodel.npz"
    answers["question"] = QMessageBox.StandardButton.Cancel
    assert not window.files.save_weights_dialog()
    assert existing.read_bytes() == b"keep me"
    assert "mymodel.npz already exists" in shown["question"][-1][1]
    answers["question"] = QMessageBox.StandardButton.Yes
    assert window.files.save_weights_dialog()
    assert np.array_equal(load_weights(existing).model.W, window.session.model.W)
