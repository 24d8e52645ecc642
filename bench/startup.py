"""Start-up costs: what a command pays beyond its work, and Train to first progress (issue #11).

    .venv/bin/python bench/startup.py [--repeats 7] [--json]

Every figure is the median of --repeats runs, interleaved, and is also given as a ratio to a
baseline measured in the same run, a bare `python -c "import numpy"`: the machine is shared and
noisy, ratios travel better than seconds. The data cache (mnistpad/data.py) lives in a temporary
folder for the run, so the person's own cache is neither used nor touched.

- command overhead: the wall time of `mnistpad eval assets/weights/default.npz` minus its work,
  the two accuracy products over the deskewed dev and test images (timed here, in memory, so that
  reading the data counts as overhead). With the cache warm, and with it off
  (`MNISTPAD_CACHE_DIR=""`), which is what every command did before the cache. `mnistpad
  --version` is the start-up alone. Goal: overhead at most 3x the baseline.
- Train to first progress: a window's first `deskew` run, on the data the window has already
  read, from `TrainingWorker.start()` to its first progress signal (offscreen Qt): deskewing the
  data, starting the training child, handing it the data, the first twentieth of an epoch. Also
  `TrainingProcess(dataset, config)` alone (deskewing included), and a `fast` run (no deskewing).
  Goal: under 0.2 s, cache warm.
- first start ever: reading MNIST into an empty cache (decoding and writing 220 MB) and making
  its deskewed copy, the price paid once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.update(dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"), "1"))  # as `mnistpad`

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QTimer, Slot

from mnistpad.cache import CACHE_ENV
from mnistpad.data import assets_dir, deskewed, load_dataset
from mnistpad.gui.worker import TrainingWorker
from mnistpad.train import preset
from mnistpad.train_process import TrainingProcess
from mnistpad.weights import load_weights

WEIGHTS = assets_dir() / "weights" / "default.npz"
COMMAND = Path(sys.executable).with_name("mnistpad")  # the console script the person runs
DESKEW, FAST = preset("deskew"), preset("fast")


def wall(command: list[str], cache: str) -> float:
    """Seconds from launching `command` to its end, with the cache folder `cache` ("" = off)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=os.environ | {CACHE_ENV: cache})
    return time.perf_counter() - start


def eval_work() -> float:
    """Seconds of `mnistpad eval`'s own work: its two accuracy products, on arrays in memory."""
    use_cache("")
    weights = load_weights(WEIGHTS)
    data = deskewed(load_dataset())
    dev, test = np.array(data.dev_images), np.array(data.test_images)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        weights.model.accuracy(dev, data.dev_labels)
        weights.model.accuracy(test, data.test_labels)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def use_cache(folder: str) -> None:
    """Read data in this process through the cache in `folder` ("" = off)."""
    os.environ[CACHE_ENV] = folder


class FirstProgress(QObject):
    """Receives a worker's signals in the main thread and ends the wait at the first progress."""

    def __init__(self, loop: QEventLoop) -> None:
        super().__init__()
        self.loop, self.at, self.error = loop, None, None

    @Slot(object)
    def progress(self, _event) -> None:
        if self.at is None:
            self.at = time.perf_counter()
        self.loop.quit()

    @Slot(str)
    def failed(self, text: str) -> None:
        self.error = text
        self.loop.quit()


def worker_first_progress(dataset, config=DESKEW) -> float:
    """Seconds from TrainingWorker.start() to its first progress signal, the run then stopped."""
    loop = QEventLoop()
    receiver = FirstProgress(loop)
    worker = TrainingWorker(config, dataset)
    worker.progress.connect(receiver.progress)
    worker.failed.connect(receiver.failed)
    QTimer.singleShot(60_000, loop.quit)
    start = time.perf_counter()
    worker.start()
    loop.exec()
    worker.join()
    if receiver.at is None:
        raise RuntimeError(f"no progress: {receiver.error}")
    return receiver.at - start


