"""The main window: draw on the left, train in the middle, watch the curves on the right.

The window only lays things out and wires them: the state is the `Session` (weights and data in
use), runs belong to the `RunController`, the File menu's work to `FileActions`, and each pane or
tab is its own widget that follows the session's signals.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, QStandardPaths, Qt, QTimer, Slot
from PySide6.QtGui import QPalette
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
from ..networks import Model
from ..run_store import RunStore, StoredRun
from ..train import ConfigError, EpochEnd, Finished, TrainConfig
from ..weights import WeightFile, input_deskew
from .actions import build_actions
from .dialogs import Button, Folders, message, plain
from .draw_pane import DEFAULT_PEN_WIDTH, DrawPane
from .epochs_table import EpochsTable
from .errors import ErrorsPanel
from .file_actions import FileActions
from .fine_tune import FineTuning
from .handwriting_panel import HandwritingPanel
from .inside import InsidePanel
from .map_view import MapPanel
from .present import Presentation, ScrolledPanes
from .run_controller import RunController
from .runs import RunsPanel, run_name
from .session import DEFAULT_WEIGHTS, Session
from .settings import open_settings
from .train_panel import TrainPanel
from .unsure_rules import UnsureRules
from .views import TrainingPlots, WeightsInfo, configure_pyqtgraph

REDRAW_MS = 100  # the progress bar and the live prediction refresh at most 10 times a second
PLOTS_EVERY_S = 0.25  # and the curves at most 4 times a second
A_MODEL = {"linear": "a linear model", "mlp": "an MLP", "cnn": "a CNN"}
FIRST_SIZE = (1280, 800)  # on a first launch at least, or 80% of a larger screen up to twice it
MAX_PANE_WIDTH = 1 << 16  # a remembered pane width past any screen's is damage


def user_folder() -> Path:
    """The user's data folder for mnistpad (the labelled drawings, the kept runs)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))


def personal_folder() -> Path:
    """Where the person's labelled drawings live."""
    return user_folder() / "handwriting"


def runs_folder() -> Path:
    """Where every trained model (and every weight file opened) is kept between sessions."""
    return user_folder() / "runs"


