"""How long the Map tab takes to place MNIST's 10,000 test images, per bundled model.

    .venv/bin/python bench/map_speed.py [--repeats 7] [--json]   # offscreen unless DISPLAY is set

- placing (in the map's thread): the features of the 10,000 test images, the PCA or LDA and
  the turn onto the previous map (`projection.map_of`), one BLAS thread as in `mnistpad`;
- stall: the longest gap between ticks of a 5 ms timer in the window's thread meanwhile, the
  map's arrival included;
- update (the window's thread, what the person waits for): the dots moved to a new map of the
  same images and the window repainted, the rings shown, as after each epoch of a run;
- first show: the same when the dots are made (a new dataset, or the first map);
- star: a stroke's share, placing the drawing (one image's features, projected) and repainting
  the plot (the dots kept as a picture meanwhile).
Medians of --repeats, in milliseconds: wall-clock, and the CPU time of the window's thread (what
the code costs, whatever else the machine runs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.update(dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"), "1"))  # as `mnistpad`

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from mnistpad.data import load_dataset
from mnistpad.gui.app import make_application
from mnistpad.gui.map_view import MapPanel
from mnistpad.gui.views import configure_pyqtgraph
from mnistpad.projection import SetMap, map_of
from mnistpad.train import model_inputs
from mnistpad.weights import bundled_models, input_deskew, load_weights


def median_ms(work, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU time (of this thread: the window's) of work(), in ms."""
    wall, cpu = [], []
    for _ in range(repeats):
        began, began_cpu = time.perf_counter(), time.thread_time()
        work()
        wall.append(time.perf_counter() - began)
        cpu.append(time.thread_time() - began_cpu)
    return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)


def longest_stall(app, panel, model, inputs, dataset, method: str) -> float:
    """The longest gap between ticks of a 5 ms timer in the window's thread while the panel
    places a map in its thread and shows it (ms)."""
    panel.method.setCurrentIndex(panel.method.findData(method))
    ticks = []
    ticker = QTimer()
    ticker.setInterval(5)
    ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
    ticker.start()
    panel.set_model(model, inputs, dataset.test_images, dataset.test_labels, dataset.classes)
    while panel.busy():
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    app.processEvents()
    ticker.stop()
    return 1000 * float(np.diff(ticks).max())


def move_star(app, panel, inputs, seed: float) -> None:
    """A stroke's share: the drawing (here a test image) placed, the plot repainted."""
    panel.show_drawing(inputs[int(seed * 1000)])
    panel.plot.repaint()
    app.processEvents()


def measure(app, panel, model, inputs, dataset, method: str, repeats: int) -> dict:
    labels, classes = dataset.test_labels, list(dataset.classes)
    placed = map_of(model, inputs, labels, method)
    placing = median_ms(lambda: map_of(model, inputs, labels, method, placed.points), 3)[0]
    turns = itertools.cycle(np.linspace(0.1, 1.0, 7))

    def show():  # a map of the same images, turned: every dot moves
        turn = next(turns)
        rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        moved = SetMap(method, placed.projection, placed.points @ rotation, placed.probabilities)
        panel.show_map(model, moved, dataset.test_images, labels, classes)
        panel.repaint()
        app.processEvents()

    def first_show():
        panel.labels = None  # as for new data: the dots are made again
        show()

    panel.rings.setChecked(True)
    return {
        "placing_ms": placing,
        "stall_ms": longest_stall(app, panel, model, inputs, dataset, method),
        "update_ms": median_ms(show, repeats),
        "first_show_ms": median_ms(first_show, repeats),
        "star_ms": median_ms(lambda: move_star(app, panel, inputs, next(turns)), 50),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    app = make_application()
    configure_pyqtgraph(QApplication.palette())
    panel = MapPanel()
    panel.resize(560, 600)  # the tab's size in a 1280x800 window
    panel.show()
    app.processEvents()
    dataset = load_dataset()
    rows = []
    for path in bundled_models():
        loaded = load_weights(path)
        model = loaded.model
        inputs = model_inputs(dataset, input_deskew(loaded.meta)).test_images
        for method in ("pca", "lda"):
            rows.append(
                {"model": path.name, "method": method}
                | measure(app, panel, model, inputs, dataset, method, args.repeats)
            )
            if not args.json:
                print(f"  measured {path.name} {method}", file=sys.stderr, flush=True)
    panel.close()
    if args.json:
        print(json.dumps(rows))
        return 0
    platform = os.environ.get("QT_QPA_PLATFORM") or f"display {os.environ['DISPLAY']}"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"platform: {platform}; medians of {args.repeats}; load average {load}")
    print("| model | projection | placing, thread (ms) | longest stall meanwhile (ms)"
          " | update, window (ms): wall / CPU | first show: wall / CPU"
          " | star per stroke (ms): wall / CPU |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['method'].upper()} | {r['placing_ms']:.0f} |"
              f" {r['stall_ms']:.0f} |"
              f" {r['update_ms'][0]:.1f} / {r['update_ms'][1]:.1f} |"
              f" {r['first_show_ms'][0]:.1f} / {r['first_show_ms'][1]:.1f} |"
              f" {r['star_ms'][0]:.2f} / {r['star_ms'][1]:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
