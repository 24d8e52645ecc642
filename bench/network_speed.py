"""Per-epoch training time of mnistpad's MLP and CNN against PyTorch on CPU, same network.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/train_speed.py --networks [--epochs 2] [--json]

Both sides train the same architecture from the same initial weights (mnistpad's He-normal
draw, copied into PyTorch, the CNN's dense layer permuted to PyTorch's channel-first flattening),
with Adam (lr 0.001), batch 64, the same shuffled order, for --epochs epochs on the 50,000
training images, and are scored on the 10,000 test images. Each side runs in a fresh process with
1 and with 2 threads (OPENBLAS_NUM_THREADS for numpy, torch.set_num_threads for PyTorch): the
product trains with one BLAS thread (mnistpad/blas.py), the second core gathering the next batches
and augmenting them. Times are the median epoch, data loading excluded; the ratio is mnistpad's
time over PyTorch's with the same thread count, measured in the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH, LR = 64, 0.001


def worker(impl: str, kind: str, epochs: int, seed: int) -> dict:
    """Train in this process; return per-epoch seconds and the test accuracy."""
    from mnistpad.data import load_dataset
    from mnistpad.networks import new_model

    data = load_dataset()
    model = new_model(kind, np.random.default_rng(seed), 10)
    images, labels = data.train_images, data.train_labels
    orders = [np.random.default_rng((seed, e)).permutation(len(labels)) for e in range(epochs)]
    run = numpy_epochs if impl == "numpy" else torch_epochs
    seconds, accuracy = run(model, images, labels, orders, data.test_images, data.test_labels)
    return {"impl": impl, "kind": kind, "epoch_seconds": seconds, "test_accuracy": accuracy}


def numpy_epochs(model, images, labels, orders, test_images, test_labels):
    from mnistpad.train import Optimizer

    optimizer, seconds = Optimizer("adam"), []
    logits = np.empty((BATCH, 10), dtype=np.float32)
    for order in orders:
        start = time.perf_counter()
        for i in range(0, len(order), BATCH):
            rows = order[i : i + BATCH]
            optimizer.train_step(model, images[rows], labels[rows], LR, logits[: len(rows)])
        seconds.append(time.perf_counter() - start)
    return seconds, model.accuracy(test_images, test_labels)


def torch_network(model):
    """The same network in PyTorch, holding the same parameters."""
    import torch
    from torch import nn

    p = {name: torch.from_numpy(value.copy()) for name, value in model.params.items()}
    if model.kind == "mlp":
        hidden = model.shape["hidden"]
        net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        layers = {"dense1": net[0], "dense2": net[2]}
    else:
        (f1, f2), k, hidden = model.shape["filters"], model.shape["kernel"], model.shape["hidden"]
        net = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, f1, k),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(f1, f2, k),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(p["dense1.W"].shape[1], hidden),
            nn.ReLU(),
            nn.Linear(hidden, 10),
        )
        layers = {"conv1": net[1], "conv2": net[4], "dense1": net[8], "dense2": net[10]}
        side = model.feature_sides(k)[-1]  # mnistpad flattens (h, w, c), PyTorch (c, h, w)
        p["dense1.W"] = (
            p["dense1.W"].reshape(hidden, side, side, f2).permute(0, 3, 1, 2).reshape(hidden, -1)
        )
    with torch.no_grad():
        for name, layer in layers.items():
            layer.weight.copy_(p[f"{name}.W"])
            layer.bias.copy_(p[f"{name}.b"])
    return net


def torch_epochs(model, images, labels, orders, test_images, test_labels):
    import torch

    net = torch_network(model)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn, seconds = torch.nn.CrossEntropyLoss(), []
    for order in orders:
        order = torch.from_numpy(order)
        start = time.perf_counter()
        for i in range(0, len(order), BATCH):
            rows = order[i : i + BATCH]
            optimizer.zero_grad()
            loss_fn(net(x[rows]), y[rows]).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = net(torch.from_numpy(test_images)).argmax(dim=1).numpy()
    return seconds, float((predicted == test_labels).mean())


def measure(impl: str, kind: str, threads: int, epochs: int, seed: int = 0) -> dict:
    """One worker in a fresh process with `threads` threads."""
    env = dict(os.environ) | dict.fromkeys(
        ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), str(threads)
    )
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); import network_speed as n; "
        f"print(json.dumps(n.worker({impl!r}, {kind!r}, {epochs}, {seed})))"
    )
    if impl == "torch":
        code = f"import torch; torch.set_num_threads({threads}); " + code
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["threads"] = threads
    result["median_epoch_seconds"] = statistics.median(result["epoch_seconds"])
    return result


def compare(epochs: int = 2) -> list[dict]:
    """Every (kind, threads) pair: mnistpad and PyTorch, and mnistpad's time over PyTorch's."""
    rows = []
    for kind in ("mlp", "cnn"):
        for threads in (1, 2):
            ours = measure("numpy", kind, threads, epochs)
            peer = measure("torch", kind, threads, epochs)
            rows.append(
                {
                    "model": kind,
                    "threads": threads,
                    "mnistpad_s_per_epoch": round(ours["median_epoch_seconds"], 2),
                    "pytorch_s_per_epoch": round(peer["median_epoch_seconds"], 2),
                    "ratio": round(ours["median_epoch_seconds"] / peer["median_epoch_seconds"], 2),
                    "mnistpad_test_accuracy": ours["test_accuracy"],
                    "pytorch_test_accuracy": peer["test_accuracy"],
                }
            )
    return rows


def print_table(rows: list[dict], epochs: int) -> None:
    print(f"\nMLP and CNN, Adam, batch {BATCH}, {epochs} epochs from the same initial weights")
    print(
        f"{'model':6} {'threads':>7} {'mnistpad s/epoch':>17} {'PyTorch s/epoch':>16} "
        f"{'ratio':>6} {'test (mnistpad / PyTorch)':>26}"
    )
    for row in rows:
        print(
            f"{row['model']:6} {row['threads']:>7} {row['mnistpad_s_per_epoch']:>17.2f} "
            f"{row['pytorch_s_per_epoch']:>16.2f} {row['ratio']:>6.2f} "
            f"{row['mnistpad_test_accuracy']:>13.4f} / {row['pytorch_test_accuracy']:.4f}"
        )
