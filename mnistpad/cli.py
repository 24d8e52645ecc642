"""The `mnistpad` command: gui (the default), train, eval and predict.

Bad input of any kind ends the command with status 2 and one line on standard error naming the
file or option and the reason. Qt is imported only to open the window, and QImage lazily to decode
image files for `predict`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from . import __version__
from .data import (
    CLASSES_FILE,
    FILES,
    DataError,
    Dataset,
    bundled_mnist_dir,
    deskewed,
    load_dataset,
)
from .files import writable_target
from .model import OutputOverflow, softmax
from .networks import KINDS, describe, parameter_count
from .pictures import PictureError, digit_picture
from .preprocess import deskew
from .train import (
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    EpochEnd,
    Finished,
    Progress,
    TrainConfig,
    preset,
    train,
)
from .unsure import UnsureRule, digit_test
from .unsure import fit as fit_unsure
from .weights import WeightFileError, default_weights, load_weights, run_meta, save_weights

# What `train --out` may never replace: a dataset's own files.
DATA_FILE_NAMES = {*FILES.values(), *(f"{name}.gz" for name in FILES.values())} | {
    CLASSES_FILE,
    "SHA256SUMS",
}


def printable(text: str) -> str:
    """Text from a file as one terminal line: control characters (newlines, escape sequences,
    direction overrides) written as escapes, so a class name cannot forge or colour output."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].endswith(".npz") and not argv[0].startswith("-"):
        argv.insert(0, "gui")  # `mnistpad WEIGHTS.npz` opens the window with them
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, DataError, WeightFileError, ConfigError) as error:
        print(f"mnistpad {args.command}: error: {printable(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mnistpad",
        description="Train digit classifiers (linear, MLP or CNN) on MNIST, watch them learn"
        " and read handwritten digits.",
    )
    parser.add_argument("--version", action="version", version=f"mnistpad {__version__}")
    parser.set_defaults(run=_gui, command="gui", weights=None, data=None)
    commands = parser.add_subparsers(title="commands", parser_class=_Parser)

    gui = commands.add_parser("gui", help="open the window (the default)")
    gui.add_argument(
        "weights", nargs="?", type=Path, help="weight file to open instead of the default"
    )
    gui.add_argument(
        "--data", type=Path, help="folder of MNIST-format IDX files to train on (default: bundled)"
    )
    gui.set_defaults(run=_gui, command="gui")

    run = commands.add_parser(
        "train",
        help="train a model and report its accuracy",
        description="Train a model and report its accuracy. Each epoch's line gives the train"
        " accuracy as a running average over the epoch (each image scored just before its own"
        " step) and dev on the 10,000 held-out images; the last line scores the kept weights on"
        " the whole training, dev and test sets.",
    )
    run.add_argument(
        "--preset", choices=sorted(PRESETS), default="fast", help="protocol (default: fast)"
    )
    run.add_argument(
        "--model", choices=list(KINDS), help="linear (the report's), mlp or cnn (default: preset's)"
    )
    run.add_argument(
        "--hidden", type=int, help="hidden units of the MLP or the CNN's dense layer (256 / 128)"
    )
    run.add_argument("--optimizer", choices=OPTIMIZERS, help="sgd, momentum (0.9) or adam")
    run.add_argument("--epochs", type=int, help="passes over the 50,000 training images")
    run.add_argument("--lr", type=float, help="step size (the peak of a schedule)")
    run.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="how the step size moves: constant, onecycle (up over 30%% of the steps, then down)"
        " or cosine (a 5%% warm-up, then down to 0)",
    )
    run.add_argument("--batch-size", type=int, help="examples per step (1: per-example SGD)")
    run.add_argument("--seed", type=int, help="seed for the initial weights and shuffling")
    run.add_argument(
        "--deskew",
        action=argparse.BooleanOptionalAction,
        help="stand digits upright and centre them before training and classifying",
    )
    run.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="train on randomly turned, scaled, shifted and thickened or thinned images",
    )
    run.add_argument(
        "--styles",
        action=argparse.BooleanOptionalAction,
        help="also train on real writing's styles: bent, stretched, slanted, bold, scanned",
    )
    run.add_argument(
        "--train-size",
        type=int,
        metavar="N",
        help="train on a random subset of N training images, 100 to 50,000, drawn by the seed"
        " (default: all); dev and test stay whole",
    )
    run.add_argument(
        "--label-noise",
        type=float,
        metavar="P",
        help="give a share P (0 to 1) of the training labels another class, drawn by the seed"
        " (default: 0)",
    )
    run.add_argument(
        "--data", type=Path, help="folder of MNIST-format IDX files (default: bundled)"
    )
    run.add_argument("--out", type=Path, help="write the trained weights to this .npz file")
    run.add_argument(
        "--json", action="store_true", help="end with one JSON line on standard output"
    )
    run.set_defaults(run=_train, command="train")

    evaluate = commands.add_parser("eval", help="dev and test accuracy of a weight file")
    evaluate.add_argument("weights", type=Path, help="weight file (.npz)")
    evaluate.add_argument(
        "--data", type=Path, help="folder of MNIST-format IDX files (default: bundled)"
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=_eval, command="eval")

    predict = commands.add_parser("predict", help="classify image files of handwritten digits")
    predict.usage = "mnistpad predict [-h] [--json] [WEIGHTS.npz] IMAGE [IMAGE ...]"
    predict.add_argument(
        "images",
        type=Path,
        nargs="+",
        metavar="IMAGE",
        help="PNG, JPEG, BMP, ... files, after a weight file (default: the bundled weights)",
    )
    predict.add_argument("--json", action="store_true", help="one JSON object per image")
    predict.set_defaults(run=_predict, command="predict")
    return parser


