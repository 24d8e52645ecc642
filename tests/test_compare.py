"""Compare on my drawing: the model in view, every bundled model and the models the caller adds,
each read on the same drawing and shown side by side once. Real widgets and real weight files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from gui_support import shown
from PySide6.QtCore import Qt

from mnistpad.data import DIGITS
from mnistpad.gui.compare import COLOURS, MAX_READERS, CompareView
from mnistpad.networks import new_model
from mnistpad.preprocess import deskew
from mnistpad.weights import BUNDLED_MODELS, default_weights, load_weights

FOLDER = default_weights().parent
pytestmark = pytest.mark.skipif(
    not all((FOLDER / name).is_file() for name in BUNDLED_MODELS), reason="bundled files missing"
)
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")  # five other classes


def ring() -> np.ndarray:
    """A drawn zero, MNIST-style: a ring of ink in the 28x28 field."""
    y, x = np.mgrid[0:28, 0:28]
    radius = np.hypot((y - 14) / 9, (x - 14) / 6)
    return np.clip(1.6 - 6 * np.abs(radius - 1), 0, 1).astype(np.float32)


@pytest.fixture
def compare(qtbot) -> CompareView:
    return shown(qtbot, CompareView(), 360, 320)


def bundled(name: str):
    """The bundled file `name` read afresh (not the object the view keeps)."""
    return load_weights(FOLDER / name)


def legend(compare: CompareView) -> list[str]:
    """The legend's visible rows, top to bottom: each model's name, and what it reads if any."""
    rows = zip(compare.names, compare.readings, strict=True)
    return [
        f"{name.text()} reads {reading.text()}" if reading.text() else name.text()
        for name, reading in rows
        if name.isVisible()
    ]


def heights(compare: CompareView) -> list[np.ndarray]:
    """The bar sets drawn, as probabilities, in the legend's order."""
    drawn = [np.asarray(bars.opts["height"], dtype=float) / 100 for bars in compare.bars]
    return [values for values in drawn if len(values)]


def tooltip(widget) -> str:
    """A tooltip's text (dialogs.tip writes spaces as non-breaking ones)."""
    return widget.toolTip().replace("\xa0", " ")


def read(model, deskews: bool, field: np.ndarray) -> np.ndarray:
    image = field.reshape(-1)
    return model.probabilities(deskew(image) if deskews else image)


def test_the_linear_model_in_use_and_the_bundled_networks_are_shown_side_by_side(compare):
    field = ring()
    linear = bundled("default.npz")  # in use: the bundled linear model, read again
    compare.show_drawing(field, linear.model, linear.deskew, list(DIGITS), "in use")
    rows = legend(compare)
    assert len(rows) == 3 and len(heights(compare)) == 3
    assert rows[0].startswith("in use: bundled Linear reads 0 (")
    assert rows[1].startswith("bundled MLP reads ") and rows[2].startswith("bundled CNN reads ")
    expected = [read(linear.model, linear.deskew, field)]
    expected += [
        read(bundled(name).model, bundled(name).deskew, field) for name in ("mlp.npz", "cnn.npz")
    ]
    for drawn, probabilities in zip(heights(compare), expected, strict=True):
        assert np.allclose(drawn, probabilities, atol=1e-6)
    top = expected[2].argmax()
    assert rows[2].endswith(f"reads {top} ({expected[2][top]:.1%})")
    assert compare.note.isHidden()
    # three bars per class, side by side within the class's space, each in its own colour
    xs = [np.asarray(bars.opts["x"], dtype=float) for bars in compare.bars[:3]]
    width = compare.bars[0].opts["width"]
    assert np.allclose(xs[1] - xs[0], width) and np.allclose(xs[2] - xs[1], width)
    assert xs[0][0] - width / 2 > -0.5 and xs[2][0] + width / 2 < 0.5
    swatches = [swatch.styleSheet() for swatch in compare.swatches if swatch.isVisible()]
    assert len(set(swatches)) == 3 and len(set(COLOURS)) == len(COLOURS)
    assert "the bundled mlp.npz, deskewed inputs" in tooltip(compare.names[1])
    assert "<p>" not in tooltip(compare.names[1]).replace("<p>", "", 1)  # plain, once
    assert "cnn.npz" in tooltip(compare.names[2])


def test_a_model_the_caller_adds_is_read_beside_them_and_left_out_again(compare):
    field = ring()
    cnn = bundled("cnn.npz")
    run = new_model("mlp", np.random.default_rng(3), 10)
    extra = [("run 2: MLP", run, False, list(DIGITS))]
    compare.show_drawing(field, cnn.model, cnn.deskew, list(DIGITS), "in use", extra)
    rows = legend(compare)
    assert [row.split(" reads ")[0] for row in rows] == [
        "in use: bundled CNN",  # the model in view first
        "bundled Linear",
        "bundled MLP",
        "run 2: MLP",
    ]
    assert np.allclose(heights(compare)[3], read(run, False, field), atol=1e-6)
    names, bars = list(compare.names), list(compare.bars)
    compare.show_drawing(field, cnn.model, cnn.deskew, list(DIGITS), "in use")
    assert len(legend(compare)) == 3 and len(heights(compare)) == 3
    assert compare.names == names and compare.bars == bars  # the same rows and bars, reused
    assert compare.bars[0].opts["width"] > 0.25  # three bars, wider than four


