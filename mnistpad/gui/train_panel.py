"""The training controls: preset, settings, Train / Stop, progress and what the run has found."""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..networks import DEFAULT_SHAPES, KIND_NAMES, MAX_HIDDEN
from ..train import (
    MAX_EPOCHS,
    MAX_LR,
    MAX_SEED,
    MAX_TRAIN_SIZE,
    MIN_TRAIN_SIZE,
    OPTIMIZERS,
    PRESETS,
    ConfigError,
    EpochEnd,
    TrainConfig,
)
from .dialogs import ICONS, choices
from .epoch_times import EpochTimes, rough_duration

DEFAULT_PRESET = "deskew"  # the one the bundled default weights were trained with
MODIFIED = " (modified)"  # after the preset's name while a field differs from the preset's
# Choosing a model loads its preset: a CNN under a linear preset's SGD step 1.0 stays at chance.
MODEL_PRESET = {"linear": DEFAULT_PRESET, "mlp": "mlp", "cnn": "cnn"}
CHANCE_MARGIN = 0.02  # dev accuracy within this of 1 / classes after an epoch: nothing learnt
STILL_AT_CHANCE = (
    "Still at chance after epoch {epoch}: the step size may be too large or too small for this"
    " model; try its preset."
)
ASK_BEFORE_STOP_S = 10.0  # Stop asks first when more training than this would be lost
PRESET_HELP = {
    "naive": "The simplest way to train (the original report's first run): step 0.01, one\n"
    "example per step, in file order; keeps the last epoch's weights.",
    "optimized": "The original report's second run: one example per step, shuffled every\n"
    "epoch; keeps the weights that did best on the held-out images (the dev set) and halves\n"
    "the step when that accuracy stops improving.",
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
SCHEDULE_NAMES = {"constant": "held", "onecycle": "one cycle", "cosine": "warm-up, cosine"}
MODEL_HELP = (
    "What to train:\n"
    "Linear: one weight per pixel and class, the simplest model (the original report's),\n"
    "seconds to train.\n"
    "MLP: a hidden layer of ReLU units between pixels and classes.\n"
    "CNN: two convolution + pooling layers, then a hidden dense layer; the most accurate,\n"
    "and the slowest (about 11 s an epoch)."
)
OPTIMIZER_HELP = (
    "How each step follows the gradient:\n"
    "sgd: plain steps (stochastic gradient descent, the original report's).\n"
    "momentum: keeps 0.9 of the previous step's direction.\n"
    "adam: a step per weight scaled by its recent gradients; use a small step size\n"
    "such as 0.001. The networks' presets use it."
)


class TrainPanel(QGroupBox):
    """Settings for a run, the Train and Stop buttons, and the run's progress."""

    train_requested = Signal(object)  # a validated TrainConfig
    stop_requested = Signal()
    pause_requested = Signal(bool)  # Pause (True) or Resume (False) pressed
    step_requested = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Train", parent)
        self.timing = EpochTimes(settings)
        self.started_at = 0.0  # time.monotonic() when the run began, or its last kept epoch ended
        self.stop_confirmed = False  # a stop was asked for and confirmed: a second one is not asked
        self.preset = QComboBox()
        for name in PRESETS:
            self.preset.addItem(name, name)  # the text gains MODIFIED; the data stays the name
            self.preset.setItemData(self.preset.count() - 1, PRESET_HELP[name], 3)  # ToolTipRole
        help_text = "\n\n".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
        self.preset.setToolTip(f"Start from one of these protocols:\n\n{help_text}")
        self.model = choices(KIND_NAMES)
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
        self.schedule = choices(SCHEDULE_NAMES)
        self.schedule.setToolTip(
            "How the step size moves during the run (plotted under the curves):\n"
            "held: the same all along (halved on a plateau if the policy says so);\n"
            "one cycle: up from 1/25 of it over the first 30% of the steps, then down to\n"
            "almost 0 (Smith's one-cycle policy, as PyTorch's OneCycleLR);\n"
            "warm-up, cosine: up over the first 5% of the steps, then down to 0 along a cosine.\n"
            "Large steps early and small ones late reach an accuracy in fewer epochs."
        )
        self.schedule.setAccessibleName("Step size schedule")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 50_000)
        self.batch_size.setToolTip(
            "Examples per step: 1 is one example at a time, as in the original report."
        )
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip(
            "Seeds the initial weights, the shuffling, the training images chosen and the\n"
            "labels made wrong: the same seed gives the same result."
        )
        self.train_size = QSpinBox()
        self.train_size.setRange(MIN_TRAIN_SIZE, MAX_TRAIN_SIZE)
        self.train_size.setStepType(QSpinBox.StepType.AdaptiveDecimalStepType)  # 100s to 10,000s
        self.train_size.setGroupSeparatorShown(True)
        self.train_size.setToolTip(
            "Train on this many training images, a random subset drawn by the seed\n"
            f"({MAX_TRAIN_SIZE:,}: all of them). With a few hundred the model learns them by\n"
            "heart: the training accuracy climbs while the held-out accuracy stays behind\n"
            "(overfitting). The held-out and test images are never reduced."
        )
        self.train_size.setAccessibleName("Training images")
        self.label_noise = QSpinBox()
        self.label_noise.setRange(0, 100)
        self.label_noise.setSuffix("%")
        self.label_noise.setToolTip(
            "Label noise: this share of the training images get a wrong label, another class\n"
            "drawn at random (by the seed). The training accuracy on the curves is measured on\n"
            "these labels, as the model trains on them; held-out and test labels stay right."
        )
        self.label_noise.setAccessibleName("Label noise")
        self.shuffle = QCheckBox("shuffle every epoch")
        self.shuffle.setToolTip(
            "Visit the training images in a new random order every epoch\n"
            "(otherwise in file order)."
        )
        self.keep_best = QCheckBox("keep the best epoch")
        self.keep_best.setToolTip(
            "At the end, keep the weights of the epoch that did best on the 10,000 held-out\n"
            "images (the dev set, kept apart from training to choose the epoch); otherwise the\n"
            "last epoch's."
        )
        self.halve = QCheckBox("halve step on a plateau")
        self.halve.setToolTip(
            "Halve the step size after an epoch that does not improve the best accuracy\n"
            "on the held-out images (dev accuracy)."
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
            "Stop training now and keep the weights the policy says to keep: the best\n"
            "epoch's or the latest (Esc). Asks first when more than 10 s of training would\n"
            "be lost."
        )
        self.stop_button.setEnabled(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip(
            "Pause training after the current step, or resume it (Ctrl+P). The time paused\n"
            "does not count in the run's time or in the time left."
        )
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip(
            "While paused: one more step, one mini-batch (one example when the batch size\n"
            "is 1), and watch the curves and your drawing's probabilities move (Ctrl+Shift+P)."
        )
        for button in (self.pause_button, self.step_button):
            button.setEnabled(False)
        self.estimate = QLabel()
        self.estimate.setToolTip(
            "How long the run should take: from the last run of this model with this batch\n"
            "size on this computer, or a first guess until there is one."
        )
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)  # under the bar instead: the fill covered it
        self.progress.setMaximumHeight(self.fontMetrics().height() // 2 + 4)
        self.progress.setFormat("ready")
        self.progress_text = QLabel("ready")
        for widget in (self.progress, self.progress_text):
            widget.setToolTip("Progress of the run and the time it still needs.")
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        self.status.setToolTip(
            "The current step size, the best epoch so far on the held-out images (the dev\n"
            "set) and, at the end, the accuracy of the kept weights on the test images."
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
        form.addRow("Schedule", self.schedule)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Seed", self.seed)
        form.addRow("Images", self.train_size)
        form.addRow("Label noise", self.label_noise)
        checks = QVBoxLayout()
        for box in (self.shuffle, self.keep_best, self.halve):
            checks.addWidget(box)
        form.addRow("Policy", checks)
        inputs = QVBoxLayout()
        inputs.addWidget(self.deskew)
        inputs.addWidget(self.augment)
        inputs.addWidget(self.styles)
        form.addRow("Inputs", inputs)
        buttons = QGridLayout()  # two rows of two: the panel stays as narrow as before
        buttons.addWidget(self.train_button, 0, 0)
        buttons.addWidget(self.stop_button, 0, 1)
        buttons.addWidget(self.estimate, 0, 2)
        buttons.addWidget(self.pause_button, 1, 0)
        buttons.addWidget(self.step_button, 1, 1)
        buttons.setColumnStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_text)
        layout.addWidget(self.status)

        self.preset.currentIndexChanged.connect(self._on_preset_chosen)
        self.model.activated.connect(self._on_model_picked)  # by the person, not set_config
        self.model.currentIndexChanged.connect(self._on_model_chosen)
        self._on_model_chosen()
        for box in (self.model, self.optimizer, self.schedule):
            box.currentIndexChanged.connect(self._on_field_changed)
        for spin in (self.train_size, self.label_noise):
            spin.valueChanged.connect(self._on_field_changed)
        for spin in (self.hidden, self.epochs, self.lr, self.batch_size, self.seed):
            spin.valueChanged.connect(self._on_field_changed)
        for check in (self.shuffle, self.keep_best, self.halve, self.deskew):
            check.toggled.connect(self._on_field_changed)
        for check in (self.augment, self.styles):
            check.toggled.connect(self._on_field_changed)
        self.train_button.clicked.connect(self._on_train)
        self.stop_button.clicked.connect(self._on_stop)
        self.pause_button.clicked.connect(
            lambda: self.pause_requested.emit(self.pause_button.text() == "Pause")
        )
        self.step_button.clicked.connect(self.step_requested)
        self.set_config(PRESETS[DEFAULT_PRESET])

    def preset_name(self) -> str:
        """The preset the settings started from, without MODIFIED."""
        return self.preset.currentData()

    def config(self) -> TrainConfig:
        """The settings shown, as a validated configuration (raises ConfigError)."""
        return TrainConfig(
            preset=self.preset_name(),
            model=self.kind(),
            hidden=0 if self.kind() == "linear" else self.hidden.value(),
            optimizer=self.optimizer.currentText(),
            epochs=self.epochs.value(),
            lr=self.lr.value(),
            schedule=self.schedule.currentData(),
            batch_size=self.batch_size.value(),
            shuffle=self.shuffle.isChecked(),
            keep_best=self.keep_best.isChecked(),
            halve_on_plateau=self.halve.isChecked(),
            seed=self.seed.value(),
            deskew=self.deskew.isChecked(),
            augment=self.augment.isChecked(),
            styles=self.styles.isChecked(),
            train_size=0 if self.train_size.value() == MAX_TRAIN_SIZE else self.train_size.value(),
            label_noise=self.label_noise.value() / 100,
        ).validate()

    def set_config(self, config: TrainConfig) -> None:
        if config.preset in PRESETS:
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData(config.preset))
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
        self.schedule.setCurrentIndex(self.schedule.findData(config.schedule))
        self.batch_size.setValue(config.batch_size)
        self.seed.setValue(config.seed)
        self.shuffle.setChecked(config.shuffle)
        self.keep_best.setChecked(config.keep_best)
        self.halve.setChecked(config.halve_on_plateau)
        self.deskew.setChecked(config.deskew)
        self.augment.setChecked(config.augment)
        self.styles.setChecked(config.styles)
        self.train_size.setValue(config.train_size or MAX_TRAIN_SIZE)
        self.label_noise.setValue(round(100 * config.label_noise))
        self._on_field_changed()

    def modified(self) -> bool:
        """Whether a field differs from the chosen preset's value."""
        try:
            shown = self.config()
        except ConfigError:
            return True
        chosen = PRESETS[shown.preset]
        return shown.shape != chosen.shape or replace(shown, hidden=0) != replace(chosen, hidden=0)

    def set_running(self, running: bool) -> None:
        for widget in (
            self.preset,
            self.model,
            self.hidden,
            self.optimizer,
            self.epochs,
            self.lr,
            self.schedule,
            self.batch_size,
            self.seed,
            self.shuffle,
            self.keep_best,
            self.halve,
            self.deskew,
            self.augment,
            self.styles,
            self.train_size,
            self.label_noise,
            self.train_button,
        ):
            widget.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.show_paused(False, running)
        self.started_at, self.stop_confirmed = time.monotonic(), False
        if running:
            self.show_progress(0, "starting...")
            self.status.setText(" ")
        else:
            self.timing.run_ended()
            self._show_estimate()  # from this run's own time now

    def show_paused(self, paused: bool, can_pause: bool) -> None:
        """Pause or Resume, enabled while the run takes steps; Step only while paused."""
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setEnabled(can_pause)
        self.step_button.setEnabled(can_pause and paused)

    def kind(self) -> str:
        """The model chosen: "linear", "mlp" or "cnn"."""
        return self.model.currentData()

    def _on_preset_chosen(self, index: int) -> None:
        self.set_config(PRESETS[self.preset.itemData(index)])
        self.status.setText(" ")

    def _on_model_chosen(self) -> None:
        """Another model: its default width (the linear model has none, and no width box)."""
        kind = self.kind()
        self.hidden.setVisible(kind != "linear")
        if kind != "linear":
            self.hidden.setValue(DEFAULT_SHAPES[kind]["hidden"])

    def _on_model_picked(self) -> None:
        """The person chose a model: its preset's settings (a step size and an optimizer suit
        one model, not the others)."""
        name = MODEL_PRESET[self.kind()]
        config = PRESETS[name]
        self.set_config(config)
        self.status.setText(
            f"{self.model.currentText()}: loaded the {name} preset's settings ({config.optimizer}"
            f", step {config.lr:g}, {config.epochs} epochs)."
        )

    def _on_field_changed(self) -> None:
        """The preset box says whether the fields still are the preset's; the estimate follows."""
        name = self.preset_name()
        self.preset.setItemText(self.preset.currentIndex(), name + MODIFIED * self.modified())
        for index in range(self.preset.count()):  # the others plain
            if index != self.preset.currentIndex():
                self.preset.setItemText(index, self.preset.itemData(index))
        self._show_estimate()

    def _show_estimate(self) -> None:
        try:
            config = self.config()
        except ConfigError:
            self.estimate.setText("")
            return
        seconds = self.timing.epoch_seconds(config) * config.epochs
        self.estimate.setText(f"about {rough_duration(seconds)}")

    def show_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        self.progress.setFormat(text)
        self.progress_text.setText(text)

    def show_epoch_end(self, event: EpochEnd, best_stats: dict) -> None:
        """The step size and the best epoch so far; a warning when the run learns nothing."""
        stats = event.stats
        text = (
            f"Step size {stats.lr:.4g}.  Best accuracy on held-out images so far: "
            f"{best_stats['dev_accuracy']:.2%} (epoch {event.best_epoch})."
        )
        chance = 1 / event.model.n_classes
        if abs(stats.dev_accuracy - chance) <= CHANCE_MARGIN:
            text += "\n" + STILL_AT_CHANCE.format(epoch=stats.epoch)
        self.status.setText(text)
        self.timing.epoch_ended(stats.epoch, stats.seconds)
        if event.is_best or not self.keep_best.isChecked():
            self.started_at = time.monotonic()  # a stop now keeps this epoch's weights

    def _on_train(self) -> None:
        try:
            config = self.config()
        except ConfigError as error:
            self.status.setText(f"Cannot train: {error}.")
            return
        self.timing.run_started(config)
        self.train_requested.emit(config)

    def _on_stop(self) -> None:
        """Stop, once confirmed if more than ASK_BEFORE_STOP_S of training would be lost: the
        time since the run began or since the last epoch whose weights a stop keeps."""
        lost = time.monotonic() - self.started_at
        if not self.stop_confirmed and lost > ASK_BEFORE_STOP_S:
            if not confirm_stop(self, lost):
                return
        self.stop_confirmed = True  # a second Stop (while the kept weights are scored) is not asked
        self.stop_requested.emit()


def confirm_stop(parent: QWidget, lost: float) -> bool:
    """Ask whether to stop a run that would lose `lost` seconds of training."""
    box = QMessageBox(
        ICONS["question"],
        "Stop training?",
        f"Stop the run now? The last {rough_duration(lost)} of training would be lost: a stop"
        " keeps the best epoch so far (or the latest weights), and the run cannot go on.",
        QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    for button, text in (("Discard", "Stop training"), ("Cancel", "Keep training")):
        shown = box.button(getattr(QMessageBox.StandardButton, button))
        shown.setText(text)
        shown.setIcon(QIcon())  # not Discard's dustbin: the kept weights stay
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)  # Esc twice or Enter: keep training
    return box.exec() == QMessageBox.StandardButton.Discard
