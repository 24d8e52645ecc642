"""How long a run should take: seconds per epoch measured by earlier runs of the same kind of
model, remembered in the window's settings, or a first guess until there is one."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from ..train import MAX_TRAIN_SIZE, TrainConfig

# Seconds an epoch of the bundled MNIST takes on two cores, until a run here measures it: the
# linear presets 0.1-0.7 s, the MLP about 1.3 s (12 epochs in a quarter minute), the CNN 11 s;
# real-writing styles add about 6 s (mlp-robust's first epoch took 8 s in the window).
FIRST_GUESS_S = {"linear": 0.5, "mlp": 1.5, "cnn": 11.0}
STYLES_GUESS_S = 6.0
# An epoch on a subset of the training images takes at least this share of a whole one: scoring
# the 10,000 held-out images does not shrink with it.
SUBSET_SHARE = 0.05


def rough_duration(seconds: float) -> str:
    """A time as precisely as an estimate deserves: 3 s, 40 s, 2 min, 1 h 10 min."""
    if seconds < 55:
        return f"{max(1, round(seconds / 5) * 5 if seconds >= 10 else round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class EpochTimes:
    """Seconds an epoch takes, by what sets the pace (model, width, batch size, varied inputs),
    measured by the runs started from the panel and remembered in the settings."""

    def __init__(self, settings: QSettings | None) -> None:
        self.settings = settings
        self.remembered: dict[str, float] = {}  # without settings: this session's
        self.timed: str | None = None  # the key of the run in progress, if the panel started it

    @staticmethod
    def key(config: TrainConfig) -> str:
        shape = "-".join(str(value) for value in config.shape.values())
        varied = "varied" if config.augment or config.styles else "plain"
        subset = f"-n{config.train_size}" if config.train_size else ""  # a run on fewer images
        return f"epoch_seconds/{config.model}{shape}-b{config.batch_size}-{varied}{subset}"

    def epoch_seconds(self, config: TrainConfig) -> float:
        key = self.key(config)
        value = self.remembered.get(key)
        if value is None and self.settings is not None:
            try:
                value = float(self.settings.value(key, -1.0))
            except (TypeError, ValueError):  # a hand-edited or damaged settings file
                value = None
        if value is None or not 0 < value < 1e6:
            guess = FIRST_GUESS_S[config.model] + STYLES_GUESS_S * config.styles
            share = config.train_size / MAX_TRAIN_SIZE if config.train_size else 1.0
            return guess * max(share, SUBSET_SHARE)
        return value

    def run_started(self, config: TrainConfig) -> None:
        self.timed = self.key(config)

    def run_ended(self) -> None:
        self.timed = None  # a fine-tuning run's epochs are not the panel's

    def epoch_ended(self, epoch: int, seconds: float) -> None:
        if self.timed is None or epoch < 1 or seconds <= 0:
            return
        self.remembered[self.timed] = seconds / epoch
        if self.settings is not None:
            self.settings.setValue(self.timed, seconds / epoch)
