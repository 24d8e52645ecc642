"""Training protocols as one generator of progress events: no threads, no Qt, no printing.

`train(dataset, config)` yields `Progress` about twenty times an epoch, an `EpochEnd` after each
epoch, `Scoring` once no step is left, and a final `Finished` that carries the parameters the
protocol keeps and their accuracy. The CLI prints these
events; the window's worker thread forwards them as signals. `should_stop` is polled between steps.

Per-example SGD (batch size 1, the report's protocols) is computed exactly but in blocks: within a
block of K examples the step size is constant, so the logits example t sees are
    z_t = W0 x_t + b0 - lr * sum_{s<t} g_s (x_s . x_t + 1)
where W0, b0 are the parameters at the start of the block and g_s = softmax(z_s) - onehot(y_s).
Two matrix products give every W0 x_t and the K x K Gram matrix, the sequential loop touches only
K x 10 numbers, and one more product applies the block's K updates. It matches the plain
one-example-at-a-time loop to rounding error, at a fraction of its interpreter overhead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from .augment import augment
from .data import Dataset
from .model import LinearModel, cross_entropy
from .networks import DEFAULT_SHAPES, KINDS, MAX_HIDDEN, Model, ShapeError, describe, new_model
from .preprocess import deskew

BLOCK = (
    64  # examples per exact per-example SGD block (an implementation detail, not a hyperparameter)
)
PROGRESS_POINTS = 20  # Progress events per epoch
MAX_EPOCHS = 1_000
MAX_SEED = 2**31 - 1  # what a spin box can hold
MAX_LR = 1000.0
# A random subset of the training images (the playground's "training-set size"): small ones show
# overfitting, the train/dev gap on the curves. 0 takes them all.
MIN_TRAIN_SIZE, MAX_TRAIN_SIZE = 100, 50_000
OPTIMIZERS = ("sgd", "momentum", "adam")
# How the step size moves over a run, step by step (lr_factor): held, or one cycle (Smith and
# Topin, 2019: up from lr/25 over the first 30% of the steps, then down to lr/250,000, both halves
# cosine, as PyTorch's OneCycleLR), or a linear warm-up over 5% of the steps then a cosine decay
# to 0 (Loshchilov and Hutter's SGDR without restarts, as in Goyal et al.'s warm-up).
SCHEDULES = ("constant", "onecycle", "cosine")
ONECYCLE_RISE, ONECYCLE_START, ONECYCLE_END = 0.3, 25.0, 1e4  # pct_start, div, final_div
WARMUP = 0.05
MOMENTUM = 0.9  # heavy-ball momentum
ADAM_BETAS, ADAM_EPSILON = (0.9, 0.999), 1e-8  # Kingma and Ba's defaults


class ConfigError(ValueError):
    """A training setting is out of range; the message names the setting."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field can be overridden on top of a named preset."""

    preset: str = "custom"  # name of the preset this configuration started from
    model: str = "linear"  # "linear" (the report's), "mlp" or "cnn" (networks.py)
    hidden: int = 0  # hidden units of the MLP or of the CNN's dense layer; 0: 256 / 128
    optimizer: str = "sgd"  # "sgd", "momentum" (0.9) or "adam"; lr is the step size of each
    epochs: int = 20  # passes over the training set
    lr: float = 0.01  # SGD step size; with mini-batches it scales the batch's mean gradient
    batch_size: int = 1  # examples per step; 1 is the report's per-example SGD
    shuffle: bool = False  # reshuffle the training order every epoch (else: file order)
    schedule: str = "constant"  # how lr moves step by step: constant, onecycle or cosine
    keep_best: bool = False  # keep the parameters of the best-dev epoch (else: the last ones)
    halve_on_plateau: bool = (
        False  # halve the step after an epoch that does not improve dev accuracy
    )
    seed: int = 0  # seeds the initial weights, the shuffling, the subset and the label noise
    deskew: bool = False  # stand digits upright and centre them exactly (preprocess.deskew)
    augment: bool = False  # train on randomly shifted, scaled, thickened images (augment.augment)
    # Also train on the ways real writing differs from MNIST's (augment.augment with styles):
    # elastic distortions, stretched, squashed and slanted digits, bold pens, binarised scans.
    styles: bool = False
    # The playground's knobs, drawn from the seed apart from the initial weights and the order, so
    # the same seed gives the same subset and labels, and runs without them are unchanged. The dev
    # and test sets are never subsetted or noised.
    train_size: int = 0  # train on this many training images, a random subset; 0: all of them
    label_noise: float = 0.0  # share of the training labels replaced by a random other class

    def validate(self, n_train: int | None = None) -> TrainConfig:
        """Return self, or raise ConfigError naming the first bad setting."""
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        if self.train_size != 0:
            _check_int("training-set size", self.train_size, MIN_TRAIN_SIZE, MAX_TRAIN_SIZE)
            if n_train is not None and self.train_size > n_train:
                raise ConfigError(
                    f"training-set size must be at most {n_train:,}, the data's training images,"
                    f" not {self.train_size:,}"
                )
        # a batch larger than a training subset takes all of it in each step
        _check_int("batch size", self.batch_size, 1, n_train or 1_000_000)
        if isinstance(self.label_noise, bool) or not isinstance(self.label_noise, int | float):
            raise ConfigError(f"label noise must be a number, not {self.label_noise!r}")
        if not 0 <= self.label_noise <= 1:  # also false for NaN
            raise ConfigError(
                f"label noise must be a share between 0 and 1, not {str(self.label_noise)[:24]}"
            )
        _check_int("seed", self.seed, 0, MAX_SEED)
        for name in ("shuffle", "keep_best", "halve_on_plateau", "deskew", "augment", "styles"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name.replace('_', ' ')} must be true or false")
        if not isinstance(self.preset, str):
            raise ConfigError(f"preset must be a name, not {self.preset!r}")
        if self.model not in KINDS:
            raise ConfigError(f"model must be one of {', '.join(KINDS)}, not {self.model!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"schedule must be one of {', '.join(SCHEDULES)}, not {str(self.schedule)[:24]!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"
            )
        _check_int("hidden units", self.hidden, 0, MAX_HIDDEN)
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float):
            raise ConfigError(f"step size must be a number, not {self.lr!r}")
        if not 0 < self.lr <= MAX_LR:  # also false for NaN; exact for whole numbers of any size
            raise ConfigError(
                f"step size must be a positive number up to {MAX_LR:g}, not {str(self.lr)[:24]}"
            )
        return self

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def shape(self) -> dict:
        """The model's sizes, as networks.new_model takes them."""
        shape = dict(DEFAULT_SHAPES[self.model])
        if self.hidden and self.model != "linear":
            shape["hidden"] = self.hidden
        return shape

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict, ignoring unknown keys (files written by later versions)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known}).validate()


