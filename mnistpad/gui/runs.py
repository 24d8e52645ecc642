"""The runs list under the curves: every model trained or opened is kept, used again, compared.

Each finished run keeps its kept weights with its curves and settings, written at once to the
person's runs folder (`RunStore`), so a restart lists them again; a weight file opened joins the
list too. Double-click or Use puts an entry's weights in use; the right-click menu also saves,
renames and removes. Ticked entries are laid over the plots (for example naive against
optimized, as in the report's figures) and read the drawing in Compare. The curves of the ticked
entries and of the weights in use export as one CSV table, the plots as PNG or SVG; every export
is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QBuffer, QByteArray, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..export import curves_csv
from ..files import write_atomically
from ..networks import KIND_NAMES, Model, describe
from ..run_store import MAX_RUN_BYTES, MAX_RUNS, RunStore, StoredRun, model_bytes, weights_digest
from ..weights import WeightFileError
from .dialogs import Button, Folders, message, plain, tip
from .file_actions import save_weights_as
from .texts import training_words
from .views import TrainingPlots, run_pen_style

HINT = "The runs you train and the files you open appear here: tick two to compare them."


def run_name(kind: str, preset: str, epochs: int, planned: int) -> str:
    """A new run's name: "CNN · cnn · 15 epochs", or "... · 3 of 15 epochs" if stopped."""
    done = f"{epochs} of {planned}" if epochs < planned else f"{epochs}"
    return f"{KIND_NAMES[kind]} · {preset} · {done} epoch{'' if planned == 1 else 's'}"


def knob_words(training: dict) -> str:
    """The playground's knobs of a run's settings that set it apart from a run on all the
    training images with their own labels, for its name: " · 500 images · 20% noise", or ""."""
    size, noise = training.get("train_size", 0), training.get("label_noise", 0)
    return (f" · {size:,} images" if size else "") + (f" · {100 * noise:g}% noise" if noise else "")


def megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 100_000 else f"{nbytes / 1e3:.0f} kB"


