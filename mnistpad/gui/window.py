"""The main window: draw on the left, train in the middle, watch the curves on the right."""

from __future__ import annotations

import errno
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QStandardPaths, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..data import DataError, Dataset, assets_dir, load_dataset
from ..handwriting import (
    FINE_TUNE,
    HandwritingError,
    PersonalSet,
    accuracy_on,
    drawing_arrays,
    fine_tune_data,
)
from ..model import LinearModel
from ..preprocess import deskew, mnist_style
from ..train import ConfigError, EpochEnd, Finished, Progress, TrainConfig
from ..weights import WeightFileError, input_deskew, load_weights, run_meta, save_weights
from .canvas import DrawingCanvas
from .dialogs import Button, message, plain, save_as, tip
from .errors import ErrorsPanel
from .handwriting_panel import HandwritingPanel
from .inside import InsidePanel
from .runs import RunsPanel
from .settings import open_settings
from .train_panel import TrainPanel
from .views import (
    DigitPreview,
    ProbabilityChart,
    TrainingPlots,
    WeightsInfo,
    configure_pyqtgraph,
)
from .worker import TrainingWorker

DEFAULT_WEIGHTS = assets_dir() / "weights" / "default.npz"


def personal_folder() -> Path:
    """Where the person's labelled drawings live: the user's data folder for mnistpad."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) / "handwriting"


REDRAW_MS = 100  # the progress bar and the live prediction refresh at most 10 times a second
PLOTS_EVERY_S = 0.25  # and the curves at most 4 times a second
EPOCH_COLUMNS = ("epoch", "train loss", "train acc.", "dev loss", "dev acc.", "step", "time")


class MainWindow(QMainWindow):
    """mnistpad's window. `weights` opens a weight file instead of the bundled default."""

    def __init__(self, weights: Path | None = None, data_folder: Path | None = None) -> None:
        super().__init__()
        configure_pyqtgraph(QApplication.palette())
        self.settings, settings_problem = open_settings()
        self.data_folder = data_folder
        self.dataset: Dataset | None = None
        self.model: LinearModel | None = None  # the weights in use
        self.meta: dict = {}
        self.source = ""  # where the weights in use came from, for the status bar
        self.unsaved = False  # weights trained in this session and not saved yet
        self.worker: TrainingWorker | None = None
        self.training = False
        self.live_model: LinearModel | None = None  # the weights being trained, while training
        self.field: np.ndarray | None = None  # the drawing made MNIST-style, (28, 28)
        self.inspecting = ""  # what the field shows when it is not the drawing
        self.errors_stale = True  # the Errors tab shows other weights than those in use
        self.fine_tune_before: tuple | None = None  # scores before a fine-tuning run
        self.deskewed_data: tuple = (None, None)  # (the data in use, the same deskewed)
        self.deskewed_tests: tuple = (None, None)  # (the data in use, its test images deskewed)
        self.current_input: np.ndarray | None = None  # what the model in view receives, (28, 28)
        self.last_progress: Progress | None = None
        self.dirty = False
        self.plots_drawn = 0.0  # time.monotonic() of the last curves redraw

        self.setWindowTitle("mnistpad")
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._restore_settings()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self.redraw_timer.start()

        opened = weights and self.open_weights(weights, "mnistpad opens its default weights.")
        if not opened and not self.open_weights(DEFAULT_WEIGHTS):
            self._show_weights_status()
        if settings_problem:
            self.statusBar().showMessage(settings_problem, 30_000)

    # -- layout ----------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.canvas = DrawingCanvas()
        self.canvas.changed.connect(self.classify_drawing)
        self.pen_width = QSlider(Qt.Orientation.Horizontal)
        self.pen_width.setRange(6, 48)
        self.pen_width.setToolTip("Pen width for new strokes.")
        self.pen_width.valueChanged.connect(self.canvas.set_pen_width)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Remove the last stroke (Ctrl+Z).")
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the canvas (Delete).")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.label_row = QHBoxLayout()
        self.label_row.setSpacing(2)
        self.label_row.addWidget(QLabel("Label"))
        self.label_buttons: list[QPushButton] = []
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Pen"))
        tools.addWidget(self.pen_width, 1)
        tools.addWidget(self.undo_button)
        tools.addWidget(self.clear_button)

        self.preview = DigitPreview()
        self.prediction = plain(QLabel("-"))
        self.prediction.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 2.6)
        font.setBold(True)
        self.prediction.setFont(font)
        self.prediction.setToolTip("The model's prediction for your drawing and how sure it is.")
        self.confidence = plain(QLabel("draw a digit"))
        self.confidence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.show_evidence = QCheckBox("evidence")
        self.show_evidence.setToolTip(
            "Colour the input by how much each pixel counts for the class chosen in the\n"
            "Inside tab (the prediction unless you click a template): red for, blue against."
        )
        self.show_evidence.toggled.connect(lambda _: self.show_prediction())
        left_column = QVBoxLayout()
        left_column.addWidget(self.preview)
        left_column.addWidget(self.show_evidence, 0, Qt.AlignmentFlag.AlignHCenter)
        left_column.addWidget(self.prediction)
        left_column.addWidget(self.confidence)
        left_column.addStretch(1)
        self.chart = ProbabilityChart([str(digit) for digit in range(10)])
        reading = QHBoxLayout()
        reading.addLayout(left_column)
        reading.addWidget(self.chart, 1)

        draw_pane = QWidget()
        draw = QVBoxLayout(draw_pane)
        draw.addWidget(self.canvas, 3)
        draw.addLayout(tools)
        draw.addLayout(self.label_row)
        draw.addLayout(reading, 2)

        self.panel = TrainPanel()
        self.panel.train_requested.connect(self.start_training)
        self.panel.stop_requested.connect(self.stop_training)
        self.info = WeightsInfo()
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.panel)
        middle_layout.addWidget(self.info)
        middle_layout.addStretch(1)
        self.plots = TrainingPlots()
        self.table = QTableWidget(0, len(EPOCH_COLUMNS))
        self.table.setHorizontalHeaderLabels(EPOCH_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setToolTip(
            "Every epoch's numbers: loss and accuracy on the training and dev\n"
            "sets, the step size used, and the time since the start."
        )
        self.inside = InsidePanel()
        self.inside.set_classes(self.chart.classes)
        self.inside.class_chosen.connect(lambda _: self.show_prediction())
        self.runs = RunsPanel(self.plots, self._weights_in_use_curves, self._last_folder)
        self.runs.exported.connect(
            lambda path: self.statusBar().showMessage(f"Exported {path}", 5000)
        )
        curves_page = QWidget()
        curves_layout = QVBoxLayout(curves_page)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.plots, 1)
        curves_layout.addWidget(self.runs)
        self.tabs = QTabWidget()
        self.tabs.addTab(curves_page, "Curves")
        self.tabs.addTab(self.table, "Epochs")
        self.inside_page = _scrolling(self.inside)
        self.tabs.addTab(self.inside_page, "Inside")
        self.errors = ErrorsPanel()
        self.errors.inspect_requested.connect(self.inspect_image)
        self.tabs.addTab(self.errors, "Errors")
        self.handwriting = HandwritingPanel(PersonalSet(personal_folder()), self._last_folder)
        self.handwriting.fine_tune_requested.connect(self.fine_tune)
        self.handwriting.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.tabs.addTab(_scrolling(self.handwriting), "Handwriting")
        self.tabs.setTabToolTip(4, "Your own labelled drawings, and fine-tuning on them")
        self.tabs.setTabToolTip(3, "Where the weights in use go wrong on the test set")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.tabs.setTabToolTip(0, "Loss and accuracy per epoch")
        self.tabs.setTabToolTip(1, "The same numbers as a table")
        self.tabs.setTabToolTip(2, "The model's templates, and the evidence your drawing gives")

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(draw_pane)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 4)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self.weights_label = plain(QLabel())
        self.statusBar().addPermanentWidget(self.weights_label)  # messages show left of it

    def _build_actions(self) -> None:
        style = self.style()
        icon = style.standardIcon
        P = QStyle.StandardPixmap

        def action(text, slot, shortcut=None, tip="", pixmap=None) -> QAction:
            act = QAction(text, self)
            if pixmap is not None:
                act.setIcon(icon(pixmap))
            act.triggered.connect(slot)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(tip or text)
            act.setStatusTip(tip or text)
            self.addAction(act)
            return act

        self.open_action = action(
            "&Open weights...",
            self.open_weights_dialog,
            QKeySequence.StandardKey.Open,
            "Open a weight file (.npz); you can also drop one on the window",
            P.SP_DialogOpenButton,
        )
        self.save_action = action(
            "&Save weights...",
            self.save_weights_dialog,
            QKeySequence.StandardKey.Save,
            "Save the weights in use, with their curves and settings",
            P.SP_DialogSaveButton,
        )
        self.default_action = action(
            "Use the &default weights",
            self.use_default_weights,
            None,
            "Go back to the bundled weights",
        )
        self.dataset_action = action(
            "Open &dataset folder...",
            self.open_dataset_dialog,
            "Ctrl+D",
            "Train and test on another folder of MNIST-format IDX files, such as Fashion-MNIST",
            P.SP_DirOpenIcon,
        )
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit mnistpad")
        self.train_action = action(
            "&Train",
            self.panel.train_button.click,
            "Ctrl+T",
            "Train a new model with the panel's settings",
            P.SP_MediaPlay,
        )
        self.stop_action = action(
            "S&top", self.stop_training, "Esc", "Stop training", P.SP_MediaStop
        )
        self.stop_action.setEnabled(False)
        undo_action = action(
            "&Undo stroke",
            self.canvas.undo,
            QKeySequence.StandardKey.Undo,
            "Remove the last stroke",
            P.SP_ArrowBack,
        )
        clear_action = action(
            "&Clear canvas",
            self.canvas.clear,
            QKeySequence.StandardKey.Delete,
            "Clear the canvas",
            P.SP_DialogResetButton,
        )

        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        for item in (
            self.open_action,
            self.save_action,
            self.default_action,
            None,
            self.dataset_action,
            None,
            quit_action,
        ):
            file_menu.addSeparator() if item is None else file_menu.addAction(item)
        edit_menu = menus.addMenu("&Edit")
        edit_menu.addAction(undo_action)
        edit_menu.addAction(clear_action)
        train_menu = menus.addMenu("T&raining")
        train_menu.addAction(self.train_action)
        train_menu.addAction(self.stop_action)
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for item in (
            self.open_action,
            self.save_action,
            None,
            self.train_action,
            self.stop_action,
            None,
            undo_action,
            clear_action,
        ):
            toolbar.addSeparator() if item is None else toolbar.addAction(item)

    # -- drawing and classifying -------------------------------------------------------------

    @Slot()
    def classify_drawing(self) -> None:
        """Preprocess the drawing and show what the model makes of it; called on every change."""
        self.field = None if self.canvas.is_empty() else mnist_style(self.canvas.ink())
        self.inspecting = ""
        self.show_prediction()

    @Slot(object, str)
    def inspect_image(self, image: np.ndarray, caption: str) -> None:
        """Show an image from the data (already MNIST-style) instead of the drawing, until the
        person draws again."""
        self.field = np.asarray(image, dtype=np.float32).reshape(28, 28)
        self.inspecting = caption
        self.show_prediction()

    @Slot()
    def open_dataset_dialog(self) -> None:
        if self.training:
            return
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of IDX files", self._last_folder()
        )
        if folder:
            self.open_dataset(Path(folder))

    def open_dataset(self, folder: Path) -> bool:
        """Train and test on the IDX files in `folder` from now on; on failure say why."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            dataset = load_dataset(folder)
        except DataError as error:
            text = f"{error}\n\nThe data in use is unchanged."
            message(self, "critical", "Cannot open the dataset", text)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.dataset, self.data_folder = dataset, folder
        self.errors_stale = True
        names = ", ".join(dataset.classes)
        status = f"Data: {dataset.name}, {len(dataset.classes)} classes ({names})."
        if list(dataset.classes) != self.chart.classes:
            status += " The weights in use are for other classes: train a model for this data."
        self.statusBar().showMessage(status, 15_000)
        self._refresh_errors()
        return True

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        self.show_prediction()  # the Inside tab is kept up to date only while shown
        self._refresh_errors()

    def _test_inputs(self, deskewed: bool) -> np.ndarray:
        """The test images of the data in use as a model with (or without) deskewed inputs sees
        them: deskewed once per dataset, or taken from a training run's deskewed copy."""
        dataset = self.dataset
        if not deskewed:
            return dataset.test_images
        if self.deskewed_data[0] is dataset:
            return self.deskewed_data[1].test_images
        if self.deskewed_tests[0] is not dataset:
            self.deskewed_tests = (dataset, deskew(dataset.test_images))
        return self.deskewed_tests[1]

    def _refresh_errors(self) -> None:
        """Recompute the Errors tab for the weights in use, when it is shown and out of date."""
        if self.tabs.currentWidget() is not self.errors or not self.errors_stale:
            return
        if self.dataset is None:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self.dataset = load_dataset(self.data_folder)
            except DataError as error:
                self.errors.summary.setText(f"Cannot read the test set: {error}")
                return
            finally:
                QApplication.restoreOverrideCursor()
        dataset = self.dataset
        if list(dataset.classes) != self.chart.classes:
            self.errors.summary.setText(
                f"The weights in use are for other classes than {dataset.name}'s: train on this"
                " data or open weights made for it."
            )
            return
        self.errors.set_results(
            self.model,
            self._test_inputs(input_deskew(self.meta)),
            dataset.test_images,
            dataset.test_labels,
            list(dataset.classes),
        )
        self.errors_stale = False

    def model_in_view(self) -> tuple[LinearModel | None, bool]:
        """The model whose opinion is shown (the one learning, while a run is on) and whether it
        takes deskewed inputs."""
        if self.training and self.live_model is not None:
            return self.live_model, self.worker.config.deskew
        return self.model, input_deskew(self.meta)

    def show_prediction(self) -> None:
        model, deskewed = self.model_in_view()
        self.current_input = self.field
        if self.field is not None and deskewed:
            self.current_input = deskew(self.field.reshape(-1)).reshape(self.field.shape)
        self.preview.set_image(self.current_input)
        overlay = self.show_evidence.isChecked()
        if overlay or self.tabs.currentWidget() is self.inside_page:  # else nobody looks
            self.inside.show(model, self.current_input)
        self.preview.set_evidence(self.inside.evidence_map() if overlay else None)
        if self.current_input is None or model is None:
            self.chart.set_probabilities(None)
            self.prediction.setText("-")
            self.confidence.setText("draw a digit")
            return
        probabilities = model.probabilities(self.current_input.reshape(-1))
        best = int(probabilities.argmax())
        self.chart.set_probabilities(probabilities)
        self.prediction.setText(self.chart.classes[best])
        sure = f"{probabilities[best]:.1%} sure"
        self.confidence.setText(f"{self.inspecting}:\n{sure}" if self.inspecting else sure)

    # -- training ----------------------------------------------------------------------------

    @Slot(object)
    def start_training(
        self,
        config: TrainConfig,
        dataset: Dataset | None = None,
        initial: LinearModel | None = None,
    ) -> None:
        """Train as `config` says on the data in use (or `dataset`), from scratch (or `initial`)."""
        if self.training:
            return
        if self.worker is not None:  # the previous run's thread may still be winding down
            self.worker.join()
        self.training = True
        self.run_started = time.monotonic()
        self.last_progress = None
        self.plots.clear(epochs=config.epochs)
        self.table.setRowCount(0)
        self.panel.set_running(True)
        self._set_actions_for_training(True)
        if dataset is None and config.deskew and self.deskewed_data[0] is self.dataset:
            dataset = self.deskewed_data[1]  # deskewed by an earlier run: not again
        worker = TrainingWorker(config, dataset or self.dataset, self.data_folder, initial)
        worker.data_loaded.connect(self._on_data_loaded)
        if dataset is None:
            worker.data_prepared.connect(self._on_data_prepared)
        worker.progress.connect(self._on_progress)
        worker.epoch_end.connect(self._on_epoch_end)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self.worker = worker
        worker.start()
        self.statusBar().showMessage(f"Training with the {config.preset} preset...")

    @Slot()
    def stop_training(self) -> None:
        if self.training and self.worker is not None:
            self.worker.request_stop()
            self.panel.show_progress(self.panel.progress.value() / 1000, "stopping...")

    @Slot(object)
    def _on_data_loaded(self, dataset: Dataset) -> None:
        self.dataset = dataset

    @Slot(object)
    def _on_data_prepared(self, deskewed: Dataset) -> None:
        self.deskewed_data = (self.dataset, deskewed)

    @Slot(object)
    def _on_progress(self, event: Progress) -> None:
        if not self._from_current_run():
            return
        self.last_progress = event
        self.live_model = event.model
        self.plots.add_running(
            event.epoch - 1 + event.seen / event.total, event.loss, event.accuracy
        )
        self.dirty = True

    @Slot(object)
    def _on_epoch_end(self, event: EpochEnd) -> None:
        if not self._from_current_run():
            return
        stats = vars(event.stats)
        self.plots.add_epoch(stats, event.best_epoch)
        self._add_table_row(stats)
        best = next(s for s in self.plots.epochs if s["epoch"] == event.best_epoch)
        self.panel.status.setText(
            f"Step size {event.stats.lr:.4g}.  Best dev accuracy so far: "
            f"{best['dev_accuracy']:.2%} (epoch {event.best_epoch})."
        )
        self.live_model = event.model
        self.dirty = True

    @Slot(object)
    def _on_finished(self, result: Finished) -> None:
        if self._from_current_run():
            self._finish_run(result)

    def _from_current_run(self) -> bool:
        """Whether a worker signal being handled belongs to the run in progress (a stopped run's
        last queued signals can arrive after the window has moved on)."""
        return self.training and self.sender() is self.worker

    def _weights_in_use_curves(self) -> tuple[str, dict, list[dict]] | None:
        """(name, settings, per-epoch curves) of the weights in use, if their file has curves."""
        if not self.meta.get("history"):
            return None
        return f"in use ({self.source})", self.meta.get("training", {}), self.meta["history"]

    def _use_classes(self, classes: list[str]) -> None:
        """Name the classes of the weights in use wherever the window shows them."""
        self.chart.set_classes(classes)
        self.inside.set_classes(classes)
        tips = [
            tip(f"Label the drawing as {name} and keep it in your handwriting set")
            for name in classes
        ]
        if [button.toolTip() for button in self.label_buttons] == tips:
            return  # the buttons are for these classes already
        for button in self.label_buttons:
            self.label_row.removeWidget(button)
            button.deleteLater()
        self.label_buttons = []
        for index, name in enumerate(classes):
            button = QPushButton(name if len(name) <= 3 else str(index))
            button.setToolTip(tips[index])
            button.setMinimumWidth(10)
            button.clicked.connect(lambda _=False, index=index: self.label_drawing(index))
            self.label_row.addWidget(button, 1)
            self.label_buttons.append(button)
        self._show_handwriting()

    # -- the person's handwriting ------------------------------------------------------------

    def label_drawing(self, label: int) -> bool:
        """Keep the drawing on the canvas, labelled, in the personal set; then clear the canvas."""
        if self.canvas.is_empty() or self.field is None or self.inspecting:
            self.statusBar().showMessage("Draw a digit first, then label it.", 5000)
            return False
        strokes = [
            {
                "width": stroke.width,
                "points": [
                    [p.x(), p.y(), w] for p, w in zip(stroke.points, stroke.pressures, strict=True)
                ],
            }
            for stroke in self.canvas.strokes
        ]
        name = self.chart.classes[label]
        try:
            drawing = self.personal.add(self.field, strokes, label, name)
        except HandwritingError as error:
            message(self, "critical", "Cannot keep the drawing", f"{error}.")
            return False
        held = " (held out, to measure)" if drawing.held_out else ""
        self.statusBar().showMessage(f"Kept as {name}{held}.", 5000)
        self.canvas.clear()
        self.handwriting.add_drawing(drawing)
        return True

    def keyPressEvent(self, event) -> None:
        text = event.text()
        if text.isdigit() and len(text) == 1 and int(text) < len(self.chart.classes):
            self.label_drawing(int(text))
        else:
            super().keyPressEvent(event)

    @property
    def personal(self) -> PersonalSet:
        """The person's labelled drawings."""
        return self.handwriting.personal

    @personal.setter
    def personal(self, personal: PersonalSet) -> None:
        self.handwriting.personal = personal

    def _show_handwriting(self) -> list:
        return self.handwriting.show_set(self.chart.classes)

    @Slot()
    def fine_tune(self) -> None:
        """Train the weights in use further on the person's drawings mixed with MNIST."""
        if self.training or self.model is None:
            return
        drawings = self.personal.drawings()[0]
        try:
            if self.dataset is None:
                self.dataset = load_dataset(self.data_folder)
            data = fine_tune_data(self.dataset, drawings)
            config = replace(FINE_TUNE, deskew=input_deskew(self.meta)).validate(
                len(data.train_labels)
            )
        except (DataError, HandwritingError, ConfigError) as error:
            message(self, "warning", "Cannot fine-tune", f"{error}.")
            return
        self.fine_tune_before = self._handwriting_scores(self.model, input_deskew(self.meta))
        self.start_training(config, dataset=data, initial=self.model)

    def _handwriting_scores(self, model: LinearModel, deskewed: bool) -> tuple:
        """(MNIST test accuracy, held-out drawings accuracy or None, held-out count) of a model."""
        images, labels = drawing_arrays(
            self.personal.drawings()[0], held_out=True, n_classes=model.n_classes
        )
        return (
            model.accuracy(self._test_inputs(deskewed), self.dataset.test_labels),
            accuracy_on(model, deskew(images) if deskewed else images, labels),
            len(labels),
        )

    def _show_fine_tune_result(self, result: Finished) -> None:
        before, self.fine_tune_before = self.fine_tune_before, None
        after = self._handwriting_scores(result.model, result.config.deskew)
        n = after[2]

        def mine(score):
            return "-" if score is None else f"{score:.1%}"

        self.handwriting.result.setText(
            f"Fine-tuned. MNIST test accuracy {before[0]:.2%} → {after[0]:.2%}; your"
            f" {n} held-out drawings {mine(before[1])} → {mine(after[1])}."
            + ("" if n else " Label more drawings to have some held out.")
        )

    def _end_run(self) -> None:
        """Back to the idle state after a run, whatever its outcome."""
        self.training = False
        self.live_model = None
        self.panel.set_running(False)
        self._set_actions_for_training(False)

    def _finish_run(self, result: Finished) -> None:
        self._end_run()
        self.model = result.model
        dataset = self.worker.dataset
        self.meta = run_meta(result, list(dataset.classes), dataset.name)
        self.runs.keep(result, dataset.name)
        if self.fine_tune_before is not None:
            self._show_fine_tune_result(result)
        self._use_classes(list(dataset.classes))
        self.errors_stale = True
        self.source = "trained in this session, not saved"
        self.unsaved = True
        ending = "Stopped" if result.stopped else "Diverged" if result.diverged else "Done"
        kept = f"epoch {result.kept_epoch}" if result.kept_epoch else "the latest weights"
        self.panel.show_progress(
            1.0 if not result.stopped else self.panel.progress.value() / 1000,
            f"{ending.lower()} in {result.seconds:.1f} s",
        )
        self.panel.status.setText(
            f"{ending}: kept {kept}.  Test accuracy {result.test_accuracy:.2%}, "
            f"dev {result.dev_accuracy:.2%}."
        )
        self._show_weights_status()
        self.statusBar().showMessage(f"Training {ending.lower()}.", 5000)
        self.dirty = True
        self._redraw()
        self._refresh_errors()
        if result.diverged:
            message(
                self,
                "warning",
                "Training diverged",
                f"{result.diverged[0].upper()}{result.diverged[1:]}.\n\nThe weights in use are the "
                f"last finite ones ({kept}).",
            )

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        if not self._from_current_run():
            return
        self._end_run()
        self.panel.show_progress(0, "failed")
        self.panel.status.setText(" ")
        self.show_prediction()
        message(self, "critical", "Training failed", f"{text}\n\nThe weights in use are unchanged.")

    def _set_actions_for_training(self, running: bool) -> None:
        self.train_action.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.open_action.setEnabled(not running)
        self.dataset_action.setEnabled(not running)
        self.default_action.setEnabled(not running)
        self.save_action.setEnabled(not running)

    def _add_table_row(self, stats: dict) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (
            f"{stats.get('epoch', '')}",
            f"{stats.get('train_loss', float('nan')):.4f}",
            f"{stats.get('train_accuracy', float('nan')):.2%}",
            f"{stats.get('dev_loss', float('nan')):.4f}",
            f"{stats.get('dev_accuracy', float('nan')):.2%}",
            f"{stats.get('lr', float('nan')):.4g}",
            f"{stats.get('seconds', float('nan')):.1f} s",
        )
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)

    @Slot()
    def _redraw(self) -> None:
        """Throttled refresh of the plots, the progress bar and the live prediction."""
        if not self.dirty:
            return
        self.dirty = False
        now = time.monotonic()
        if not self.training or now - self.plots_drawn >= PLOTS_EVERY_S:
            self.plots.redraw()  # the costliest repaint in the window: at most 4 times a second
            self.plots_drawn = now
        if self.training and self.last_progress is not None:
            event = self.last_progress
            epochs = self.worker.config.epochs
            done = (event.epoch - 1 + event.seen / event.total) / epochs
            elapsed = time.monotonic() - self.run_started
            left = elapsed * (1 - done) / done if done > 0 else 0
            self.panel.show_progress(done, f"epoch {event.epoch}/{epochs} - {_duration(left)} left")
        self.show_prediction()

    # -- weight files ------------------------------------------------------------------------

    def open_weights(
        self, path: Path | str, instead: str = "The weights in use are unchanged."
    ) -> bool:
        """Load a weight file and use it; on failure say why (and what happens instead)."""
        path = Path(path)
        try:
            loaded = load_weights(path)
        except WeightFileError as error:
            reason = f"{error.reason[0].upper()}{error.reason[1:]}."
            message(
                self, "critical", "Cannot open weights", f"{error.path}\n\n{reason}\n\n{instead}"
            )
            return False
        self.model, self.meta = loaded.model, loaded.meta
        self.errors_stale = True
        self.source = (
            "bundled default" if path.resolve() == DEFAULT_WEIGHTS.resolve() else str(path)
        )
        self.unsaved = False
        self._use_classes(loaded.classes)
        metrics = loaded.metrics
        self.plots.set_history(loaded.history, int(metrics.get("best_epoch", 0) or 0))
        self.table.setRowCount(0)
        for stats in loaded.history:
            self._add_table_row(stats)
        try:
            self.panel.set_config(TrainConfig.from_dict(loaded.meta.get("training", {})))
        except (ConfigError, TypeError):
            pass  # a file without (valid) settings leaves the panel as it was
        self.panel.progress.setFormat("ready")
        self.panel.status.setText(" ")
        if path.resolve() != DEFAULT_WEIGHTS.resolve():
            self.settings.setValue("last_folder", str(path.parent))
        self._show_weights_status()
        self.classify_drawing()
        self._refresh_errors()
        return True

    @Slot()
    def open_weights_dialog(self) -> None:
        if self.training or not self._confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open weights", self._last_folder(), "mnistpad weights (*.npz);;All files (*)"
        )
        if path:
            self.open_weights(path)

    @Slot()
    def use_default_weights(self) -> None:
        if not self.training and self._confirm_discard():
            self.open_weights(DEFAULT_WEIGHTS)

    @Slot()
    def save_weights_dialog(self) -> bool:
        """Ask where to save the weights in use; True when they were saved."""
        if self.model is None or self.training:
            return False
        def save(path: str, _filter: str) -> str:
            try:
                return str(save_weights(path, self.model, self.meta))
            except WeightFileError as error:
                raise OSError(errno.EIO, f"{error.reason}; nothing was changed") from None

        suggested = Path(self._last_folder()) / "mnistpad-weights.npz"
        saved = save_as(self, "Save weights", suggested, "mnistpad weights (*.npz)", save)
        if saved is None:
            return False
        path = Path(saved)
        self.unsaved = False
        self.source = str(path)
        self.settings.setValue("last_folder", str(path.parent))
        self._show_weights_status()
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _confirm_discard(self) -> bool:
        """With unsaved trained weights, offer to save them; False means cancel."""
        if not self.unsaved:
            return True
        answer = message(
            self,
            "question",
            "Save the trained weights?",
            "The weights you trained in this session are not saved. Save them first?",
            Button.Save | Button.Discard | Button.Cancel,
            Button.Save,
        )
        if answer == Button.Save:
            return self.save_weights_dialog()
        return answer == Button.Discard

    def _show_weights_status(self) -> None:
        if self.model is None:
            self.weights_label.setText("No weights loaded: train a model or open a weight file.")
            return
        accuracy = self.meta.get("metrics", {}).get("test_accuracy")
        known = isinstance(accuracy, float)
        accuracy_text = f"test accuracy {accuracy:.2%}" if known else "test accuracy unknown"
        self.weights_label.setText(f"Weights: {self.source}  -  {accuracy_text}")
        self.info.show_weights(self.source, self.meta)
        name = Path(self.source).name if "/" in self.source else self.source
        self.setWindowTitle(f"mnistpad - {name}{' *' if self.unsaved else ''}")

    def _last_folder(self) -> str:
        folder = self.settings.value("last_folder", "", type=str)
        if folder and Path(folder).is_dir():
            return folder
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)

    # -- drag and drop -------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile() and urls[0].toLocalFile().endswith(".npz"):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        path = event.mimeData().urls()[0].toLocalFile()
        event.acceptProposedAction()
        if self.training:
            self.statusBar().showMessage("Stop training before opening another weight file.", 5000)
        elif self._confirm_discard():
            self.open_weights(path)

    # -- settings and closing ------------------------------------------------------------------

    def _restore_settings(self) -> None:
        """Restore what the last session saved; anything missing or damaged falls back."""
        if not self._restore("geometry", self.restoreGeometry):
            self.resize(1280, 800)
        self._restore("window_state", self.restoreState)
        if not self._restore("splitter", self.splitter.restoreState):
            self.splitter.setSizes([440, 270, 570])
        try:
            pen_width = int(self.settings.value("pen_width", 22))
        except (TypeError, ValueError, OverflowError):  # a hand-edited or damaged settings file
            pen_width = 22
        in_range = self.pen_width.minimum() <= pen_width <= self.pen_width.maximum()
        self.pen_width.setValue(pen_width if in_range else 22)

    def _restore(self, key: str, restore) -> bool:
        state = self.settings.value(key)
        return isinstance(state, QByteArray | bytes) and restore(state)

    def _save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("pen_width", self.pen_width.value())
        self.settings.sync()

    def shutdown_training(self) -> None:
        """Stop a run and wait for its thread; its kept weights become the ones in use."""
        if self.worker is None:
            return
        self.worker.join()
        if self.training and self.worker.result is not None:
            self._finish_run(self.worker.result)
        elif self.training:  # the run broke off before it had a result
            self._end_run()

    def closeEvent(self, event) -> None:
        self.shutdown_training()
        if not self._confirm_discard():
            event.ignore()
            return
        self.handwriting.stop_import()
        self.redraw_timer.stop()
        self._save_settings()
        event.accept()


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
