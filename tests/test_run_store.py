"""The runs folder: every kept model written at once, read back with the weight files' checks,
and nothing else in the folder trusted (names, links, pipes, floods, sizes)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mnistpad import run_store
from mnistpad.data import DIGITS
from mnistpad.networks import new_model
from mnistpad.run_store import RunStore, weights_digest
from mnistpad.weights import WeightFileError, build_meta, load_weights, save_weights


def model(seed=0, kind="linear"):
    return new_model(kind, np.random.default_rng(seed), 10)


def meta(**history):
    return build_meta(DIGITS, training={"preset": "fast"}, history=[{"epoch": 1, **history}])


def test_an_added_run_is_a_weight_file_read_back_with_its_name_curves_and_weights(tmp_path):
    store = RunStore(tmp_path / "runs")
    first = store.add(model(0), meta(dev_accuracy=0.9), "Linear · fast · 1 epoch")
    second = store.add(model(1, "mlp"), meta(dev_accuracy=0.95), "MLP", origin="/x/mine.npz")
    assert (first.number, second.number) == (1, 2) and first.path.name == "run-1.npz"
    assert load_weights(first.path).meta["run"]["name"] == "Linear · fast · 1 epoch"
    runs, problems = RunStore(tmp_path / "runs").read()
    assert problems == [] and [run.title for run in runs] == [
        "1: Linear · fast · 1 epoch",
        "2: MLP",
    ]
    assert runs[0].meta["history"][0]["dev_accuracy"] == 0.9
    assert runs[1].origin == "/x/mine.npz" and runs[1].kept_elsewhere
    assert not runs[0].kept_elsewhere and runs[0].digest == weights_digest(first.model)
    for name, value in second.model.params.items():
        np.testing.assert_array_equal(runs[1].model.params[name], value)


def test_rename_mark_saved_and_remove_are_written(tmp_path):
    store = RunStore(tmp_path)
    run = store.add(model(), meta(), "first")
    store.rename(run, "Naive, for Monday")
    store.mark_saved(run, "/home/me/naive.npz")
    (again,), _ = store.read()
    assert again.title == "1: Naive, for Monday" and again.saved_to == "/home/me/naive.npz"
    store.remove(again)
    assert store.read() == ([], []) and list(tmp_path.iterdir()) == []


def test_numbers_are_claimed_so_two_windows_never_write_the_same_file(tmp_path):
    store = RunStore(tmp_path)
    store.add(model(0), meta(), "a")
    (tmp_path / "run-2.npz").write_bytes(b"")  # claimed by another window, being written
    run = store.add(model(1), meta(), "b")
    assert run.number == 3 and (tmp_path / "run-2.npz").read_bytes() == b""


def test_a_name_from_a_file_is_one_short_line_and_any_type_falls_back(tmp_path):
    store = RunStore(tmp_path)
    for number, name in enumerate(["two\nlines\tand <b>tags</b>", "x" * 4000, 42, None], 1):
        save_weights(tmp_path / f"run-{number}.npz", model(), {**meta(), "run": {"name": name}})
    save_weights(tmp_path / "run-5.npz", model(), {**meta(), "run": ["not", "an", "object"]})
    runs, problems = store.read()
    assert problems == []
    assert runs[0].name == "two lines and <b>tags</b>"  # shown as plain text by the window
    assert len(runs[1].name) == run_store.MAX_NAME and runs[1].name.endswith("…")
    assert [run.name for run in runs[2:]] == ["Linear"] * 3
    assert all(run.origin == "" and run.saved_to == "" for run in runs[2:])


def test_damaged_foreign_linked_and_special_files_are_skipped_and_named(tmp_path):
    store = RunStore(tmp_path)
    good = store.add(model(), meta(), "good")
    (tmp_path / "run-2.npz").write_bytes(b"PK\x03\x04 not a weight file")
    os.mkfifo(tmp_path / "run-3.npz")  # a read would wait forever
    outside = tmp_path.parent / f"{tmp_path.name}-secret.npz"
    save_weights(outside, model(9), meta())
    (tmp_path / "run-4.npz").symlink_to(outside)  # a link is not followed out of the folder
    (tmp_path / "run-5.npz").mkdir()
    (tmp_path / "notes.npz").write_bytes(b"")  # other names are not read at all
    (tmp_path / "run-6.npz.tmp").write_bytes(b"")
    runs, problems = store.read()
    assert [run.number for run in runs] == [good.number]
    assert len(problems) == 1 and "run-2.npz: skipped, not a valid .npz" in problems[0]


def test_a_flooded_folder_is_listed_up_to_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(run_store, "MAX_LISTED", 50)
    store = RunStore(tmp_path)
    for index in range(60):
        (tmp_path / f"junk-{index}").write_bytes(b"")
    runs, problems = store.read()
    assert runs == [] and "more than 50 files" in problems[0]


def test_only_the_newest_runs_within_the_bounds_are_read(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    for seed in range(4):
        store.add(model(seed), meta(), f"run {seed}")
    monkeypatch.setattr(run_store, "MAX_RUNS", 3)
    runs, problems = store.read()
    assert [run.number for run in runs] == [2, 3, 4] and "run-1.npz: not listed" in problems[0]
    largest = max(run.path.stat().st_size for run in runs)  # files a little over their weights
    monkeypatch.setattr(run_store, "MAX_RUN_BYTES", 2 * largest + 100)
    runs, problems = store.read()
    assert [run.number for run in runs] == [3, 4] and len(problems) == 2


def test_a_folder_that_cannot_be_made_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WeightFileError):
        RunStore(tmp_path / "file" / "runs").add(model(), meta(), "lost")
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_a_run_file_larger_than_what_is_left_of_the_budget_is_not_even_read(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    store.add(model(0), meta(), "small")
    big = tmp_path / "run-2.npz"
    with open(big, "wb") as out:  # sparse: claims 300 MB, holds nothing
        out.truncate(300 << 20)
    runs, problems = store.read()
    assert [run.number for run in runs] == [1]
    assert problems == [f"{big}: not listed, over 256 MB of weights"]  # not "damaged": unread
