"""Take the README's screenshots from the real app, driven as a person would drive it.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [FOLDER]   # default: docs

Draws a slanted 3 and trains six deskew epochs (screenshot.png), opens the Inside tab on the
evidence for 7 (inside.png) and on the prediction step by step at 1024x768 (step-by-step.png),
and the Errors tab on the 2s read as 8s (errors.png), trains the
report's naive and optimized protocols for five epochs and lays them over each other
(compare.png), labels 60 drawings of a made-up script and fine-tunes on them
(handwriting.png), and, where Debian's dataset-fashion-mnist is installed, trains on
Fashion-MNIST (fashion.png); then trains an MLP and a CNN on MNIST and lays a linear, the MLP and
the CNN run over each other (models.png), and opens the bundled CNN on a drawn 6 with the
comparison and the Inside tab on (networks.png), shows the Map tab of the bundled CNN and of the
bundled linear model, misread images ringed (map-cnn.png, map-linear.png), trains the MLP on 500
images, where it overfits (overfitting.png); last, presentation mode: the 3 again at 1024x768,
zoomed to 175%, in the dark theme (presentation.png; `screenshot.py docs presentation` takes only
this one, without training); then a smiley drawn for the bundled linear model, read as a digit
and said not to be one (unsure.png; `screenshot.py docs unsure` takes only this one). Runs in a
fresh home folder, so nothing of the
person's own settings or drawings shows or changes. Works on any Qt platform: offscreen, a
desktop, or Xvfb.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="mnistpad-screenshots-")
os.environ.update(
    HOME=HOME, XDG_CONFIG_HOME=f"{HOME}/.config", XDG_DATA_HOME=f"{HOME}/.local/share"
)

import numpy as np  # noqa: E402  (after HOME: Qt reads it for its standard paths)
from PySide6.QtCore import Qt, QTimer  # noqa: E402

from mnistpad.gui.app import make_application  # noqa: E402
from mnistpad.gui.canvas import send_stroke  # noqa: E402
from mnistpad.gui.window import MainWindow  # noqa: E402
from mnistpad.train import preset  # noqa: E402
from mnistpad.weights import bundled_models  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")
SIX = [  # a 6 drawn with a 25-pixel pen: the linear model hesitates (5 or 6), the CNN does not
    (0.728, 0.156),
    (0.704, 0.163),
    (0.681, 0.171),
    (0.659, 0.181),
    (0.636, 0.191),
    (0.615, 0.203),
    (0.594, 0.216),
    (0.574, 0.229),
    (0.554, 0.244),
    (0.536, 0.26),
    (0.518, 0.276),
    (0.501, 0.293),
    (0.486, 0.312),
    (0.471, 0.331),
    (0.457, 0.35),
    (0.444, 0.371),
    (0.433, 0.392),
    (0.422, 0.414),
    (0.412, 0.436),
    (0.404, 0.459),
    (0.397, 0.483),
    (0.39, 0.507),
    (0.385, 0.531),
    (0.381, 0.555),
    (0.37, 0.633),
    (0.386, 0.571),
    (0.415, 0.515),
    (0.455, 0.47),
    (0.504, 0.438),
    (0.557, 0.422),
    (0.61, 0.423),
    (0.66, 0.441),
    (0.703, 0.476),
    (0.735, 0.524),
    (0.755, 0.581),
    (0.762, 0.642),
    (0.756, 0.703),
    (0.736, 0.759),
    (0.703, 0.808),
    (0.659, 0.846),
    (0.608, 0.87),
    (0.553, 0.88),
    (0.498, 0.872),
    (0.448, 0.849),
    (0.408, 0.81),
    (0.381, 0.758),
    (0.368, 0.698),
    (0.37, 0.633),
]


def three() -> list[list[tuple[float, float]]]:
    """Two arcs, as a person draws a 3, leaning to the right as handwriting does."""
    top = [(0.5 + 0.2 * np.sin(a), 0.32 - 0.14 * np.cos(a)) for a in np.linspace(-1.9, 2.8, 24)]
    bottom = [(0.5 + 0.22 * np.sin(a), 0.64 - 0.18 * np.cos(a)) for a in np.linspace(0.2, 4.2, 28)]
    return [[(x + 0.35 * (0.5 - y), y) for x, y in arc] for arc in (top, bottom)]


def script_glyph(label: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A made-up script: each class its own zigzag, drawn a little differently each time."""
    corners = np.random.default_rng(100 + label).uniform(0.2, 0.8, size=(5, 2))
    corners = (corners - 0.5) * rng.uniform(0.8, 1.1) + 0.5 + rng.normal(0, 0.03, 2)
    path = []
    for start, end in itertools.pairwise(corners):
        path += [start + (end - start) * t for t in np.linspace(0.1, 1, 6)]
    return [tuple(np.clip(p, 0.02, 0.98)) for p in path]


