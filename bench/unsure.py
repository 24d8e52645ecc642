"""How often the unsure rule (mnistpad/unsure.py) flags digits and non-digits, per bundled model.

    .venv/bin/python bench/unsure.py [--weights DIR] [--json PATH]

For each bundled weight file the rule is fitted as the app fits it (the bundled MNIST's training
images as references, its dev set setting the threshold), then it reads:
- the 10,000 MNIST test digits (the target: at most 2% flagged);
- the non-digit drawings of bench/data/nondigits.json.gz (bench/nondigits.py), drawn through the
  real canvas and read as the window reads them (the target: at least 70% flagged), by category;
- real handwriting and the ways it differs from MNIST: the sets of bench/handwriting.py (1,797
  optdigits digits by 13 writers, 120 digits drawn on the canvas, 300 MNIST test digits in each
  style). A rule that flags real people's digits is wrong.
No timing; about five minutes on a busy 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mnistpad.blas import one_blas_thread  # noqa: E402

one_blas_thread()

import handwriting  # noqa: E402
import nondigits  # noqa: E402
import numpy as np  # noqa: E402

from mnistpad.data import load_dataset  # noqa: E402
from mnistpad.unsure import digit_test, fit  # noqa: E402

REAL_SETS = (
    "optdigits-nearest",
    "optdigits-bicubic",
    "drawn",
    "drawn-8-points",
    *handwriting.STYLES,
)


def stacked(fields: list) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, 784), found (N,) bool): a drawing with no ink found is a blank input."""
    found = np.array([field is not None for field in fields])
    blank = np.zeros(784, np.float32)
    return np.stack([blank if f is None else f for f in fields]).astype(np.float32), found


def measure(weight_file, dataset, digits, drawings, nondigit_fields, real_sets) -> dict:
    rule = fit(weight_file.model, dataset, weight_file.deskew, digits)
    row = {"test": float(rule.flagged(dataset.test_images).mean())}
    inputs, found = stacked(nondigit_fields)
    flagged = rule.flagged(inputs) | ~found  # no ink at all: nothing to read
    categories = np.array([item["category"] for item in drawings])
    row["nondigits"] = float(flagged.mean())
    row["categories"] = {
        c: float(flagged[categories == c].mean()) for c in dict.fromkeys(categories)
    }
    real = {}
    for name, (fields, _) in real_sets.items():
        inputs, found = stacked(fields)
        real[name] = float(rule.flagged(inputs[found]).sum() / len(fields))
    row["real"] = real
    counts = {name: len(fields) for name, (fields, _) in real_sets.items()}
    row["real_all"] = sum(real[n] * counts[n] for n in real) / sum(counts.values())
    optdigits = [n for n in real if n.startswith("optdigits")]
    row["optdigits"] = sum(real[n] for n in optdigits) / len(optdigits)
    return row


def show(table: dict) -> str:
    models = list(table)
    lines = ["| set | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]

    def add(name, values):
        lines.append(f"| {name} | " + " | ".join(f"{v:.1%}" for v in values) + " |")

    add("**MNIST test digits** (target <= 2%)", [table[m]["test"] for m in models])
    add("**non-digits, all** (target >= 70%)", [table[m]["nondigits"] for m in models])
    for category in table[models[0]]["categories"]:
        add(f"non-digits: {category}", [table[m]["categories"][category] for m in models])
    add("**real handwriting, all**", [table[m]["real_all"] for m in models])
    for name in table[models[0]]["real"]:
        add(f"real: {name}", [table[m]["real"][name] for m in models])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="a folder with files named as the bundled")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    parser.add_argument(
        "--seed", type=int, help="non-digits made afresh by bench/nondigits.py with this seed"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841 (the canvas needs one)
    drawings = nondigits.load() if args.seed is None else nondigits.generate(args.seed)
    nondigit_fields = nondigits.drawn_fields(drawings)
    real_sets = handwriting.make_sets(REAL_SETS)
    dataset = load_dataset()
    digits = digit_test(dataset)
    table = {
        name: measure(wf, dataset, digits, drawings, nondigit_fields, real_sets)
        for name, wf in handwriting.bundled(args.weights).items()
    }
    print(
        f"{len(drawings)} non-digit drawings; real handwriting: {sum(len(f) for f, _ in real_sets.values()):,} digits"
    )
    print(show(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
