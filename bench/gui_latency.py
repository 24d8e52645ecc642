"""Responsiveness of the real window: start-up, event-loop stalls while training, stroke latency.

    .venv/bin/python bench/gui_latency.py [--json]           # offscreen unless DISPLAY is set
    DISPLAY=:99 .venv/bin/python bench/gui_latency.py        # under Xvfb, as a person sees it

- start-up: from launching a fresh Python process to the window being shown (median of 3);
- stalls: the longest gap between ticks of a 5 ms timer while each preset trains (--presets,
  --epochs; by default fast, optimized and naive, 20 epochs each) and a
  simulated person draws (a 0.5 s stroke of 60 mouse moves a second, then 0.5 s of rest), until
  a second after the window has shown the run's end; the longest of the gaps from the run's
  finish on (the run kept, listed, put in use, its curves drawn); and the training time then
  against the `mnistpad train` command's, in the same run;
- Train to first progress: the child process's start and the hand-over of the data (training
  runs in its own process, `mnistpad/train_process.py`); the training time after it is the
  child's own clock, like the CLI's;
- stroke latency: from a mouse-move event on the canvas to the probabilities being updated
  (preprocessing, classification and the chart's new data), idle and while training;
- --map: all of it with the Map tab shown, the test set placed again at each epoch's end (the
  features in a thread, the dots moved in the window's) and the drawing's star moving.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.update(dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"), "1"))  # as `mnistpad`

import numpy as np
from cli_run import cli_train
from PySide6.QtCore import QEvent, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from mnistpad.data import load_dataset
from mnistpad.gui.app import make_application, set_aside_what_was_built
from mnistpad.gui.canvas import mouse_event
from mnistpad.gui.window import MainWindow
from mnistpad.train import preset

CHILD = "--startup-child"
SETTLE_S = 1.0  # measured on after a run's end is shown: its repaints, the Map placed again


def startup_child() -> None:
    """Run in a fresh process: show the window, print the wall-clock time it became visible."""
    app = make_application()
    window = MainWindow()
    window.show()

    def shown() -> None:
        print(time.time(), flush=True)
        app.quit()

    QTimer.singleShot(0, shown)  # runs once the event loop has shown the window
    app.exec()


def startup_seconds() -> float:
    times = []
    for _ in range(3):
        began = time.time()
        out = subprocess.run(
            [sys.executable, __file__, CHILD], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.split()[-1]) - began)
    return statistics.median(times)


class Person:
    """Draws circles on the canvas with real mouse events: 30 moves over 0.5 s, then 0.5 s rest."""

    def __init__(self, window: MainWindow) -> None:
        self.window, self.step = window, 0
        self.latencies: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(16)
        self.timer.timeout.connect(self.tick)

    def send(self, kind: QEvent.Type, x: float, y: float) -> None:
        event = mouse_event(self.window.canvas, kind, x, y)
        began = time.perf_counter()
        QApplication.sendEvent(self.window.canvas, event)  # synchronous: probabilities updated
        if kind == QEvent.Type.MouseMove:
            self.latencies.append(time.perf_counter() - began)

    def tick(self) -> None:
        phase = self.step % 60
        self.step += 1
        angle = phase / 30 * 2 * np.pi + self.step // 60
        x, y = 0.5 + 0.3 * np.cos(angle), 0.5 + 0.35 * np.sin(angle)
        if phase == 0:
            if len(self.window.canvas.strokes) >= 4:
                self.window.canvas.clear()
            self.send(QEvent.Type.MouseButtonPress, x, y)
        elif phase < 29:
            self.send(QEvent.Type.MouseMove, x, y)
        elif phase == 29:
            self.send(QEvent.Type.MouseButtonRelease, x, y)


class StallWatch(threading.Thread):
    """Where the window's thread is while it keeps a 5 ms timer waiting over 25 ms: its stack,
    sampled every 2 ms from another thread (Python code releases the GIL to it at least every
    5 ms), the innermost mnistpad/pyqtgraph frames of each stall kept."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.last_tick = time.perf_counter()
        self.main = threading.main_thread().ident
        self.stalls: list[tuple[float, float, list[str]]] = []  # (start, ms, places)
        self.done = False

    def run(self) -> None:
        seen_tick, places = None, []
        while not self.done:
            time.sleep(0.002)
            tick = self.last_tick
            late = time.perf_counter() - tick
            if late > 0.025:
                frame = sys._current_frames().get(self.main)
                stack = traceback.extract_stack(frame) if frame is not None else []
                ours = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack
                        if "mnistpad" in f.filename or "pyqtgraph" in f.filename]  # fmt: skip
                places.append(" < ".join(reversed(ours[-4:])) or "(Qt, no Python frame)")
                seen_tick = tick
            elif seen_tick is not None and tick != seen_tick:
                ms = 1000 * (tick - seen_tick)
                self.stalls.append((seen_tick, ms, list(dict.fromkeys(places))))
                seen_tick, places = None, []


