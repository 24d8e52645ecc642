"""One prediction, step by step, on the Inside tab: the last layer's sums, the logits and softmax,
with numbers a student can check by hand, for the linear model and a bundled network."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gui_support import circle, line, shown_probabilities
from PySide6.QtCore import Qt

from mnistpad import networks
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.inside import InsidePanel
from mnistpad.steps import prediction_steps
from mnistpad.weights import default_weights, load_weights

BUNDLED = default_weights().parent


# -- the arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "mlp", "cnn"])
def test_the_steps_are_the_models_own_last_layer_and_softmax(kind):
    rng = np.random.default_rng(3)
    model = networks.new_model(kind, rng, 10)
    x = rng.uniform(0, 1, 784).astype(np.float32)
    steps = prediction_steps(model, x)
    if kind == "linear":
        assert np.array_equal(steps.features, x)
    elif kind == "mlp":  # the hidden units after ReLU
        p = model.params
        assert np.allclose(steps.features, np.maximum(p["dense1.W"] @ x + p["dense1.b"], 0))
    assert (steps.features >= 0).all()
    assert np.allclose(steps.products, steps.weights @ steps.features)
    assert np.allclose(steps.logits, model.logits(x), rtol=1e-5, atol=1e-5)
    assert steps.largest == steps.logits.max() and steps.exponentials.max() == 1.0
    assert np.allclose(steps.exponentials, np.exp(steps.logits - steps.logits.max()))
    assert np.isclose(steps.total, steps.exponentials.sum())
    assert np.allclose(steps.probabilities, model.probabilities(x), atol=1e-6)


def test_subtracting_the_largest_logit_keeps_huge_logits_finite():
    model = networks.new_model("linear", np.random.default_rng(0), 10)
    model.b[:] = np.arange(10) * 500.0  # exp(4500) overflows; exp(z - max) cannot
    steps = prediction_steps(model, np.zeros(784, dtype=np.float32))
    assert np.isfinite(steps.probabilities).all() and steps.probabilities[9] == 1.0


# -- what the window shows -----------------------------------------------------------------------


def last_digit(text: str) -> float:
    """The value of one in the last digit shown ("0.1234": 0.0001, "1.500000": 0.000001)."""
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def significant(text: str) -> int:
    return len(text.partition("e")[0].lstrip("+-").replace(".", "").lstrip("0"))


def table_texts(inside, column: int) -> list[str]:
    t = inside.steps.table
    return [t.item(row, column).text() for row in range(t.rowCount() - 2)]


def table(inside) -> dict[str, np.ndarray]:
    """The numbers of the steps table as shown, by column, and the max and sum rows."""
    t = inside.steps.table
    n = t.rowCount() - 2

    def column(c: int) -> np.ndarray:
        return np.array([float(t.item(row, c).text()) for row in range(n)])

    names = ("products", "bias", "logits", "exponentials", "probabilities")
    shown = {name: column(c) for c, name in enumerate(names)}
    shown["largest"] = float(t.item(n, 2).text())
    shown["total"] = float(t.item(n + 1, 3).text())
    return shown


def lines(inside) -> dict[str, float]:
    """The chosen class's steps, as written out, parsed back into numbers."""
    text = "\n".join(label.text() for label in inside.steps.lines)
    patterns = {
        "product": r"summed: (\S+)",
        "bias": r"plus the bias of .*, (\S+): the logit",
        "logit": r"the logit z = (\S+)",
        "largest": r"minus the largest logit, (\S+) \(",
        "shifted": r"z - max = (\S+)",
        "exp_of": r"exp\((\S+)\) =",
        "exponential": r"exp\(\S+\) = (\S+)",
        "total": r"exponentials, (\S+): the probability",
        "probability": r"the probability of .* is (\S+) \(",
    }
    return {name: float(re.search(pattern, text).group(1)) for name, pattern in patterns.items()}