# The report's optimized policy, and mini-batch steps for the linear model and for the networks.
_OPTIMIZED = TrainConfig(shuffle=True, keep_best=True, halve_on_plateau=True)
_FAST = replace(_OPTIMIZED, batch_size=64, lr=1.0)
_NETWORK = replace(_OPTIMIZED, batch_size=64, lr=0.001, optimizer="adam")
# Large steps early, small ones late: the fewest epochs to an accuracy (the plateau rule off, as
# the schedule decides the step).
_SCHEDULED = replace(_NETWORK, schedule="onecycle", halve_on_plateau=False)
PRESETS = {
    # The report's first run: one example per step in file order, keep the last epoch.
    "naive": TrainConfig(preset="naive"),
    # The report's second run: shuffle, keep the best dev epoch, halve the step on a plateau.
    "optimized": replace(_OPTIMIZED, preset="optimized"),
    # The optimized policy with mini-batches: a good linear model in seconds.
    "fast": replace(_FAST, preset="fast"),
    # fast on deskewed inputs: past 0.95 with the same linear model (the weights remember it, so
    # drawings and test images are deskewed alike when they are used).
    "deskew": replace(_FAST, preset="deskew", deskew=True),
    # One hidden layer of 256 ReLU units (He init), Adam in one cycle, on deskewed digits: past
    # 0.985 in five epochs of batches of 128 (0.9865-0.9880 for seeds 0-2; twelve epochs at a
    # constant step took 2.5 times as long for 0.9868). Tuned for the time to 0.985
    # (bench/time_to_accuracy.py).
    "mlp": replace(
        _SCHEDULED, preset="mlp", model="mlp", epochs=5, batch_size=128, lr=0.005, deskew=True
    ),
    # Two convolutions and two dense layers, Adam in one cycle up to 0.006: past 0.990 in two
    # epochs (0.9915-0.9920 for seeds 0-2), where fifteen epochs of augmented digits at a
    # constant 0.001 took three minutes for 0.9938. Tuned for the time to 0.990.
    "cnn": replace(_SCHEDULED, preset="cnn", model="cnn", epochs=2, lr=0.006),
    # The same networks trained for the variety of real writing (augment with styles): they read
    # real people's digits and bold, blocky or stretched ones better (bench/handwriting.py), and
    # the bundled mlp.npz and cnn.npz are theirs.
    "mlp-robust": replace(
        _NETWORK, preset="mlp-robust", model="mlp", epochs=20, deskew=True, styles=True
    ),
    "cnn-robust": replace(_NETWORK, preset="cnn-robust", model="cnn", epochs=15, styles=True),
}


