"""The Map tab: the test set placed by the model's features (projection.py), with real widgets on
the bundled MNIST; the projections and their alignment on synthetic data whose answer is known."""

from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg
import pytest
from gui_support import circle, line, start, wait_until_done
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest

from mnistpad.gui.canvas import send_stroke
from mnistpad.gui.map_plot import MapPlot
from mnistpad.gui.map_view import CLASS_COLOURS
from mnistpad.gui.present import theme_palette
from mnistpad.model import softmax
from mnistpad.networks import new_model
from mnistpad.projection import aligned, lda, map_of, pca, procrustes

# -- the projections, on data whose answer is known ---------------------------------------------


def two_clouds(rng, n=2000):
    """Two classes 4 apart along axis 0, each spread 10 times wider along axis 1 than along the
    others: PCA finds axis 1, Fisher's discriminant axis 0."""
    labels = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, 5))
    x[:, 1] *= 10
    x[:, 0] += 4 * labels
    return x, labels


def unit(vector):
    return vector / np.linalg.norm(vector)


def test_pca_finds_the_long_axis_and_lda_the_one_that_separates_the_classes():
    x, labels = two_clouds(np.random.default_rng(0))
    assert abs(unit(pca(x).axes[:, 0])[1]) > 0.999  # the spread, not the classes
    assert abs(unit(lda(x, labels).axes[:, 0])[0]) > 0.99  # the classes, whatever the spread
    first = lda(x, labels)(x)[:, 0]
    assert abs(first[labels == 0].mean() - first[labels == 1].mean()) > 3 * first.std() / 2


def test_pca_of_a_cloud_stretched_along_a_diagonal():
    rng = np.random.default_rng(1)
    direction = unit(np.array([1.0, 1.0, 0.0, 0.0]))
    x = rng.normal(0, 0.5, (3000, 4)) + rng.normal(0, 5, (3000, 1)) * direction + 7
    axes = pca(x).axes
    assert abs(axes[:, 0] @ direction) > 0.999
    assert np.allclose(axes.T @ axes, np.eye(2), atol=1e-9)  # orthonormal: distances kept
    assert np.allclose(pca(x)(x).mean(axis=0), 0, atol=1e-9)  # centred


@pytest.mark.parametrize("mirrored", [False, True])
def test_alignment_undoes_a_rotation_or_a_mirror_image(mirrored):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (500, 6)) * [5, 3, 1, 1, 1, 1]
    projection = pca(x)
    before = projection(x)
    angle = 2.1
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if mirrored:
        turn = turn @ np.diag([1.0, -1.0])
    assert np.allclose(procrustes(before @ turn, before), turn.T)
    # A later map that came out turned is turned back onto the previous one...
    turned, points = aligned(projection.turned(turn), x, before)
    assert np.allclose(points, before)
    assert np.allclose(turned(x[:3]), before[:3])  # ...and so is any new input (the drawing)
    assert aligned(projection, x, None)[1] is not None  # the first map: nothing to match


def test_features_are_what_the_output_layer_reads_for_every_kind():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (7, 784)).astype(np.float32)
    for kind in ("linear", "mlp", "cnn"):
        model = new_model(kind, rng, 10)
        features = model.features(x)
        assert np.allclose(model.output(features), model.logits(x), atol=1e-5)
        assert np.allclose(model.features(x[2]), features[2], atol=1e-5)  # one image, one row
    mlp = new_model("mlp", rng, 10, {"hidden": 16})
    by_hand = np.maximum(x @ mlp.params["dense1.W"].T + mlp.params["dense1.b"], 0)
    assert np.allclose(mlp.features(x), by_hand, atol=1e-5)
    assert np.array_equal(new_model("linear", rng, 10).features(x).shape, (7, 10))


def test_a_map_reads_the_images_from_the_same_features():
    rng = np.random.default_rng(4)
    x, labels = rng.uniform(0, 1, (300, 784)).astype(np.float32), rng.integers(0, 10, 300)
    model = new_model("mlp", rng, 10, {"hidden": 32})
    placed = map_of(model, x, labels, "lda")
    assert placed.points.shape == (300, 2)
    assert np.allclose(placed.probabilities, softmax(model.logits(x)), atol=1e-5)
    assert np.array_equal(placed.predicted, model.predict(x))
    assert np.allclose(placed.projection(model.features(x)), placed.points)


# -- the tab ----------------------------------------------------------------------------------