def check_by_hand(window) -> None:
    """Redo the arithmetic the Inside tab shows and land on the window's own probabilities."""
    inside = window.inside
    probabilities = shown_probabilities(window)  # the bar chart beside the drawing
    shown = table(inside)
    assert np.allclose(shown["products"] + shown["bias"], shown["logits"], atol=1.5e-3)
    assert shown["largest"] == shown["logits"].max()
    exps = np.exp(shown["logits"] - shown["largest"])
    for exp, text in zip(exps, table_texts(inside, 3), strict=True):  # from the z shown: the
        assert abs(exp - float(text)) <= 1.01 * last_digit(text), text  # exp shown, or one off
    assert np.isclose(shown["exponentials"].sum(), shown["total"], rtol=1e-3)
    assert np.allclose(exps / exps.sum(), probabilities, atol=2e-3)
    assert np.allclose(shown["probabilities"], probabilities, rtol=1e-3, atol=1e-9)

    cls = inside.shown_class()
    one = lines(inside)  # one class in full: six decimals, six significant digits
    assert one["product"] + one["bias"] == pytest.approx(one["logit"], abs=2e-6)
    assert one["logit"] - one["largest"] == pytest.approx(one["shifted"], abs=2e-6)
    assert one["exp_of"] == one["shifted"]
    assert np.exp(one["shifted"]) == pytest.approx(one["exponential"], rel=1e-5)
    assert one["exponential"] / one["total"] == pytest.approx(one["probability"], rel=1e-5)
    assert one["probability"] == pytest.approx(probabilities[cls], rel=1e-5, abs=1e-9)
    assert one["total"] == shown["total"]
    # the sum to 7 significant digits, as one works it out from the logits
    steps = prediction_steps(window.session.model, window.draw.current_input)
    redone = np.exp(steps.logits - steps.logits.max()).sum()
    text = inside.steps.table.item(len(probabilities) + 1, 3).text()  # the sum row
    assert significant(text) == 7 and f"exponentials, {text}:" in inside.steps.lines[4].text()
    assert abs(float(text) - redone) <= 0.5 * last_digit(text) * (1 + 1e-9)


def open_inside(window):
    window.tabs.setCurrentWidget(window.inside_page)
    window.inside.steps.opener.setChecked(True)
    return window.inside


def test_the_linear_models_numbers_recompute_to_its_probabilities_as_one_draws(window):
    inside = open_inside(window)
    assert not inside.steps.isVisibleTo(inside)  # nothing drawn, nothing to work out
    send_stroke(window.canvas, line((0.3, 0.2), (0.7, 0.2)))  # an unsure reading: numbers vary
    assert inside.steps.isVisibleTo(inside)
    check_by_hand(window)
    first = inside.steps.lines[4].text()
    x = window.draw.current_input.reshape(-1)
    assert np.allclose(table(inside)["products"], window.session.model.W @ x, atol=6e-4)
    assert "784 pixels" in inside.steps.lines[0].text()
    send_stroke(window.canvas, line((0.7, 0.2), (0.4, 0.8)))  # drawing on: the numbers follow
    assert inside.steps.lines[4].text() != first
    check_by_hand(window)
    inside.choose(int(np.argmin(shown_probabilities(window))))  # the least likely class too
    check_by_hand(window)


@pytest.mark.parametrize("name", ["cnn.npz"])
def test_a_bundled_networks_last_layer_recomputes_to_its_probabilities(window, name):
    inside = open_inside(window)
    loaded = load_weights(BUNDLED / name)
    window.session.use_weights(loaded.model, loaded.meta, name, unsaved=False)
    send_stroke(window.canvas, circle())
    check_by_hand(window)
    hidden = loaded.model.params["dense2.W"].shape[1]
    assert f"the {hidden} last dense layer's activations" in inside.steps.lines[0].text()
    assert inside.steps.table.horizontalHeaderItem(0).text() == "w·h"


def click_cell(table, row: int, column: int, qtbot) -> None:
    rect = table.visualItemRect(table.item(row, column))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_cell_shows_its_class_on_the_pictures_and_highlights_its_step(window, qtbot):
    inside = open_inside(window)
    send_stroke(window.canvas, circle())
    steps, predicted = inside.steps, inside.shown_class()
    assert steps.table.currentRow() == predicted  # the prediction's row, to begin with
    other = (predicted + 4) % 10
    click_cell(steps.table, other, 0, qtbot)  # step 1 (weights x pixels) of another class
    assert inside.shown_class() == other and steps.table.currentRow() == other
    assert inside.tiles[other].selected and not inside.tiles[predicted].selected
    assert inside.gradient.selected and inside.evidence.selected  # template x ink = evidence
    highlighted = [bool(label.styleSheet()) for label in steps.lines]
    assert highlighted == [True, False, False, False, False]
    assert f"the weights of {other}, summed" in steps.lines[0].text()
    assert window.draw.prediction.text() == str(predicted)  # choosing a class reads nothing else

    click_cell(steps.table, other, 3, qtbot)  # exp(z - max): steps 3 and 4
    highlighted = [bool(label.styleSheet()) for label in steps.lines]
    assert highlighted == [False, False, True, True, False]
    assert not inside.evidence.selected
    qtbot.mouseClick(inside.tiles[predicted], Qt.MouseButton.LeftButton)  # a template: its row
    assert steps.table.currentRow() == predicted
    assert f"probability of {predicted} is" in steps.lines[4].text()


