"""Training protocols: exactness of blocked per-example SGD, the presets' policies, reproducibility,
stopping and divergence. Unit tests use small synthetic data; the end-to-end runs use real MNIST."""

from __future__ import annotations

import math
import threading
from itertools import pairwise

import numpy as np
import pytest
from conftest import synthetic_dataset

from mnistpad.model import LinearModel, softmax
from mnistpad.train import (
    PRESETS,
    ConfigError,
    EpochEnd,
    Finished,
    Progress,
    Scoring,
    TrainConfig,
    _per_example_block,
    lr_factor,
    model_inputs,
    preset,
    train,
)


def run(dataset, config, should_stop=None) -> tuple[list, Finished]:
    events = list(train(dataset, config, should_stop))
    assert isinstance(events[-1], Finished)
    assert not any(isinstance(event, Finished) for event in events[:-1])
    return events[:-1], events[-1]


def reference_training(dataset, config: TrainConfig) -> tuple[LinearModel, int, list]:
    """The obvious implementation of the protocols, one example at a time, in float64; also the
    mean loss and accuracy of each epoch's examples, each just before its own update."""
    rng = np.random.default_rng(config.seed)
    model = LinearModel.glorot(rng)
    W, b = model.W.astype(np.float64), model.b.astype(np.float64)
    images, labels = dataset.train_images.astype(np.float64), dataset.train_labels
    lr, best_dev, best, best_epoch, seen = config.lr, -1.0, None, 0, []
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(labels)) if config.shuffle else np.arange(len(labels))
        losses, hits = [], []
        for t in order:
            g = softmax(W @ images[t] + b)
            losses.append(-np.log(g[labels[t]]))
            hits.append(g.argmax() == labels[t])
            g[labels[t]] -= 1
            W -= lr * np.outer(g, images[t])
            b -= lr * g
        seen.append((np.mean(losses), np.mean(hits)))
        dev = (np.argmax(dataset.dev_images @ W.T + b, axis=1) == dataset.dev_labels).mean()
        if dev > best_dev:
            best_dev, best, best_epoch = dev, (W.copy(), b.copy()), epoch
        elif config.halve_on_plateau:
            lr /= 2
    if config.keep_best:
        return LinearModel(*best), best_epoch, seen
    return LinearModel(W, b), config.epochs, seen


def test_blocked_per_example_sgd_equals_the_plain_loop_in_float64():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, size=(150, 784))
    labels = rng.integers(0, 10, size=150)
    W0, b0 = rng.normal(0, 0.05, size=(10, 784)), rng.normal(0, 0.05, size=10)
    blocked = LinearModel(W0.copy(), b0.copy())
    for start in range(0, 150, 64):  # blocks of 64, 64 and 22
        _per_example_block(
            blocked,
            images[start : start + 64],
            labels[start : start + 64],
            0.01,
            np.empty((len(labels[start : start + 64]), 10)),
        )
    W, b = W0.copy(), b0.copy()
    for x, y in zip(images, labels, strict=True):
        g = softmax(W @ x + b)
        g[y] -= 1
        W -= 0.01 * np.outer(g, x)
        b -= 0.01 * g
    np.testing.assert_allclose(blocked.W, W, rtol=0, atol=1e-13)
    np.testing.assert_allclose(blocked.b, b, rtol=0, atol=1e-13)


def test_blocked_sgd_survives_logits_beyond_exps_range():
    """A block whose corrections push logits past float32's exp range takes the stable path."""
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, size=(64, 784)).astype(np.float32)
    labels = np.zeros(64, dtype=np.int64)
    model = LinearModel(np.zeros((10, 784), np.float32), np.zeros(10, np.float32))
    with np.errstate(over="ignore", invalid="ignore"):
        _per_example_block(model, images, labels, 5.0, np.empty((64, 10), np.float32))
    assert np.isfinite(model.W).all()
    assert model.predict(images[:1])[0] == 0


@pytest.mark.parametrize("name", ["naive", "optimized"])
def test_presets_follow_the_reports_protocols(name):
    dataset = synthetic_dataset(n_train=300)
    config = preset(name, epochs=4, lr=0.002, seed=3)
    _, finished = run(dataset, config)
    expected, kept_epoch, seen = reference_training(dataset, config)
    assert finished.kept_epoch == kept_epoch
    # the training curves: each example's loss and prediction just before its own update
    np.testing.assert_allclose(
        [s.train_loss for s in finished.history], [loss for loss, _ in seen], rtol=1e-4
    )
    assert [s.train_accuracy for s in finished.history] == [a for _, a in seen]
    np.testing.assert_allclose(finished.model.W, expected.W, atol=2e-5)
    np.testing.assert_allclose(finished.model.b, expected.b, atol=2e-5)


