"""The playground's knobs: a training subset and label noise drawn by the seed (dev and test never
touched), and a run paused, stepped one step at a time and resumed, in process and in the child."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import synthetic_dataset
from test_cli import assert_one_line_error, mnistpad

from mnistpad.train import (
    PRESETS,
    ConfigError,
    EpochEnd,
    Finished,
    Pause,
    Paused,
    Progress,
    Scoring,
    TrainConfig,
    preset,
    train,
    training_selection,
)
from mnistpad.train_process import TrainingProcess
from mnistpad.weights import load_weights

pytestmark = pytest.mark.usefixtures("through_the_data_cache")  # commands read MNIST


def test_a_training_subset_is_drawn_by_the_seed_and_dev_and_test_stay_whole(tiny):
    chosen = training_selection(tiny, TrainConfig(train_size=100, seed=3))
    assert chosen.train_images.shape == (100, 784) and chosen.train_labels.shape == (100,)
    # rows of the training set, in file order, each with its own label
    rows = [int(np.flatnonzero((tiny.train_images == image).all(axis=1))[0]) for image in
            chosen.train_images]  # fmt: skip
    assert rows == sorted(set(rows))
    assert (tiny.train_labels[rows] == chosen.train_labels).all()
    again = training_selection(tiny, TrainConfig(train_size=100, seed=3))
    assert (again.train_images == chosen.train_images).all()
    other = training_selection(tiny, TrainConfig(train_size=100, seed=4))
    assert not (other.train_images == chosen.train_images).all()
    for name in ("dev_images", "dev_labels", "test_images", "test_labels"):
        assert getattr(chosen, name) is getattr(tiny, name)
    events = train(tiny, preset("fast", train_size=100))
    assert next(e for e in events if isinstance(e, Progress)).total == 100
    # a batch larger than the subset: the whole subset in each step
    *_, finished = train(tiny, preset("mlp", epochs=2, train_size=100))  # batches of 128
    assert len(finished.history) == 2 and finished.train_accuracy > 0


def test_label_noise_gives_the_share_asked_another_class_drawn_evenly_by_the_seed():
    data = synthetic_dataset(n_train=10_000)
    noisy = training_selection(data, TrainConfig(label_noise=0.3, seed=1))
    changed = noisy.train_labels != data.train_labels
    assert changed.sum() == 3_000  # exactly the share, never the true class again
    assert noisy.train_images is data.train_images  # the images stay
    assert (data.train_labels == synthetic_dataset(n_train=10_000).train_labels).all()  # a copy
    again = training_selection(data, TrainConfig(label_noise=0.3, seed=1))
    assert (again.train_labels == noisy.train_labels).all()
    everything = training_selection(data, TrainConfig(label_noise=1.0, seed=1)).train_labels
    assert (everything != data.train_labels).all()
    shift = (everything.astype(int) - data.train_labels) % 10  # which other class, from 1 to 9
    assert np.bincount(shift, minlength=10)[0] == 0
    assert (np.abs(np.bincount(shift)[1:] / 10_000 - 1 / 9) < 0.02).all()
    # the same seed and size give the same images whatever the noise
    clean = training_selection(data, TrainConfig(train_size=500, seed=2))
    noised = training_selection(data, TrainConfig(train_size=500, label_noise=0.5, seed=2))
    assert (clean.train_images == noised.train_images).all()
    assert (clean.train_labels != noised.train_labels).sum() == 250


def test_the_presets_are_unchanged_and_take_every_clean_image(tiny):
    for config in PRESETS.values():
        assert config.train_size == 0 and config.label_noise == 0
    assert training_selection(tiny, PRESETS["naive"]) is tiny
    config = preset("fast", epochs=1)
    *_, whole = train(tiny, config)
    *_, all_of_them = train(tiny, preset("fast", epochs=1, train_size=len(tiny.train_labels)))
    assert whole.model.W.tobytes() == all_of_them.model.W.tobytes()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"train_size": 99}, "training-set size must be between 100 and 50,000, not 99"),
        ({"train_size": 50_001}, "training-set size must be between 100 and 50,000, not 50,001"),
        ({"train_size": 1_000}, "training-set size must be at most 600, the data's training"),
        ({"train_size": 2.5}, "training-set size must be a whole number, not 2.5"),
        ({"label_noise": 1.5}, "label noise must be a share between 0 and 1, not 1.5"),
        ({"label_noise": -0.1}, "label noise must be a share between 0 and 1, not -0.1"),
        ({"label_noise": float("nan")}, "label noise must be a share between 0 and 1, not nan"),
        ({"label_noise": "0.2"}, "label noise must be a number, not '0.2'"),
        ({"label_noise": True}, "label noise must be a number, not True"),
    ],
)
def test_bad_knob_settings_are_refused_with_a_message_naming_them(tiny, settings, message):
    with pytest.raises(ConfigError, match=message):
        next(train(tiny, TrainConfig(**settings)))


def test_500_real_images_overfit_and_the_train_accuracy_is_on_the_noisy_labels(mnist):
    config = preset("fast", epochs=15, halve_on_plateau=False, train_size=500, label_noise=0.2)
    *_, finished = train(mnist, config)
    last = finished.history[-1]
    assert last.train_accuracy - last.dev_accuracy > 0.1  # learnt by heart, noise and all
    used = training_selection(mnist, config)
    assert finished.train_accuracy == finished.model.accuracy(used.train_images, used.train_labels)
    clean = training_selection(mnist, replace(config, label_noise=0.0))  # the same 500 images
    assert (clean.train_images == used.train_images).all()
    assert finished.train_accuracy != finished.model.accuracy(used.train_images, clean.train_labels)
    assert len(mnist.dev_labels) == len(mnist.test_labels) == 10_000


def steps_taken(event: Progress) -> int:
    return (event.epoch - 1) * event.total + event.seen


@pytest.mark.parametrize(("name", "one_step"), [("fast", 64), ("naive", 1)])
def test_a_paused_run_waits_takes_one_step_when_asked_and_resumes_as_before(name, one_step):
    data = synthetic_dataset(n_train=640)
    config = preset(name, epochs=3)
    pause = Pause()
    events = train(data, config, pause=pause)
    first = next(events)
    assert isinstance(first, Progress)
    pause.pause()
    before = []  # the steps already under way are shown, then the run waits
    while not isinstance(event := next(events), Paused):
        before.append(event)
    assert all(isinstance(e, Progress | EpochEnd) for e in before)
    shown = ([first] + [e for e in before if isinstance(e, Progress)])[-1]
    for _ in range(3):
        pause.step()
        progress, paused = next(events), next(events)
        assert isinstance(progress, Progress) and isinstance(paused, Paused)
        assert steps_taken(progress) == steps_taken(shown) + one_step
        shown = progress
    pause.resume()
    rest = list(events)
    assert not any(isinstance(e, Paused) for e in rest) and isinstance(rest[-1], Finished)
    if name == "fast":  # the same steps, paused or not: the same weights
        *_, straight = train(data, config)
        assert rest[-1].model.W.tobytes() == straight.model.W.tobytes()


def test_the_time_paused_is_not_the_runs_and_a_stop_wakes_a_paused_run(tiny):
    pause, stop = Pause(), threading.Event()
    started = time.perf_counter()
    events = train(tiny, preset("fast", epochs=50), stop.is_set, pause=pause)
    next(events)
    pause.pause()
    while not isinstance(next(events), Paused):
        pass
    threading.Timer(0.5, lambda: (stop.set(), pause.end())).start()
    *_, scoring, finished = events  # waits until the stop
    wall = time.perf_counter() - started
    assert isinstance(scoring, Scoring) and finished.stopped
    assert pause.waited > 0.4 and finished.seconds < wall - pause.waited


def test_a_paused_child_uses_no_processor_steps_once_and_stops_when_asked():
    process = TrainingProcess(synthetic_dataset(n_train=640), preset("fast", epochs=1_000))
    events = process.events()
    assert isinstance(next(events), Progress)
    process.pause()
    last = None
    while not isinstance(event := next(events), Paused):
        last = event if isinstance(event, Progress) else last
    time.sleep(0.2)  # the helper thread's gathering of the next slice, if any, has ended
    process.is_working()
    time.sleep(0.5)
    assert not process.is_working()  # waits on a condition, no polling
    process.step()
    progress, paused = next(events), next(events)
    assert isinstance(progress, Progress) and isinstance(paused, Paused)
    if last is not None:
        assert steps_taken(progress) == steps_taken(last) + 64
    process.request_stop()
    *_, finished = events
    assert finished.stopped and process.exitcode == 0


def test_the_command_trains_on_a_noisy_subset_and_the_file_records_it(tmp_path):
    out = tmp_path / "small.npz"
    trained = mnistpad(
        "train", "--epochs", "2", "--train-size", "500", "--label-noise", "0.2", "--out", out,
        "--json",
    )  # fmt: skip
    result = json.loads(trained.stdout.strip().splitlines()[-1])
    assert result["config"]["train_size"] == 500 and result["config"]["label_noise"] == 0.2
    training = load_weights(out).meta["training"]
    assert training["train_size"] == 500 and training["label_noise"] == 0.2
    assert_one_line_error(
        mnistpad("train", "--train-size", "50", check_status=2),
        "training-set size must be between 100 and 50,000, not 50",
    )
    assert_one_line_error(
        mnistpad("train", "--label-noise", "2", check_status=2),
        "label noise must be a share between 0 and 1, not 2.0",
    )
