"""Start the app: one QApplication, the main window, and a clean exit on Ctrl+C in a terminal."""

from __future__ import annotations

import gc
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from .. import __version__
from ..data import Dataset, assets_dir
from .window import MainWindow

ICON = assets_dir() / "icon.svg"


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, named so that QSettings keeps mnistpad's settings apart."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName("mnistpad")
    app.setApplicationName("mnistpad")
    app.setApplicationDisplayName("mnistpad")
    app.setApplicationVersion(__version__)
    app.setWindowIcon(QIcon(str(ICON)))
    return app


def set_aside_what_was_built() -> None:
    """Set the objects made so far (the window's: about 74,000) aside from Python's collector of
    garbage cycles (`gc.freeze`). A full collection went through all of them: 31 ms idle, 50-90
    ms on two cores shared with a training child, a stall of the window at a moment nobody can
    foresee; it now goes through what was made since. Garbage among them is never collected: a
    few MB at most, for a window that lives as long as the program."""
    gc.collect()
    gc.freeze()


def run_app(weights: Path | None = None, dataset: Dataset | None = None) -> int:
    app = make_application()
    # Ctrl+C in the terminal closes the window as its close button would (saving is offered);
    # one pressed while the window is being built (seconds on a busy machine) closes it once
    # shown: raised inside a paint or layout call, it would be printed and lost.
    asked: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: asked.append(1))
    window = MainWindow(weights, dataset.folder if dataset else None)
    window.session.dataset = dataset
    window.show()
    set_aside_what_was_built()
    signal.signal(signal.SIGINT, lambda *_: window.close())
    if asked:
        QTimer.singleShot(0, window.close)
    heartbeat = QTimer()  # lets Python run its signal handlers while Qt waits for events
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)
    return app.exec()