def preset(name: str, **overrides) -> TrainConfig:
    """The named preset with any fields replaced, validated."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return replace(PRESETS[name], **overrides).validate()


@dataclass(frozen=True)
class EpochStats:
    """One point of the per-epoch curves."""

    epoch: int  # 1-based
    # Training-set figures are taken during the pass, each example just before its own update (as
    # Keras and Lightning report them): free, where a second pass over the 50,000 images would
    # cost a third of a fast epoch. Dev figures use the parameters at the epoch's end.
    train_loss: float  # mean loss of the epoch's examples
    train_accuracy: float  # fraction of them classified right
    dev_loss: float
    dev_accuracy: float
    lr: float  # step size used during this epoch
    seconds: float  # training time since the start of the run


@dataclass(frozen=True)
class Progress:
    """Sent about twenty times an epoch."""

    epoch: int  # 1-based epoch in progress
    seen: int  # training examples processed so far in this epoch
    total: int  # training examples per epoch
    loss: float  # mean loss of those examples, each taken just before its own update
    accuracy: float  # fraction of them the model classified right just before its update
    lr: float
    seconds: float
    model: Model = field(repr=False)  # a copy of the current parameters


@dataclass(frozen=True)
class EpochEnd:
    stats: EpochStats
    best_epoch: int  # epoch with the best dev accuracy so far
    model: Model = field(repr=False)  # a copy of the parameters at this epoch's end

    @property
    def is_best(self) -> bool:
        return self.best_epoch == self.stats.epoch


@dataclass(frozen=True)
class Scoring:
    """Training has ended (complete, stopped or diverged): the kept parameters are being scored
    on the training, dev and test sets, which takes seconds for a CNN. No step follows."""

    seconds: float


@dataclass(frozen=True)
class Finished:
    """The end of a run, complete, stopped or diverged, with the parameters the policy keeps."""

    model: Model
    config: TrainConfig
    history: tuple[EpochStats, ...]
    kept_epoch: int  # epoch whose parameters are kept (0: the initial or mid-epoch parameters)
    best_epoch: int  # 0 when no epoch finished
    stopped: bool  # ended early by should_stop
    diverged: str  # why training diverged, or "" when it did not
    train_accuracy: float  # of the kept parameters
    dev_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass(frozen=True)
class Paused:
    """The run waits between two steps, paused (`Pause`): sent each time it starts waiting, so
    after a single step too. The Progress before it shows where it stands."""

    seconds: float  # training time so far, the paused time left out


Event = Progress | EpochEnd | Scoring | Finished | Paused


class _Diverged(Exception):
    pass


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:,} and {high:,}, not {value:,}")


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The step size of step `step` (0-based) of a run of `total` steps, as a share of its lr."""
    if schedule == "onecycle":  # PyTorch's OneCycleLR (cosine, two phases), step for step
        peak = float(ONECYCLE_RISE * total) - 1
        start, end = 1 / ONECYCLE_START, 1 / ONECYCLE_START / ONECYCLE_END
        if step <= peak:
            low, high, share = start, 1.0, step / peak if peak > 0 else 1.0
        else:
            low, high, share = 1.0, end, (step - peak) / max(total - 1 - peak, 1)
        return high + (low - high) / 2 * (math.cos(math.pi * min(share, 1.0)) + 1)
    if schedule == "cosine":
        warm = max(1, round(WARMUP * total))
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min((step - warm) / max(total - warm, 1), 1.0)))
    return 1.0