def run_in_window(window: MainWindow, config, drawing: bool, why: bool = False) -> dict:
    ticks: list[float] = []
    first_progress: list[float] = []
    watch = StallWatch()
    if why:
        watch.start()

    def tick() -> None:
        ticks.append(time.perf_counter())
        watch.last_tick = ticks[-1]
        if window.run.last_progress is not None and not first_progress:
            first_progress.append(ticks[-1])

    ticker = QTimer()
    ticker.setInterval(5)
    ticker.timeout.connect(tick)
    person = Person(window)
    began = time.perf_counter()
    window.run.start(config)
    ticker.start()
    if drawing:
        person.timer.start()
    loop = QEventLoop()  # not app.exec(): quitting the app would close the window
    ended: list[float] = []  # when the run's end was shown (`run.later` done)

    def check() -> None:
        if window.run.training or window.run.later.busy:
            return
        ended[:] = ended or [time.perf_counter()]
        if time.perf_counter() - ended[0] > SETTLE_S:
            loop.quit()

    finished: list[float] = []
    window.run.finished.connect(note := lambda _result: finished.append(time.perf_counter()))
    poll = QTimer()
    poll.timeout.connect(check)
    poll.start(20)
    loop.exec()
    poll.stop()
    window.run.finished.disconnect(note)
    ticker.stop()
    person.timer.stop()
    watch.done = True
    gaps = np.diff(ticks) * 1000
    at_end = max(bisect.bisect(ticks, finished[0]) - 1, 0)  # the gap holding the finish signal
    if why:
        print(f"  the run finished at {finished[0] - began:.2f} s", file=sys.stderr)
    for start, ms, places in watch.stalls:
        print(f"  stall {ms:.0f} ms at {start - began:.2f} s:", file=sys.stderr)
        for place in places[:6]:
            print(f"    {place}", file=sys.stderr)
    return {
        "training_seconds": window.run.worker.result.seconds,
        "first_progress_s": first_progress[0] - began,
        "longest_stall_ms": float(gaps.max()),
        "longest_stall_after_s": float(ticks[int(gaps.argmax())] - began),
        "p99_gap_ms": float(np.percentile(gaps, 99)),
        "end_stall_ms": float(gaps[at_end:].max()),
        "stroke_latency_ms_median": 1000 * statistics.median(person.latencies)
        if person.latencies
        else None,
    }


def main() -> int:
    if CHILD in sys.argv:
        startup_child()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--presets", default="fast,optimized,naive", help="comma-separated (e.g. cnn,mlp)"
    )
    parser.add_argument("--epochs", type=int, help="override each preset's epochs")
    parser.add_argument(
        "--why", action="store_true", help="print where the window's thread was in each stall"
    )
    parser.add_argument(
        "--map", action="store_true", help="with the Map tab shown (placed at each epoch end)"
    )
    args = parser.parse_args()
    # The window's runs and settings in folders of the bench's own (the data cache stays shared):
    # in the person's, each bench run listed one more run, and past 50 the window asked before
    # removing the oldest, waiting for an answer that never came.
    folders = tempfile.TemporaryDirectory(prefix="mnistpad-bench-")
    os.environ.update(
        XDG_DATA_HOME=f"{folders.name}/data", XDG_CONFIG_HOME=f"{folders.name}/config"
    )
    report = {"platform": os.environ.get("QT_QPA_PLATFORM") or f"display {os.environ['DISPLAY']}"}
    report["tab"] = "Map" if args.map else "Curves"
    report["startup_seconds"] = startup_seconds()

    app = make_application()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    set_aside_what_was_built()  # as the app does (gui/app.py)
    window.session.dataset = load_dataset()
    if args.map:
        window.tabs.setCurrentWidget(window.map_page)

    idle = Person(window)
    for _ in range(300):
        idle.tick()
    report["stroke_latency_ms_idle"] = {
        "median": 1000 * statistics.median(idle.latencies),
        "p90": 1000 * float(np.percentile(idle.latencies, 90)),
    }
    report["presets"] = {}
    for name in args.presets.split(","):
        epochs = () if args.epochs is None else ("--epochs", str(args.epochs))
        without_window = cli_train(name, 0, *epochs)["seconds"]
        config = preset(name) if args.epochs is None else preset(name, epochs=args.epochs)
        result = run_in_window(window, config, drawing=True, why=args.why)
        result["seconds_without_window"] = without_window
        result["slowdown"] = result["training_seconds"] / without_window
        report["presets"][name] = result
        if not args.json:
            print(f"  measured {name}", file=sys.stderr, flush=True)
    window.session.unsaved = False
    window.close()

    if args.json:
        print(json.dumps(report))
        return 0
    print(f"platform: {report['platform']}; the {report['tab']} tab shown")
    print(f"start-up to window shown: {report['startup_seconds']:.2f} s (median of 3)")
    lat = report["stroke_latency_ms_idle"]
    print(
        f"stroke event to updated probabilities, idle: median {lat['median']:.1f} ms, p90 {lat['p90']:.1f} ms"
    )
    print("| preset | longest stall (ms) | at the run's end (ms) | p99 gap (ms) "
          "| stroke latency while training (ms) | Train to first progress (s) "
          "| training with window (s) | without (s) | slowdown |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in report["presets"].items():
        print(f"| {name} | {r['longest_stall_ms']:.0f} | {r['end_stall_ms']:.0f} | {r['p99_gap_ms']:.0f} | "
              f"{r['stroke_latency_ms_median']:.1f} | {r['first_progress_s']:.2f} | "
              f"{r['training_seconds']:.2f} | {r['seconds_without_window']:.2f} | "
              f"{r['slowdown']:.2f}x |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