class MainWindow(QMainWindow):
    """mnistpad's window. `weights` opens a weight file instead of the bundled default."""

    def __init__(self, weights: Path | None = None, data_folder: Path | None = None) -> None:
        super().__init__()
        self.settings, settings_problem = open_settings()
        self.present = Presentation(self, self.settings)  # the theme, before any plot is made
        configure_pyqtgraph(QApplication.palette())
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

        skipped = self.runs.read_stored()
        opened = weights and self.files.open_weights(weights, "mnistpad opens its default weights.")
        opened = opened or (weights is None and self._restore_runs())
        if not opened and not self.files.open_weights(DEFAULT_WEIGHTS, listed=False):
            self._show_weights()
        self.present.restore()  # the zoom, once every widget exists
        self._restore_layout()  # last, once the Label buttons exist and count in the minimum
        problems = [settings_problem] if settings_problem else []
        if skipped:
            count = len(skipped)
            problems.append(
                f"{count} kept run{'s' if count > 1 else ''} not listed: {skipped[0]}"
                + (f" (and {count - 1} more)" if count > 1 else "")
            )
        if problems:
            self.statusBar().showMessage("  ".join(problems), 30_000)

    # -- layout --------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.draw = DrawPane()
        self.canvas, self.chart, self.preview = self.draw.canvas, self.draw.chart, self.draw.preview
        self.panel = TrainPanel(self.settings)  # remembers how long epochs take
        self.info = WeightsInfo()
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.panel)
        middle_layout.addWidget(self.info)
        middle_layout.addStretch(1)
        # Scrolled rather than squeezed on a short screen, never sideways.
        self.middle_pane = _Column()
        self.middle_pane.setWidget(middle)

        self.plots = TrainingPlots()
        self.table = EpochsTable()
        self.inside = InsidePanel()
        self.runs = RunsPanel(
            self.plots, self.session.curves_in_use, self.folders, RunStore(runs_folder())
        )
        curves_page = QSplitter(Qt.Orientation.Vertical)  # the list can be given more room
        curves_page.addWidget(self.plots)
        curves_page.addWidget(self.runs)
        curves_page.setStretchFactor(0, 3)
        curves_page.setStretchFactor(1, 1)
        curves_page.setChildrenCollapsible(False)
        self.errors = ErrorsPanel(self.session)
        self.unsure = UnsureRules(self.session)
        self.map = MapPanel(self.session, self.run.model_in_view)
        self.handwriting = HandwritingPanel(PersonalSet(personal_folder()), self.folders)
        self.fine_tuning = FineTuning(self, self.session, self.run, self.handwriting)
        self.tabs = QTabWidget()
        # Which model each view shows: the tab's own line above it, the reading's above the canvas.
        self.tab_note = _note()
        self.reader_note = _note()
        self.inside_page = _scrolling(self.inside)
        self.errors_page = _scrolling(self.errors)  # a narrow window scrolls, never widens
        self.map_page = _scrolling(self.map)
        self.handwriting_page = _scrolling(self.handwriting)
        for page, name, tip in (
            (curves_page, "Curves", "Loss and accuracy per epoch"),
            (self.table, "Epochs", "The same numbers as a table"),
            (self.inside_page, "Inside", "The model's templates; the evidence in your drawing"),
            (self.errors_page, "Errors", "Where the weights in use go wrong on the test set"),
            (self.map_page, "Map", "The test images placed by what the model makes of them"),
            (self.handwriting_page, "Handwriting", "Your labelled drawings; fine-tuning"),
        ):
            self.tabs.setTabToolTip(self.tabs.addTab(page, name), tip)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        left, right = _with_note(self.reader_note, self.draw), _with_note(self.tab_note, self.tabs)
        for pane, stretch in ((left, 3), (self.middle_pane, 0), (right, 4)):
            self.splitter.addWidget(pane)
            self.splitter.setStretchFactor(self.splitter.count() - 1, stretch)
        self.splitter.setChildrenCollapsible(False)
        self.panes = ScrolledPanes(self.splitter)  # scrolled when zoomed past the screen
        self.setCentralWidget(self.panes)
        self.weights_label = plain(QLabel())
        self.statusBar().addPermanentWidget(self.weights_label)  # messages show left of it

    def _wire(self) -> None:
        session, run, files, draw = self.session, self.run, self.files, self.draw
        session.weights_changed.connect(self._on_weights_changed)
        draw.input_changed.connect(self.show_prediction)
        self.unsure.ready.connect(self.show_prediction)
        draw.evidence_toggled.connect(self.show_prediction)
        draw.compare_toggled.connect(self.show_prediction)
        draw.label_requested.connect(self.label_drawing)
        self.inside.class_chosen.connect(self.show_prediction)
        self.tabs.currentChanged.connect(self.show_prediction)  # Inside is kept only while shown
        self.errors.inspect_requested.connect(draw.inspect)
        self.map.inspect_requested.connect(draw.inspect)
        run.epoch_end.connect(self.map.refresh_when_shown)  # the live model, placed again
        self.panel.train_requested.connect(run.start)
        self.panel.stop_requested.connect(run.stop)
        self.panel.pause_requested.connect(run.set_paused)
        self.panel.step_requested.connect(run.step)
        run.paused_changed.connect(self._show_pausing)
        run.paused.connect(self._show_pausing)
        run.started.connect(self._on_run_started)
        run.progress.connect(self._on_progress)
        run.epoch_end.connect(self._on_epoch_end)
        run.finished.connect(self._on_run_finished)
        run.failed.connect(self._on_run_failed)
        run.stopping.connect(self._on_ending)
        run.scoring.connect(self._on_ending)
        files.weights_opened.connect(self._on_weights_opened)
        files.weights_saved.connect(self._on_weights_saved)
        files.status.connect(self.say)
        run.keep = self._keep_run
        self.runs.exported.connect(lambda path: self.say(f"Exported {path}"))
        self.runs.use_requested.connect(self.use_run)
        self.runs.removed.connect(self._on_run_removed)
        self.runs.message.connect(self.say)
        self.runs.ticks_changed.connect(self.show_prediction)
        self.tabs.currentChanged.connect(self._name_models)
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
        self.runs.mark_in_use(session.model)
        self.show_prediction()

    @Slot(object, str)
    def _on_weights_opened(self, loaded: WeightFile, path: str) -> None:
        """A file's weights are in use: show its curves and settings, and list it (`path`)."""
        self._show_history(loaded)
        if path:
            self.runs.keep(loaded.model, loaded.meta, self.session.name, origin=path)

    def _keep_run(self, model: Model, meta: dict, result: Finished) -> tuple[str, bool]:
        """A finished run's weights, kept in the runs list: (its title, whether on disk)."""
        config = result.config
        kept = self.runs.keep(
            model, meta, run_name(config.model, config.preset, len(result.history), config.epochs)
        )
        return kept.title, kept.path is not None

    @Slot(object)
    def use_run(self, run: StoredRun) -> bool:
        """Put a listed run's weights in use (the weights in use are kept, or asked about)."""
        if self.run.training or not self.files.confirm_discard():
            return False
        self._put_in_use(run)
        self.say(f"Using {run.title}.")
        return True

    def _put_in_use(self, run: StoredRun) -> None:
        self.session.use_weights(run.model, run.meta, run.title, unsaved=False)
        self._show_history(WeightFile(run.model, run.meta))

    @Slot(object)
    def _on_run_removed(self, run: StoredRun) -> None:
        in_use = run.model is self.session.model or run.digest == self.runs.in_use_digest
        if in_use and not run.kept_elsewhere and self.runs.in_use_run() is None:
            self.session.unsaved = True  # still in use, now kept nowhere: asked before it goes
            self._show_weights()

    @Slot(str)
    def _on_weights_saved(self, path: str) -> None:
        if (entry := self.runs.in_use_run()) is not None:
            self.runs.saved(entry, path)

    def _show_history(self, loaded: WeightFile) -> None:
        """The curves and training settings of weights put in use (a run's are shown already)."""
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
        self.weights_label.setText(f"Weights: {session.name}  -  {accuracy_text}")
        self.info.setTitle("Weights in use")
        self.info.show_weights(session.source, session.meta, session.model)
        self.setWindowTitle(f"{session.name}[*]")  # Qt adds " - mnistpad", and "*" while unsaved
        self.setWindowModified(session.unsaved)
        self._name_models()

    @Slot()
    def _name_models(self) -> None:
        """Say above the canvas and above the tab which model each shows (the live one while a
        run trains, except on the Errors tab, which waits for the run's end)."""
        in_use = self.session.name or "no model"
        live = self.run.live_name() if self.run.training else ""
        self.reader_note.setText(f"Read by: {live or in_use}")
        page = self.tabs.currentWidget()
        if page is self.errors_page:
            text = f"Test errors of: {in_use}" + (
                " (in use before this run; the new model's show when it ends)" if live else ""
            )
        elif page is self.handwriting_page:
            text = f"Marks and fine-tuning use: {in_use}" + (
                " (in use before this run)" if live else ""
            )
        elif page is self.inside_page:
            text = f"Inside: {live or in_use}"
        elif page is self.map_page:
            text = f"Map of: {live or in_use}"
        else:
            text = f"Curves of: {'the run in progress, ' + live if live else in_use}"
        self.tab_note.setText(text)
        if live:
            self.setWindowTitle(f"Training: {live}[*]")
            self.weights_label.setText(f"Reading with the model being trained ({live})")

    # -- the drawing and what the model reads --------------------------------------------------

    @Slot()
    def show_prediction(self) -> None:
        model, deskewed = self.run.model_in_view()
        current = self.draw.prepare_input(deskewed)
        overlay = self.draw.show_evidence.isChecked()
        if overlay or self.tabs.currentWidget() is self.inside_page:  # else nobody looks
            self.inside.show(model, current)
        if self.tabs.currentWidget() is self.map_page:
            self.map.show_drawing(current)
        rule = self.unsure.rule_for(model) if self.draw.field is not None else None
        self.draw.show_reading(model, self.inside.evidence_map() if overlay else None, rule)
        if self.draw.show_compare.isChecked():
            where = self.run.live_name() if self.run.training else "in use"
            ticked = [
                (run.title, run.model, input_deskew(run.meta), run.meta["classes"], pen[0])
                for run in self.runs.ticked()
                for pen in [self.runs.pen(run)]
            ]
            self.draw.compare.show_drawing(
                self.draw.field, model, deskewed, self.draw.classes, where, ticked
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
        elif event.key() == Qt.Key.Key_Escape and self.present.handle_escape():
            pass  # Esc leaves full screen (while a run trains, it stops the run)
        else:
            super().keyPressEvent(event)

    # -- training ------------------------------------------------------------------------------

    @Slot(object)
    def _on_run_started(self, config: TrainConfig) -> None:
        self.plots.clear(epochs=config.epochs)
        self.table.setRowCount(0)
        self.panel.set_running(True)
        self._enable_for_training(True)
        self.info.setTitle("Weights in use until the run ends")
        self._name_models()
        self.say(f"Training {A_MODEL[config.model]} with the {config.preset} preset...")

    @Slot()
    def _on_ending(self) -> None:  # a stop asked for, or the kept weights being scored
        self.panel.show_progress(self.run.fraction_done(), self.run.ending)
        self._show_pausing()

    @Slot()
    def _show_pausing(self) -> None:
        """Pause or Resume, and Step, in the panel and the Training menu, as the run allows."""
        paused, can_pause = self.run.is_paused, self.run.can_pause()
        self.panel.show_paused(paused, can_pause)
        self.actions.pause.setText("&Resume" if paused else "&Pause")
        self.actions.pause.setEnabled(can_pause)
        self.actions.step.setEnabled(can_pause and paused)
        if can_pause and self.run.last_progress is None:  # else the progress text says it
            self.panel.show_progress(0, "paused before the first step" if paused else "starting...")
        self.dirty = True

    @Slot(object)
    def _on_progress(self, event) -> None:
        self.plots.add_running(
            event.epoch - 1 + event.seen / event.total, event.loss, event.accuracy, event.lr
        )
        self.dirty = True

    @Slot(object)
    def _on_epoch_end(self, event: EpochEnd) -> None:
        stats = vars(event.stats)
        self.plots.add_epoch(stats, event.best_epoch)
        self.table.add_epoch(stats)
        self._name_models()
        best = next(s for s in self.plots.epochs if s["epoch"] == event.best_epoch)
        self.panel.show_epoch_end(event, best)
        self.dirty = True

    @Slot(object)
    def _on_run_finished(self, result: Finished) -> None:
        self._back_to_idle()
        ending = "Stopped" if result.stopped else "Diverged" if result.diverged else "Done"
        kept = f"epoch {result.kept_epoch}" if result.kept_epoch else "the latest weights"
        waited = self.run.elapsed()
        epochs = len(result.history)
        done = 1.0 if not result.stopped else epochs / result.config.epochs
        self.panel.show_progress(
            done, f"{ending.lower()} after {waited:.1f} s ({result.seconds:.1f} s training)"
        )
        self.panel.status.setText(
            f"{ending} after {epochs} of {result.config.epochs} epochs: kept {kept}.  Test"
            f" accuracy {result.test_accuracy:.2%} (held-out images {result.dev_accuracy:.2%})."
        )
        self.say(f"Training {ending.lower()}.")
        self.run.later.add(self.plots.redraw)  # the run's last points, after the weights shown
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
        self._show_pausing()
        for act in self.actions.files:
            act.setEnabled(not running)
        self.runs.set_locked(running)

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
            if self.run.training:  # each plot repainted in a turn of its own
                for widget in self.plots.widgets[1:]:
                    widget.setUpdatesEnabled(False)
                    self.run.later.add(partial(widget.setUpdatesEnabled, True))
        if self.run.training and self.run.last_progress is not None:
            done = self.run.fraction_done()
            elapsed = self.run.elapsed()
            left = elapsed * (1 - done) / done if done > 0 else 0
            event, config = self.run.last_progress, self.run.config
            text = f"epoch {event.epoch}/{config.epochs} - {_duration(left)} left"
            if config.schedule != "constant":  # the step size moves within the epoch
                text += f" - step {event.lr:.2g}"
            if self.run.is_paused:
                text = f"paused in epoch {event.epoch}/{config.epochs} at image {event.seen:,}"
            text = self.run.ending or text
            self.panel.show_progress(done, text)
            self._name_models()  # "live CNN, epoch 1/2" from the first progress on
        self.show_prediction()

    # -- messages, help, keys ------------------------------------------------------------------

    @Slot(str)
    def say(self, text: str) -> None:
        """A message in the status bar, for long enough to read it."""
        self.statusBar().showMessage(text, max(5000, 80 * len(text)))

    # -- drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():  # weights, or a picture (else: it says why)
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        event.acceptProposedAction()
        path = event.mimeData().urls()[0].toLocalFile()
        if path.lower().endswith(".npz"):
            self.files.drop(path)
        else:
            self.draw.open_picture(path)

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

    def _restore_runs(self) -> bool:
        """Tick the runs ticked when the window last closed and put the run then in use back in
        use; True if it was. (Numbers from the settings file: whatever is not a listed run's
        number is left alone.)"""
        by_number = {run.number: run for run in self.runs.runs}
        ticked = self.settings.value("runs/ticked", [])
        for number in ticked if isinstance(ticked, list) else [ticked]:
            if (run := by_number.get(_whole(number))) is not None:
                self.runs.set_ticked(run, True)
        run = by_number.get(_whole(self.settings.value("runs/in_use", 0)))
        if run is None:
            return False
        self._put_in_use(run)
        return True

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

    @Slot(bool)
    def show_settings(self, shown: bool) -> None:
        """Show or hide the middle pane (the Train panel and the Weights box): hidden, the
        drawing and the tabs share its width, as a projector's few pixels want."""
        self.middle_pane.setVisible(shown)
        self.say("Training settings shown." if shown else "Training settings hidden (F9).")

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
        if not self.middle_pane.isHidden():  # hidden, its width would read 0
            self.settings.setValue("splitter", self.splitter.sizes())
        self.settings.setValue("pen_width", self.draw.pen_width.value())
        in_use = self.runs.in_use_run()
        self.settings.setValue("runs/in_use", in_use.number if in_use else 0)
        self.settings.setValue("runs/ticked", [run.number for run in self.runs.ticked()])
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.run.shutdown()
        if not self.files.confirm_discard() or not self._confirm_unkept_runs():
            event.ignore()
            return
        self.handwriting.stop_import()
        self.unsure.discard()
        self.redraw_timer.stop()
        self._save_settings()
        event.accept()

    def _confirm_unkept_runs(self) -> bool:
        """Runs that could not be written to the runs folder end with the window: ask."""
        unkept = [run for run in self.runs.runs if run.path is None and not run.kept_elsewhere]
        in_use = self.runs.in_use_run()
        if self.session.unsaved:  # asked about already
            unkept = [run for run in unkept if run is not in_use]
        if not unkept:
            return True
        names = ", ".join(run.title for run in unkept[:3]) + (", ..." if len(unkept) > 3 else "")
        answer = message(
            self,
            "question",
            "Lose the runs not kept?",
            f"These runs could not be written to {self.runs.store.folder} and end with this"
            f" window: {names}. Save them first from the runs list's right-click menu.\n\n"
            "Quit anyway?",
            Button.Discard | Button.Cancel,
            Button.Cancel,
        )
        return answer == Button.Discard


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


def _whole(value) -> int | None:
    """A whole number from the settings file, or None."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _note() -> QLabel:
    """A line naming the model a view shows (plain text: a run's name is the person's)."""
    note = plain(QLabel())
    note.setWordWrap(True)
    note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return note


def _with_note(note: QLabel, pane: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(note)
    layout.addWidget(pane, 1)
    return box


def _scrolling(page: QWidget) -> QScrollArea:
    """The page in a scroll area: a narrow window scrolls it instead of growing wider."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class _Column(QScrollArea):
    """A pane scrolled up and down, never sideways: as wide as its widgets need, whatever their
    font's size (presentation mode zooms it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def minimumSizeHint(self) -> QSize:
        scrollbar = self.verticalScrollBar().sizeHint().width()
        width = self.widget().minimumSizeHint().width() + scrollbar
        return QSize(width, super().minimumSizeHint().height())


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