def test_an_mlps_first_step_frames_its_hidden_units_whose_parts_sum_to_it(qtbot):
    panel = InsidePanel()
    qtbot.addWidget(panel)
    panel.set_classes([str(index) for index in range(10)])
    model = networks.new_model("mlp", np.random.default_rng(0), 10)
    image = np.random.default_rng(1).uniform(0, 1, (28, 28)).astype(np.float32)
    panel.steps.opener.setChecked(True)
    panel.show(model, image)
    assert not any(tile.selected for tile in panel.units.tiles)
    panel.steps.chosen.emit(2, 0)  # a click on class 2's w·h
    assert panel.shown_class() == 2 and all(tile.selected for tile in panel.units.tiles)
    assert not panel.evidence.selected  # a network's evidence is gradient x input, not w·h
    p = model.params
    parts = np.maximum(p["dense1.W"] @ image.reshape(-1) + p["dense1.b"], 0) * p["dense2.W"][2]
    assert float(panel.steps.table.item(2, 0).text()) == pytest.approx(parts.sum(), abs=6e-4)
    panel.steps.chosen.emit(2, 4)
    assert not any(tile.selected for tile in panel.units.tiles)


def test_class_names_from_a_file_are_shown_as_plain_text(qtbot):
    panel = InsidePanel()
    qtbot.addWidget(panel)
    names = [f"<b>c{index}</b>" for index in range(10)]
    panel.set_classes(names)
    panel.steps.opener.setChecked(True)
    model = networks.new_model("linear", np.random.default_rng(0), 10)
    panel.show(model, np.random.default_rng(1).uniform(0, 1, (28, 28)))
    cls = panel.shown_class()
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in panel.steps.lines)
    assert f"the weights of {names[cls]}, summed" in panel.steps.lines[0].text()
    header = panel.steps.table.verticalHeaderItem(cls).text()
    assert header == names[cls]


def test_closed_the_steps_are_not_worked_out_and_frame_nothing(window, qtbot):
    window.tabs.setCurrentWidget(window.inside_page)
    inside, steps = window.inside, window.inside.steps
    send_stroke(window.canvas, circle())
    assert steps.isVisibleTo(inside) and not steps.body.isVisibleTo(inside)  # closed at first
    assert steps.steps is None
    qtbot.mouseClick(steps.opener, Qt.MouseButton.LeftButton)
    assert steps.body.isVisibleTo(inside) and steps.steps is not None
    check_by_hand(window)
    click_cell(steps.table, 2, 0, qtbot)
    assert inside.evidence.selected
    qtbot.mouseClick(steps.opener, Qt.MouseButton.LeftButton)  # closed again: no frames
    assert not steps.body.isVisibleTo(inside) and not inside.evidence.selected
    assert inside.shown_class() == 2  # the class chosen stays


def test_a_zero_bias_is_plus_zero_and_tiny_exponentials_show_their_decimals(qtbot):
    panel = InsidePanel()
    qtbot.addWidget(panel)
    panel.set_classes([str(index) for index in range(10)])
    model = networks.new_model("linear", np.random.default_rng(0), 10)
    model.b[:] = -0.0
    model.b[3] = 40.0  # every other class's exponential tiny: e-notation
    panel.steps.opener.setChecked(True)
    panel.show(model, np.zeros((28, 28), dtype=np.float32))
    bias = table_texts(panel, 1)
    assert bias.count("+0.00000") == 9 and "-0.00000" not in bias
    panel.choose(0)
    assert "plus the bias of 0, +0.000000:" in panel.steps.lines[1].text()
    table = panel.steps.table
    for row in (0, 1, 2, 4, 5, 6, 7, 8, 9):  # the exponentials and the probabilities
        for item in (table.item(row, 3), table.item(row, 4)):
            tip = item.toolTip()  # the plain decimal
            assert "e-" in item.text() and "e" not in tip and float(tip) == float(item.text())
    assert table.item(3, 3).text() == "1" and not table.item(3, 3).toolTip()
    exp_line = panel.steps.lines[3]
    assert "e-" in exp_line.text() and "e-" not in exp_line.toolTip()
