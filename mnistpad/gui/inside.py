"""Inside the model: what its first layer looks at, and the evidence a drawing gives for a class.

A linear model's logit for class c is z_c = sum_i W[c, i] x_i + b[c]: the template W[c] says how
much each pixel's ink counts for c (red: for, blue: against), and the evidence map W[c] * x says how
much it counted in this drawing; evidence and bias add up to the logit.

A network has no template per class. Its first layer is shown instead: an MLP's hidden units, each
a 28x28 pattern of weights on the pixels, or a CNN's filters, each with its feature map of the
drawing. Its evidence is gradient x input, (d z_c / d x_i) x_i, which for a linear model is W[c] * x
again: a first-order attribution whose sum approximates how much the ink raises z_c over blank
paper, not the logit. All weights and evidence use one diverging colour scale centred on zero.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..model import N_PIXELS
from ..networks import Model
from ..steps import prediction_steps
from .dialogs import plain, tip
from .inside_pictures import ColourBar, Heatmap, diverging
from .inside_pictures import evidence_overlay as evidence_overlay  # for the preview (views.py)
from .inside_pictures import rgb_image as rgb_image
from .inside_steps import StepsView
from .inside_units import ClassButtons, UnitGrid, kept_in_place

SIDE = 28

HEADINGS = {
    "linear": "<b>Templates</b>: each class's weights as an image. Red pixels are evidence for the"
    " class when inked, blue against. Click one to see its evidence below (click it again to"
    " follow the prediction).",
    "mlp": "<b>Hidden units</b>: each of the {units} units weighs the pixels (red: ink there"
    " excites it, blue: inhibits it); its activation times its output weight for a class is its"
    " part in that class's score (the number under it). With a drawing, the units with the"
    " largest parts for the class shown come first; without one, those with the strongest output"
    " weights.",
    "cnn": "<b>First-layer filters</b>: the {units} {k}x{k} patterns the network looks for (red:"
    " ink there excites the filter, blue: inhibits it), each above its feature map of your input:"
    " where it finds its pattern, after ReLU (darker: stronger). Deeper layers combine the maps"
    " into the class scores.",
}
LEFT_PANE = {  # the map left of the evidence: its title and tooltip
    "linear": ("Template", "The chosen class's template: its row of W."),
    "network": (
        "Gradient",
        "How much the chosen class's logit changes per unit of ink at each pixel, for your\n"
        "input: red, more ink there would raise it; blue, lower it. (For a linear model this\n"
        "is the class's template.)",
    ),
}
EVIDENCE_TIPS = {
    "linear": "Evidence: weight times ink, pixel by pixel. Red pixels raise the chosen class's\n"
    "logit, blue ones lower it; paper (no ink) gives none.",
    "network": "Evidence: gradient times ink, pixel by pixel. Red pixels raise the chosen class's\n"
    "logit, blue ones lower it (to first order); paper (no ink) gives none.",
}


class InsidePanel(QWidget):
    """What the model in view looks at (click a class to choose it) and, for the input in view,
    the evidence for the chosen class, with every class's logit."""

    class_chosen = Signal(int)  # a class clicked, or -1: back to following the prediction

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: Model | None = None
        self.kind = ""  # the kind of model the view is laid out for
        self.classes: list[str] = []
        self.input: np.ndarray | None = None  # (784,) what the model receives
        self.chosen: int | None = None  # None: follow the prediction
        self._attributed: tuple = (None, None, None, None)  # model, input, class, (grad, evidence)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.heading.setTextFormat(Qt.TextFormat.RichText)

        # a linear model's templates, which are its class chooser too
        self.tiles: list[Heatmap] = []
        self.captions: list[QLabel] = []
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        self.template_bar = ColourBar()
        self.template_bar.setToolTip(
            "Weight scale of the templates: the largest weight either way."
        )
        self.templates = QWidget()
        templates = QHBoxLayout(self.templates)
        templates.setContentsMargins(0, 0, 0, 0)
        templates.addLayout(self.grid, 1)
        templates.addWidget(self.template_bar)

        # a network's first layer, and a button per class to choose one
        self.units = UnitGrid()
        self.class_buttons = ClassButtons()
        self.class_buttons.clicked.connect(self._class_clicked)
        self.choose_title = QLabel(
            "<b>Class</b>: click one to see its evidence (click it again to follow the"
            " prediction). The number is its score for your input (its logit: the scores become"
            " the probabilities); the highest wins."
        )
        self.choose_title.setWordWrap(True)

        self.gradient = Heatmap(84)
        self.gradient_bar = kept_in_place(ColourBar())
        self.gradient_bar.setToolTip("Scale of the map on the left: its largest value either way.")
        self.gradient_title = QLabel()
        self.evidence = Heatmap(84)
        self.evidence_bar = kept_in_place(ColourBar())
        self.evidence_bar.setToolTip("Evidence scale: the largest contribution either way.")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.RichText)
        self.steps = StepsView()
        self.steps.chosen.connect(self._step_chosen)
        self.steps.opener.toggled.connect(lambda _: self._show_evidence())  # worked out if open
        self.pair = QWidget()
        pair = QHBoxLayout(self.pair)
        pair.setContentsMargins(0, 0, 0, 0)
        for title, widget, bar in (
            (self.gradient_title, self.gradient, self.gradient_bar),
            (QLabel("<b>Evidence in your input</b>"), self.evidence, self.evidence_bar),
        ):
            title.setWordWrap(True)  # on two lines rather than widen a narrow pane
            title.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(widget, 1)
            pair.addLayout(column, 1)
            pair.addWidget(bar)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.templates, 3)
        layout.addWidget(self.units, 3)
        layout.addWidget(self.choose_title)
        layout.addWidget(self.class_buttons)
        layout.addWidget(self.pair, 3)
        layout.addWidget(self.explanation)
        layout.addWidget(self.steps)
        self._lay_out_for("linear", None)

    def set_classes(self, classes: list[str]) -> None:
        if list(classes) == self.classes:
            return
        self.classes = list(classes)
        for widget in self.tiles + self.captions:
            self.grid.removeWidget(widget)
            widget.hide()  # at once: deleteLater waits for the event loop
            widget.deleteLater()
        self.tiles, self.captions = [], []
        columns = 5 if len(classes) <= 10 else 8
        for index, name in enumerate(self.classes):
            tile = Heatmap()
            tile.setToolTip(tip(f"Template of {name}: click to see its evidence in your input"))
            tile.clicked.connect(lambda index=index: self._class_clicked(index))
            caption = plain(QLabel(name))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setWordWrap(True)  # long class names wrap instead of widening the column
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            row, column = divmod(index, columns)
            self.grid.addWidget(tile, 2 * row, column)
            self.grid.addWidget(caption, 2 * row + 1, column)
            self.tiles.append(tile)
            self.captions.append(caption)
        self.class_buttons.set_classes(self.classes)
        if self.chosen is not None and self.chosen >= len(self.classes):
            self.chosen = None
        if self.model is not None:  # the templates of the model in view, on the new tiles
            self._show_weights(self.model)

    def show(self, model: Model | None, image: np.ndarray | None) -> None:
        """Show what `model` looks at (redrawn only when it is another model) and the evidence
        that `image`, the model's (28, 28) input or None, gives."""
        if model is not self.model:
            self._show_weights(model)
        self.model = model
        self.input = None if image is None else np.asarray(image, dtype=np.float32).reshape(-1)
        self._show_evidence()

    def choose(self, index: int | None) -> None:
        """Show the evidence for class `index`, or for the predicted class with None."""
        self.chosen = index
        self._show_evidence()
        self.class_chosen.emit(-1 if index is None else index)

    def _step_chosen(self, index: int, column: int) -> None:
        """A cell of the steps clicked: its class shown, its step highlighted."""
        self.steps.choose_step(column)
        self.choose(index)

    def _class_clicked(self, index: int) -> None:
        """Choose the class, or go back to following the prediction if it was chosen already."""
        self.choose(None if index == self.chosen else index)

    def shown_class(self) -> int | None:
        if self.model is None:
            return None
        if self.chosen is not None:
            return self.chosen
        return int(self.model.logits(self.input).argmax()) if self.input is not None else 0

    def evidence_map(self) -> np.ndarray | None:
        """(28, 28) gradient x input for the shown class's logit (for a linear model, each
        pixel's exact contribution to it), or None."""
        shown = self.shown_class()
        return None if shown is None else self._attribution(shown)[1]

    def _attribution(self, shown: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(gradient, gradient x input), both (28, 28), for class `shown` and the input in view;
        (None, None) without input. Kept until the model, the input or the class changes."""
        model, image, cls, pair = self._attributed
        if model is not self.model or image is not self.input or cls != shown:
            pair = (None, None)
            if self.input is not None:
                gradient = self.model.input_gradient(self.input, shown)
                pair = (gradient.reshape(SIDE, SIDE), (gradient * self.input).reshape(SIDE, SIDE))
            self._attributed = (self.model, self.input, shown, pair)
        return pair

    # -- what the model looks at ---------------------------------------------------------------

    def _lay_out_for(self, kind: str, model: Model | None) -> None:
        self.kind = kind
        network = kind != "linear"
        self.templates.setVisible(not network)
        self.pair.show()
        for widget in (self.units, self.choose_title, self.class_buttons):
            widget.setVisible(network)
        heading = HEADINGS[kind]
        if kind == "mlp":
            heading = heading.format(units=model.params["dense1.W"].shape[0])
        elif kind == "cnn":
            units, _, k, _ = model.params["conv1.W"].shape
            heading = heading.format(units=units, k=k)
        self.heading.setText(heading)
        title, tooltip = LEFT_PANE["network" if network else "linear"]
        self.gradient_title.setText(f"<b>{title}</b>")
        self.gradient.setToolTip(tooltip)
        self.evidence.setToolTip(EVIDENCE_TIPS["network" if network else "linear"])

    def _show_weights(self, model: Model | None) -> None:
        """Lay the view out for the kind of `model` and draw its weights (none without one)."""
        if model is None:
            for tile in self.tiles:
                tile.set_rgb(None)
            self.units.clear()
            for widget in (self.templates, self.units, self.choose_title, self.class_buttons):
                widget.hide()
            self.pair.hide()
            self.heading.setText("No weights in use: train a model or open a weight file.")
            self.kind = ""
            return
        self._lay_out_for(model.kind, model)  # the heading names the sizes too
        if model.kind == "linear":
            limit = float(np.abs(model.W).max()) or 1.0
            self.template_bar.set_limit(limit)
            for tile, row in zip(self.tiles, model.W, strict=False):
                tile.set_rgb(diverging(row.reshape(SIDE, SIDE), limit))
        elif model.kind == "mlp":
            self.units.set_units(model.params["dense1.W"].reshape(-1, SIDE, SIDE), with_maps=False)
        else:
            self.units.set_units(model.params["conv1.W"][:, 0], with_maps=True)

    def _show_units(self, shown: int) -> None:
        """A network's units in the order and with the numbers that suit class `shown` and the
        input in view."""
        name, p = self.classes[shown], self.model.params
        if self.model.kind == "cnn":
            maps = None if self.input is None else self.model.feature_maps(self.input)
            k = p["conv1.W"].shape[-1]

            def filter_label(unit: int) -> tuple[str, str]:
                found = "" if maps is None else f"\nIts strongest response: {maps[unit].max():.2f}."
                text = f"Filter {unit}: a {k}x{k} pattern of weights, above its feature map.{found}"
                return f"#{unit}", tip(text)

            self.units.set_view(np.arange(len(p["conv1.W"])), filter_label, maps)
            return
        output = p["dense2.W"][shown]
        if self.input is None:
            order = np.argsort(-np.linalg.norm(p["dense2.W"], axis=0), kind="stable")
            self.units.set_view(
                order,
                lambda unit: (
                    f"#{unit}",
                    tip(f"Hidden unit {unit}: its output weight for {name} is {output[unit]:+.2f}"),
                ),
            )
            return
        activation = self._hidden()
        part = activation * output
        order = np.argsort(-np.abs(part), kind="stable")

        def unit_label(unit: int) -> tuple[str, str]:
            text = (
                f"Hidden unit {unit}: activation {activation[unit]:.2f} for your input, times its"
                f" output weight for {name}, {output[unit]:+.2f}, adds {part[unit]:+.2f} to the"
                f" logit of {name}."
            )
            # two lines, no "+" and a font fitted to the tile: whole in a narrow tab
            return f"#{unit}\n{part[unit]:.2f}", tip(text)

        self.units.set_view(order, unit_label)

    # -- the evidence --------------------------------------------------------------------------

    def _show_evidence(self) -> None:
        shown = self.shown_class()
        for index, tile in enumerate(self.tiles):
            tile.selected = self.kind == "linear" and index == shown
            tile.update()
        logits = None
        if shown is not None and self.input is not None:
            logits = self.model.logits(self.input)
        self.class_buttons.show_logits(shown, logits)
        model, image = self.model, self.input
        work = None if logits is None else lambda: prediction_steps(model, image)
        self.steps.show_steps(work, self.classes, self.kind, shown)
        # Step 1 on the pictures: a linear model's template (weights) times the ink is the
        # evidence; an MLP's hidden units' parts (the numbers under them) sum to it.
        weighing = 0 in self.steps.highlighted_steps()
        for picture in (self.gradient, self.evidence):
            picture.selected = weighing and self.kind == "linear"
        for picture in self.units.tiles:
            picture.selected = weighing and self.kind == "mlp"
            picture.update()
        if shown is None:
            self._show_map(self.gradient, self.gradient_bar, None)
            self._show_map(self.evidence, self.evidence_bar, None)
            self.explanation.setText("")
            return
        gradient, evidence = self._attribution(shown)
        name = self.classes[shown]
        if self.kind == "linear":
            limit = self.template_bar.limit  # the templates' scale
            self._show_map(self.gradient, self.gradient_bar, self.model.W[shown], limit)
        else:
            self._show_units(shown)
            self._show_map(self.gradient, self.gradient_bar, gradient)
        if evidence is None:
            self._show_map(self.evidence, self.evidence_bar, None)
            for caption, label in zip(self.captions, self.classes, strict=True):
                caption.setText(label)
            what = "evidence" if self.kind == "linear" else "gradient and the evidence"
            self.explanation.setText(f"Draw a digit to see the {what} for <b>{escape(name)}</b>.")
            return
        self._show_map(self.evidence, self.evidence_bar, evidence)
        best = int(logits.argmax())
        other = (
            ""
            if shown == best
            else f"; the prediction, {escape(self.classes[best])}, has {logits[best]:+.2f}"
        )
        ink = float(evidence.sum())
        if self.kind != "linear":
            self.explanation.setText(self._network_explanation(shown, logits, ink, other))
            return
        for index, (caption, label) in enumerate(zip(self.captions, self.classes, strict=True)):
            caption.setText(f"{label}: {logits[index]:+.2f}")
            font = caption.font()
            font.setBold(index == best)
            caption.setFont(font)
        self.explanation.setText(
            f"Score of <b>{escape(name)}</b>: {ink:+.2f} evidence from the ink,"
            f" {self.model.b[shown]:+.2f} bias, <b>{logits[shown]:+.2f}</b> in all{other}. The"
            " number under each template is that class's score for your input (its logit: the"
            " scores become the probabilities); the highest wins."
        )

    @staticmethod
    def _show_map(
        picture: Heatmap, bar: ColourBar, values: np.ndarray | None, limit: float | None = None
    ) -> None:
        """(784,) or (28, 28) `values` on a diverging scale up to `limit` (by default their own
        largest size), with its bar; no picture and no bar for None."""
        bar.setVisible(values is not None)
        if values is None:
            picture.set_rgb(None)
            return
        limit = limit or float(np.abs(values).max()) or 1.0
        bar.set_limit(limit)
        picture.set_rgb(diverging(values.reshape(SIDE, SIDE), limit))

    def _network_explanation(self, shown: int, logits: np.ndarray, ink: float, other: str) -> str:
        name = escape(self.classes[shown])
        blank = self.model.logits(np.zeros(N_PIXELS, dtype=np.float32))
        text = (
            f"Score of <b>{name}</b>: <b>{logits[shown]:+.2f}</b>{other}. The evidence is each"
            " pixel's ink times how much the score changes per unit of ink there (gradient x"
            f" input, a first-order attribution). It sums to {ink:+.2f}, roughly how much your"
            f" ink raises the score over blank paper ({logits[shown] - blank[shown]:+.2f} in"
            " fact); it is not the score itself (the logit)."
        )
        if self.model.kind == "mlp":
            p = self.model.params
            parts = float(self._hidden() @ p["dense2.W"][shown])
            text += (
                f" Exactly, the score is the hidden units' parts, {parts:+.2f} in all, plus the"
                f" bias, {p['dense2.b'][shown]:+.2f}."
            )
        return text

    def _hidden(self) -> np.ndarray:
        """An MLP's hidden activations for the input in view."""
        p = self.model.params
        return np.maximum(p["dense1.W"] @ self.input + p["dense1.b"], 0)
