"""The main window: draw on the left, train in the middle, watch the curves on the right.

The window only lays things out and wires them: the state is the `Session` (weights and data in
use), runs belong to the `RunController`, the File menu's work to `FileActions`, and each pane or
tab is its own widget that follows the session's signals.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QStandardPaths, Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..handwriting import HandwritingError, PersonalSet
from ..train import ConfigError, EpochEnd, Finished, TrainConfig
from ..weights import WeightFile
from .actions import build_actions
from .dialogs import Folders, message, plain
from .draw_pane import DEFAULT_PEN_WIDTH, DrawPane
from .epochs_table import EpochsTable
from .errors import ErrorsPanel
from .file_actions import FileActions
from .fine_tune import FineTuning
from .handwriting_panel import HandwritingPanel
from .inside import InsidePanel
from .run_controller import RunController
from .runs import RunsPanel
from .session import DEFAULT_WEIGHTS, Session
from .settings import open_settings
from .train_panel import TrainPanel
from .views import TrainingPlots, WeightsInfo, configure_pyqtgraph

REDRAW_MS = 100  # the progress bar and the live prediction refresh at most 10 times a second
PLOTS_EVERY_S = 0.25  # and the curves at most 4 times a second
A_MODEL = {"linear": "a linear model", "mlp": "an MLP", "cnn": "a CNN"}
FIRST_SIZE = (1280, 800)  # on a first launch at least, or 80% of a larger screen up to twice it
MAX_PANE_WIDTH = 1 << 16  # a remembered pane width past any screen's is damage


def personal_folder() -> Path:
    """Where the person's labelled drawings live: the user's data folder for mnistpad."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) / "handwriting"


