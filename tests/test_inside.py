"""The Inside tab: what the weights in use look at (a linear model's templates, live while
training; an MLP's hidden units; a CNN's filters and their maps) and the evidence map."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gui_support import circle, start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from mnistpad import networks
from mnistpad.data import DIGITS
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.errors import ErrorsPanel
from mnistpad.gui.inside import InsidePanel, diverging
from mnistpad.gui.inside_pictures import Heatmap, sequential
from mnistpad.gui.inside_units import PAGE
from mnistpad.weights import assets_dir

KINDS = ("linear", "mlp", "cnn")


MLP_FILE = assets_dir() / "weights" / "mlp.npz"


def tile_colour(tile, row: int, column: int) -> tuple[int, int, int]:
    colour = tile.picture.pixelColor(column, row)
    return colour.red(), colour.green(), colour.blue()


def open_inside(window):
    window.tabs.setCurrentWidget(window.inside_page)
    return window.inside


def test_templates_are_the_rows_of_w_on_one_scale_centred_on_zero(window):
    open_inside(window)
    W = window.session.model.W
    limit = float(np.abs(W).max())
    assert window.inside.template_bar.limit == limit
    for index, tile in enumerate(window.inside.tiles):
        for row, column in ((3, 3), (14, 14), (20, 9)):
            expected = diverging(W[index, row * 28 + column], limit)
            assert tile_colour(tile, row, column) == tuple(expected)
    assert tuple(diverging(0.0, 1.0)) == (247, 247, 247)  # zero is white
    assert diverging(1.0, 1.0)[0] > 150 > diverging(-1.0, 1.0)[0]  # red for, blue against


def test_templates_follow_the_model_while_it_trains(window, qtbot):
    open_inside(window)
    default_W = window.session.model.W.copy()
    start(window, qtbot, "fast", epochs=3)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    window.dirty = True
    window._redraw()
    assert window.inside.model is window.run.live_model
    assert not np.array_equal(window.inside.model.W, default_W)
    wait_until_done(window, qtbot)
    window._redraw()
    assert window.inside.model is window.session.model  # the kept weights once the run is over


def test_the_evidence_map_adds_up_to_the_logit_for_the_prediction_or_a_clicked_class(window, qtbot):
    inside, model = open_inside(window), window.session.model
    send_stroke(window.canvas, circle())
    x = window.draw.current_input.reshape(-1)
    logits = model.logits(x)
    predicted = int(logits.argmax())
    assert window.draw.prediction.text() == str(predicted)
    evidence = inside.evidence_map()
    assert np.allclose(evidence.reshape(-1), model.W[predicted] * x)
    assert np.isclose(evidence.sum() + model.b[predicted], logits[predicted], atol=1e-4)
    assert not evidence[window.draw.current_input == 0].any()  # paper gives no evidence
    assert inside.tiles[predicted].selected
    caption = inside.captions[predicted]
    assert caption.text() == f"{predicted}: {logits[predicted]:+.2f}" and caption.font().bold()
    other = (predicted + 3) % 10
    qtbot.mouseClick(inside.tiles[other], Qt.MouseButton.LeftButton)
    assert inside.shown_class() == other and inside.tiles[other].selected
    assert np.allclose(inside.evidence_map().reshape(-1), model.W[other] * x)
    assert f"Score of <b>{other}</b>" in inside.explanation.text()
    assert f"{logits[other]:+.2f}" in inside.explanation.text()
    qtbot.mouseClick(inside.tiles[other], Qt.MouseButton.LeftButton)  # again: follow the prediction
    assert inside.shown_class() == predicted


def test_the_preview_shows_the_evidence_over_the_input_when_asked(window):
    send_stroke(window.canvas, circle())
    assert window.preview.overlay is None
    window.draw.show_evidence.setChecked(True)
    overlay = window.preview.overlay
    evidence = window.inside.evidence_map()
    strongest = np.unravel_index(np.abs(evidence).argmax(), evidence.shape)
    colour = overlay.pixelColor(int(strongest[1]), int(strongest[0]))
    assert colour.alpha() == 255 and (colour.red() > colour.blue()) == (evidence[strongest] > 0)
    window.canvas.clear()
    assert window.preview.overlay is None  # nothing drawn, nothing to explain
    window.draw.show_evidence.setChecked(False)
    send_stroke(window.canvas, circle())
    assert window.preview.overlay is None


def test_the_window_shows_each_kind_of_weights_in_use(window):
    inside, session = open_inside(window), window.session
    send_stroke(window.canvas, circle())
    for kind in ("cnn", "mlp", "linear"):
        model = networks.new_model(kind, np.random.default_rng(1), 10)
        session.use_weights(model, dict(session.meta), kind, unsaved=False)
        assert inside.model is model
        x = window.draw.current_input.reshape(-1)
        cls = int(model.logits(x).argmax())
        assert window.draw.prediction.text() == str(cls) and inside.shown_class() == cls
        assert np.array_equal(inside.evidence_map().reshape(-1), model.input_gradient(x, cls) * x)
        assert inside.units.isVisibleTo(inside) == (kind != "linear")
        assert len(inside.units.map_tiles) == (16 if kind == "cnn" else 0)


# -- every kind of model, in a panel of its own ---------------------------------------------------


@pytest.fixture
def panel(qtbot):
    panel = InsidePanel()
    qtbot.addWidget(panel)
    panel.set_classes(list(DIGITS))
    return panel


def new_model(kind: str):
    return networks.new_model(kind, np.random.default_rng(0), 10)


@pytest.fixture(scope="module")
def digit(mnist) -> np.ndarray:
    return np.asarray(mnist.test_images[0], dtype=np.float32).reshape(28, 28)


def shown(widget, panel) -> bool:
    return widget.isVisibleTo(panel)


@pytest.mark.parametrize("kind", KINDS)
def test_the_evidence_is_gradient_times_input_for_every_kind(panel, digit, kind):
    model = new_model(kind)
    panel.show(model, digit)
    x = digit.reshape(-1)
    predicted = int(model.logits(x).argmax())
    assert panel.shown_class() == predicted
    for cls in (predicted, (predicted + 3) % 10):
        if cls != predicted:
            panel.choose(cls)
        evidence = panel.evidence_map()
        assert evidence.shape == (28, 28)
        assert np.array_equal(evidence.reshape(-1), model.input_gradient(x, cls) * x)
        if kind == "linear":  # the template times the ink, as it always was
            assert np.array_equal(evidence.reshape(-1), model.W[cls] * x)
        gradient = model.input_gradient(x, cls)
        limit = float(np.abs(gradient).max())
        expected = diverging(gradient.reshape(28, 28)[14, 14], limit)
        assert tile_colour(panel.gradient, 14, 14) == tuple(expected)
    assert ("Score of <b>" in panel.explanation.text()) and (
        ("first-order" in panel.explanation.text()) == (kind != "linear")
    )


def test_linear_shows_the_templates_and_no_units(panel, digit):
    panel.show(new_model("linear"), digit)
    assert len(panel.tiles) == 10 and all(tile.picture is not None for tile in panel.tiles)
    assert shown(panel.templates, panel) and not shown(panel.units, panel)
    assert not shown(panel.class_buttons, panel)  # the templates choose the class
    assert panel.gradient_title.text() == "<b>Template</b>"


def test_an_mlp_shows_the_hidden_units_that_matter_most_for_the_drawing(panel, digit):
    model, x = new_model("mlp"), digit.reshape(-1)
    panel.show(model, digit)
    units = panel.units
    assert shown(units, panel) and not shown(panel.templates, panel)
    assert shown(panel.class_buttons, panel) and panel.gradient_title.text() == "<b>Gradient</b>"
    assert len(units.tiles) == PAGE and not units.map_tiles  # 32 of the 256 at once
    p, cls = model.params, panel.shown_class()
    activation = np.maximum(p["dense1.W"] @ x + p["dense1.b"], 0)
    part = activation * p["dense2.W"][cls]
    page = units.shown_units()
    assert list(np.abs(part[page])) == sorted(np.abs(part), reverse=True)[:PAGE]
    assert units.captions[0].text() == f"#{page[0]}\n{part[page[0]]:.2f}"
    W1 = p["dense1.W"]
    limit = float(np.abs(W1).max())
    assert units.weights_bar.limit == limit
    assert tile_colour(units.tiles[0], 10, 12) == tuple(diverging(W1[page[0], 10 * 28 + 12], limit))
    # the hidden units' parts and the bias are the logit, as the explanation says
    logit = model.logits(x)[cls]
    assert np.isclose(part.sum() + p["dense2.b"][cls], logit, atol=1e-4)
    assert f"{part.sum():+.2f} in all" in panel.explanation.text()
    seen = list(page)  # Next shows the others, 32 at a time, each once
    while units.next.isEnabled():
        units.next.click()
        seen += units.shown_units()
    assert sorted(seen) == list(range(256))
    assert units.first == 256 - PAGE and units.previous.isEnabled()


def test_an_mlp_without_a_drawing_shows_the_units_with_the_strongest_output_weights(panel):
    model = new_model("mlp")
    panel.show(model, None)
    strength = np.linalg.norm(model.params["dense2.W"], axis=0)
    page = panel.units.shown_units()
    assert list(strength[page]) == sorted(strength, reverse=True)[:PAGE]
    assert panel.evidence_map() is None and panel.evidence.picture is None
    assert "Draw a digit" in panel.explanation.text()


def test_a_cnn_shows_each_filter_above_its_feature_map(panel, digit):
    model = new_model("cnn")
    panel.show(model, digit)
    units = panel.units
    assert shown(units, panel) and not shown(units.pages, panel)  # 16 filters: one page
    assert len(units.tiles) == len(units.map_tiles) == 16 == len(units.captions)
    assert [caption.text() for caption in units.captions] == [f"#{f}" for f in range(16)]
    filters, maps = model.params["conv1.W"][:, 0], model.feature_maps(digit.reshape(-1))
    for f in (0, 7, 15):
        assert units.tiles[f].picture.size().toTuple() == (5, 5)
        assert units.map_tiles[f].picture.size().toTuple() == (24, 24)
        weight_limit, map_limit = float(np.abs(filters).max()), float(maps.max())
        assert tile_colour(units.tiles[f], 2, 3) == tuple(diverging(filters[f, 2, 3], weight_limit))
        row, column = np.unravel_index(maps[f].argmax(), maps[f].shape)  # its strongest place
        colour = sequential(maps[f, row, column], map_limit)
        assert tile_colour(units.map_tiles[f], int(row), int(column)) == tuple(colour)
    panel.show(model, None)  # no drawing: filters, and no maps
    assert all(tile.picture is None for tile in units.map_tiles)
    assert all(tile.picture is not None for tile in units.tiles)


def test_class_buttons_choose_the_class_for_a_network(panel, digit, qtbot):
    model, x = new_model("cnn"), digit.reshape(-1)
    panel.show(model, digit)
    logits = model.logits(x)
    predicted, other = int(logits.argmax()), int(logits.argmin())
    buttons = panel.class_buttons.buttons
    assert buttons[predicted].isChecked() and buttons[predicted].font().bold()
    assert buttons[other].text() == f"{other}: {logits[other]:+.2f}"
    with qtbot.waitSignal(panel.class_chosen) as chosen:
        buttons[other].click()
    assert chosen.args == [other] and panel.shown_class() == other
    assert buttons[other].isChecked() and not buttons[predicted].isChecked()
    assert np.array_equal(panel.evidence_map().reshape(-1), model.input_gradient(x, other) * x)
    buttons[other].click()  # again: follow the prediction
    assert panel.shown_class() == predicted and buttons[predicted].isChecked()


def test_switching_kinds_rebuilds_the_view_and_no_model_shows_nothing(panel, digit):
    for kind in ("linear", "cnn", "mlp", "cnn", "linear", None, "mlp"):
        if kind is None:
            panel.show(None, None)
            assert panel.evidence_map() is None and panel.explanation.text() == ""
            assert not shown(panel.pair, panel) and not shown(panel.units, panel)
            assert not shown(panel.templates, panel) and "No weights" in panel.heading.text()
            continue
        model = new_model(kind)
        panel.show(model, digit)
        x = digit.reshape(-1)
        assert np.array_equal(
            panel.evidence_map().reshape(-1), model.input_gradient(x, panel.shown_class()) * x
        )
        assert shown(panel.templates, panel) == (kind == "linear") != shown(panel.units, panel)
        assert shown(panel.pair, panel)
        if kind == "cnn":
            assert len(panel.units.tiles) == len(panel.units.map_tiles) == 16
            assert "16 5x5" in panel.heading.text()
        if kind == "mlp":
            assert len(panel.units.tiles) == PAGE and not panel.units.map_tiles
            assert len(panel.units.shown_units()) == PAGE and shown(panel.units.pages, panel)
            assert "256 units" in panel.heading.text()
        if kind == "linear":
            assert "Templates" in panel.heading.text()
            assert panel.tiles[panel.shown_class()].selected
    tiles = panel.units.findChildren(Heatmap)
    assert sum(not tile.isHidden() for tile in tiles) == PAGE  # the CNN's filters and maps went


@pytest.mark.parametrize("kind", ("mlp", "cnn"))
def test_a_blank_input_gives_finite_evidence_of_the_same_shape(panel, kind):
    panel.show(new_model(kind), np.zeros((28, 28), dtype=np.float32))
    evidence = panel.evidence_map()
    assert evidence.shape == (28, 28) and np.isfinite(evidence).all() and not evidence.any()
    assert panel.evidence.picture is not None and panel.gradient.picture is not None
    assert "Score of" in panel.explanation.text()


def test_class_names_from_a_file_stay_text(panel, digit):
    names = ["<img src=/dev/zero>", "a&b", *DIGITS[2:]]
    panel.set_classes(names)
    model = new_model("mlp")
    panel.show(model, digit)
    panel.choose(0)
    assert "<img" not in panel.explanation.text() and "&lt;img" in panel.explanation.text()
    assert panel.class_buttons.buttons[1].text().startswith("a&&b: ")  # "&b" is no shortcut
    assert panel.units.captions[0].textFormat() == Qt.TextFormat.PlainText


# -- the Errors tab with a CNN (here rather than in test_errors.py, which others are editing) -----


def test_the_errors_tab_classifies_with_a_cnn_in_a_thread_and_shows_only_the_newest(qtbot, mnist):
    panel = ErrorsPanel()
    qtbot.addWidget(panel)
    inputs, labels = mnist.test_images[:300], mnist.test_labels[:300]
    cnn = new_model("cnn")
    panel.set_results(cnn, inputs, inputs, labels, list(DIGITS))
    assert panel.probabilities is None and panel.summary.text().startswith("Classifying the 300")
    qtbot.waitUntil(lambda: panel.probabilities is not None, timeout=30_000)
    assert np.allclose(panel.probabilities, cnn.probabilities(inputs), atol=1e-6)
    assert sum(
        int(panel.matrix.item(r, c).text() or 0) for r in range(10) for c in range(10)
    ) == len(labels)

    panel.set_results(cnn, inputs, inputs, labels, list(DIGITS))  # outdated by the next weights
    linear = new_model("linear")
    panel.set_results(linear, inputs, inputs, labels, list(DIGITS))  # at once
    for thread in threading.enumerate():
        if thread.name == "mnistpad-errors":
            thread.join(30)
    qtbot.wait(50)  # the CNN's results arrive, and are not shown
    assert np.allclose(panel.probabilities, linear.probabilities(inputs))


def test_at_1024x768_the_bundled_mlps_unit_captions_are_whole_in_one_font(window, qtbot):
    window.resize(1024, 768)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 768)
    assert window.files.open_weights(MLP_FILE)
    inside = open_inside(window)
    send_stroke(window.canvas, circle())
    units = inside.units
    for zoom in (1.0, 1.5):  # 100%, and zoomed in: the tab gets no wider than the window
        window.present.set_zoom(zoom)
        qtbot.wait(10)  # the captions laid out, and fitted once they are
        captions = [caption for caption in units.captions if caption.isVisible()]
        assert len(captions) == PAGE and captions[0].text().count("\n") == 1
        assert len({caption.font().toString() for caption in captions}) == 1
        for caption in captions:
            room = caption.contentsRect().width()
            metrics = QFontMetrics(caption.font())
            for line in caption.text().split("\n"):
                assert metrics.horizontalAdvance(line) <= room, (zoom, line, room)
    window.present.reset_zoom()
