"""The window with every kind of model: MLP and CNN runs trained, listed and laid over each other,
the Train panel's model settings, fine-tuning a CNN, the bundled models in the File menu, and the
comparison of every model at hand on one drawing. Real widgets; small data keeps the networks
quick."""

from __future__ import annotations

import numpy as np
import pytest
from gui_support import circle, line, start, wait_until_done
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from mnistpad.data import DIGITS
from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.run_controller import SCORING_ASKED
from mnistpad.networks import new_model
from mnistpad.preprocess import deskew
from mnistpad.weights import (
    BUNDLED_MODELS,
    build_meta,
    bundled_models,
    default_weights,
    load_weights,
    real_handwriting_scores,
)

CNN_FILE = default_weights().parent / "cnn.npz"


def tooltip(widget) -> str:
    """A tooltip's text (dialogs.tip writes spaces as non-breaking ones)."""
    return widget.toolTip().replace("\xa0", " ")


def use_random_cnn(window):
    """A freshly initialised CNN as the weights in use (no training needed)."""
    model = new_model("cnn", np.random.default_rng(0), 10)
    window.session.use_weights(model, build_meta(DIGITS), "a test CNN", unsaved=False)
    return model


def test_mlp_and_cnn_runs_train_show_their_curves_and_are_named_in_the_runs_list(
    window, qtbot, tiny
):
    window.session.dataset = tiny  # 600 training images: an epoch of the CNN in a second
    start(window, qtbot, "mlp", epochs=1)
    wait_until_done(window, qtbot)
    assert window.session.model.kind == "mlp" and window.runs.in_use_run() is not None
    assert len(window.plots.running) > 0 and len(window.plots.epochs) == 1
    start(window, qtbot, "cnn", epochs=1)
    assert "Training a CNN with the cnn preset" in window.statusBar().currentMessage()
    wait_until_done(window, qtbot)
    result = window.run.worker.result
    assert window.session.model.kind == "cnn" and result.config.schedule == "onecycle"
    assert len(window.plots.running) > 0 and len(window.plots.epochs) == 1
    assert window.table.rowCount() == 1

    runs = window.runs
    texts = [runs.list.item(row).text() for row in range(runs.list.count())]
    assert texts[0].startswith("1: MLP · mlp · 1 epoch · test ")
    assert texts[1].startswith("2: CNN · cnn · 1 epoch · test ")
    assert "CNN 5x5x16-5x5x32-128-10" in tooltip(runs.list.item(1))
    assert "adam step 0.006 in one cycle" in tooltip(runs.list.item(1))
    for row in (0, 1):
        runs.list.item(row).setCheckState(Qt.CheckState.Checked)
    # the MLP run's three curves over the plots; the CNN, in use, has its curves shown already
    assert len(window.plots.compared) == 3

    info = window.info.text.text()
    assert "convolutional network (16 then 32 5x5 filters, 128 units)" in info  # plain first
    assert "parameters" in info and "CNN 5x5x16-5x5x32-128-10" in tooltip(window.info)
    assert "adam step 0.006 in one cycle" in info
    send_stroke(window.canvas, circle())  # the CNN reads the drawing
    assert window.draw.prediction.text() in DIGITS


def stop_a_cnn_run(window, qtbot):
    start(window, qtbot, "cnn", epochs=15)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=30_000)
    assert window.run.model_in_view()[0].kind == "cnn"  # the live model is shown
    assert not window.actions.bundled.menuAction().isEnabled()  # no other weights meanwhile
    if window.draw.show_compare.isChecked():
        window.show_prediction()  # as the redraw timer does
        assert legend_row(window.draw.compare, 0).startswith("live CNN, epoch 1/15: CNN reads ")
    window.panel.stop_button.click()
    qtbot.waitUntil(lambda: not window.run.training, timeout=60_000)
    assert window.run.worker.result is not None, "the stopped run was lost"
    assert window.run.worker.result.stopped and window.session.model.kind == "cnn"
    assert "Stopped" in window.panel.status.text()


def test_a_cnn_run_can_be_stopped_and_is_compared_while_it_learns(window, qtbot, tiny):
    window.session.dataset = tiny
    window.draw.show_compare.setChecked(True)
    send_stroke(window.canvas, circle())
    stop_a_cnn_run(window, qtbot)
    assert window.actions.bundled.menuAction().isEnabled()
    assert legend_row(window.draw.compare, 0).startswith("in use: CNN reads ")


def test_closing_the_window_during_a_cnn_run_on_all_of_mnist_keeps_the_run(window, qtbot):
    """The stopped child scores the kept CNN on 70,000 images (seconds) after answering the stop
    request: that answer, the Scoring event, keeps it from being ended as unresponsive."""
    start(window, qtbot, "cnn", epochs=15)
    qtbot.waitUntil(lambda: window.run.last_progress is not None, timeout=60_000)
    window.panel.stop_button.click()
    progress = window.panel.progress
    qtbot.waitUntil(lambda: progress.format() == SCORING_ASKED, timeout=30_000)
    window.dirty = True
    window._redraw()  # the periodic refresh leaves the text as it is
    assert progress.format() == SCORING_ASKED
    window.run.shutdown()  # what closing the window does first
    result = window.run.worker.result
    assert result is not None, "the stopped run was lost"
    assert result.stopped and result.test_accuracy > 0.1
    assert window.session.model.kind == "cnn" and window.runs.in_use_run() is not None


