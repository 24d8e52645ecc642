"""Training speed of mnistpad and its peers on the bundled MNIST split, measured in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/train_speed.py [--runs 3] [--slow-epochs 2] [--json]
    .venv/bin/python bench/train_speed.py --networks [--epochs 2] [--json]   (MLP, CNN: see
        bench/network_speed.py)

Every method trains 20 epochs on the same 50,000 images and is scored on the same dev and test
sets; times exclude data loading (reported on its own) and are medians of --runs runs. Ratios
are to mnistpad's `fast` preset timed in the same run, so a busy machine affects all alike.
mnistpad's presets run as the `mnistpad train` command (one BLAS thread, see mnistpad/blas.py)
and are timed by its own training clock; the rest run in this process with numpy's default
threads, so the floor and the peers get both cores for their BLAS.
PyTorch at batch size 1 needs minutes per run: it runs --slow-epochs epochs and its time is
scaled to 20 (marked "scaled"); pass --slow-epochs 20 for the full thing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import network_speed
import numpy as np
from cli_run import cli_train

from mnistpad.data import load_dataset
from mnistpad.model import LinearModel
from mnistpad.train import PRESETS

EPOCHS = 20


@dataclass
class Row:
    method: str
    seconds: float  # median wall time for 20 epochs
    dev_accuracy: float | None
    test_accuracy: float | None
    note: str = ""
    ratio_to_fast: float | None = None


def timed(runs: int, once: Callable[[], tuple[float | None, float | None]]) -> tuple[float, tuple]:
    times, scores = [], None
    for _ in range(runs):
        start = time.perf_counter()
        scores = once()
        times.append(time.perf_counter() - start)
    return statistics.median(times), scores


def mnistpad_preset(name: str, seed: int, runs: int) -> Row:
    results = [cli_train(name, seed) for _ in range(runs)]
    return Row(
        f"mnistpad {name}",
        statistics.median(result["seconds"] for result in results),
        results[-1]["dev_accuracy"],
        results[-1]["test_accuracy"],
        f"batch {PRESETS[name].batch_size}; the mnistpad command",
    )


def student_loop(dataset, seed: int, epochs: int = EPOCHS) -> tuple[float, float]:
    """The obvious per-example loop a student writes, on float64 images: the naive protocol."""
    images = dataset.train_images.astype(np.float64)  # as `np.asarray(pixels) / 255.0` gives
    labels = dataset.train_labels
    model = LinearModel.glorot(np.random.default_rng(seed))
    W, b = model.W.astype(np.float64), model.b.astype(np.float64)
    for _ in range(epochs):
        for x, y in zip(images, labels, strict=True):
            z = W @ x + b
            p = np.exp(z - z.max())
            p /= p.sum()
            p[y] -= 1
            W -= 0.01 * np.outer(p, x)
            b -= 0.01 * p
    final = LinearModel(W, b)
    return (final.accuracy(dataset.dev_images, dataset.dev_labels),
            final.accuracy(dataset.test_images, dataset.test_labels))  # fmt: skip


def torch_sgd(dataset, batch_size: int, lr: float, epochs: int, seed: int) -> tuple[float, float]:
    """nn.Linear + CrossEntropyLoss + optim.SGD with mnistpad's init and the optimized policy:
    shuffle every epoch, keep the best dev epoch, halve the step when dev does not improve."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    images, labels = (
        torch.from_numpy(dataset.train_images),
        torch.from_numpy(dataset.train_labels.astype(np.int64)),
    )
    dev_images, dev_labels = (
        torch.from_numpy(dataset.dev_images),
        torch.from_numpy(dataset.dev_labels.astype(np.int64)),
    )
    rng = np.random.default_rng(seed)
    init = LinearModel.glorot(rng)
    layer = torch.nn.Linear(784, 10)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(init.W))
        layer.bias.zero_()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(layer.parameters(), lr=lr)
    best_dev, best_state = -1.0, None
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(labels)))
        for start in range(0, len(labels), batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(layer(images[rows]), labels[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            dev = (layer(dev_images).argmax(1) == dev_labels).float().mean().item()
        if dev > best_dev:
            best_dev, best_state = dev, {k: v.clone() for k, v in layer.state_dict().items()}
        else:
            for group in optimizer.param_groups:
                group["lr"] /= 2
    layer.load_state_dict(best_state)
    with torch.no_grad():
        test_images = torch.from_numpy(dataset.test_images)
        predicted = layer(test_images).argmax(1).numpy()
    return best_dev, float((predicted == dataset.test_labels).mean())


def sklearn_logistic(dataset, runs: int) -> Row:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def fit(c: float):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LogisticRegression(C=c, solver="lbfgs", max_iter=200).fit(
                dataset.train_images, dataset.train_labels
            )

    devs = {c: fit(c).score(dataset.dev_images, dataset.dev_labels) for c in (0.1, 0.3, 1.0)}
    best_c = max(devs, key=devs.get)
    seconds, model = timed(runs, lambda: fit(best_c))
    return Row(
        "scikit-learn LogisticRegression (lbfgs)", seconds, devs[best_c], model_score(model, dataset),
        f"C={best_c} chosen on dev from 0.1, 0.3, 1; max_iter=200",
    )  # fmt: skip


def model_score(model, dataset) -> float:
    return float(model.score(dataset.test_images, dataset.test_labels))


def sklearn_sgd(dataset, seed: int, runs: int) -> Row:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = SGDClassifier(loss="log_loss", max_iter=EPOCHS, tol=None, random_state=seed)
            model.fit(dataset.train_images, dataset.train_labels)
        return model.score(dataset.dev_images, dataset.dev_labels), model_score(model, dataset)

    seconds, (dev, test) = timed(runs, fit)
    return Row("scikit-learn SGDClassifier(log_loss)", seconds, dev, test, "20 epochs, defaults")


def floor(dataset, runs: int, batch: int | None = None) -> Row | None:
    """20 epochs of one forward and one gradient product over the training set, nothing else:
    in two products an epoch on both cores, or (`batch`) in products of `batch` rows on one BLAS
    thread, the arithmetic `fast` cannot do without (None without threadpoolctl, which
    scikit-learn brings)."""
    images = dataset.train_images
    W = np.random.default_rng(0).normal(0, 0.01, (10, images.shape[1])).astype(np.float32)
    grads = np.random.default_rng(1).normal(0, 0.01, (len(images), 10)).astype(np.float32)
    starts = range(0, len(images), batch or len(images))

    def run():
        for _ in range(EPOCHS):
            for start in starts:
                rows = slice(start, start + (batch or len(images)))
                images[rows] @ W.T
                grads[rows].T @ images[rows]
        return None, None

    if batch is None:
        seconds, _ = timed(runs, run)
        return Row(FLOOR, seconds, None, None, "float32, both cores")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    with threadpool_limits(1):
        seconds, _ = timed(runs, run)
    return Row(f"{FLOOR}, batches of {batch}", seconds, None, None, "float32, one thread")


FLOOR = "floor: forward + gradient products"


def peak_memory_of_cli_fast() -> float:
    """Peak resident memory (MB) of `mnistpad train --preset fast`, read by the process itself
    (a child's rusage would count the pages it shared with this big process before exec)."""
    code = (
        "from mnistpad.launch import main; main(['train', '--preset', 'fast', '--json'])\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per method (median reported)")
    parser.add_argument("--slow-epochs", type=int, default=2, help="epochs for PyTorch at batch 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip-peers", action="store_true", help="only mnistpad, the loop and the floor"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--networks",
        action="store_true",
        help="instead: the MLP and CNN per epoch against PyTorch (bench/network_speed.py)",
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per --networks run")
    args = parser.parse_args()
    if args.networks:
        rows = network_speed.compare(args.epochs)
        if args.json:
            print(json.dumps({"machine": machine(), "networks": rows}))
        else:
            network_speed.print_table(rows, args.epochs)
        return 0

    start = time.perf_counter()
    dataset = load_dataset()
    loading = time.perf_counter() - start
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        if not args.json:
            print(f"  measured {row.method}: {row.seconds:.2f} s", file=sys.stderr, flush=True)

    for name in ("naive", "optimized", "fast"):
        add(mnistpad_preset(name, args.seed, args.runs))
    seconds, (dev, test) = timed(args.runs, lambda: student_loop(dataset, args.seed))
    add(Row("numpy per-example loop (baseline)", seconds, dev, test, "float64, naive protocol"))
    add(floor(dataset, args.runs))
    batch_floor = floor(dataset, args.runs, PRESETS["fast"].batch_size)
    if batch_floor is not None:
        add(batch_floor)
    if not args.skip_peers:
        fast_batch = PRESETS["fast"].batch_size
        slow = args.slow_epochs
        seconds, (dev, test) = timed(
            args.runs, lambda: torch_sgd(dataset, 1, 0.01, slow, args.seed)
        )
        add(Row("PyTorch SGD, batch 1", seconds * EPOCHS / slow, dev, test,
                f"scaled from {slow} epochs; accuracy after {slow}" if slow != EPOCHS else ""))  # fmt: skip
        seconds, (dev, test) = timed(
            args.runs, lambda: torch_sgd(dataset, fast_batch, PRESETS["fast"].lr, EPOCHS, args.seed)
        )
        add(Row(f"PyTorch SGD, batch {fast_batch}", seconds, dev, test, "optimized policy"))
        add(sklearn_logistic(dataset, args.runs))
        add(sklearn_sgd(dataset, args.seed, args.runs))

    fast_seconds = next(row.seconds for row in rows if row.method == "mnistpad fast")
    for row in rows:
        row.ratio_to_fast = row.seconds / fast_seconds
    memory = peak_memory_of_cli_fast()
    report = {
        "machine": machine(),
        "data_loading_seconds": round(loading, 3),
        "runs": args.runs,
        "rows": [asdict(row) for row in rows],
        "peak_memory_mb_train_fast": round(memory, 1),
        "targets": targets(rows, memory),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0


def targets(rows: list[Row], memory: float) -> dict:
    by = {row.method: row for row in rows}
    baseline = by["numpy per-example loop (baseline)"]
    fast, floor_row = by["mnistpad fast"], by[FLOOR]
    result = {}
    for name in ("naive", "optimized"):
        result[f"{name} >= 3x faster than the numpy loop"] = (
            baseline.seconds / by[f"mnistpad {name}"].seconds >= 3
        )
    result["naive within 0.002 of the loop's test accuracy"] = (
        abs(by["mnistpad naive"].test_accuracy - baseline.test_accuracy) <= 0.002
    )
    result["fast within 1.5x of the floor"] = fast.seconds / floor_row.seconds <= 1.5
    batch_floor = by.get(f"{FLOOR}, batches of {PRESETS['fast'].batch_size}")
    if batch_floor is not None:  # what is left above the products fast itself must make
        result["fast within 1.5x of its own products' floor"] = (
            fast.seconds / batch_floor.seconds <= 1.5
        )
    torch1 = by.get("PyTorch SGD, batch 1")
    if torch1 is not None:
        torch_fast = next(
            row for row in rows if row.method.startswith("PyTorch SGD, batch") and row is not torch1
        )
        logistic = by["scikit-learn LogisticRegression (lbfgs)"]
        for name in ("naive", "optimized"):
            result[f"{name} >= 20x faster than PyTorch batch 1"] = (
                torch1.seconds / by[f"mnistpad {name}"].seconds >= 20
            )
        result["fast >= 2.5x faster than PyTorch at its batch size"] = (
            torch_fast.seconds / fast.seconds >= 2.5
        )
        result["fast as accurate as LogisticRegression (within 0.002)"] = (
            fast.test_accuracy >= logistic.test_accuracy - 0.002
        )
        result["fast in a tenth of LogisticRegression's time"] = (
            fast.seconds <= logistic.seconds / 10
        )
    result["peak memory of train --preset fast under 500 MB"] = memory < 500
    return result


def print_table(report: dict) -> None:
    m = report["machine"]
    print(
        f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']} ({m['blas']})"
    )
    print(
        f"data loading: {report['data_loading_seconds']:.2f} s; median of {report['runs']} runs\n"
    )
    print(f"| {'method':42} | 20 epochs (s) | x fast | dev acc. | test acc. | note")
    print(f"|{'-' * 44}|---------------|--------|----------|-----------|-----")
    for row in report["rows"]:
        dev = f"{row['dev_accuracy']:.4f}" if row["dev_accuracy"] is not None else "-"
        test = f"{row['test_accuracy']:.4f}" if row["test_accuracy"] is not None else "-"
        print(
            f"| {row['method']:42} | {row['seconds']:13.2f} | {row['ratio_to_fast']:6.2f} | {dev:>8} | {test:>9} | {row['note']}"
        )
    print(
        f"\npeak memory of `mnistpad train --preset fast`: {report['peak_memory_mb_train_fast']:.0f} MB\n"
    )
    for target, met in report["targets"].items():
        print(f"[{'met' if met else 'NOT met'}] {target}")


if __name__ == "__main__":
    sys.exit(main())