def open_map(window, qtbot):
    window.tabs.setCurrentWidget(window.map_page)
    panel = window.map
    qtbot.waitUntil(lambda: panel.map is not None and not panel.busy(), timeout=20_000)
    view = panel.plot.getPlotItem().getViewBox()
    corners = [QPointF(*panel.map.points.min(axis=0)), QPointF(*panel.map.points.max(axis=0))]
    qtbot.waitUntil(lambda: all(map(view.viewRect().contains, corners)))  # the view fits them
    return panel


def inputs_of(window):
    """The test images as the weights in use see them (deskewed, for the bundled default)."""
    return window.session.test_inputs(window.session.deskews)


def on_screen(panel, point) -> QPoint:
    """Where a point of the map is in the plot's viewport."""
    view = panel.plot.getPlotItem().getViewBox()
    return panel.plot.mapFromScene(view.mapViewToScene(QPointF(*point)))


def test_every_test_image_is_a_dot_coloured_by_its_class(window, qtbot, mnist):
    panel = open_map(window, qtbot)
    model = window.session.model
    x, y = panel.plot.dots.getData()
    assert len(x) == len(mnist.test_labels) == 10_000
    features = model.features(inputs_of(window))
    assert np.allclose(np.column_stack([x, y]), pca(features)(features), atol=1e-4)
    colours = [brush.color().name() for brush in panel.plot.dots.data["brush"]]
    assert colours == [CLASS_COLOURS[label] for label in mnist.test_labels]
    key = [panel.key_layout.itemAt(i).widget() for i in range(panel.key_layout.count())]
    assert [entry.text() for entry in key] == [f"● {digit}" for digit in range(10)]
    assert [entry.palette().windowText().color() for entry in key] == [
        QColor(colour) for colour in CLASS_COLOURS
    ]
    assert "Map of: bundled default" in window.tab_note.text()


def test_pointing_at_a_dot_shows_the_image_and_clicking_inspects_it(window, qtbot, mnist):
    panel = open_map(window, qtbot)
    misread = np.flatnonzero(panel.map.predicted != mnist.test_labels)
    index = int(misread[0])
    where = on_screen(panel, panel.map.points[index])
    index = panel.plot.nearest(panel.plot.mapToScene(where))  # or a dot on top of it
    assert index is not None
    QTest.mouseMove(panel.plot.viewport(), where)
    qtbot.waitUntil(panel.plot.card.isVisible, timeout=2000)
    read_as = int(panel.map.probabilities[index].argmax())
    sure = panel.map.probabilities[index, read_as]
    caption = (
        f"test image #{index}: true class {mnist.test_labels[index]}, read as {read_as}"
        f" ({sure:.1%})"
    )
    assert panel.plot.card.caption.text() == caption.removeprefix("test image ")
    assert np.allclose(np.column_stack(panel.plot.pointed.getData()), panel.map.points[[index]])
    assert panel.plot.card.caption.textFormat() == Qt.TextFormat.PlainText

    QTest.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert np.array_equal(window.draw.field.reshape(-1), mnist.test_images[index])
    assert window.draw.confidence.text().startswith(caption)
    assert window.draw.prediction.text() == str(read_as)


def test_the_drawing_is_the_star_and_moves_as_one_draws(window, qtbot):
    panel = open_map(window, qtbot)
    assert len(panel.plot.star.getData()[0]) == 0  # nothing drawn
    send_stroke(window.canvas, circle())

    def star():
        x, y = panel.plot.star.getData()
        assert len(x) == 1
        return np.array([x[0], y[0]])

    features = window.session.model.features(window.draw.current_input.reshape(-1))
    first = star()
    assert np.allclose(first, panel.map.projection(features))
    send_stroke(window.canvas, line((0.5, 0.1), (0.5, 0.9)))  # a 0 with a stroke through it
    features = window.session.model.features(window.draw.current_input.reshape(-1))
    assert np.allclose(star(), panel.map.projection(features))
    assert not np.allclose(star(), first)


def test_rings_show_exactly_the_misread_images(window, qtbot, mnist):
    panel = open_map(window, qtbot)
    assert len(panel.plot.rings_shown()) == 0
    panel.rings.setChecked(True)
    predicted = window.session.model.predict(inputs_of(window))
    misread = predicted != mnist.test_labels
    assert 0 < misread.sum() < 1000
    assert np.allclose(panel.plot.rings_shown(), panel.map.points[misread])
    panel.rings.setChecked(False)
    assert len(panel.plot.rings_shown()) == 0