def test_the_panel_chooses_the_model_its_width_and_optimizer(window, qtbot):
    panel = window.panel
    assert panel.model.currentText() == "Linear" and panel.hidden.isHidden()
    panel.preset.setCurrentText("cnn")
    assert panel.model.currentText() == "CNN" and panel.optimizer.currentText() == "adam"
    assert not panel.hidden.isHidden() and panel.hidden.value() == 128
    config = panel.config()
    assert (config.model, config.hidden, config.optimizer, config.schedule) == (
        "cnn",
        128,
        "adam",
        "onecycle",
    )
    panel.preset.setCurrentText("mlp")
    assert panel.model.currentText() == "MLP" and panel.hidden.value() == 256

    panel.model.setCurrentText("CNN")  # another model starts from its own width
    assert panel.hidden.value() == 128
    panel.hidden.setValue(64)
    panel.optimizer.setCurrentText("momentum")
    config = panel.config()
    assert (config.model, config.hidden, config.optimizer, config.shape["hidden"]) == (
        "cnn",
        64,
        "momentum",
        64,
    )
    panel.model.setCurrentText("Linear")
    assert panel.hidden.isHidden()
    assert (panel.config().model, panel.config().hidden) == ("linear", 0)
    panel.preset.setCurrentText("deskew")
    assert panel.model.currentText() == "Linear" and panel.optimizer.currentText() == "sgd"

    for widget in (panel.model, panel.hidden, panel.optimizer):
        assert widget.toolTip()
    panel.preset.setCurrentText("mlp")
    panel.preset.setFocus()
    order = []
    for _ in range(4):
        window.focusNextChild()
        order.append(QApplication.focusWidget())
    assert order == [panel.model, panel.hidden, panel.optimizer, panel.epochs]

    panel.set_running(True)
    assert not panel.model.isEnabled() and not panel.hidden.isEnabled()
    panel.set_running(False)
    assert panel.hidden.isEnabled() and not panel.hidden.isHidden()  # an MLP has a width


def test_fine_tuning_a_cnn_on_a_few_drawings(window, qtbot, tiny, monkeypatch):
    monkeypatch.setattr("mnistpad.handwriting.MNIST_MIX", 300)  # a quick run
    window.session.dataset = tiny
    use_random_cnn(window)
    for label, stroke in [(0, circle()), (1, line((0.5, 0.12), (0.5, 0.88)))] * 3:
        send_stroke(window.canvas, stroke)
        window.label_drawing(label)
    window.fine_tuning.start()
    assert window.run.training
    config = window.run.config
    assert (config.preset, config.model, config.optimizer, config.lr) == (
        "fine-tune",
        "cnn",
        "adam",
        1e-4,
    )
    wait_until_done(window, qtbot)
    assert window.session.model.kind == "cnn"
    assert window.session.meta["training"]["preset"] == "fine-tune"
    assert window.handwriting.result.text().startswith("Fine-tuned on 6 of your drawings")


def test_a_network_of_a_shape_the_window_cannot_train_is_not_fine_tuned(window, dialogs):
    shown, _ = dialogs
    model = new_model("cnn", np.random.default_rng(0), 10, {"filters": [4, 8]})
    window.session.use_weights(model, build_meta(DIGITS), "a small CNN", unsaved=False)
    send_stroke(window.canvas, circle())
    window.label_drawing(0)
    window.fine_tuning.start()
    assert not window.run.training
    assert "CNN 5x5x4-5x5x8-128-10" in shown["warning"][-1][1]


def test_file_open_bundled_model_lists_the_bundled_files_present(window, dialogs, monkeypatch):
    shown, answers = dialogs
    menu = window.actions.bundled
    menu.aboutToShow.emit()  # as when it opens: the files present now
    present = [path for path in default_weights().parent.iterdir() if path.name in BUNDLED_MODELS]
    names = [name for name in BUNDLED_MODELS if default_weights().parent / name in present]
    texts = [act.text() for act in menu.actions()]
    assert [text.split(" · ")[0] for text in texts] == [BUNDLED_MODELS[name] for name in names]
    # Each says how it reads real writers' digits (the committed handwriting table), and the
    # best reader among them is marked, with why in its tooltip; the linear model is not it.
    scores = real_handwriting_scores()
    for name, text in zip(names, texts, strict=True):
        assert f"real handwriting {scores[name]:.1%}" in text
    best = [act for act in menu.actions() if act.text().endswith("(best)")]
    assert best and all("Linear" not in act.text() for act in best)
    assert all("real writers" in act.toolTip() and "bold pen" in act.toolTip() for act in best)
    only_default = {default_weights(): BUNDLED_MODELS["default.npz"]}
    monkeypatch.setattr("mnistpad.gui.actions.bundled_models", lambda: only_default)
    menu.aboutToShow.emit()
    assert [act.text().split(" · ")[0] for act in menu.actions()] == [BUNDLED_MODELS["default.npz"]]

    window.session.unsaved = True  # trained weights not saved: asked first, as File > Open does
    model = window.session.model
    answers["question"] = QMessageBox.StandardButton.Cancel
    menu.actions()[0].trigger()
    assert window.session.model is model and len(shown["question"]) == 1
    answers["question"] = QMessageBox.StandardButton.Discard
    menu.actions()[0].trigger()
    assert window.session.model is not model and window.session.source == "bundled default"


