"""What the step-by-step view adds to the Inside tab's update for each new input (a stroke).

    .venv/bin/python bench/inside_steps.py      # offscreen unless DISPLAY is set

For each bundled model, the Inside tab (a real InsidePanel, shown) is given 200 MNIST test images
one after another, as strokes give it new inputs; the median time of a whole update is set
against that of its step-by-step part alone (the prediction's numbers and their table and lines),
the view open.
"""

from __future__ import annotations

import os
import statistics
import time

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.update(dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"), "1"))  # as `mnistpad`


from mnistpad.data import DIGITS, load_dataset
from mnistpad.gui.app import make_application
from mnistpad.gui.inside import InsidePanel
from mnistpad.steps import prediction_steps
from mnistpad.weights import bundled_models, load_weights

IMAGES = 200


def median_ms(work, inputs) -> float:
    times = []
    for image in inputs:
        start = time.perf_counter()
        work(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    app = make_application()
    images = load_dataset().test_images[:IMAGES].reshape(-1, 28, 28)
    panel = InsidePanel()
    panel.set_classes(list(DIGITS))
    panel.resize(420, 900)
    panel.setVisible(True)  # (InsidePanel.show shows a model)
    panel.steps.opener.setChecked(True)  # the view open: its numbers worked out
    print(f"{'model':8} {'whole update':>13} {'steps part':>11} {'share':>6}")
    for path in bundled_models():
        model = load_weights(path).model
        panel.show(model, images[0])
        app.processEvents()

        def whole(image, model=model) -> None:
            panel.show(model, image)
            app.processEvents()  # the repaint too

        def steps(image, model=model) -> None:
            panel.steps.show_steps(
                lambda: prediction_steps(model, image),
                panel.classes,
                model.kind,
                panel.shown_class(),
            )
            app.processEvents()

        whole_ms, steps_ms = median_ms(whole, images), median_ms(steps, images)
        print(f"{model.kind:8} {whole_ms:10.2f} ms {steps_ms:8.2f} ms {steps_ms / whole_ms:6.0%}")


if __name__ == "__main__":
    main()