def train(
    dataset: Dataset,
    config: TrainConfig,
    should_stop: Callable[[], bool] | None = None,
    initial: Model | None = None,
    pause: Pause | None = None,
) -> Iterator[Event]:
    """Train a model on dataset.train_* as `config` says, yielding events as it goes: a fresh one,
    or a copy of `initial` trained further (fine-tuning). `pause`, if given, pauses the run
    between steps (a stop request must `end` it, or should_stop is not seen until a resume)."""
    config.validate(n_train=len(dataset.train_labels))
    dataset = training_selection(model_inputs(dataset, config.deskew), config)
    images, labels = dataset.train_images, dataset.train_labels
    rng = np.random.default_rng(config.seed)
    try:
        model = new_model(config.model, rng, len(dataset.classes), config.shape)
    except ShapeError as error:
        raise ConfigError(str(error)) from None
    if initial is not None:
        if initial.kind != model.kind or initial.shape != model.shape:
            raise ConfigError(
                f"the weights to start from are a {describe(initial)}; the settings ask for a"
                f" {describe(model)}"
            )
        if initial.n_classes != model.n_classes:
            raise ConfigError(
                f"the weights to start from have {initial.n_classes} classes,"
                f" the data {len(dataset.classes)}"
            )
        model = initial.copy()
    optimizer = Optimizer(config.optimizer)
    clock = _Clock(pause)
    lr, history = config.lr, []  # lr: the schedule's scale, halved on a plateau
    steps = -(-len(labels) // _unit(model, config))  # steps an epoch
    total = config.epochs * steps
    best, best_epoch, best_dev = model.copy(), 0, -1.0
    last_good, last_good_epoch = model.copy(), 0  # the latest epoch-end parameters, all finite
    stopped, diverged = False, ""
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(labels)) if config.shuffle else np.arange(len(labels))
        first, scale = (epoch - 1) * steps, lr

        def lr_at(step: int, first=first, scale=scale) -> float:  # step: within the epoch
            return scale * lr_factor(config.schedule, first + step, total)

        outcome, train_loss, train_accuracy = yield from _epoch(
            model, images, labels, order, epoch, lr_at, config, should_stop, clock, optimizer, pause
        )
        if outcome == "stopped":
            stopped = True
            break
        if outcome:
            diverged = outcome
            break
        dev_loss, dev_accuracy = _evaluate(model, dataset.dev_images, dataset.dev_labels)
        if not (math.isfinite(train_loss) and math.isfinite(dev_loss)):
            diverged = _diverged_in(epoch, "the loss is not finite")
            break
        stats = EpochStats(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            dev_loss=dev_loss,
            dev_accuracy=dev_accuracy,
            lr=lr_at(steps - 1),
            seconds=clock(),
        )
        history.append(stats)
        last_good, last_good_epoch = model.copy(), epoch
        if dev_accuracy > best_dev:
            best, best_epoch, best_dev = model.copy(), epoch, dev_accuracy
        elif config.halve_on_plateau:
            lr /= 2
        yield EpochEnd(stats, best_epoch, last_good.copy())

    if config.keep_best and best_epoch:
        kept, kept_epoch = best, best_epoch
    elif diverged:
        kept, kept_epoch = last_good, last_good_epoch
    else:  # the last parameters; stopped mid-epoch, they belong to no finished epoch
        kept, kept_epoch = model, 0 if stopped else len(history)
    yield Scoring(clock())
    with np.errstate(over="ignore", invalid="ignore"):  # finite weights may still overflow
        accuracies = [
            kept.accuracy(images, labels),
            # an epoch's end was scored on the dev set already, with these very parameters
            history[kept_epoch - 1].dev_accuracy
            if kept_epoch
            else kept.accuracy(dataset.dev_images, dataset.dev_labels),
            kept.accuracy(dataset.test_images, dataset.test_labels),
        ]
    yield Finished(
        model=kept.copy(),
        config=config,
        history=tuple(history),
        kept_epoch=kept_epoch,
        best_epoch=best_epoch,
        stopped=stopped,
        diverged=diverged,
        train_accuracy=accuracies[0],
        dev_accuracy=accuracies[1],
        test_accuracy=accuracies[2],
        seconds=clock(),
    )


def model_inputs(dataset: Dataset, deskewed: bool) -> Dataset:
    """The dataset as a model trained with (or without) deskewing sees it (deskewed once: a
    dataset that already is comes back as it is)."""
    if not deskewed or dataset.deskewed:
        return dataset
    return replace(
        dataset,
        train_images=deskew(dataset.train_images),
        dev_images=deskew(dataset.dev_images),
        test_images=deskew(dataset.test_images),
        deskewed=True,
    )