def test_the_model_in_view_is_shown_once_whichever_way_it_comes_back(compare):
    field = ring()
    mlp = bundled("mlp.npz")
    extra = [("run 4: MLP", mlp.model, mlp.deskew, list(DIGITS))]  # also ticked in the runs
    compare.show_drawing(field, mlp.model, mlp.deskew, list(DIGITS), "in use", extra)
    rows = legend(compare)
    assert len(rows) == 3
    assert [row for row in rows if "MLP" in row] == [rows[0]]
    assert rows[0].startswith("in use: bundled MLP reads ")
    assert "run 4: MLP" in tooltip(compare.names[0])
    # while a run trains, the live model is another reader
    live = new_model("mlp", np.random.default_rng(0), 10)
    compare.show_drawing(field, live, True, list(DIGITS), "being trained")
    rows = legend(compare)
    assert len(rows) == 4 and rows[0].startswith("being trained: MLP reads ")
    assert np.allclose(heights(compare)[0], read(live, True, field), atol=1e-6)


def test_a_damaged_bundled_file_is_named_and_the_others_still_read(compare, tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(FOLDER, folder)
    (folder / "mlp.npz").write_bytes(b"PK\x03\x04 <b>not</b> weights")
    compare.folder = folder
    field = ring()
    run = new_model("cnn", np.random.default_rng(1), 10)
    compare.show_drawing(field, run, False, list(DIGITS), "in use")
    rows = legend(compare)
    assert [row.split(" reads ")[0] for row in rows] == [
        "in use: CNN",
        "bundled Linear",
        "bundled CNN",
    ]
    assert "Cannot read the bundled mlp.npz" in compare.note.text()
    assert compare.note.isVisible()
    assert compare.note.textFormat() == Qt.TextFormat.PlainText
    for drawn in heights(compare):
        assert drawn.sum() == pytest.approx(1, abs=1e-4)
    compare.show_drawing(field, run, False, list(DIGITS), "in use")  # named again, read once
    assert "Cannot read the bundled mlp.npz" in compare.note.text()


def test_a_model_for_other_classes_is_left_out_with_a_note(compare):
    field = ring()
    linear = bundled("default.npz")
    fashion = new_model("linear", np.random.default_rng(2), len(FASHION))
    extra = [("run 3: Fashion", fashion, False, list(FASHION))]
    compare.show_drawing(field, linear.model, linear.deskew, list(DIGITS), "in use", extra)
    assert len(legend(compare)) == 3 and len(heights(compare)) == 3
    assert not any("Fashion" in row for row in legend(compare))
    assert "other classes than those in use: run 3: Fashion" in compare.note.text()
    assert compare.note.isVisible()
    # with those classes in use, the bundled digit models are the ones left out
    compare.show_drawing(field, fashion, False, list(FASHION), "in use")
    assert legend(compare) == [legend(compare)[0]]
    top = read(fashion, False, field).argmax()
    assert legend(compare)[0].startswith(f"in use: Linear reads {top} (")  # by number, as the bars
    assert "by number" in tooltip(compare.readings[0])
    assert "the bundled default.npz, the bundled mlp.npz" in compare.note.text()


def test_no_drawing_names_the_models_and_too_many_are_left_out(compare):
    linear = bundled("default.npz")
    runs = [
        (f"run {n}", new_model("linear", np.random.default_rng(n), 10), False, list(DIGITS))
        for n in range(MAX_READERS)
    ]
    compare.show_drawing(None, linear.model, linear.deskew, list(DIGITS), "in use", runs)
    rows = legend(compare)
    assert len(rows) == MAX_READERS and heights(compare) == []
    assert rows[:3] == ["in use: bundled Linear", "bundled MLP", "bundled CNN"]
    assert "Draw a digit" in compare.note.text()
    assert "8 models at most: run 5, run 6, run 7" in compare.note.text()
    compare.show_drawing(ring(), linear.model, linear.deskew, list(DIGITS), "in use", runs)
    assert len(heights(compare)) == MAX_READERS
    width = compare.bars[0].opts["width"]
    assert width * MAX_READERS < 1  # the class's bars fit in its space


def test_in_a_narrow_pane_the_names_are_cut_short_and_the_readings_kept(compare, qtbot):
    linear = bundled("default.npz")
    compare.show_drawing(ring(), linear.model, linear.deskew, list(DIGITS), "in use")
    compare.resize(compare.minimumSizeHint().width(), 320)
    qtbot.waitUntil(lambda: compare.width() < 200)
    for name, reading in zip(compare.names, compare.readings, strict=True):
        assert reading.fontMetrics().horizontalAdvance(reading.text()) <= reading.width()
        assert name.geometry().right() < reading.geometry().left()
    name = compare.names[0]
    assert name.shown()[2]  # "in use: bundled Linear" is cut short: whole in its tooltip
    assert "in use: bundled Linear" in tooltip(name)
    assert compare.plot.width() >= compare.plot.minimumWidth() > 0
