"""The Errors tab's per-class figures (recall and precision beside the confusion matrix) and its
browser of each class's training images."""

from __future__ import annotations

import numpy as np
from gui_support import line
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.errors_classes import ICON, PAGE, RELABELLED, per_class, share
from mnistpad.train import TrainConfig, training_choice, training_selection
from mnistpad.weights import input_deskew, load_weights, save_weights


def open_errors(window, qtbot):
    window.tabs.setCurrentWidget(window.errors_page)
    qtbot.waitUntil(lambda: window.errors.probabilities is not None, timeout=10_000)
    return window.errors


def test_per_class_figures_of_a_known_matrix():
    counts = np.array([[8, 2, 0], [1, 3, 0], [1, 0, 0]])  # nothing read as class 2
    images, predicted, recall, precision = per_class(counts)
    assert list(images) == [10, 4, 1] and list(predicted) == [10, 5, 0]
    assert list(recall) == [0.8, 0.75, 0.0]
    assert precision[:2].tolist() == [0.8, 0.6] and np.isnan(precision[2])
    assert share(precision[2]) == "-" and share(0.75) == "75.0"


def test_the_figures_are_the_models_own_on_the_test_set(window, qtbot, mnist):
    errors = open_errors(window, qtbot)
    inputs = window.session.test_inputs(input_deskew(window.session.meta))  # deskewed once
    predicted = window.session.model.predict(inputs)
    labels = mnist.test_labels
    table = errors.per_class
    assert table.columnCount() == 10
    for c in range(10):
        mine = labels == c
        recall = (predicted[mine] == c).mean()
        precision = (labels[predicted == c] == c).mean()
        assert table.item(0, c).text() == str(mine.sum())
        assert table.item(1, c).text() == f"{100 * recall:.1f}"
        assert table.item(2, c).text() == f"{100 * precision:.1f}"
        right = int((predicted[mine] == c).sum())
        tooltip = table.item(1, c).toolTip().replace("\xa0", " ")  # tip() keeps its spaces
        assert f"{right:,} of the {int(mine.sum()):,} test images of {c} read right" in tooltip


def test_the_browser_pages_through_the_training_images_of_the_chosen_class(window, qtbot, mnist):
    errors = open_errors(window, qtbot)
    browser = errors.browser
    table = errors.per_class
    rect = table.visualItemRect(table.item(1, 7))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert errors.lower.currentWidget() is browser and browser.choice.currentText() == "7"
    sevens = np.flatnonzero(mnist.train_labels == 7)
    first = browser.shown_indices()
    assert browser.gallery.count() == len(first) == PAGE
    assert [browser.gallery.item(i).data(256) for i in range(PAGE)] == first  # Qt.UserRole
    assert first == list(sevens[:PAGE])  # sevens only, in the training set's order
    assert f"{len(sevens):,} training images of 7" in browser.position.text()
    assert not browser.previous.isEnabled()
    browser.next.click()
    second = browser.shown_indices()
    assert second == list(sevens[PAGE : 2 * PAGE]) and browser.previous.isEnabled()
    while browser.next.isEnabled():
        browser.next.click()
    assert browser.shown_indices() == list(sevens[browser.first :])  # the last page: the rest
    assert browser.first + browser.gallery.count() == len(sevens)

    browser.choice.setCurrentIndex(3)  # another class from the box
    assert all(mnist.train_labels[i] == 3 for i in browser.shown_indices())
    assert browser.first == 0

    item = browser.gallery.item(2)
    browser.gallery.itemActivated.emit(item)  # double-click or Enter: into the preview
    index = item.data(256)
    assert np.array_equal(window.draw.field.reshape(-1), mnist.train_images[index])
    assert f"training image #{index}: class 3" in window.canvas.notice


def test_weights_of_a_noisy_subset_browse_the_images_and_labels_their_run_learned(
    window, qtbot, mnist, tmp_path
):
    session = window.session
    meta = dict(session.meta)
    meta["training"] = {**meta["training"], "train_size": 500, "label_noise": 0.2, "seed": 7}
    path = save_weights(tmp_path / "noisy.npz", session.model, meta)
    errors = open_errors(window, qtbot)
    assert window.files.open_weights(path)
    qtbot.waitUntil(lambda: not errors.stale, timeout=10_000)
    browser = errors.browser
    errors.browse(0)
    config = TrainConfig.from_dict(load_weights(path).meta["training"])
    learned = training_selection(mnist, config)  # what the run trained on, as training draws it
    rows, taught = training_choice(mnist.train_labels, 10, config)
    assert np.array_equal(taught, learned.train_labels)
    zeros = rows[taught == 0]
    shown = browser.shown_indices()
    assert shown == list(zeros[:PAGE]) and browser.gallery.count() == len(shown)
    assert np.array_equal(mnist.train_images[shown], learned.train_images[taught == 0][:PAGE])
    wrong = int((mnist.train_labels[zeros] != 0).sum())
    assert 0 < wrong < len(zeros)  # 20% noise: some of them are really other digits
    text = browser.position.text()
    assert f"{len(zeros)} of the 500 training images this model learned from are labelled 0" in text
    assert f"; {wrong} of them are really another digit" in text
    for i, index in enumerate(shown):
        item = browser.gallery.item(i)
        truth = int(mnist.train_labels[index])
        edge = item.icon().pixmap(ICON, ICON).toImage().pixelColor(1, ICON // 2)
        tooltip = item.toolTip().replace("\xa0", " ")
        assert (edge == RELABELLED) == (truth != 0)
        assert (f"labelled 0 in training; its true class: {truth}" in tooltip) == (truth != 0)

    window.files.use_default_weights()  # all 50,000 images with their own labels again
    qtbot.waitUntil(lambda: not errors.stale, timeout=10_000)
    browser.show_class(0)
    count = int((mnist.train_labels == 0).sum())
    assert browser.position.text().startswith(f"{count:,} training images of 0")
    assert all(mnist.train_labels[i] == 0 for i in browser.shown_indices())


def test_a_matrix_cell_goes_back_to_the_test_images(window, qtbot):
    errors = open_errors(window, qtbot)
    errors.browse(2)
    rect = errors.matrix.visualItemRect(errors.matrix.item(4, 9))
    qtbot.mouseClick(errors.matrix.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert errors.lower.currentIndex() == 0 and "of 4 read as 9" in errors.caption.text()


def test_at_1024x768_the_figures_and_the_steps_are_whole(window, qtbot):
    window.resize(1024, 768)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 768)
    errors = open_errors(window, qtbot)
    QApplication.processEvents()
    send_stroke(window.canvas, line((0.3, 0.2), (0.7, 0.2)))  # tiny probabilities: long numbers
    window.tabs.setCurrentWidget(window.inside_page)
    window.inside.steps.opener.setChecked(True)
    QApplication.processEvents()
    for table, rows in ((errors.per_class, 3), (window.inside.steps.table, 12)):
        assert table.horizontalScrollBar().maximum() == 0  # every column in view
        metrics = table.fontMetrics()
        for row, column in np.ndindex(rows, table.columnCount()):
            text = table.item(row, column).text()  # "1135", "1.234e-05": whole
            assert metrics.horizontalAdvance(text) <= table.columnWidth(column) - 2, text