def test_same_seed_gives_identical_bits_and_other_seeds_differ(tiny):
    for name in ("optimized", "fast"):
        _, first = run(tiny, preset(name, epochs=3, seed=7))
        _, second = run(tiny, preset(name, epochs=3, seed=7))
        _, other = run(tiny, preset(name, epochs=3, seed=8))
        assert first.model.W.tobytes() == second.model.W.tobytes()
        assert first.model.b.tobytes() == second.model.b.tobytes()
        assert [vars(s) | {"seconds": 0} for s in first.history] == [
            vars(s) | {"seconds": 0} for s in second.history
        ]
        assert not np.array_equal(first.model.W, other.model.W)


def test_augmented_training_is_reproducible_and_differs_from_plain(tiny):
    _, first = run(tiny, preset("fast", epochs=2, seed=4, augment=True))
    _, second = run(tiny, preset("fast", epochs=2, seed=4, augment=True))
    _, plain = run(tiny, preset("fast", epochs=2, seed=4))
    assert first.model.W.tobytes() == second.model.W.tobytes()
    assert not np.array_equal(first.model.W, plain.model.W)
    assert first.config.augment and first.config.as_dict()["augment"] is True  # in the file


def test_events_report_progress_within_and_at_the_end_of_each_epoch(tiny):
    events, finished = run(tiny, preset("optimized", epochs=3))
    progress = [e for e in events if isinstance(e, Progress)]
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.stats.epoch for e in ends] == [1, 2, 3]
    assert len(progress) >= 3 * 10
    for epoch in (1, 2, 3):
        seen = [p.seen for p in progress if p.epoch == epoch]
        assert seen == sorted(seen) and seen[-1] == 600 and len(set(seen)) == len(seen)
    assert all(0 <= p.accuracy <= 1 and math.isfinite(p.loss) for p in progress)
    # the model in each event is a copy, not the array the trainer keeps changing
    assert not np.array_equal(progress[0].model.W, progress[-1].model.W)
    assert finished.history == tuple(e.stats for e in ends)
    assert ends[-1].stats.train_accuracy > 0.9  # the blobs are separable


def test_keep_best_returns_the_best_dev_epoch_and_halves_the_step_on_a_plateau(tiny):
    events, finished = run(tiny, preset("fast", epochs=8, lr=3.0, batch_size=8))
    history = finished.history
    best = max(history, key=lambda s: s.dev_accuracy)
    assert finished.best_epoch == history.index(best) + 1 == finished.kept_epoch
    assert finished.dev_accuracy == pytest.approx(best.dev_accuracy)
    kept = next(
        e for e in events if isinstance(e, EpochEnd) and e.stats.epoch == finished.kept_epoch
    )
    assert np.array_equal(kept.model.W, finished.model.W)
    halved = 0
    for index in range(1, len(history)):
        previous = history[index - 1]
        improved = previous.dev_accuracy > max(
            (s.dev_accuracy for s in history[: index - 1]), default=-1
        )
        assert history[index].lr == (previous.lr if improved else previous.lr / 2)
        halved += not improved
    assert (
        0 < halved < len(history) - 1
    )  # the run had both kinds of epoch, so both rules were checked


def test_naive_keeps_the_last_epoch(tiny):
    events, finished = run(tiny, preset("naive", epochs=3))
    last = [e for e in events if isinstance(e, EpochEnd)][-1]
    assert finished.kept_epoch == 3 and np.array_equal(finished.model.W, last.model.W)
    assert all(s.lr == 0.01 for s in finished.history)


def test_stop_request_ends_training_promptly_with_the_policys_parameters(tiny):
    stop = threading.Event()
    events = []
    for event in train(tiny, preset("optimized", epochs=50), stop.is_set):
        events.append(event)
        if isinstance(event, EpochEnd) and event.stats.epoch == 2:
            stop.set()
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stopped and not finished.diverged
    assert len(finished.history) == 2
    assert sum(isinstance(e, Progress) and e.epoch == 3 for e in events) <= 1
    assert finished.kept_epoch == finished.best_epoch
    assert np.isfinite(finished.model.W).all()


def test_stop_before_any_epoch_keeps_the_current_parameters(tiny):
    events, finished = run(tiny, preset("naive"), should_stop=lambda: True)
    assert finished.stopped and finished.history == () and finished.kept_epoch == 0
    assert [type(event) for event in events] == [Scoring]  # no step, straight to the scores