def training_selection(dataset: Dataset, config: TrainConfig) -> Dataset:
    """The training images and labels a run uses: a random subset of `config.train_size` images
    (in file order), and `config.label_noise` of their labels, round(share x size) of them chosen
    at random, replaced by another class drawn uniformly (never the true one). Both drawn from
    the seed, each from its own stream: the same seed gives the same subset at any noise, and
    the same noisy labels. The dev and test sets stay as they are."""
    if not config.train_size and not config.label_noise:
        return dataset
    rows, labels = training_choice(dataset.train_labels, len(dataset.classes), config)
    images = dataset.train_images
    if len(rows) < len(images):
        images = images[rows]
    return replace(dataset, train_images=images, train_labels=labels)


def training_choice(
    labels: np.ndarray, classes: int, config: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the training set (`labels`, of `classes` classes) a run of `config` learns
    from, in file order, and their labels as it learns them (see training_selection)."""
    rows = np.arange(len(labels))
    if config.train_size and config.train_size < len(labels):
        rng = np.random.default_rng((config.seed, 1))
        rows = np.sort(rng.choice(len(labels), size=config.train_size, replace=False))
    labels = labels[rows]  # a copy
    if config.label_noise:
        rng = np.random.default_rng((config.seed, 2))
        noisy = rng.choice(len(labels), size=round(config.label_noise * len(labels)), replace=False)
        # a shift of 1 to classes - 1 gives every other class with the same chance
        labels[noisy] = (labels[noisy] + rng.integers(1, classes, size=len(noisy))) % classes
    return rows, labels


class Pause:
    """Pause, resume and single steps of a run, asked from any thread. Between steps the trainer
    waits on a condition while paused (using no processor time) until a resume, a step (one, and
    paused again) or `end` (a stop request: it never waits again)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.paused = False
        self._steps = 0  # single steps asked for and not yet taken
        self._ended = False
        self.waited = 0.0  # seconds spent paused: not training time

    def pause(self) -> None:
        with self._changed:
            self.paused = not self._ended

    def resume(self) -> None:
        with self._changed:
            self.paused, self._steps = False, 0
            self._changed.notify_all()

    def step(self) -> None:
        with self._changed:
            if self.paused:
                self._steps += 1
                self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self.paused, self._ended = False, True
            self._changed.notify_all()

    def wait(self) -> bool:
        """Wait while paused with no step asked for; True when a single step ends the wait."""
        start = time.perf_counter()
        with self._changed:
            self._changed.wait_for(lambda: not self.paused or self._steps > 0)
            single = self.paused
            if single:
                self._steps -= 1
        self.waited += time.perf_counter() - start
        return single


class _Clock:
    """Seconds since the run started, the time spent paused left out."""

    def __init__(self, pause: Pause | None = None) -> None:
        self.start, self.pause = time.perf_counter(), pause

    def __call__(self) -> float:
        return time.perf_counter() - self.start - (self.pause.waited if self.pause else 0.0)


def _unit(model: Model, config: TrainConfig) -> int:
    """Examples per call of the step function (one step size each)."""
    per_example = model.kind == "linear" and config.optimizer == "sgd" and config.batch_size == 1
    return BLOCK if per_example else config.batch_size


def _epoch(
    model, images, labels, order, epoch, lr_at, config, should_stop, clock, optimizer, pause=None
):
    """One pass over images[order], yielding Progress (and Paused while `pause` holds it); lr_at(k)
    is the step size of the epoch's k-th step. Return (outcome, mean loss, accuracy) of the
    examples seen, where outcome is "" when the pass completes, "stopped" on a stop request, or
    the reason training diverged."""
    n = len(order)
    linear_sgd = model.kind == "linear" and config.optimizer == "sgd"  # its own exact steps
    unit = _unit(model, config)
    if linear_sgd and config.batch_size == 1:
        step = _per_example_block
    else:
        step = _minibatch_step if linear_sgd else optimizer.train_step
    single = 1 if step is _per_example_block else unit  # a single step: one example, or a batch
    segment = max(unit, -(-n // PROGRESS_POINTS // unit) * unit)  # a whole number of steps
    logits = np.empty((n, model.n_classes), dtype=np.float32)  # as each example saw them
    loss_sum = correct = seen = 0
    for chunk_x, chunk_y in _gathered(images, labels, order, segment, _alteration(config, epoch)):
        start = 0  # rows of the chunk done: a pause ends a segment early, to show its steps
        while start < len(chunk_y):
            first = unit
            if pause is not None and pause.paused:
                yield Paused(clock())
                first = single if pause.wait() else unit
            x, y = chunk_x[start:], chunk_y[start:]
            try:
                done, stopped = _train_segment(
                    model,
                    x,
                    y,
                    lambda row, seen=seen: lr_at((seen + row) // unit),
                    (first, unit),
                    step,
                    logits[seen : seen + len(y)],
                    should_stop,
                    pause,
                )
            except _Diverged as error:
                return _diverged_in(epoch, str(error)), 0.0, 0.0
            seen_logits = logits[seen : seen + done]
            with np.errstate(over="ignore", invalid="ignore"):
                loss_sum += float(cross_entropy(seen_logits, y[:done]).sum())
            if not math.isfinite(loss_sum):  # found here, not a whole (CNN) epoch later
                return _diverged_in(epoch, "the loss is not finite"), 0.0, 0.0
            correct += int((seen_logits.argmax(axis=1) == y[:done]).sum())
            seen, start = seen + done, start + done
            if seen and (done or stopped):
                yield Progress(
                    epoch=epoch,
                    seen=seen,
                    total=n,
                    loss=loss_sum / seen,
                    accuracy=correct / seen,
                    lr=lr_at(max(-(-seen // unit) - 1, 0)),
                    seconds=clock(),
                    model=model.copy(),
                )
            if stopped:
                return "stopped", 0.0, 0.0
    return "", loss_sum / n, correct / n


def _diverged_in(epoch: int, why: str) -> str:
    return f"training diverged in epoch {epoch} ({why}); lower the step size"


def _alteration(config: TrainConfig, epoch: int) -> Callable | None:
    """How the training slices of an epoch are altered, as `_gathered` takes it: (slice, k) ->
    the slice augmented (augment.augment) with the random numbers of (seed, epoch, k), so a
    run is reproducible; None without augmentation. A model that takes deskewed inputs gets its
    altered digits deskewed again, as a drawing is before it reads it."""
    if not (config.augment or config.styles):
        return None

    def alter(chunk: np.ndarray, index: int) -> np.ndarray:
        rng = np.random.default_rng((config.seed, epoch, index))
        altered = augment(chunk, rng, styles=config.styles)
        return deskew(altered) if config.deskew else altered

    return alter


def _gathered(images, labels, order, size, alter: Callable | None = None):
    """(images[rows], labels[rows]) for consecutive slices `rows` of `order`. A helper thread
    gathers each slice of images while the caller trains on the one before: the copy runs on the
    other core (numpy releases the GIL), and the steps then read contiguous rows. Measured on the
    fast preset's loop: 41 instead of 51 ms an epoch. The helper also applies `alter` (slice, k)
    to slice k, if given."""

    def gather(index: int) -> np.ndarray:
        chunk = images[order[index * size : (index + 1) * size]]
        return chunk if alter is None else alter(chunk, index)

    count = -(-len(order) // size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistpad-gather") as helper:
        pending = helper.submit(gather, 0)
        for index in range(count):
            chunk = pending.result()
            if index + 1 < count:
                pending = helper.submit(gather, index + 1)
            yield chunk, labels[order[index * size : (index + 1) * size]]


def _evaluate(model: Model, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy with one product; non-finite parameters give a non-finite loss."""
    with np.errstate(over="ignore", invalid="ignore"):
        logits = model.logits(images)
        if not np.isfinite(logits).all():
            return math.inf, 0.0
        return float(cross_entropy(logits, labels).mean()), float(
            (logits.argmax(axis=1) == labels).mean()
        )


def _train_segment(model, images, labels, lr_at, units, step, logits, should_stop, pause) -> tuple:
    """Train on the rows of images in steps of `units` (the first step's size, the others'),
    each at step size lr_at(its first row); return how many rows ran and whether a stop ended
    it. A pause ends it early too, once a step has run, so that the steps are shown."""
    start = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while start < len(labels):
            if should_stop is not None and should_stop():
                return start, True
            if start and pause is not None and pause.paused:
                return start, False
            end = start + units[bool(start)]
            # Weights that overflow show up as non-finite logits in the next step, or in the
            # epoch-end evaluation after the last one.
            step(model, images[start:end], labels[start:end], lr_at(start), logits[start:end])
            start = end
    return len(labels), False


def _minibatch_step(
    model: LinearModel, x: np.ndarray, y: np.ndarray, lr: float, z: np.ndarray
) -> None:
    """One SGD step on the batch's mean gradient; z (B, C) receives the logits before the step.

    Overflowing weights need no check here: they make the next logits non-finite, which the
    epoch-end evaluation reports as divergence, keeping the last finite weights.
    """
    np.matmul(x, model.W.T, out=z)  # (B, C)
    z += model.b
    z -= z.max(axis=1, keepdims=True)  # softmax and the loss are shift invariant per row
    g = np.exp(z)
    g /= g.sum(axis=1, keepdims=True) * z.dtype.type(len(y) / lr)  # softmax, times lr / B
    g[np.arange(len(y)), y] -= z.dtype.type(lr / len(y))  # minus onehot: dLoss/dlogits
    model.W -= g.T @ x
    model.b -= g.sum(axis=0)


def _per_example_block(
    model: LinearModel, x: np.ndarray, y: np.ndarray, lr: float, z: np.ndarray
) -> None:
    """Per-example SGD over the K rows of x in order, exactly; z (K, C) receives each example's
    logits as it saw them (shifted by a per-row constant, which the loss and argmax ignore).

    With g_s = p_s - onehot_s, the correction -lr * sum_{s<t} g_s (x_s . x_t + 1) splits in two:
    the onehot part is known before the loop and is applied to all rows in one product, so the
    loop only computes each row's softmax p_t, in the fewest and cheapest numpy calls.
    """
    step = z.dtype.type(lr)  # in the working precision, so float64 runs stay exact
    coupling = np.tril(x @ x.T + 1, -1)  # (K, K): (x_s . x_t + 1) for s < t, else 0
    coupling *= -step
    onehot = np.eye(model.n_classes, dtype=z.dtype)[y]  # (K, C)
    probs = np.empty_like(z)  # (K, C): p_t = softmax(z_t)
    dot, exp = np.dot, np.exp
    for stable in (False, True):
        np.matmul(x, model.W.T, out=z)
        z += model.b
        z -= coupling @ onehot
        z -= z.max(axis=1, keepdims=True)  # rows start <= 0; pixels >= 0 only lower them
        probs.fill(0)
        for couple, row, prob in zip(coupling, z, probs, strict=True):
            row += dot(couple, probs)  # the earlier examples' updates, seen through this one
            exp(row - row.max() if stable else row, out=prob)
            prob /= sum(prob.tolist())  # a Python sum of ten floats beats a numpy reduction
        if np.isfinite(probs).all():
            break  # the fast pass fails only if a row's logits all fall below exp's range
    else:
        raise _Diverged("the logits are not finite")
    probs -= onehot  # now the gradients g_t
    model.W -= step * (probs.T @ x)
    model.b -= step * probs.sum(axis=0)


class Optimizer:
    """Updates a model's parameters in place from its gradients: plain SGD, heavy-ball momentum
    (v = 0.9 v + g; p -= lr v) or Adam (Kingma and Ba, 2015), in the parameters' precision."""

    def __init__(self, kind: str) -> None:
        self.kind, self.steps, self.state = kind, 0, {}

    def train_step(self, model: Model, x: np.ndarray, y: np.ndarray, lr: float, z: np.ndarray):
        """One step on the batch's mean gradient; z (B, C) receives the logits before it."""
        self.update(model.params, model.train_gradients(x, y, z), lr)

    def update(self, params: dict, grads: dict, lr: float) -> None:
        self.steps += 1
        for name, param in params.items():
            grad, step = grads[name], param.dtype.type(lr)
            if self.kind == "sgd":
                param -= step * grad
            elif self.kind == "momentum":
                velocity = self.state.setdefault(name, np.zeros_like(param))
                velocity *= param.dtype.type(MOMENTUM)
                velocity += grad
                param -= step * velocity
            else:
                self._adam(name, param, grad, lr)

    def _adam(self, name: str, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        (beta1, beta2), t = ADAM_BETAS, self.steps
        mean, square = self.state.setdefault(name, (np.zeros_like(param), np.zeros_like(param)))
        mean *= beta1
        mean += (1 - beta1) * grad
        square *= beta2
        square += (1 - beta2) * grad * grad
        # the bias corrections of both moments folded into the step size
        step = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        denominator = np.sqrt(square)
        denominator += ADAM_EPSILON * math.sqrt(1 - beta2**t)
        param -= param.dtype.type(step) * mean / denominator