def process_first_progress(dataset) -> float:
    """Seconds from deskewing the data and starting a TrainingProcess to its first event."""
    start = time.perf_counter()
    process = TrainingProcess(deskewed(dataset), DESKEW)
    events = process.events()
    next(events)
    seconds = time.perf_counter() - start
    process.request_stop()
    for _ in events:
        pass
    return seconds


def first_start(folder: Path) -> tuple[float, float]:
    """Seconds to read MNIST into the empty cache `folder`, and to make its deskewed copy."""
    shutil.rmtree(folder, ignore_errors=True)
    use_cache(str(folder))
    start = time.perf_counter()
    dataset = load_dataset()
    read = time.perf_counter() - start
    deskewed(dataset)
    return read, time.perf_counter() - start - read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    _app = QCoreApplication.instance() or QCoreApplication([])  # the worker's signals need a loop
    root = Path(tempfile.mkdtemp(prefix="mnistpad-bench-"))
    warm_cache = str(root / "warm")
    try:
        cold = [first_start(root / "cold") for _ in range(min(3, args.repeats))]
        use_cache(warm_cache)
        deskewed(load_dataset())  # fills the warm cache
        work = eval_work()
        runs: dict[str, list[float]] = {}

        def record(name: str, seconds: float) -> None:
            runs.setdefault(name, []).append(seconds)

        evaluate = [str(COMMAND), "eval", str(WEIGHTS)]
        for _ in range(args.repeats):
            record("baseline", wall([sys.executable, "-c", "import numpy"], warm_cache))
            record("version", wall([str(COMMAND), "--version"], warm_cache))
            record("eval warm", wall(evaluate, warm_cache) - work)
            record("eval off", wall(evaluate, "") - work)
            use_cache(warm_cache)
            warm = load_dataset()  # as the window has it: read once, when first needed
            record("worker warm", worker_first_progress(warm))
            record("fast warm", worker_first_progress(warm, FAST))
            record("process warm", process_first_progress(warm))
            use_cache("")
            memory = load_dataset()
            record("worker off", worker_first_progress(memory))
            record("fast off", worker_first_progress(memory, FAST))
            record("process off", process_first_progress(memory))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    median = {name: statistics.median(times) for name, times in runs.items()}
    baseline = median["baseline"]
    result = {
        "repeats": args.repeats,
        "seconds": {name: round(value, 4) for name, value in median.items()},
        "x_baseline": {name: round(value / baseline, 2) for name, value in median.items()},
        "eval_work": round(work, 4),
        "first_start_read": round(statistics.median(c[0] for c in cold), 3),
        "first_start_deskew": round(statistics.median(c[1] for c in cold), 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    rows = (
        ('bare `python -c "import numpy"` (baseline)', "baseline", None),
        ("`mnistpad --version` (start-up alone)", "version", None),
        ("`mnistpad eval default.npz` overhead (wall - work)", "eval warm", "eval off"),
        ("Train to first progress, window worker, first deskew run", "worker warm", "worker off"),
        ("Train to first progress, TrainingProcess alone", "process warm", "process off"),
        ("Train to first progress, window worker, `fast` preset", "fast warm", "fast off"),
    )
    print(f"medians of {args.repeats} runs; eval's own work {work * 1000:.0f} ms, subtracted\n")
    print("| measure | cache warm (s) | x baseline | cache off (s) | x baseline |")
    print("|---|---|---|---|---|")
    for label, warm, off in rows:
        cells = [f"{median[warm]:.3f}", f"{median[warm] / baseline:.2f}"]
        cells += [f"{median[off]:.3f}", f"{median[off] / baseline:.2f}"] if off else ["", ""]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(
        f"\nfirst start ever (empty cache): reading MNIST {result['first_start_read']:.2f} s, "
        f"making its deskewed copy {result['first_start_deskew']:.2f} s"
    )


if __name__ == "__main__":
    main()