def _gui(args: argparse.Namespace) -> int:
    try:
        from .gui.app import run_app
    except ImportError as error:
        raise UsageError(f"the window cannot start: {error}") from None
    # A bad folder is reported here, in one line, before any window opens.
    dataset = load_dataset(args.data) if args.data is not None else None
    return run_app(weights=args.weights, dataset=dataset)


def _train(args: argparse.Namespace) -> int:
    overrides = {
        name: value
        for name, value in (
            ("model", args.model),
            ("hidden", args.hidden),
            ("optimizer", args.optimizer),
            ("epochs", args.epochs),
            ("lr", args.lr),
            ("schedule", args.schedule),
            ("batch_size", args.batch_size),
            ("seed", args.seed),
            ("deskew", args.deskew),
            ("augment", args.augment),
            ("styles", args.styles),
            ("train_size", args.train_size),
            ("label_noise", args.label_noise),
        )
        if value is not None
    }
    config = preset(args.preset, **overrides)
    if args.hidden is not None and config.model == "linear":
        raise UsageError(
            "--hidden: the linear model has no hidden units; add --model mlp or --model cnn"
        )
    if args.out is not None:
        _check_out(args.out, args.data)  # before training, not after
    dataset = load_dataset(args.data)
    if config.deskew:  # the cached deskewed copy, if there is one (train() would deskew again)
        dataset = deskewed(dataset)
    log = sys.stderr if args.json else sys.stdout
    stop = threading.Event()
    previous = signal.signal(
        signal.SIGINT, lambda *_: stop.set() if not stop.is_set() else _interrupt()
    )
    try:
        finished = _run_training(dataset, config, stop, log)
    finally:
        signal.signal(signal.SIGINT, previous)
    weights = None
    if args.out is not None:
        meta = run_meta(finished, dataset.classes, dataset.name)
        weights = str(save_weights(args.out, finished.model, meta))
    status = "stopped" if finished.stopped else "diverged" if finished.diverged else "done"
    print(
        f"{status}: kept epoch {finished.kept_epoch} of {len(finished.history)}; the kept weights"
        f" score train {finished.train_accuracy:.2%}, dev {finished.dev_accuracy:.2%}, test "
        f"{finished.test_accuracy:.2%}; {finished.seconds:.1f} s"
        + (f"; weights written to {weights}" if weights else ""),
        file=log,
    )
    if finished.diverged:
        print(f"mnistpad train: {finished.diverged}", file=sys.stderr)
    if args.json:
        result = {
            "preset": config.preset,
            "model": describe(finished.model),
            "parameters": parameter_count(finished.model),
            "epochs": len(finished.history),
            "best_epoch": finished.best_epoch,
            "kept_epoch": finished.kept_epoch,
            "train_accuracy": finished.train_accuracy,
            "dev_accuracy": finished.dev_accuracy,
            "test_accuracy": finished.test_accuracy,
            "seconds": round(finished.seconds, 3),
            "weights": weights,
            "stopped": finished.stopped,
            "diverged": finished.diverged or None,
            "config": config.as_dict(),
        }
        print(json.dumps(result))
    return 1 if finished.diverged else 130 if finished.stopped else 0


def _check_out(out: Path, data: Path | None) -> None:
    """Refuse an --out that could not be written, or that would replace the data's own files."""
    try:
        target = writable_target(out)
    except OSError as error:
        raise UsageError(f"--out {str(out)!r}: {error.strerror}") from None
    folder = data if data is not None else bundled_mnist_dir()
    own_files = {Path(os.path.realpath(folder / name)) for name in DATA_FILE_NAMES}
    if target in own_files:  # links followed on both sides
        raise UsageError(f"--out {out}: is one of the dataset's own files; choose another name")


def _interrupt() -> None:
    raise KeyboardInterrupt