class RunsPanel(QWidget):
    """The list of kept runs and opened files with tick boxes, and the buttons that use them."""

    exported = Signal(str)  # the path written
    use_requested = Signal(object)  # a StoredRun whose weights the person wants in use
    removed = Signal(object)  # a StoredRun taken off the list
    message = Signal(str)  # for the status bar
    ticks_changed = Signal()  # other runs are ticked (Compare reads the drawing with them)

    def __init__(
        self,
        plots: TrainingPlots,
        in_use: Callable[[], tuple[str, dict, list[dict]] | None],
        folders: Folders,
        store: RunStore,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.plots, self.in_use, self.folders, self.store = plots, in_use, folders, store
        self.runs: list[StoredRun] = []  # oldest first, as listed
        self.pens: dict[int, tuple] = {}  # (colour, dash) by run number: a run keeps its own
        self.in_use_model: Model | None = None  # the weights in use, to mark their entry
        self.in_use_digest = ""  # their weights_digest, made once when they come in use
        self.ticked_numbers: set[int] = set()  # the runs laid over the plots
        self.locked = False  # a run is training: nothing is put in use meanwhile
        self.list = QListWidget()
        self.list.setMinimumHeight(72)
        self.list.setWordWrap(True)  # no sideways scrolling in a narrow window
        self.list.setToolTip(
            "Every model you trained, and the weight files you opened; they are kept when you\n"
            "quit. Double-click one to use it; right-click to save, rename or remove it.\n"
            "Tick runs to lay their held-out accuracy (solid) and training accuracy (dashed) over\n"
            "the plots, and to compare them on your drawing."
        )
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(lambda item: self._use(self._run_of(item)))
        self.list.currentRowChanged.connect(lambda _: self._enable())
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.memory = plain(QLabel())
        self.memory.setToolTip(
            f"The memory the listed weights take. At most {MAX_RUNS} are kept\n"
            f"({MAX_RUN_BYTES >> 20} MB); past that the oldest is removed, after asking\n"
            "if it is saved nowhere else."
        )
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Put the chosen run's weights in use (or double-click it)")
        self.use_button.clicked.connect(lambda: self._use(self.current()))
        export_csv = QPushButton("Export curves...")
        export_csv.setToolTip(
            "Save the per-epoch numbers of the ticked runs and of the weights\n"
            "in use as a CSV table"
        )
        export_csv.clicked.connect(self.export_curves_dialog)
        export_plot = QPushButton("Export plots...")
        export_plot.setToolTip("Save the two plots as they are shown, as PNG or SVG")
        export_plot.clicked.connect(self.export_plots_dialog)
        buttons = QVBoxLayout()
        for button in (self.use_button, export_csv, export_plot):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.memory)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._refill()

    # -- the entries ---------------------------------------------------------------------------

    def read_stored(self) -> list[str]:
        """List the entries kept by earlier sessions; a message for each file skipped."""
        self.runs, problems = self.store.read()
        self._refill()
        return problems

    def keep(self, model: Model, meta: dict, name: str, origin: str = "") -> StoredRun:
        """Add an entry for `model` and write it to the store. If it cannot be written it is
        listed all the same (for this session only) and `message` says why. A run trained here
        (no `origin`) gets its knobs added to its `name` (see knob_words)."""
        if not origin:
            name += knob_words(meta.get("training", {}))
        else:
            digest = weights_digest(model)
            for run in self.runs:
                if run.digest == digest:  # the same file opened again: one entry
                    return run
        self._make_room(model_bytes(model))
        try:
            run = self.store.add(model, meta, name, origin)
        except WeightFileError as error:
            number = max((run.number for run in self.runs), default=0) + 1
            info = {"name": name, **({"origin": origin} if origin else {})}
            run = StoredRun(number, None, model, {**meta, "run": info})
            self.message.emit(
                f"Cannot keep {run.title} for the next session ({error.reason}); it is listed"
                " until you quit."
            )
        self.runs.append(run)
        self._refill()
        self.list.setCurrentRow(len(self.runs) - 1)  # the newest, in view
        return run

    def _make_room(self, nbytes: int) -> None:
        """Before adding an entry of `nbytes`: remove the oldest entries past the bounds, those
        saved in a file of the person's without asking, the others only if the person agrees."""
        while len(self.runs) >= MAX_RUNS or (
            self.runs and sum(run.nbytes for run in self.runs) + nbytes > MAX_RUN_BYTES
        ):
            in_use = self.in_use_run()
            candidates = [run for run in self.runs if run is not in_use]
            saved = [run for run in candidates if run.kept_elsewhere]
            oldest = (saved or candidates or [None])[0]
            if oldest is None:
                return
            if not oldest.kept_elsewhere:
                answer = message(
                    self,
                    "question",
                    "Remove the oldest run?",
                    f"The list keeps at most {MAX_RUNS} runs. Remove the oldest, {oldest.title},"
                    " which is saved nowhere else? (Save it first from its right-click menu.)",
                    Button.Yes | Button.No,
                    Button.No,
                )
                if answer != Button.Yes:
                    return  # kept: the list grows past its bound until the person removes some
            self._remove(oldest)

    def current(self) -> StoredRun | None:
        return self._run_of(self.list.currentItem())

    def _run_of(self, item: QListWidgetItem | None) -> StoredRun | None:
        row = self.list.row(item) if item is not None else -1
        return self.runs[row] if 0 <= row < len(self.runs) else None

    def ticked(self) -> list[StoredRun]:
        return [run for run in self.runs if run.number in self.ticked_numbers]

    def set_ticked(self, run: StoredRun, ticked: bool) -> None:
        self.list.item(self.runs.index(run)).setCheckState(
            Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
        )

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        run = self._run_of(item)
        if run is None:
            return
        if item.checkState() == Qt.CheckState.Checked:
            self.ticked_numbers.add(run.number)
        else:
            self.ticked_numbers.discard(run.number)
        self._compare()

    def pen(self, run: StoredRun) -> tuple:
        """The run's (colour, dash) on the plots: twelve colours, then other dashes."""
        if run.number not in self.pens:
            self.pens[run.number] = run_pen_style(len(self.pens))
        return self.pens[run.number]

    def mark_in_use(self, model: Model | None) -> None:
        """Mark the entry whose weights are `model` (the weights in use), and show it."""
        self.in_use_model = model
        self.in_use_digest = weights_digest(model) if model is not None else ""
        self._refill()
        if (run := self.in_use_run()) is not None:
            self.list.scrollToItem(self.list.item(self.runs.index(run)))

    def in_use_run(self) -> StoredRun | None:
        """The entry in use: the one holding these very weights, else (a file opened again)
        the first with equal weights. One entry only, even when two runs came out the same."""
        model = self.in_use_model
        if model is None:
            return None
        same = next((run for run in self.runs if run.model is model), None)
        if same is not None:
            return same
        return next((run for run in self.runs if run.digest == self.in_use_digest), None)

    def set_locked(self, locked: bool) -> None:
        """While a run trains nothing is put in use from the list (and the run in use, which the
        curves no longer show, can be laid over them)."""
        self.locked = locked
        self._enable()
        self._compare()

    def _refill(self) -> None:
        """Show the entries again, keeping the ticks and the current row. Rows are updated in
        place when the entries are the same number: a double-click's own item must outlive the
        slot it calls (which marks the entry put in use)."""
        self.list.blockSignals(True)
        if self.list.count() != len(self.runs) or not self.runs:
            current = self.current()
            self.list.clear()
            if not self.runs:
                hint = QListWidgetItem(HINT)
                hint.setFlags(Qt.ItemFlag.NoItemFlags)  # greyed, not a run
                self.list.addItem(hint)
            for _ in self.runs:
                item = QListWidgetItem()
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.list.addItem(item)
            if current in self.runs:
                self.list.setCurrentRow(self.runs.index(current))
        in_use = self.in_use_run()
        for row, run in enumerate(self.runs):
            self._show(self.list.item(row), run, run is in_use)
        self.list.blockSignals(False)
        total = sum(run.nbytes for run in self.runs)
        count = len(self.runs)
        self.memory.setText(f"{count} run{'' if count == 1 else 's'}, {megabytes(total)}")
        self._enable()
        self._compare()

    def _show(self, item: QListWidgetItem, run: StoredRun, in_use: bool) -> None:
        metrics = run.meta.get("metrics", {})
        test = metrics.get("test_accuracy")
        text = run.title + (f" · test {test:.2%}" if isinstance(test, float) else "")
        item.setText(text + (" · in use" if in_use else ""))
        item.setToolTip(tip(self._describe(run)))
        ticked = run.number in self.ticked_numbers
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
        item.setForeground(QColor(self.pen(run)[0]))
        font = QFont(self.list.font())
        font.setBold(in_use)
        item.setFont(font)

    def _describe(self, run: StoredRun) -> str:
        config = run.meta.get("training", {})
        get = config.get
        lines = [f"{run.title}: {describe(run.model)}, {megabytes(run.nbytes)} of weights"]
        if config:
            lines.append(
                f"{get('preset', '?')} preset: {training_words(config)}, data: {get('data', '?')}"
            )
        if run.origin:
            lines.append(f"Opened from {run.origin}")
        if run.saved_to:
            lines.append(f"Saved as {run.saved_to}")
        if run.path is None:
            lines.append("Not kept for the next session (it could not be written)")
        elif not run.kept_elsewhere:
            lines.append("Kept in mnistpad's runs folder; not saved as a file of yours yet")
        return "\n".join(lines)

    def _enable(self) -> None:
        self.use_button.setEnabled(self.current() is not None and not self.locked)

    def _compare(self) -> None:
        """Lay the ticked runs over the curves; not the run in use, whose curves are shown
        already (unless a run trains: the curves are then the new run's)."""
        in_use = None if self.locked else self.in_use_run()
        self.plots.set_compared(
            [
                (run.title, self.pen(run), run.meta.get("history", []))
                for run in self.ticked()
                if run is not in_use
            ]
        )
        self.ticks_changed.emit()

    # -- what the person does with an entry ------------------------------------------------------

    def _use(self, run: StoredRun | None) -> None:
        if run is None:
            return
        if self.locked:
            self.message.emit("Stop training before putting another model in use.")
            return
        self.use_requested.emit(run)

    def _menu(self, position: QPoint) -> None:
        run = self._run_of(self.list.itemAt(position))
        if run is None:
            return
        menu = QMenu(self)
        use = menu.addAction("Use", lambda: self._use(run))
        use.setEnabled(not self.locked)
        menu.addAction("Save as...", lambda: self.save_dialog(run))
        menu.addAction("Rename...", lambda: self.rename_dialog(run))
        menu.addAction("Remove", lambda: self.remove_asking(run))
        menu.popup(self.list.viewport().mapToGlobal(position))

    def save_dialog(self, run: StoredRun) -> str | None:
        """Save an entry's weights as a file of the person's; returns its path (None if not)."""
        name = "-".join("".join(c if c.isalnum() else " " for c in run.name).split())[:60]
        saved = save_weights_as(self, self.folders, run.model, run.meta, f"{name}.npz")
        if saved is not None:
            self.saved(run, saved)
            self.message.emit(f"Saved {saved}")
        return saved

    def saved(self, run: StoredRun, path: str) -> None:
        """`run` was saved as `path`: it may be removed from the list without loss."""
        try:
            self.store.mark_saved(run, path)
        except WeightFileError as error:
            run.meta = {**run.meta, "run": {**run.info, "saved_to": path}}  # for this session
            self.message.emit(f"Saved; the runs folder could not note it ({error.reason}).")
        self._refill()

    def rename_dialog(self, run: StoredRun) -> bool:
        name, ok = QInputDialog.getText(self, "Rename", "Name of the run:", text=run.name)
        name = " ".join(name.split())
        if not ok or not name:
            return False
        try:
            self.store.rename(run, name)
        except WeightFileError as error:
            message(self, "critical", "Cannot rename", f"{error.path}\n\n{error.reason}.")
            return False
        self._refill()
        return True

    def remove_asking(self, run: StoredRun) -> bool:
        """Remove an entry; one saved nowhere else only if the person agrees."""
        if not run.kept_elsewhere:
            answer = message(
                self,
                "question",
                "Remove the run?",
                f"{run.title} is saved nowhere else: its weights will be lost. Remove it?",
                Button.Yes | Button.Cancel,
                Button.Cancel,
            )
            if answer != Button.Yes:
                return False
        return self._remove(run)

    def _remove(self, run: StoredRun) -> bool:
        try:
            self.store.remove(run)
        except WeightFileError as error:
            message(self, "critical", "Cannot remove", f"{error.path}\n\n{error.reason}.")
            return False
        self.runs.remove(run)
        self._refill()
        self.removed.emit(run)
        self.message.emit(f"Removed {run.title}.")
        return True

    # -- exports -------------------------------------------------------------------------------

    @Slot()
    def export_curves_dialog(self) -> bool:
        runs = [
            (run.title, run.meta.get("training", {}), run.meta.get("history", []))
            for run in self.ticked()
        ]
        if (in_use := self.in_use()) is not None:
            runs.append(in_use)
        text = curves_csv(runs).encode()

        def save(path: str, _filter: str) -> str:
            return str(write_atomically(path, lambda out: out.write(text)))

        return self._exported(
            self.folders.save_as(self, "Export curves", "curves.csv", "CSV (*.csv)", save)
        )

    @Slot()
    def export_plots_dialog(self) -> bool:
        filters = "PNG image (*.png);;SVG drawing (*.svg)"
        saved = self.folders.save_as(self, "Export plots", "curves.png", filters, self._save_plots)
        return self._exported(saved)

    def _save_plots(self, path: str, chosen: str) -> str:
        """The plots as they are shown: PNG pixels, or SVG vectors (by the name's suffix)."""
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QBuffer.OpenModeFlag.WriteOnly)
        if path.lower().endswith(".svg"):
            svg = QSvgGenerator()
            svg.setOutputDevice(buffer)
            svg.setSize(self.plots.size())
            svg.setViewBox(self.plots.rect())
            svg.setResolution(self.plots.logicalDpiX())  # text as large as on screen
            svg.setTitle("mnistpad training curves")
            painter = QPainter(svg)
            with self.plots.exporting():  # markers as vector shapes, not bitmap fragments
                self.plots.render(painter, QPoint())
            painter.end()
        else:
            self.plots.grab().save(buffer, "PNG")
        buffer.close()
        return str(write_atomically(path, lambda out: out.write(bytes(data))))

    def _exported(self, path: str | None) -> bool:
        if path is not None:
            self.exported.emit(path)
        return path is not None
