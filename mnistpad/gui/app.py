"""Start the app: one QApplication, the main window, and a clean exit on Ctrl+C in a terminal."""

from __future__ import annotations

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
    signal.signal(signal.SIGINT, lambda *_: window.close())
    if asked:
        QTimer.singleShot(0, window.close)
    heartbeat = QTimer()  # lets Python run its signal handlers while Qt waits for events
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)
    return app.exec()