def smiley() -> list[list[tuple[float, float]]]:
    """A face: a ring, two eyes and a smile, as strokes in canvas fractions."""
    ring = [(0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a)) for a in np.linspace(0, 6.4, 40)]
    eyes = [[(x + 0.02 * np.cos(a), 0.42 + 0.02 * np.sin(a)) for a in np.linspace(0, 6.3, 8)]
            for x in (0.4, 0.6)]  # fmt: skip
    smile = [(0.5 + 0.15 * np.cos(a), 0.55 + 0.1 * np.sin(a)) for a in np.linspace(0.3, 2.8, 12)]
    return [ring, *eyes, smile]


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    app = make_application()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    app.processEvents()

    def grab(name: str) -> None:
        window.repaint()
        app.processEvents()
        window.grab().save(str(out / name))
        print(f"wrote {out / name}")

    def train(config) -> None:
        window.panel.set_config(config)
        window.panel.train_button.click()

    def draw_three() -> None:
        for stroke in three():
            send_stroke(window.canvas, stroke)
        train(preset("deskew", epochs=6))

    def inside() -> None:
        grab("screenshot.png")
        window.tabs.setCurrentWidget(window.inside_page)
        window.draw.show_evidence.setChecked(True)
        window.inside.choose(7)
        grab("inside.png")
        window.inside.choose(None)
        window.draw.show_evidence.setChecked(False)
        step_by_step()
        window.tabs.setCurrentWidget(window.errors_page)
        window.errors.show_cell(2, 8)
        grab("errors.png")
        window.tabs.setCurrentIndex(0)
        train(preset("naive", epochs=5))

    def step_by_step() -> None:
        """The three's prediction step by step, at a projector's 1024x768: the second likeliest
        class chosen, on its last step (its probability)."""
        window.resize(1024, 768)
        app.processEvents()
        steps = window.inside.steps
        steps.opener.click()
        second = int(np.argsort(steps.steps.probabilities)[-2])
        steps.chosen.emit(second, 4)  # as a click on its cell in the "÷ sum" column does
        app.processEvents()
        window.inside_page.ensureWidgetVisible(steps.lines[-1])
        grab("step-by-step.png")
        window.inside.choose(None)
        steps.choose_step(None)
        steps.opener.click()
        window.resize(1280, 800)

    def optimized() -> None:
        train(preset("optimized", epochs=5))

    def compare() -> None:
        for row in (1, 2):
            window.runs.list.item(row).setCheckState(Qt.CheckState.Checked)
        grab("compare.png")
        for row in (1, 2):
            window.runs.list.item(row).setCheckState(Qt.CheckState.Unchecked)
        window.session.unsaved = False  # nothing to keep: no question to answer
        window.files.use_default_weights()
        rng = np.random.default_rng(0)
        for _ in range(6):
            for label in range(10):
                send_stroke(window.canvas, script_glyph(label, rng))
                window.label_drawing(label)
        window.tabs.setCurrentWidget(window.handwriting_page)
        window.fine_tuning.start()

    def handwriting() -> None:
        grab("handwriting.png")
        window.session.unsaved = False
        if not FASHION.is_dir():
            return
        window.files.open_dataset(FASHION)
        train(preset("fast", epochs=10))

    def fashion() -> None:
        if FASHION.is_dir():
            window.tabs.setCurrentWidget(window.inside_page)
            grab("fashion.png")

    def mlp() -> None:
        window.session.unsaved = False
        if FASHION.is_dir():
            window.files.use_bundled_mnist()
        train(preset("mlp", epochs=4))

    def cnn() -> None:
        train(preset("cnn", epochs=2))

    def models() -> None:
        window.tabs.setCurrentIndex(0)
        runs = window.runs.list
        for row in range(runs.count()):  # the deskew run, the MLP and the CNN
            ticked = row in (0, runs.count() - 2, runs.count() - 1)
            runs.item(row).setCheckState(
                Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
            )
        grab("models.png")
        window.session.unsaved = False
        cnn_file = next(path for path in bundled_models() if path.name == "cnn.npz")
        window.files.open_bundled(cnn_file)
        window.canvas.clear()
        window.draw.pen_width.setValue(25)
        send_stroke(window.canvas, SIX)
        window.draw.show_compare.setChecked(True)
        window.tabs.setCurrentWidget(window.inside_page)
        grab("networks.png")

    def unsure() -> None:  # after presentation mode: back to the window's first look
        window.present.set_theme("system")
        window.present.set_zoom(1.0)
        window.resize(1280, 800)
        window.session.unsaved = False
        window.files.use_default_weights()
        window.tabs.setCurrentIndex(0)
        window.draw.show_compare.setChecked(False)
        window.canvas.clear()
        window.draw.pen_width.setValue(18)
        for stroke in smiley():
            send_stroke(window.canvas, stroke)

    def unsure_shown() -> None:
        if window.unsure.rule is None:  # fitted in its own thread: wait for it
            steps.insert(0, unsure_shown)
            return
        grab("unsure.png")

    def cnn_map() -> None:  # the drawn 6 is the star
        window.draw.show_compare.setChecked(False)
        window.map.rings.setChecked(True)
        window.tabs.setCurrentWidget(window.map_page)

    def linear_map() -> None:
        grab("map-cnn.png")
        window.files.open_bundled(
            next(path for path in bundled_models() if path.name == "default.npz")
        )

    def overfit() -> None:  # the playground's knobs: 500 training images, a held step
        window.canvas.clear()
        window.session.unsaved = False
        window.tabs.setCurrentIndex(0)
        train(preset("mlp", epochs=30, schedule="constant", lr=0.001, train_size=500))

    def overfitting() -> None:
        grab("overfitting.png")

    def presentation() -> None:
        window.session.unsaved = False
        window.files.use_default_weights()
        window.draw.show_compare.setChecked(False)
        window.draw.pen_width.setValue(22)
        window.canvas.clear()
        for stroke in three():
            send_stroke(window.canvas, stroke)
        window.tabs.setCurrentIndex(0)
        window.resize(1024, 768)
        window.present.set_theme("dark")
        window.present.set_zoom(1.75)
        app.processEvents()
        scrolled = window.panes.verticalScrollBar()
        scrolled.setValue(scrolled.maximum())  # the reading under the canvas, scrolled into view
        grab("presentation.png")

    steps = [draw_three, inside, optimized, compare, handwriting, fashion, mlp, cnn, models]
    steps += [cnn_map, linear_map, lambda: grab("map-linear.png")]
    steps += [overfit, overfitting, presentation]
    steps += [unsure, unsure_shown]
    if sys.argv[2:] == ["presentation"]:
        steps = [presentation]
    if sys.argv[2:] == ["unsure"]:
        steps = [unsure, unsure_shown]

    def next_step() -> None:
        if window.run.training or window.map.busy():
            return
        if not steps:
            window.session.unsaved = False
            app.quit()
            return
        steps.pop(0)()

    poll = QTimer()
    poll.timeout.connect(next_step)
    poll.start(200)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
