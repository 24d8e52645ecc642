"""Take the README's screenshot from the real app: draw a digit, train a few epochs, grab it.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [docs/screenshot.png]

Runs on any Qt platform: offscreen, a desktop, or Xvfb (DISPLAY=:99).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

from mnistpad.gui.app import make_application
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.window import MainWindow
from mnistpad.train import preset


def three() -> list[list[tuple[float, float]]]:
    """Two arcs, as a person draws a 3, leaning to the right as handwriting does."""
    top = [(0.5 + 0.2 * np.sin(a), 0.32 - 0.14 * np.cos(a)) for a in np.linspace(-1.9, 2.8, 24)]
    bottom = [(0.5 + 0.22 * np.sin(a), 0.64 - 0.18 * np.cos(a)) for a in np.linspace(0.2, 4.2, 28)]
    return [[(x + 0.35 * (0.5 - y), y) for x, y in arc] for arc in (top, bottom)]


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")
    app = make_application()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    for stroke in three():
        send_stroke(window.canvas, stroke)
    window.panel.set_config(preset("deskew", epochs=6))
    window.panel.train_button.click()

    def finish() -> None:
        if window.run.training:
            return
        window.repaint()
        app.processEvents()
        window.grab().save(str(out))
        print(
            f"wrote {out} ({window.width()}x{window.height()}); the model reads the drawing as "
            f"{window.draw.prediction.text()} ({window.draw.confidence.text()})"
        )
        window.session.unsaved = False
        app.quit()

    poll = QTimer()
    poll.timeout.connect(finish)
    poll.start(100)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
