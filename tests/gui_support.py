"""The window and what drives it in the GUI tests: fixtures, synthetic strokes, starting runs.

Only the modal dialogs (file choosers and message boxes) are replaced, as pytest-qt advises,
because nobody is there to click them.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from mnistpad.gui.dialogs import ICONS
from mnistpad.gui.window import MainWindow
from mnistpad.handwriting import PersonalSet

OWN_TEXTS = {"Keyboard shortcuts"}  # the only message box shown as HTML: no outside text in it


@pytest.fixture
def dialogs(monkeypatch):
    """Record message boxes instead of showing them; answers can be set per test."""
    shown = {"critical": [], "warning": [], "question": [], "information": []}
    answers = {"question": QMessageBox.StandardButton.Discard, "save": "", "open": "", "text": ""}

    def record(kind):
        def show(parent, title, text, *args, **kwargs):
            shown[kind].append((title, text))
            return answers.get(kind, QMessageBox.StandardButton.Ok)

        return show

    for kind in shown:
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    kinds = {icon: kind for kind, icon in ICONS.items()}

    def execute(box):  # the window's own message boxes (dialogs.message)
        assert box.textFormat() == Qt.TextFormat.PlainText or box.windowTitle() in OWN_TEXTS
        return record(kinds[box.icon()])(box.parent(), box.windowTitle(), box.text())

    monkeypatch.setattr(QMessageBox, "exec", execute)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (answers["save"], ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (answers["open"], ""))
    monkeypatch.setattr(
        QInputDialog, "getText", lambda *a, **k: (answers["text"], bool(answers["text"]))
    )
    return shown, answers


@pytest.fixture
def settings_dir(tmp_path, qapp):
    """Keep the tests' QSettings in a temporary folder."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )
    qapp.setOrganizationName("mnistpad-tests")
    return tmp_path / "settings"


@pytest.fixture
def window(qtbot, dialogs, settings_dir, mnist, tmp_path):
    win = MainWindow()
    win.handwriting.personal = PersonalSet(tmp_path / "handwriting")  # not the real folder
    win.session.dataset = mnist  # the bundled data, already read once for the whole session
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.run.shutdown()
    win.session.unsaved = False


def shown(qtbot, widget, width: int, height: int):
    """`widget` on screen at width x height, for a test of one widget outside the window."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def line(start, end, steps=20):
    return [
        tuple(np.array(start) + (np.array(end) - np.array(start)) * t)
        for t in np.linspace(0, 1, steps)
    ]


def circle(centre=(0.5, 0.5), radius=(0.22, 0.32), steps=40):
    angles = np.linspace(0, 2 * np.pi, steps)
    return [(centre[0] + radius[0] * np.sin(a), centre[1] - radius[1] * np.cos(a)) for a in angles]


def shown_probabilities(win) -> np.ndarray:
    return np.asarray(win.chart.bars.opts["height"], dtype=float) / 100


def start(window, qtbot, preset, **settings):
    window.panel.preset.setCurrentText(preset)
    for name, value in settings.items():
        getattr(window.panel, name).setValue(value)
    qtbot.mouseClick(window.panel.train_button, Qt.MouseButton.LeftButton)
    assert window.run.training


def wait_until_done(window, qtbot, timeout=120_000):
    """Until the run has ended and the window shows its end (spread over turns, `run.later`)."""
    qtbot.waitUntil(lambda: not (window.run.training or window.run.later.busy), timeout=timeout)


NAMES = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "iris", "juniper"]


def named_idx_folder(folder, n_train=10_600, n_test=300):
    """A folder of learnable synthetic IDX files with a classes.txt of fruit names."""
    import gzip
    import struct

    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, size=(10, 28, 28))
    folder.mkdir()
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.clip(centres[labels] + rng.normal(0, 0.25, (n, 28, 28)), 0, 1)
        for kind, array in (("images-idx3", np.round(images * 255)), ("labels-idx1", labels)):
            header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
            data = header + array.astype(np.uint8).tobytes()
            (folder / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(data, 1))
    (folder / "classes.txt").write_text("\n".join(NAMES) + "\n")
    return folder
