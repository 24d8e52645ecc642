"""What presentation mode costs the window: a zoom step, a theme change, a tab change, a start.

    .venv/bin/python bench/presentation.py [--repeats 7]     # offscreen unless DISPLAY is set

Each figure is the median of --repeats, in milliseconds, and as a ratio to a baseline measured in
the same run: building and showing the window at 100% in the system theme, as every start does
(the machine is shared and noisy; ratios travel better than milliseconds).

- zoom step: Ctrl+- from 175% to 150% (and Ctrl+= back), fonts sent to every widget, the plots
  restyled, the window laid out and painted again;
- theme: System to Dark (and back), the same;
- tab change: the plots' restyle check a tab change runs (items already in the zoom and theme are
  left alone);
- start at 175% in the dark theme, against the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = tempfile.mkdtemp(prefix="mnistpad-bench-")
os.environ.update(XDG_CONFIG_HOME=f"{HOME}/config", XDG_DATA_HOME=f"{HOME}/data")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from mnistpad.gui.app import make_application  # noqa: E402
from mnistpad.gui.window import MainWindow  # noqa: E402


def timed(action, repeats: int) -> float:
    """The median time of `action()` followed by the window's events and a repaint, in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        QApplication.processEvents()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    app = make_application()
    rows = {}
    for zoom, theme_name in ((1.0, "system"), (1.75, "dark")):
        settings = QSettings()  # the next windows' zoom and theme
        settings.setValue("view/zoom", zoom)
        settings.setValue("view/theme", theme_name)
        settings.sync()

        def start() -> None:
            shown = MainWindow()
            shown.resize(1280, 800)
            shown.show()
            QApplication.processEvents()
            shown.close()

        rows[f"start at {zoom:.0%}, {theme_name}"] = timed(start, repeats)
    baseline = rows["start at 100%, system"]
    window = MainWindow()  # at 175%, dark: steps from there
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    present = window.present

    def zoom_step() -> None:
        present.set_zoom(1.5 if present.zoom == 1.75 else 1.75)
        window.repaint()

    def theme() -> None:
        present.set_theme("system" if present.theme == "dark" else "dark")
        window.repaint()

    rows["zoom step (175% / 150%)"] = timed(zoom_step, 2 * repeats)
    rows["theme change"] = timed(theme, 2 * repeats)
    rows["tab change restyle"] = timed(present.restyle, repeats)
    window.close()
    for name, ms in rows.items():
        print(f"{name:28} {ms:8.1f} ms  {ms / baseline:6.2f}x")


if __name__ == "__main__":
    main()