def test_file_open_bundled_model_opens_the_cnn(window, dialogs):
    if not CNN_FILE.is_file():
        pytest.skip("assets/weights/cnn.npz is not there yet")
    menu = window.actions.bundled
    menu.aboutToShow.emit()
    (cnn,) = [act for act in menu.actions() if act.text().startswith(BUNDLED_MODELS["cnn.npz"])]
    cnn.trigger()
    assert window.session.model.kind == "cnn" and window.session.source == "bundled cnn.npz"
    assert window.panel.model.currentText() == "CNN"  # its settings, from the file
    assert "convolutional network" in window.info.text.text()
    assert "bundled cnn.npz" in window.weights_label.text()
    send_stroke(window.canvas, line((0.5, 0.12), (0.5, 0.88)))
    assert window.draw.prediction.text() == "1"


def legend_row(compare, index: int) -> str:
    """A row of the comparison's legend as read: a model's name and what it reads."""
    return f"{compare.names[index].text()} reads {compare.readings[index].text()}"


def compared(window) -> dict[str, np.ndarray]:
    """Each model compared, by the name its legend row starts with, and the heights of its bars."""
    compare = window.draw.compare
    rows = [name.text() for name in compare.names[: len(compare.readers)]]
    bars = [np.asarray(bars.opts["height"], dtype=float) / 100 for bars in compare.bars]
    return dict(zip(rows, bars, strict=False))


def test_compare_shows_every_bundled_model_beside_the_one_in_use_each_reading_its_input(window):
    cnn = use_random_cnn(window)
    window.draw.show_compare.setChecked(True)
    compare = window.draw.compare
    assert window.draw.charts.currentWidget() is compare
    assert "Draw a digit" in compare.note.text()
    send_stroke(window.canvas, circle())
    shown = compared(window)
    assert list(shown)[:2] == ["in use: CNN", "bundled Linear"]  # then the bundled networks
    assert len(shown) == 1 + len(bundled_models())
    field = window.draw.field.reshape(-1)
    default = load_weights(default_weights())  # deskews its inputs; the CNN does not
    assert default.deskew
    linear_column = shown["bundled Linear"]
    assert np.allclose(linear_column, default.model.probabilities(deskew(field)), atol=1e-6)
    assert np.allclose(shown["in use: CNN"], cnn.probabilities(field), atol=1e-6)
    assert legend_row(compare, 0).startswith("in use: CNN reads ")
    assert "the bundled default.npz, deskewed inputs" in tooltip(compare.names[1])
    assert legend_row(compare, 1).endswith("%)") and compare.note.isHidden()
    window.draw.show_compare.setChecked(False)
    assert window.draw.charts.currentWidget() is window.chart


def test_compare_with_the_bundled_linear_model_in_use_shows_it_once(window):
    window.draw.show_compare.setChecked(True)
    send_stroke(window.canvas, circle())
    compare = window.draw.compare
    shown = compared(window)
    assert shown["in use: bundled Linear"].sum() == pytest.approx(1, abs=1e-4)
    assert "bundled Linear" not in shown
    assert legend_row(compare, 0).startswith("in use: bundled Linear reads 0 (")
    if CNN_FILE.is_file():
        assert "CNN 5x5x16-5x5x32-128-10: the bundled cnn.npz" in tooltip(compare.names[-1])
        assert shown["bundled CNN"].sum() == pytest.approx(1, abs=1e-4)


def test_compare_names_a_bundled_file_it_cannot_read_and_goes_on(window, tmp_path):
    (tmp_path / "default.npz").write_bytes(b"PK\x03\x04 <b>not</b> weights")
    compare = window.draw.compare
    compare.folder = tmp_path  # where it looks for bundled files
    use_random_cnn(window)
    window.draw.show_compare.setChecked(True)
    send_stroke(window.canvas, circle())
    shown = compared(window)
    assert list(shown) == ["in use: CNN"]
    assert shown["in use: CNN"].sum() == pytest.approx(1, abs=1e-4)
    assert "Cannot read the bundled default.npz" in compare.note.text()
    assert compare.note.textFormat() == Qt.TextFormat.PlainText
    assert compare.note.isVisible()