def _run_training(dataset: Dataset, config: TrainConfig, stop: threading.Event, log) -> Finished:
    bar = log.isatty()
    for event in train(dataset, config, should_stop=stop.is_set):
        if isinstance(event, Progress) and bar:
            filled = round(30 * event.seen / event.total)
            print(
                f"\repoch {event.epoch:>3}/{config.epochs} [{'#' * filled}{'.' * (30 - filled)}] "
                f"loss {event.loss:.4f}  acc {event.accuracy:.2%}",
                end="",
                file=log,
                flush=True,
            )
        elif isinstance(event, EpochEnd):
            s, start = event.stats, "\r" if bar else ""
            print(
                f"{start}epoch {s.epoch:>3}/{config.epochs}  loss {s.train_loss:.4f}  "
                f"train {s.train_accuracy:.2%} (running)  dev {s.dev_accuracy:.2%}  "
                f"step {s.lr:<8.3g}  "
                f"{'best' if event.is_best else '    '}  {s.seconds:6.1f} s" + " " * 10 * bar,
                file=log,
                flush=True,
            )
        elif isinstance(event, Finished):
            if bar and (event.stopped or event.diverged):  # a progress bar may be open
                print(file=log)
            return event
    raise AssertionError("train() ended without a Finished event")


def _eval(args: argparse.Namespace) -> int:
    weight_file = load_weights(args.weights)
    model = weight_file.model
    dataset = load_dataset(args.data)
    if weight_file.classes != list(dataset.classes):
        raise UsageError(
            f"{args.weights}: made for the classes {', '.join(weight_file.classes)}; the data has"
            f" {', '.join(dataset.classes)}"
        )
    if weight_file.deskew:
        dataset = deskewed(dataset)

    def accuracy(images: np.ndarray, labels: np.ndarray) -> float:
        try:
            predicted = model.checked_logits(images).argmax(axis=1)
        except OutputOverflow as error:
            raise UsageError(f"{args.weights}: {error}") from None
        return float((predicted == labels).mean())

    result = {
        "weights": str(args.weights),
        "dev_accuracy": accuracy(dataset.dev_images, dataset.dev_labels),
        "test_accuracy": accuracy(dataset.test_images, dataset.test_labels),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.weights}: dev {result['dev_accuracy']:.2%}, test {result['test_accuracy']:.2%}"
        )
    return 0


def _predict(args: argparse.Namespace) -> int:
    first, *rest = args.images
    weights, images = (first, rest) if first.suffix == ".npz" else (default_weights(), args.images)
    if not images:
        raise UsageError(f"{first}: a weight file, but no image to classify")
    weight_file = load_weights(weights)
    failures, unsure = 0, None  # the rule is fitted once a picture is read: a bad one fails fast
    for path in images:
        try:
            field, digits = digit_picture(path)
        except PictureError as error:
            print(f"mnistpad predict: error: {printable(str(error))}", file=sys.stderr)
            failures += 1
            continue
        rule, no_rule = unsure = unsure or _unsure_rule(weight_file)
        warning = None
        if digits > 1:
            warning = f"{digits} digits side by side: the answer reads them as one digit"
            print(f"mnistpad predict: warning: {printable(str(path))}: {warning}", file=sys.stderr)
        field = plain_field = field.reshape(-1)
        if weight_file.deskew:
            field = deskew(field)
        try:
            probabilities = softmax(weight_file.model.checked_logits(field))
        except OutputOverflow as error:
            raise UsageError(f"{weights}: {error}") from None
        digit = int(probabilities.argmax())
        verdict = None if rule is None else rule.judge(plain_field)
        why = no_rule if verdict is None else verdict.why()
        if args.json:
            print(
                json.dumps(
                    {
                        "image": str(path),
                        "prediction": digit,
                        "label": weight_file.classes[digit],
                        "probabilities": [round(float(p), 6) for p in probabilities],
                        "digits_seen": digits,
                        "warning": warning,
                        "unsure": None if verdict is None else verdict.unsure,
                        "why": why,
                    }
                )
            )
        else:
            label = printable(weight_file.classes[digit])
            doubt = f" - not sure this is a digit ({why})" if verdict and verdict.unsure else ""
            print(f"{printable(str(path))}: {label} ({probabilities[digit]:.1%}){doubt}")
    return 2 if failures else 0


def _unsure_rule(weight_file) -> tuple[UnsureRule | None, str]:
    """The unsure rule for the weights, fitted on the bundled MNIST they read (a second or two;
    several for a CNN), or None and why there is none."""
    try:
        dataset = load_dataset()
    except DataError as error:
        return None, f"no data to compare with: {error}"
    if weight_file.classes != list(dataset.classes):
        return None, "made for other classes than MNIST's digits: no data to compare with"
    try:
        rule = fit_unsure(weight_file.model, dataset, weight_file.deskew, digit_test(dataset))
        return rule, ""
    except (ValueError, ArithmeticError) as error:
        return None, f"cannot tell: {error}"