class MainWindow(QMainWindow):
    """mnistpad's window. `weights` opens a weight file instead of the bundled default."""

    def __init__(self, weights: Path | None = None, data_folder: Path | None = None) -> None:
        super().__init__()
        configure_pyqtgraph(QApplication.palette())
        self.settings, settings_problem = open_settings()
        self.session = Session(data_folder)
        self.run = RunController(self.session)
        self.folders = Folders(self.settings)
        self.files = FileActions(self, self.session, self.run, self.folders)
        self.dirty = False  # the live view needs a redraw
        self.plots_drawn = 0.0  # time.monotonic() of the last curves redraw
        self.classes_shown: list[str] = []  # the class names the panes show

        self.setAcceptDrops(True)
        self._build_widgets()
        self.actions = build_actions(self)
        self._wire()
        self._restore_settings()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self.redraw_timer.start()

        opened = weights and self.files.open_weights(weights, "mnistpad opens its default weights.")
        if not opened and not self.files.open_weights(DEFAULT_WEIGHTS):
            self._show_weights()
        self._restore_layout()  # last, once the Label buttons exist and count in the minimum
        if settings_problem:
            self.statusBar().showMessage(settings_problem, 30_000)

    # -- layout --------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.draw = DrawPane()
        self.canvas, self.chart, self.preview = self.draw.canvas, self.draw.chart, self.draw.preview
        self.panel = TrainPanel()
        self.info = WeightsInfo()
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.panel)
        middle_layout.addWidget(self.info)
        middle_layout.addStretch(1)
        # Scrolled rather than squeezed on a short screen, never sideways.
        middle_pane = _scrolling(middle)
        middle_pane.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scrollbar = middle_pane.verticalScrollBar().sizeHint().width()
        middle_pane.setMinimumWidth(middle.minimumSizeHint().width() + scrollbar)

        self.plots = TrainingPlots()
        self.table = EpochsTable()
        self.inside = InsidePanel()
        self.runs = RunsPanel(self.plots, self.session.curves_in_use, self.folders)
        curves_page = QWidget()
        curves_layout = QVBoxLayout(curves_page)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.plots, 1)
        curves_layout.addWidget(self.runs)
        self.errors = ErrorsPanel(self.session)
        self.handwriting = HandwritingPanel(PersonalSet(personal_folder()), self.folders)
        self.fine_tuning = FineTuning(self, self.session, self.run, self.handwriting)
        self.tabs = QTabWidget()
        self.inside_page = _scrolling(self.inside)
        self.errors_page = _scrolling(self.errors)  # a narrow window scrolls, never widens
        for page, name, tip in (
            (curves_page, "Curves", "Loss and accuracy per epoch"),
            (self.table, "Epochs", "The same numbers as a table"),
            (self.inside_page, "Inside", "The model's templates; the evidence in your drawing"),
            (self.errors_page, "Errors", "Where the weights in use go wrong on the test set"),
            (_scrolling(self.handwriting), "Handwriting", "Your labelled drawings; fine-tuning"),
        ):
            self.tabs.setTabToolTip(self.tabs.addTab(page, name), tip)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane, stretch in ((self.draw, 3), (middle_pane, 0), (self.tabs, 4)):
            self.splitter.addWidget(pane)
            self.splitter.setStretchFactor(self.splitter.count() - 1, stretch)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self.weights_label = plain(QLabel())
        self.statusBar().addPermanentWidget(self.weights_label)  # messages show left of it

    def _wire(self) -> None:
        session, run, files, draw = self.session, self.run, self.files, self.draw
        session.weights_changed.connect(self._on_weights_changed)
        draw.input_changed.connect(self.show_prediction)
        draw.evidence_toggled.connect(self.show_prediction)
        draw.compare_toggled.connect(self.show_prediction)
        draw.label_requested.connect(self.label_drawing)
        self.inside.class_chosen.connect(self.show_prediction)
        self.tabs.currentChanged.connect(self.show_prediction)  # Inside is kept only while shown
        self.errors.inspect_requested.connect(draw.inspect)
        self.panel.train_requested.connect(run.start)
        self.panel.stop_requested.connect(run.stop)
        run.started.connect(self._on_run_started)
        run.progress.connect(self._on_progress)
        run.epoch_end.connect(self._on_epoch_end)
        run.finished.connect(self._on_run_finished)
        run.failed.connect(self._on_run_failed)
        run.stopping.connect(self._on_ending)
        run.scoring.connect(self._on_ending)
        files.weights_opened.connect(self._on_weights_opened)
        files.status.connect(self.say)
        self.runs.exported.connect(lambda path: self.say(f"Exported {path}"))
        self.handwriting.message.connect(self.say)

    # -- the weights in use --------------------------------------------------------------------

    @Slot()
    def _on_weights_changed(self) -> None:
        session = self.session
        if session.classes != self.classes_shown:
            self.classes_shown = session.classes
            self.draw.set_classes(session.classes)
            self.inside.set_classes(session.classes)
            self.handwriting.show_set(session.classes)
        self._show_weights()
        self.show_prediction()

    @Slot(object)
    def _on_weights_opened(self, loaded: WeightFile) -> None:
        """A file's weights are in use: show its curves and settings (a run's are shown)."""
        self.plots.set_history(loaded.history, int(loaded.metrics.get("best_epoch", 0) or 0))
        self.table.show_history(loaded.history)
        try:
            self.panel.set_config(TrainConfig.from_dict(loaded.meta.get("training", {})))
        except (ConfigError, TypeError):
            pass  # a file without (valid) settings leaves the panel as it was
        self.panel.show_progress(0, "ready")
        self.panel.status.setText(" ")

    def _show_weights(self) -> None:
        session = self.session
        if session.model is None:
            self.weights_label.setText("No weights loaded: train a model or open a weight file.")
            return
        accuracy = session.meta.get("metrics", {}).get("test_accuracy")
        known = isinstance(accuracy, float)
        accuracy_text = f"test accuracy {accuracy:.2%}" if known else "test accuracy unknown"
        self.weights_label.setText(f"Weights: {session.source}  -  {accuracy_text}")
        self.info.show_weights(session.source, session.meta, session.model)
        name = Path(session.source).name if "/" in session.source else session.source
        self.setWindowTitle(f"{name}[*]")  # Qt adds " - mnistpad", and "*" while unsaved
        self.setWindowModified(session.unsaved)

    # -- the drawing and what the model reads --------------------------------------------------

    @Slot()
    def show_prediction(self) -> None:
        model, deskewed = self.run.model_in_view()
        current = self.draw.prepare_input(deskewed)
        overlay = self.draw.show_evidence.isChecked()
        if overlay or self.tabs.currentWidget() is self.inside_page:  # else nobody looks
            self.inside.show(model, current)
        self.draw.show_reading(model, self.inside.evidence_map() if overlay else None)
        if self.draw.show_compare.isChecked():
            where = "in use" if model is self.session.model else "being trained"
            self.draw.compare.show_drawing(
                self.draw.field, model, deskewed, self.draw.classes, where
            )

    @Slot(int)
    def label_drawing(self, label: int) -> bool:
        """Keep the drawing on the canvas, labelled, in the personal set; then clear the canvas."""
        draw = self.draw
        if self.canvas.is_empty() or draw.field is None or draw.inspecting:
            what = "an image from the test set is shown" if draw.inspecting else "nothing drawn"
            self.say(f"Draw a digit first, then label it ({what}).")
            return False
        name = draw.classes[label]
        try:
            drawing = self.handwriting.personal.add(draw.field, draw.strokes(), label, name)
        except HandwritingError as error:
            message(self, "critical", "Cannot keep the drawing", f"{error}.")
            return False
        held = " (held out, to measure)" if drawing.held_out else ""
        self.say(f"Kept as {name}{held}.")
        self.canvas.clear()
        self.handwriting.add_drawing(drawing)
        return True

    def keyPressEvent(self, event) -> None:
        text = event.text()  # 0-9 only: isdigit() takes "²" (a key in France) and "٣" too
        if len(text) == 1 and text in "0123456789" and int(text) < len(self.draw.classes):
            self.label_drawing(int(text))
        else:
            super().keyPressEvent(event)

    # -- training ------------------------------------------------------------------------------

    @Slot(object)
    def _on_run_started(self, config: TrainConfig) -> None:
        self.plots.clear(epochs=config.epochs)
        self.table.setRowCount(0)
        self.panel.set_running(True)
        self._enable_for_training(True)
        self.weights_label.setText("Weights: the model being trained (live)")
        self.say(f"Training {A_MODEL[config.model]} with the {config.preset} preset...")

    @Slot()
    def _on_ending(self) -> None:  # a stop asked for, or the kept weights being scored
        self.panel.show_progress(self.run.fraction_done(), self.run.ending)

    @Slot(object)
    def _on_progress(self, event) -> None:
        self.plots.add_running(
            event.epoch - 1 + event.seen / event.total, event.loss, event.accuracy
        )
        self.dirty = True

    @Slot(object)
    def _on_epoch_end(self, event: EpochEnd) -> None:
        stats = vars(event.stats)
        self.plots.add_epoch(stats, event.best_epoch)
        self.table.add_epoch(stats)
        best = next(s for s in self.plots.epochs if s["epoch"] == event.best_epoch)
        self.panel.status.setText(
            f"Step size {event.stats.lr:.4g}.  Best dev accuracy so far: "
            f"{best['dev_accuracy']:.2%} (epoch {event.best_epoch})."
        )
        self.dirty = True

    @Slot(object)
    def _on_run_finished(self, result: Finished) -> None:
        self._back_to_idle()
        self.runs.keep(result, self.run.dataset.name)
        ending = "Stopped" if result.stopped else "Diverged" if result.diverged else "Done"
        kept = f"epoch {result.kept_epoch}" if result.kept_epoch else "the latest weights"
        waited = time.monotonic() - self.run.started_at
        epochs = len(result.history)
        done = 1.0 if not result.stopped else epochs / result.config.epochs
        self.panel.show_progress(
            done, f"{ending.lower()} after {waited:.1f} s ({result.seconds:.1f} s training)"
        )
        self.panel.status.setText(
            f"{ending} after {epochs} of {result.config.epochs} epochs: kept {kept}.  Test"
            f" accuracy {result.test_accuracy:.2%}, dev {result.dev_accuracy:.2%}."
        )
        self.say(f"Training {ending.lower()}.")
        self.dirty = True
        self._redraw()  # the run's last points, now
        if result.diverged:
            message(
                self,
                "warning",
                "Training diverged",
                f"{result.diverged[0].upper()}{result.diverged[1:]}.\n\nThe weights in use are the "
                f"last finite ones ({kept}).",
            )

    @Slot(str)
    def _on_run_failed(self, text: str) -> None:
        self._back_to_idle()
        self._show_weights()
        self.panel.show_progress(0, "failed")
        self.panel.status.setText(" ")
        self.show_prediction()
        message(self, "critical", "Training failed", f"{text}\n\nThe weights in use are unchanged.")

    def _back_to_idle(self) -> None:
        self.panel.set_running(False)
        self._enable_for_training(False)

    def _enable_for_training(self, running: bool) -> None:
        self.actions.train.setEnabled(not running)
        self.actions.stop.setEnabled(running)
        for act in self.actions.files:
            act.setEnabled(not running)

    @Slot()
    def _redraw(self) -> None:
        """Throttled refresh of the plots, the progress bar and the live prediction."""
        if not self.dirty:
            return
        self.dirty = False
        now = time.monotonic()
        if not self.run.training or now - self.plots_drawn >= PLOTS_EVERY_S:
            self.plots.redraw()  # the costliest repaint in the window: at most 4 times a second
            self.plots_drawn = now
        if self.run.training and self.run.last_progress is not None:
            done = self.run.fraction_done()
            elapsed = now - self.run.started_at
            left = elapsed * (1 - done) / done if done > 0 else 0
            epoch, epochs = self.run.last_progress.epoch, self.run.config.epochs
            text = self.run.ending or f"epoch {epoch}/{epochs} - {_duration(left)} left"
            self.panel.show_progress(done, text)
        self.show_prediction()

    # -- messages, help, keys ------------------------------------------------------------------

    @Slot(str)
    def say(self, text: str) -> None:
        """A message in the status bar, for long enough to read it."""
        self.statusBar().showMessage(text, max(5000, 80 * len(text)))

    # -- drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile() and urls[0].toLocalFile().endswith(".npz"):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        event.acceptProposedAction()
        self.files.drop(event.mimeData().urls()[0].toLocalFile())

    # -- settings and closing ------------------------------------------------------------------

    def _restore_settings(self) -> None:
        """Restore what the last session saved; anything missing or damaged falls back."""
        if not self._restore("geometry", self.restoreGeometry):  # Qt keeps it on a screen
            self._first_size()
        try:
            pen_width = int(self.settings.value("pen_width", DEFAULT_PEN_WIDTH))
        except (TypeError, ValueError, OverflowError):  # a hand-edited or damaged settings file
            pen_width = DEFAULT_PEN_WIDTH
        slider = self.draw.pen_width
        in_range = slider.minimum() <= pen_width <= slider.maximum()
        slider.setValue(pen_width if in_range else DEFAULT_PEN_WIDTH)

    def _first_size(self) -> None:
        """The first launch: a size for the screen (`first_size`), centred."""
        screen = self.screen().availableGeometry()
        width, height = first_size(screen.width(), screen.height())
        self.resize(width, height)
        self.move(screen.center().x() - width // 2, screen.center().y() - height // 2)

    def _restore_layout(self) -> None:
        """The toolbar's place and the panes' widths as last saved, unless damaged or too big for
        the screen. Only the widths are kept of the splitter: its saved state also holds the
        handle's width and the orientation, which a damaged file set to 3000 px and vertical
        (a minimum window of 6774x3080, saved again on closing)."""
        default_state = self.saveState()
        if self._restore("window_state", self.restoreState) and not self._fits_screen():
            self.restoreState(default_state)  # a toolbar on the side, saved on a wider screen
        widths = pane_widths(self.settings.value("splitter"), self.splitter.count())
        if widths is None:
            width = self.width()
            widths = [round(width * 0.34), round(width * 0.21), round(width * 0.45)]
        self.splitter.setSizes(widths)  # each pane gets at least its minimum

    def _fits_screen(self) -> bool:
        screen = self.screen().availableGeometry().size()
        minimum = self.minimumSizeHint()
        return minimum.width() <= screen.width() and minimum.height() <= screen.height()

    def _restore(self, key: str, restore) -> bool:
        state = self.settings.value(key)
        return isinstance(state, QByteArray | bytes) and restore(state)

    def _save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("splitter", self.splitter.sizes())
        self.settings.setValue("pen_width", self.draw.pen_width.value())
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.run.shutdown()
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.handwriting.stop_import()
        self.redraw_timer.stop()
        self._save_settings()
        event.accept()


def first_size(screen_width: int, screen_height: int) -> tuple[int, int]:
    """The window's size on a first launch: 80% of the screen (1280x800 at least, twice that at
    most: a 2560x1440 screen gets 2048x1152), or what a small screen leaves once a title bar and a
    panel take their share."""

    def side(least: int, screen: int, room: float) -> int:
        return min(max(least, round(screen * 0.8)), 2 * least, round(screen * room))

    return side(FIRST_SIZE[0], screen_width, 0.95), side(FIRST_SIZE[1], screen_height, 0.92)


def pane_widths(value, count: int) -> list[int] | None:
    """Remembered pane widths: `count` whole numbers of pixels, each in range; else None."""
    try:
        widths = [int(width) for width in value] if isinstance(value, list) else []
    except (TypeError, ValueError, OverflowError):  # a hand-edited or damaged settings file
        return None
    in_range = len(widths) == count and all(0 < width <= MAX_PANE_WIDTH for width in widths)
    return widths if in_range else None


def _scrolling(page: QWidget) -> QScrollArea:
    """The page in a scroll area: a narrow window scrolls it instead of growing wider."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
