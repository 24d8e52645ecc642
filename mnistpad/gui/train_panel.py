"""The training controls: preset, settings, Train / Stop, progress and what the run has found."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..networks import DEFAULT_SHAPES, KIND_NAMES, MAX_HIDDEN
from ..train import MAX_EPOCHS, MAX_LR, MAX_SEED, OPTIMIZERS, PRESETS, ConfigError, TrainConfig

DEFAULT_PRESET = "deskew"  # the one the bundled default weights were trained with
PRESET_HELP = {
    "naive": "The report's first run: step 0.01, one example per step, in file order;\n"
    "keeps the last epoch's weights.",
    "optimized": "The report's second run: one example per step, shuffled every epoch; keeps\n"
    "the best-dev weights and halves the step when dev accuracy stops improving.",
    "fast": "The optimized policy with mini-batches: a good model in a couple of seconds.",
    "deskew": "fast on deskewed digits (stood upright and centred exactly): the same linear\n"
    "model passes 95% on the test set and reads slanted handwriting much better.",
    "mlp": "A hidden layer of 256 ReLU units between pixels and classes, trained with Adam\n"
    "on deskewed digits: about 98% on the test set in a quarter of a minute.",
    "cnn": "Two convolution + pooling layers and two dense layers, trained with Adam on\n"
    "randomly turned, scaled, shifted and rethickened digits: about 99%.\n"
    "About 11 s an epoch.",
    "mlp-robust": "mlp trained on real writing's styles as well (bent, stretched, slanted, bold,\n"
    "low-resolution and scanned digits): it reads real people's digits better. The bundled\n"
    "MLP. Slower to train: its helper thread makes the styled digits.",
    "cnn-robust": "cnn trained on real writing's styles as well: it reads real people's digits\n"
    "and bold, blocky or stretched ones better, still above 99% on the test set. The bundled CNN.",
}
MODEL_HELP = (
    "What to train:\n"
    "Linear: one weight per pixel and class (the report's model), seconds to train.\n"
    "MLP: a hidden layer of ReLU units between pixels and classes.\n"
    "CNN: two convolution + pooling layers, then a hidden dense layer; the most accurate,\n"
    "and the slowest (about 11 s an epoch)."
)
OPTIMIZER_HELP = (
    "How each step follows the gradient:\n"
    "sgd: plain steps (the report's).\n"
    "momentum: keeps 0.9 of the previous step's direction.\n"
    "adam: a step per weight scaled by its recent gradients; use a small step size\n"
    "such as 0.001. The networks' presets use it."
)


class TrainPanel(QGroupBox):
    """Settings for a run, the Train and Stop buttons, and the run's progress."""

    train_requested = Signal(object)  # a validated TrainConfig
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Train", parent)
        self.preset = QComboBox()
        for name in PRESETS:
            self.preset.addItem(name)
            self.preset.setItemData(self.preset.count() - 1, PRESET_HELP[name], 3)  # ToolTipRole
        help_text = "\n\n".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
        self.preset.setToolTip(f"Start from one of these protocols:\n\n{help_text}")
        self.model = QComboBox()
        for kind, name in KIND_NAMES.items():
            self.model.addItem(name, kind)
        self.model.setToolTip(MODEL_HELP)
        self.model.setAccessibleName("Model")
        self.hidden = QSpinBox()
        self.hidden.setRange(1, MAX_HIDDEN)
        self.hidden.setSingleStep(32)
        self.hidden.setSuffix(" units")
        self.hidden.setToolTip(
            "Hidden units: the width of the MLP's hidden layer or of the CNN's dense layer\n"
            f"(default {DEFAULT_SHAPES['mlp']['hidden']} and {DEFAULT_SHAPES['cnn']['hidden']})."
            " The linear model has none."
        )
        self.hidden.setAccessibleName("Hidden units")
        self.optimizer = QComboBox()
        self.optimizer.addItems(OPTIMIZERS)
        self.optimizer.setToolTip(OPTIMIZER_HELP)
        self.optimizer.setAccessibleName("Optimizer")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, MAX_EPOCHS)
        self.epochs.setToolTip("Passes over the 50,000 training images.")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, MAX_LR)
        self.lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)  # 0.001 to 1.0
        self.lr.setToolTip(
            "Step size (learning rate). With mini-batches it scales the batch's mean gradient;\n"
            "adam wants it about a thousand times smaller than sgd."
        )
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 50_000)
        self.batch_size.setToolTip("Examples per step: 1 is the report's per-example SGD.")
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip(
            "Seeds the initial weights and the shuffling: the same seed gives\nthe same result."
        )
        self.shuffle = QCheckBox("shuffle every epoch")
        self.shuffle.setToolTip(
            "Visit the training images in a new random order every epoch\n"
            "(otherwise in file order)."
        )
        self.keep_best = QCheckBox("keep the best dev epoch")
        self.keep_best.setToolTip(
            "At the end, keep the weights of the epoch with the best dev\n"
            "accuracy (otherwise the last epoch's)."
        )
        self.halve = QCheckBox("halve step on a plateau")
        self.halve.setToolTip(
            "Halve the step size after an epoch that does not improve the best\ndev accuracy."
        )
        self.deskew = QCheckBox("deskew (upright digits)")
        self.deskew.setToolTip(
            "Shear every image so its slant is gone and shift it so its centre of mass\n"
            "is exactly in the middle, for training, testing and your drawings alike.\n"
            "The weight file remembers it."
        )

        self.augment = QCheckBox("augment (vary digits)")
        self.augment.setToolTip(
            "Train on images randomly turned by up to 10 degrees, scaled by up to 10%, shifted\n"
            "by up to 2 pixels and with thicker or thinner strokes, new each epoch. It helps the\n"
            "CNN read real handwriting; the linear model loses a little test accuracy by it.\n"
            "Slower to train (a helper thread makes the images); recorded in the weight file."
        )
        self.styles = QCheckBox("real-writing styles")
        self.styles.setToolTip(
            "Also train on the ways real people's digits differ from MNIST's: bent by elastic\n"
            "distortions, stretched, squashed and slanted, written with a bold pen or scanned\n"
            "in black and white. The networks then read real handwriting better (see the\n"
            "README's handwriting table). Slower to train; recorded in the weight file."
        )

        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a new model from scratch with these settings (Ctrl+T).")
        self.train_button.setDefault(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Stop training now and keep the weights the policy says to\n"
            "keep: the best dev epoch's or the latest (Esc)."
        )
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("ready")
        self.progress.setToolTip("Progress of the run and the time it still needs.")
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        self.status.setToolTip(
            "The current step size, the best dev epoch so far and, at the end,\n"
            "the test accuracy of the kept weights."
        )

        form = QFormLayout()
        form.addRow("Preset", self.preset)
        model = QHBoxLayout()
        model.addWidget(self.model, 1)
        model.addWidget(self.hidden, 1)
        form.addRow("Model", model)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Epochs", self.epochs)
        form.addRow("Step size", self.lr)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Seed", self.seed)
        checks = QVBoxLayout()
        for box in (self.shuffle, self.keep_best, self.halve):
            checks.addWidget(box)
        form.addRow("Policy", checks)
        inputs = QVBoxLayout()
        inputs.addWidget(self.deskew)
        inputs.addWidget(self.augment)
        inputs.addWidget(self.styles)
        form.addRow("Inputs", inputs)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.preset.currentTextChanged.connect(lambda name: self.set_config(PRESETS[name]))
        self.model.currentIndexChanged.connect(self._on_model_chosen)
        self._on_model_chosen()
        self.train_button.clicked.connect(self._on_train)
        self.stop_button.clicked.connect(self.stop_requested)
        self.set_config(PRESETS[DEFAULT_PRESET])

    def config(self) -> TrainConfig:
        """The settings shown, as a validated configuration (raises ConfigError)."""
        return TrainConfig(
            preset=self.preset.currentText(),
            model=self.kind(),
            hidden=0 if self.kind() == "linear" else self.hidden.value(),
            optimizer=self.optimizer.currentText(),
            epochs=self.epochs.value(),
            lr=self.lr.value(),
            batch_size=self.batch_size.value(),
            shuffle=self.shuffle.isChecked(),
            keep_best=self.keep_best.isChecked(),
            halve_on_plateau=self.halve.isChecked(),
            seed=self.seed.value(),
            deskew=self.deskew.isChecked(),
            augment=self.augment.isChecked(),
            styles=self.styles.isChecked(),
        ).validate()

    def set_config(self, config: TrainConfig) -> None:
        if config.preset in PRESETS and self.preset.currentText() != config.preset:
            self.preset.blockSignals(True)
            self.preset.setCurrentText(config.preset)
            self.preset.blockSignals(False)
        self.model.blockSignals(True)
        self.model.setCurrentIndex(self.model.findData(config.model))
        self.model.blockSignals(False)
        self._on_model_chosen()
        if config.model != "linear":
            self.hidden.setValue(config.hidden or DEFAULT_SHAPES[config.model]["hidden"])
        self.optimizer.setCurrentText(config.optimizer)
        self.epochs.setValue(config.epochs)
        self.lr.setValue(config.lr)
        self.batch_size.setValue(config.batch_size)
        self.seed.setValue(config.seed)
        self.shuffle.setChecked(config.shuffle)
        self.keep_best.setChecked(config.keep_best)
        self.halve.setChecked(config.halve_on_plateau)
        self.deskew.setChecked(config.deskew)
        self.augment.setChecked(config.augment)
        self.styles.setChecked(config.styles)

    def set_running(self, running: bool) -> None:
        for widget in (
            self.preset,
            self.model,
            self.hidden,
            self.optimizer,
            self.epochs,
            self.lr,
            self.batch_size,
            self.seed,
            self.shuffle,
            self.keep_best,
            self.halve,
            self.deskew,
            self.augment,
            self.styles,
            self.train_button,
        ):
            widget.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting...")
            self.status.setText("Starting...")

    def kind(self) -> str:
        """The model chosen: "linear", "mlp" or "cnn"."""
        return self.model.currentData()

    def _on_model_chosen(self) -> None:
        """Another model: its default width (the linear model has none, and no width box)."""
        kind = self.kind()
        self.hidden.setVisible(kind != "linear")
        if kind != "linear":
            self.hidden.setValue(DEFAULT_SHAPES[kind]["hidden"])

    def show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        self.progress.setFormat(text)

    def _on_train(self) -> None:
        try:
            config = self.config()
        except ConfigError as error:
            self.status.setText(f"Cannot train: {error}.")
            return
        self.train_requested.emit(config)
