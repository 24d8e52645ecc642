"""The bundled models on real handwriting and on the ways real writing differs from MNIST's: the
sets of bench/handwriting.py (its `quick` share: the first 600 of the 1,797 real optdigits digits
in both renders, the 120 canvas drawings in both forms, the first 100 MNIST test digits in each
style), held to the table committed in assets/weights/handwriting.json.

A change to preprocessing or training that helps one style and hurts another fails here: no
bundled file may read any set more than a point worse than the committed table says. When a change
is meant to move the table, run the bench again (its README section says how) and commit the new
table with the change.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from mnistpad import preprocess, weights
from mnistpad.preprocess import ink_from_picture, mnist_style, topology
from mnistpad.weights import real_handwriting_scores

BENCH = Path(__file__).resolve().parent.parent / "bench" / "handwriting.py"
TOLERANCE = 0.01  # a point


def _bench():
    spec = importlib.util.spec_from_file_location("handwriting_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def quick_sets(qapp):
    return bench.make_sets(quick=True)


@pytest.fixture(scope="module")
def scores(quick_sets):
    return bench.table(quick_sets, bench.bundled())


def test_the_quick_sets_are_the_share_the_committed_table_was_taken_on(quick_sets):
    committed = json.loads(bench.TABLE.read_text())["quick"]
    counts = {name: len(labels) for name, (_, labels) in quick_sets.items()}
    assert counts == committed["counts"]
    assert counts["optdigits-nearest"] == 600 and counts["drawn"] == 120 and counts["bold"] == 100
    for _, labels in quick_sets.values():  # every digit is in every set
        assert set(np.unique(labels)) == set(range(10))


def test_no_bundled_model_reads_any_set_worse_than_the_committed_table(scores):
    committed = json.loads(bench.TABLE.read_text())["quick"]["accuracy"]
    print("quick handwriting table:", json.dumps(scores, indent=1))
    worse = [
        f"{name} / {model}: {value:.3f} (committed {committed[name][model]:.3f})"
        for name, row in scores.items()
        for model, value in row.items()
        if value < committed[name][model] - TOLERANCE
    ]
    assert not worse, "read worse than assets/weights/handwriting.json says: " + "; ".join(worse)
    assert set(scores) == set(committed)


def test_the_networks_read_real_and_drawn_digits_far_better_than_chance(scores):
    assert scores["drawn"]["default"] >= 0.85  # the linear model; chance is 0.1
    for name in ("mlp", "cnn"):
        assert scores["drawn"][name] >= 0.9
        assert scores["optdigits-bicubic"][name] >= 0.9  # 13 real writers, none in MNIST
    assert scores["optdigits-nearest"]["cnn"] >= scores["optdigits-nearest"]["default"]


# --- preprocessing keeps a digit's shape (issue #16, item 2) -------------------------------------


@pytest.fixture(scope="module")
def styled():
    return bench.mnist_styles(40)


def _plain(ink: np.ndarray) -> np.ndarray:
    """The ink made MNIST-style with no stroke thickened or thinned: a plain resize."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess, "MIN_STROKE_WIDTH", 0.0)
        patch.setattr(preprocess, "MAX_STROKE_WIDTH", math.inf)
        return mnist_style(ink)


def test_a_bold_bar_that_fills_its_picture_stays_one_solid_stroke():
    """A bold "1" scanned tight: a slanted bar over half of its picture, dark on white. (It used
    to be taken for light ink on dark paper, or its middle for paper: a hollow outline.)"""
    rows, cols = np.mgrid[0:64, 0:48]
    bar = np.abs((cols - 24) - 0.3 * (32 - rows)) < 15  # 30 pixels wide: 0.6 of the picture
    picture = np.where(bar, 0.0, 1.0)
    ink = ink_from_picture(picture)
    assert ink is not None
    field = mnist_style(ink)
    assert topology(field) == (1, 0)  # one piece, no hole
    middle = field[14] > 0.5
    inked = np.flatnonzero(middle)
    assert middle[inked[0] : inked[-1] + 1].all()  # solid across, not an outline
    assert 3 <= len(inked) <= 10  # and thinned towards MNIST's strokes (at most 3.6 wide)


@pytest.mark.parametrize("style", ["bold", "bold-scan", "blocky", "tight"])
def test_thick_blocky_and_cropped_digits_keep_their_strokes(styled, style):
    """Whatever is done to thick strokes breaks none and wipes none out, leaves no faint outline,
    and every digit is found in its picture."""
    for picture, label in styled[style]:
        ink = ink_from_picture(picture / 255.0)
        assert ink is not None, f"digit {label}: no ink found"
        field, plain = mnist_style(ink), _plain(ink)
        assert topology(field)[0] <= topology(plain)[0], f"digit {label}: a stroke broke"
        assert field.sum() >= 0.5 * plain.sum(), f"digit {label}: faded"


def test_digits_drawn_with_a_hairline_pen_come_out_whole(styled):
    """A pen a pixel wide on a digit 112 pixels tall: thickened, not lost or broken."""
    for picture, label in styled["thin"]:
        line = picture < 128
        ink = ink_from_picture(picture / 255.0)
        field = mnist_style(ink)
        assert topology(field)[0] == topology(line.astype(float))[0], f"digit {label}"
        assert field.sum() > 1.5 * _plain(ink).sum(), f"digit {label}: not thickened"


# --- the table as the window reads it -------------------------------------------------------------


def test_the_window_reads_each_bundled_files_score_on_real_writers_from_the_table():
    table = json.loads(bench.TABLE.read_text())["full"]["accuracy"]
    scores = real_handwriting_scores()
    assert set(scores) == {"default.npz", "mlp.npz", "cnn.npz"}
    for name, score in scores.items():
        model = name.removesuffix(".npz")
        expected = (table["optdigits-nearest"][model] + table["optdigits-bicubic"][model]) / 2
        assert score == pytest.approx(expected)
    assert max(scores, key=scores.__getitem__) != "default.npz"


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"full": {"accuracy": {"optdigits-nearest": {"cnn": "0.9"},'
        b' "optdigits-bicubic": {"cnn": "0.9"}}}}',  # texts, not numbers
        b'{"full": {"accuracy": {"optdigits-nearest": {"cnn": 1e999},'
        b' "optdigits-bicubic": {"cnn": 1}}}}',
        b'{"full": {"accuracy": {"optdigits-nearest": {"cnn": -5},'
        b' "optdigits-bicubic": {"cnn": 0}}}}',
        b'{"full": []}',
        b"[" * 100_000,  # over the size limit
        b'{"full": {"accuracy": '
        + b"[" * 30_000
        + b"]" * 30_000
        + b"}}",  # past the parser's depth
    ],
)
def test_a_damaged_handwriting_table_gives_no_scores_and_no_error(tmp_path, monkeypatch, content):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "handwriting.json").write_bytes(content)
    monkeypatch.setattr(weights, "assets_dir", lambda: tmp_path)
    assert real_handwriting_scores() == {}


def test_a_handwriting_table_that_is_a_pipe_is_not_waited_on(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    os.mkfifo(tmp_path / "weights" / "handwriting.json")  # no writer: a read would wait forever
    monkeypatch.setattr(weights, "assets_dir", lambda: tmp_path)
    assert real_handwriting_scores() == {}