def test_divergence_is_reported_and_the_kept_weights_are_finite():
    exploding = synthetic_dataset(n_train=600)
    exploding.train_images[:] *= 1e30  # inputs far outside [0, 1]: the logits overflow
    exploding.train_labels[:] = np.random.default_rng(0).integers(0, 10, 600)  # never fits
    _, finished = run(exploding, preset("fast", lr=1000.0, epochs=3))
    assert "diverged" in finished.diverged
    assert np.isfinite(finished.model.W).all() and np.isfinite(finished.model.b).all()
    assert all(math.isfinite(s.train_loss) for s in finished.history)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -3}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"lr": 0.0}, "step size"),
        ({"lr": -0.1}, "step size"),
        ({"lr": math.nan}, "step size"),
        ({"lr": math.inf}, "step size"),
        ({"lr": "fast"}, "step size"),
        ({"batch_size": 0}, "batch size"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_bad_settings_are_refused_with_the_settings_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        preset("naive", **overrides)


def test_batch_larger_than_the_training_set_is_refused(tiny):
    with pytest.raises(ConfigError, match="batch size"):
        list(train(tiny, preset("fast", batch_size=601)))


def test_unknown_preset_is_refused():
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("turbo")


def test_config_round_trips_through_a_dict():
    config = preset("fast", seed=5)
    assert TrainConfig.from_dict(config.as_dict() | {"from_the_future": 1}) == config


# End to end on the bundled MNIST: the report's numbers.


def test_naive_preset_reproduces_the_reports_accuracy(mnist):
    _, finished = run(mnist, preset("naive", seed=0))
    assert finished.kept_epoch == 20
    assert abs(finished.test_accuracy - 0.9203) <= 0.006


def test_optimized_preset_reproduces_the_reports_accuracy(mnist):
    _, finished = run(mnist, preset("optimized", seed=0))
    assert finished.kept_epoch == finished.best_epoch
    assert finished.history[finished.best_epoch - 1].dev_accuracy == max(
        s.dev_accuracy for s in finished.history
    )
    assert abs(finished.test_accuracy - 0.9261) <= 0.005


def test_deskew_preset_passes_95_percent_with_the_same_linear_model(mnist):
    _, finished = run(mnist, preset("deskew", seed=0))
    assert finished.test_accuracy >= 0.95 and finished.config.deskew
    assert finished.model.W.shape == (10, 784)


def test_fast_preset_reaches_the_target_accuracy(mnist):
    _, finished = run(mnist, preset("fast", seed=0))
    assert finished.test_accuracy >= 0.924
    assert PRESETS["fast"].batch_size > 1


def test_deskewing_a_dataset_happens_once(tiny):
    once = model_inputs(tiny, True)
    assert once.deskewed and not tiny.deskewed
    assert model_inputs(once, True) is once and model_inputs(tiny, False) is tiny
    assert not np.array_equal(once.train_images, tiny.train_images)


def test_training_on_writing_styles_is_reproducible_and_deskews_what_it_altered(tiny):
    config = preset("fast", epochs=2, seed=4, styles=True, deskew=True)
    _, first = run(tiny, config)
    _, second = run(tiny, config)
    _, augmented = run(tiny, preset("fast", epochs=2, seed=4, augment=True, deskew=True))
    assert first.model.W.tobytes() == second.model.W.tobytes()
    assert not np.array_equal(first.model.W, augmented.model.W)
    assert first.config.as_dict()["styles"] is True  # in the file
    assert preset("cnn-robust").styles and preset("mlp-robust").styles
    assert not preset("cnn").styles  # the presets trained for MNIST alone are as they were


def test_one_cycle_rises_from_a_25th_to_the_peak_then_falls_to_almost_nothing():
    total = 1000
    factors = [lr_factor("onecycle", step, total) for step in range(total)]
    peak = int(0.3 * total) - 1
    assert factors[0] == pytest.approx(1 / 25)
    assert factors[peak] == pytest.approx(1.0) and max(factors) == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(1 / 25 / 1e4)
    assert all(a <= b for a, b in pairwise(factors[: peak + 1]))
    assert all(a >= b for a, b in pairwise(factors[peak:]))
    # halfway down, by the cosine: the mean of the peak and the end
    middle = peak + (total - 1 - peak) // 2
    assert factors[middle] == pytest.approx((1 + 1 / 25 / 1e4) / 2, abs=2e-3)


def test_warm_up_then_cosine_rises_for_five_percent_then_falls_to_zero():
    total = 400
    factors = [lr_factor("cosine", step, total) for step in range(total)]
    assert factors[0] == pytest.approx(1 / 20) and factors[19] == pytest.approx(1.0)
    assert all(a >= b for a, b in pairwise(factors[19:]))
    assert factors[-1] < 1e-3 and lr_factor("constant", 123, total) == 1.0


def test_a_schedule_moves_the_step_size_within_each_epoch_and_a_run_is_reproducible(tiny):
    config = preset("fast", epochs=2, schedule="onecycle", halve_on_plateau=False, lr=0.5)
    events = list(train(tiny, config))
    rates = [event.lr for event in events if isinstance(event, Progress)]
    assert min(rates) < 0.1 < 0.4 < max(rates) <= 0.5  # up, then down, inside two epochs
    assert rates.index(max(rates)) not in (0, len(rates) - 1)
    history = events[-1].history
    assert history[-1].lr == pytest.approx(0.5 / 25 / 1e4)  # the last step's
    again = list(train(tiny, config))[-1]
    assert np.array_equal(again.model.W, events[-1].model.W)
    assert events[-1].test_accuracy > 0.9
    with pytest.raises(ConfigError, match="schedule must be one of"):
        preset("fast", schedule="triangular")
