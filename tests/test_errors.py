"""The Errors tab: the confusion matrix of the weights in use on the real test set, its cells'
images, and sending one to the preview."""

from __future__ import annotations

import numpy as np
from gui_support import circle

from mnistpad.gui.canvas import send_stroke
from mnistpad.model import LinearModel
from mnistpad.train import model_inputs
from mnistpad.weights import input_deskew


def open_errors(window, qtbot):
    window.tabs.setCurrentWidget(window.errors_page)
    qtbot.waitUntil(lambda: window.errors.probabilities is not None, timeout=10_000)
    return window.errors


def test_the_matrix_counts_the_test_set_as_the_weights_read_it(window, qtbot, mnist):
    errors = open_errors(window, qtbot)
    n = errors.matrix.rowCount()
    counts = np.array(
        [
            [int(errors.matrix.item(r, c).text().replace(",", "") or 0) for c in range(n)]
            for r in range(n)
        ]
    )
    assert counts.sum() == len(mnist.test_labels) == 10_000
    assert np.array_equal(counts.sum(axis=1), np.bincount(mnist.test_labels, minlength=10))
    inputs = model_inputs(mnist, input_deskew(window.session.meta)).test_images
    accuracy = window.session.model.accuracy(inputs, mnist.test_labels)
    metrics = window.session.meta["metrics"]
    assert np.trace(counts) / counts.sum() == accuracy == metrics["test_accuracy"]
    assert f"{accuracy:.2%}" in errors.summary.text()


def test_a_cell_lists_exactly_its_images_surest_first_and_one_can_be_inspected(window, qtbot):
    errors = open_errors(window, qtbot)
    errors.show_cell(4, 9)
    count = int(errors.matrix.item(4, 9).text())
    shown = [errors.gallery.item(i) for i in range(errors.gallery.count())]
    assert len(shown) == count > 0
    indices = [item.data(256) for item in shown]  # Qt.UserRole
    probabilities = errors.probabilities[indices]
    assert all(errors.labels[i] == 4 for i in indices)
    assert (probabilities.argmax(axis=1) == 9).all()
    assert list(probabilities[:, 9]) == sorted(probabilities[:, 9], reverse=True)

    errors.gallery.itemActivated.emit(shown[0])  # double-click or Enter
    assert np.array_equal(window.draw.field.reshape(-1), errors.images[indices[0]])
    assert window.draw.prediction.text() == "9"
    sure = probabilities[0, 9]
    caption = f"test image #{indices[0]}: true class 4, read as 9 ({sure:.1%})"
    assert window.draw.confidence.text().startswith(caption)
    assert caption in window.canvas.notice  # the canvas says the preview shows something else
    window.draw.show_evidence.setChecked(True)  # its evidence map, over it in the preview
    assert window.preview.overlay is not None
    assert np.allclose(
        window.inside.evidence_map().reshape(-1),
        window.session.model.W[9] * window.draw.current_input.reshape(-1),
    )
    send_stroke(window.canvas, circle())  # drawing again shows the drawing
    assert "test image" not in window.draw.confidence.text()
    assert window.canvas.notice == ""


def test_the_matrix_follows_the_weights_in_use(window, qtbot):
    errors = open_errors(window, qtbot)
    before = errors.probabilities
    session = window.session
    uniform = LinearModel(W=np.zeros_like(session.model.W), b=np.zeros_like(session.model.b))
    session.use_weights(uniform, session.meta, "uniform", unsaved=False)  # all read as class 0
    assert errors.probabilities is not before
    assert int(errors.matrix.item(0, 0).text().replace(",", "")) == 980  # MNIST's test zeros