def test_the_map_follows_the_live_model_at_epoch_ends_without_flipping(window, qtbot):
    panel = open_map(window, qtbot)
    maps = [(window.session.model, panel.map.points)]  # the model each map shows, its points
    panel.placed.connect(lambda done: maps.append((done[0][0], done[1].points)))
    ends, notes = [], []
    window.run.epoch_end.connect(lambda event: ends.append(event.model))
    window.run.epoch_end.connect(lambda _: notes.append(window.tab_note.text()))
    window.resize(1024, 768)
    start(window, qtbot, "fast", epochs=3)
    wait_until_done(window, qtbot)
    qtbot.waitUntil(lambda: not panel.busy(), timeout=20_000)
    qtbot.wait(20)  # the last map's signal
    assert any(model is end for model, _ in maps for end in ends)  # an epoch's model
    assert maps[-1][0] is window.session.model is panel.model  # and with the kept one at the end
    assert "live" not in window.tab_note.text()
    note = window.tab_note  # one line all along: the tab under it does not jump
    assert len(notes) == 3 and all(t.startswith("Map of: live linear model, epoch") for t in notes)
    # with room to spare: Xvfb's default font is wider than the tests' (the old wording took
    # 97% of the width here, and wrapped to two lines on a 1024x768 screen)
    assert all(note.fontMetrics().horizontalAdvance(t) < 0.8 * note.width() for t in notes)
    for (_, before), (_, after) in itertools.pairwise(maps):
        # each map is turned to match the one before: turning it further would not bring it
        # closer, and mirroring either axis would take it further away
        assert np.allclose(procrustes(after, before), np.eye(2), atol=1e-6)
        for mirror in ([-1, 1], [1, -1], [-1, -1]):
            assert np.linalg.norm(after - before) < np.linalg.norm(after * mirror - before)


def test_choosing_fisher_lda_places_the_classes_apart_turned_like_the_pca_map(window, qtbot):
    panel = open_map(window, qtbot)
    before = panel.map.points
    panel.method.setCurrentIndex(panel.method.findData("lda"))
    qtbot.waitUntil(lambda: panel.map.method == "lda" and not panel.busy(), timeout=20_000)
    features = window.session.model.features(inputs_of(window))
    labels = window.session.loaded_dataset().test_labels
    fisher = lda(features, labels)(features)
    turn = procrustes(fisher, before)
    assert np.allclose(panel.map.points, fisher @ turn, atol=1e-4)
    assert "(Fisher LDA)" in panel.summary.text()

    def separation(points):  # spread of the class means over the spread within the classes
        means = np.array([points[labels == c].mean(axis=0) for c in range(10)])
        within = np.mean([points[labels == c].var(axis=0).sum() for c in range(10)])
        return means.var(axis=0).sum() / within

    assert separation(panel.map.points) > separation(before)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_weak_models_many_rings_leave_the_dots_and_the_star_in_sight(qtbot, theme):
    """A linear model early in training misreads ~1,000 images: their rings must not merge into
    a blob of the text's colour hiding the dots and the star."""
    plot = MapPlot()
    qtbot.addWidget(plot)
    palette = theme_palette(theme)
    plot.setPalette(palette)
    plot.setBackground(palette.color(QPalette.ColorRole.Base))  # as the theme paints it
    plot.resize(320, 320)
    points = np.random.default_rng(0).normal(0, 1, (10_000, 2))
    dot = QColor(CLASS_COLOURS[0])
    plot.show_points(points, [pg.mkBrush(dot)] * len(points))
    plot.show_rings(points[:1000])
    plot.show_star(np.zeros(2))
    plot.show()
    qtbot.waitExposed(plot)
    image = plot.grab().toImage()
    view = plot.getPlotItem().getViewBox()
    centre = plot.mapFromScene(view.mapViewToScene(QPointF(0, 0)))
    text = palette.color(QPalette.ColorRole.Text)

    def near(colour: QColor, other: QColor) -> bool:
        rgb, other_rgb = colour.getRgb()[:3], other.getRgb()[:3]
        return sum(abs(a - b) for a, b in zip(rgb, other_rgb, strict=True)) < 90

    around = [  # the densest part of the map, beside the star
        image.pixelColor(centre.x() + dx, centre.y() + dy)
        for dx in range(-40, 41)
        for dy in range(-40, 41)
        if abs(dx) > 15 or abs(dy) > 15
    ]
    # opaque, the rings covered 91% of it: a blob of the text's colour
    assert sum(near(c, text) for c in around) < 0.25 * len(around)
    assert sum(near(c, dot) for c in around) > 0.15 * len(around)  # the dots' colour shows
    assert near(image.pixelColor(centre), palette.color(QPalette.ColorRole.Base))  # the star
