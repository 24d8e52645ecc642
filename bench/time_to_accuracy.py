"""Time to accuracy: the training seconds each preset needs before its test accuracy first reaches
its mark, for mnistpad and for PyTorch training the same network the same way, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/time_to_accuracy.py [--models linear,mlp,cnn] [--seeds 0,1,2] [--json]

Marks: linear 0.92 (preset fast), MLP 0.985 (preset mlp), CNN 0.990 (preset cnn). The test set
is scored at each epoch's end by this bench only, its time left out; the clock counts the
steps, the augmentation and the dev scoring the protocol does (the plateau rule needs it), as
the window's run does, and not the data loading or the deskewing before the first step.

PyTorch (2.13, CPU) trains the same architecture from the same initial weights (mnistpad's draw,
copied; network_speed.torch_network), on the same batches in the same order (the preset's seed
and shuffling), with the same optimiser, step-size schedule (torch's OneCycleLR, whose steps
mnistpad's `lr_factor` matches to 1e-18; LambdaLR for warm-up + cosine; halving on a dev
plateau), the same deskewed or augmented inputs (mnistpad's own augmentation, made on a helper
thread for both). Each side runs in a fresh process with one thread (mnistpad's training child
uses one BLAS thread; PyTorch with two is not faster here). The ratio is mnistpad's seconds over
PyTorch's, both measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

MARKS = {"linear": ("fast", 0.92), "mlp": ("mlp", 0.985), "cnn": ("cnn", 0.990)}


def mnistpad_run(kind: str, seed: int) -> dict:
    """Train with the preset in this process; the test accuracy and training seconds per epoch."""
    from mnistpad.data import load_dataset
    from mnistpad.train import EpochEnd, Finished, model_inputs, preset, train

    name, _ = MARKS[kind]
    config = preset(name, seed=seed)
    data = load_dataset()
    tests = model_inputs(data, config.deskew).test_images  # deskewed once, as train() does
    epochs, scoring = [], 0.0
    for event in train(data, config):
        if isinstance(event, EpochEnd):
            start = time.perf_counter()
            accuracy = event.model.accuracy(tests, data.test_labels)
            epochs.append((event.stats.seconds - scoring, accuracy))
            scoring += time.perf_counter() - start
        elif isinstance(event, Finished):
            break
    return {"epochs": epochs}


def torch_run(kind: str, seed: int) -> dict:
    """The same run in PyTorch: same initial weights, batches, optimiser, schedule and policy."""
    import torch
    from network_speed import torch_network

    from mnistpad.data import load_dataset
    from mnistpad.networks import new_model
    from mnistpad.train import _alteration, _gathered, lr_factor, model_inputs, preset

    name, _ = MARKS[kind]
    config = preset(name, seed=seed)
    data = model_inputs(load_dataset(), config.deskew)
    rng = np.random.default_rng(config.seed)  # drawn in train()'s order: weights, then orders
    model = new_model(config.model, rng, 10, config.shape)
    if kind == "linear":
        net = torch.nn.Linear(784, 10)
        with torch.no_grad():
            net.weight.copy_(torch.from_numpy(model.W))
            net.bias.copy_(torch.from_numpy(model.b))
    else:
        net = torch_network(model)
    n, batch = len(data.train_labels), config.batch_size
    steps = -(-n // batch)
    total = config.epochs * steps
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    optimizer = optimizers[config.optimizer](net.parameters(), lr=config.lr)
    scale = [config.lr]  # halved on a dev plateau, as mnistpad's policy does
    loss_fn = torch.nn.CrossEntropyLoss()
    dev_x = torch.from_numpy(data.dev_images)
    test_x = torch.from_numpy(data.test_images)
    epochs, best, clock, scoring = [], -1.0, time.perf_counter(), 0.0
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(n) if config.shuffle else np.arange(n)
        alter = _alteration(config, epoch)
        step = (epoch - 1) * steps
        for images, labels in _gathered(data.train_images, data.train_labels, order, batch, alter):
            for group in optimizer.param_groups:
                group["lr"] = scale[0] * lr_factor(config.schedule, step, total)
            optimizer.zero_grad()
            loss = loss_fn(net(torch.from_numpy(images)), torch.from_numpy(labels.astype(np.int64)))
            loss.backward()
            optimizer.step()
            step += 1
        with torch.no_grad():
            dev = float((net(dev_x).argmax(1).numpy() == data.dev_labels).mean())
        if dev > best:
            best = dev
        elif config.halve_on_plateau:
            scale[0] /= 2
        seconds = time.perf_counter() - clock - scoring
        start = time.perf_counter()
        with torch.no_grad():
            accuracy = float((net(test_x).argmax(1).numpy() == data.test_labels).mean())
        scoring += time.perf_counter() - start
        epochs.append((seconds, accuracy))
    return {"epochs": epochs}


def measure(impl: str, kind: str, seed: int) -> dict:
    """One run in a fresh process with one thread."""
    env = dict(os.environ) | dict.fromkeys(
        ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1"
    )
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); import time_to_accuracy as t; "
        f"print(json.dumps(t.{impl}_run({kind!r}, {seed})))"
    )
    if impl == "torch":
        code = "import torch; torch.set_num_threads(1); " + code
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def reached(epochs: list, mark: float) -> tuple[float | None, int | None]:
    """(seconds, epoch) when the test accuracy first reached `mark`, or (None, None)."""
    for number, (seconds, accuracy) in enumerate(epochs, 1):
        if accuracy >= mark:
            return seconds, number
    return None, None


def compare(kinds: list[str], seeds: list[int]) -> list[dict]:
    rows = []
    for kind in kinds:
        name, mark = MARKS[kind]
        for seed in seeds:
            row = {"model": kind, "preset": name, "seed": seed, "mark": mark}
            for impl in ("mnistpad", "torch"):
                epochs = measure(impl, kind, seed)["epochs"]
                seconds, epoch = reached(epochs, mark)
                row[impl] = {
                    "seconds_to_mark": seconds,
                    "epoch_reached": epoch,
                    "final_test_accuracy": epochs[-1][1],
                    "seconds_all": epochs[-1][0],
                    "per_epoch": epochs,
                }
            ours, peer = row["mnistpad"]["seconds_to_mark"], row["torch"]["seconds_to_mark"]
            row["ratio"] = round(ours / peer, 2) if ours and peer else None
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print("\nTraining seconds until the test accuracy first reaches the mark (1 thread each)")
    print(
        f"{'model':6} {'preset':7} {'seed':>4} {'mark':>6} {'mnistpad s (epoch)':>19} "
        f"{'PyTorch s (epoch)':>18} {'ratio':>6} {'final test (mnistpad / PyTorch)':>32}"
    )

    def cell(side: dict) -> str:
        if side["seconds_to_mark"] is None:
            return "not reached"
        return f"{side['seconds_to_mark']:.1f} ({side['epoch_reached']})"

    for row in rows:
        ratio = f"{row['ratio']:.2f}" if row["ratio"] else "-"
        print(
            f"{row['model']:6} {row['preset']:7} {row['seed']:>4} {row['mark']:>6} "
            f"{cell(row['mnistpad']):>19} {cell(row['torch']):>18} {ratio:>6} "
            f"{row['mnistpad']['final_test_accuracy']:>15.4f} / {row['torch']['final_test_accuracy']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="linear,mlp,cnn")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = compare(args.models.split(","), [int(seed) for seed in args.seeds.split(",")])
    print(json.dumps(rows)) if args.json else print_table(rows)


if __name__ == "__main__":
    main()
