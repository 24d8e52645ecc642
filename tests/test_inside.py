"""The Inside tab: templates of the weights in use (live while training) and the evidence map."""

from __future__ import annotations

import numpy as np
from gui_support import circle, start, wait_until_done
from PySide6.QtCore import Qt

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.inside import diverging


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
    assert f"Logit of <b>{other}</b>" in inside.explanation.text()
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
