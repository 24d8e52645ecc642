"""The Handwriting tab: the person's labelled drawings, fine-tuning on them, export and import.

Each drawing in the gallery is marked as the weights in use read it: a green check when they read
it right, a red cross when not (its tooltip says what they read and how sure they are).
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..handwriting import Drawing, HandwritingError, ImportCancelled, PersonalSet, in_classes
from ..networks import Model
from ..preprocess import deskew
from .dialogs import Folders, plain, tip
from .dialogs import message as message_box
from .errors import digit_icon, icon_gallery
from .texts import button_text

MENU_ROWS = 24  # "Label as" lists more classes in submenus of this many, to fit a 768-pixel screen
MENU_NAME = 40  # characters of a class name shown in a menu
RIGHT, WRONG = QColor(89, 161, 79), QColor(225, 87, 89)  # readable on light and dark (Tableau)


class ImportJob(QObject):
    """One import in its own thread: `PersonalSet.import_from`, reporting its progress."""

    progress = Signal(int, int)  # (done, total)
    finished = Signal(object)  # (added, already there), or the HandwritingError that stopped it

    def __init__(self, personal: PersonalSet, path: str, classes: list[str] | None) -> None:
        super().__init__()
        self.personal, self.path, self.classes = personal, path, classes
        self.cancelled = False  # set from the GUI thread, read between drawings
        self._reported = 0.0
        self._thread = QThread()
        self._thread.setObjectName("mnistpad-import")
        self.moveToThread(self._thread)
        self._thread.started.connect(self.run)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Cancel the import if it is still running, and wait for its thread to end."""
        self.cancelled = True
        self._thread.wait()

    @Slot()
    def run(self) -> None:
        try:
            result = self.personal.import_from(self.path, self.classes, self._report)
        except HandwritingError as error:
            result = error
        except Exception as error:  # a bug: say so rather than leave the dialog open forever
            result = HandwritingError(f"{self.path}: import failed ({error!r})")
        self.finished.emit(result)
        self._thread.quit()

    def _report(self, done: int, total: int) -> bool:
        now = time.monotonic()
        if now - self._reported > 0.05 or done == total:  # a few updates a second at most
            self._reported = now
            self.progress.emit(done, total)
        return not self.cancelled


class HandwritingPanel(QWidget):
    """What the personal set holds, and the buttons that use it."""

    fine_tune_requested = Signal()
    imported = Signal()  # drawings were added from a file (the panel shows them already)
    message = Signal(str)  # for the status bar

    def __init__(
        self, personal: PersonalSet, folders: Folders, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._personal, self.folders = personal, folders
        self.classes: list[str] = []
        self.job: ImportJob | None = None  # the import under way
        self.reader: tuple[Model, bool] | None = None  # the weights in use; whether they deskew
        self.readings: dict[str, tuple[int, float]] = {}  # id: (class read, its probability)
        self.progress: QProgressDialog | None = None
        intro = QLabel(
            "<b>Teach it your handwriting.</b> Draw a digit, then press its key (0-9) or a"
            " <i>Label</i> button under the canvas: the drawing joins your own dataset, kept"
            " across sessions. Every fifth drawing of a class is held out to measure how well"
            " the model reads you. <i>Fine-tune</i> trains the weights in use further on your"
            " drawings mixed with MNIST, so MNIST is not forgotten."
        )
        intro.setWordWrap(True)
        self.counts = plain(QLabel())  # names folders, classes and files: never HTML
        self.counts.setWordWrap(True)
        self.result = plain(QLabel())
        self.result.setWordWrap(True)
        self.fine_tune = QPushButton("Fine-tune on my handwriting")
        self.fine_tune.setToolTip(
            "Train the weights in use a few more epochs (5 for the linear model, 3 with small\n"
            "Adam steps for a network) on your drawings mixed with MNIST"
        )
        self.fine_tune.clicked.connect(self.fine_tune_requested)
        export = QPushButton("Export...")
        export.setToolTip("Save your drawings as one .zip, to keep or to use elsewhere")
        export.clicked.connect(self.export_dialog)
        self.import_button = QPushButton("Import...")
        self.import_button.setToolTip("Add the drawings of a .zip exported by mnistpad")
        self.import_button.clicked.connect(self.import_dialog)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip(
            "Undo the last deletion or relabelling of your drawings (Ctrl+Z in the gallery)"
        )
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo)
        self.undo_steps: list[tuple[str, Callable[[], None]]] = []  # (what, how to undo it)
        buttons = QVBoxLayout()  # two rows: one is too wide for the tab in a 1024-pixel window
        for row in ((self.fine_tune,), (self.undo_button, export, self.import_button)):
            line = QHBoxLayout()
            for button in row:
                line.addWidget(button)
            line.addStretch(1)
            buttons.addLayout(line)
        self.gallery = icon_gallery(
            42,
            "Your labelled drawings as the model sees them (held out: *), marked ✓ when the\n"
            "weights in use read them right, ✗ when not. Right-click one to delete or relabel it;\n"
            "Delete removes the selected ones, Ctrl+Z brings them back.",
        )
        self.gallery.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.customContextMenuRequested.connect(self._context_menu)
        self.gallery.installEventFilter(self)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.counts)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        self.empty_note = QLabel(
            "No drawings yet. Draw a digit on the canvas, then press its key (0-9) or its"
            " Label button: it appears here, and the model learns your style when you fine-tune."
        )
        self.empty_note.setWordWrap(True)
        self.empty_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.empty_note)
        layout.addWidget(self.gallery, 1)

    @property
    def personal(self) -> PersonalSet:
        return self._personal

    @personal.setter
    def personal(self, personal: PersonalSet) -> None:
        self._personal = personal
        self.show_set(self.classes)

    def set_reader(self, model: Model | None, deskewed: bool, classes: list[str]) -> None:
        """Mark the drawings as `model` (the weights in use, of `classes`) reads them."""
        self.reader = None if model is None else (model, deskewed)
        self.readings = {}
        self.show_set(classes)

    def _read(self, drawings: list[Drawing]) -> None:
        """What the weights in use read in the drawings not read yet."""
        new = [drawing for drawing in drawings if drawing.id not in self.readings]
        if self.reader is None or not new:
            return
        model, deskewed = self.reader
        images = np.array([drawing.image.reshape(-1) for drawing in new], dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            probabilities = model.probabilities(deskew(images) if deskewed else images)
        for drawing, row in zip(new, probabilities, strict=True):
            if np.isfinite(row).all():  # else no mark: weights that overflow read nothing
                self.readings[drawing.id] = (int(row.argmax()), float(row.max()))

    def show_set(self, classes: list[str]) -> list[Drawing]:
        """List the person's drawings, named by `classes`; return them. This lists them all
        again: after labelling one, `add_drawing` is enough."""
        self.classes = list(classes)
        drawings, _ = self.personal.drawings()
        self._read(drawings)
        self.gallery.clear()
        for drawing in reversed(drawings):  # newest first
            self.gallery.addItem(self._item(drawing))
        self._show_counts()
        return drawings

    def add_drawing(self, drawing: Drawing) -> None:
        """Show one drawing just added to the set, first in the gallery."""
        self._read([drawing])
        self.gallery.insertItem(0, self._item(drawing))
        self._show_counts()

    def remove_drawing(self, drawing: Drawing) -> None:
        """Remove a drawing from the set and from the gallery (HandwritingError if it cannot)."""
        self.personal.remove(drawing)
        for row in range(self.gallery.count()):
            if self.gallery.item(row).data(Qt.ItemDataRole.UserRole) == drawing.id:
                self.gallery.takeItem(row)
                break
        self._show_counts()

    # -- deleting and relabelling, with undo ----------------------------------------------------

    def selected(self) -> list[Drawing]:
        """The drawings selected in the gallery."""
        ids = {item.data(Qt.ItemDataRole.UserRole) for item in self.gallery.selectedItems()}
        return [drawing for drawing in self.personal.drawings()[0] if drawing.id in ids]

    def delete_selected(self) -> None:
        drawings = self.selected()
        if not drawings:
            return
        try:
            for drawing in drawings:
                self.remove_drawing(drawing)
        except HandwritingError as error:
            message_box(self, "critical", "Cannot delete the drawing", f"{error}.")
            return
        self._done(
            f"Deleted {len(drawings)} drawing{'s' * (len(drawings) > 1)}",
            lambda: [self.personal.restore(drawing) for drawing in drawings],
        )

    def relabel_selected(self, label: int) -> None:
        name = self.classes[label]
        drawings = [d for d in self.selected() if (d.label, d.name) != (label, name)]
        if not drawings:
            return
        try:
            for drawing in drawings:
                self.personal.relabel(drawing, label, name)
        except HandwritingError as error:
            message_box(self, "critical", "Cannot relabel the drawing", f"{error}.")
            self.show_set(self.classes)
            return
        self._done(
            f"Relabelled {len(drawings)} as {name}",
            lambda: [
                self.personal.relabel(drawing, drawing.label, drawing.name) for drawing in drawings
            ],
        )

    def _done(self, what: str, undo: Callable[[], object]) -> None:
        self.undo_steps.append((what, undo))
        self.undo_button.setEnabled(True)
        self.undo_button.setToolTip(tip(f"Undo: {what} (Ctrl+Z in the gallery)"))
        self.show_set(self.classes)
        self.message.emit(f"{what}. Ctrl+Z in the gallery (or its Undo button) undoes it.")

    @Slot()
    def undo(self) -> None:
        if not self.undo_steps:
            self.message.emit("Nothing to undo in your drawings.")
            return
        what, step = self.undo_steps.pop()
        try:
            step()
        except HandwritingError as error:
            message_box(self, "critical", "Cannot undo", f"{error}.")
        self.undo_button.setEnabled(bool(self.undo_steps))
        self.show_set(self.classes)
        self.message.emit(f"Undone: {what}.")

    def _context_menu(self, position) -> None:
        item = self.gallery.itemAt(position)
        if item is None:
            return
        if not item.isSelected():
            self.gallery.setCurrentItem(item)  # the one clicked, unless it is in the selection
        self.selection_menu().exec(self.gallery.viewport().mapToGlobal(position))

    def selection_menu(self) -> QMenu:
        """Delete, and Label as with the selected drawings' labels ticked."""
        menu = QMenu(self)
        menu.addAction("Delete", self.delete_selected)
        relabel = menu.addMenu("Label as")
        current = {drawing.label for drawing in self.selected()}
        count = len(self.classes)
        for first in range(0, count, MENU_ROWS):
            last = min(first + MENU_ROWS, count) - 1
            here = any(first <= label <= last for label in current)
            title = f"{first} to {last}" + (" (current)" if here else "")
            rows = relabel if count <= MENU_ROWS else relabel.addMenu(title)
            for index in range(first, last + 1):
                name = " ".join(self.classes[index].split())  # on one line
                if len(name) > MENU_NAME:
                    name = name[: MENU_NAME - 1] + "…"
                act = rows.addAction(button_text(name), lambda i=index: self.relabel_selected(i))
                act.setCheckable(True)
                act.setChecked(index in current)
        return menu

    def eventFilter(self, watched, event) -> bool:
        """With the focus in the gallery, Delete deletes the selected drawings and Ctrl+Z undoes
        that (elsewhere both act on the canvas)."""
        if watched is self.gallery and event.type() in (QEvent.Type.ShortcutOverride,
                                                        QEvent.Type.KeyPress):  # fmt: skip
            delete = event.key() == Qt.Key.Key_Delete
            undo = event.matches(QKeySequence.StandardKey.Undo)
            if delete or undo:
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    self.delete_selected() if delete else self.undo()
                return True
        return super().eventFilter(watched, event)

    def _item(self, drawing: Drawing) -> QListWidgetItem:
        text = f"{drawing.name}{'*' if drawing.held_out else ''}"
        about = f"{drawing.name}, {drawing.created[:19].replace('T', ' ')}"
        reading = self.readings.get(drawing.id)
        right = None
        if reading is not None and reading[0] < len(self.classes):
            read_as, sure = reading
            about += f"\nRead as {self.classes[read_as]} ({sure:.0%}) by the weights in use"
            if in_classes(drawing, self.classes):
                right = read_as == drawing.label
                text += " ✓" if right else " ✗"
                about += ": right" if right else ": wrong"
        item = QListWidgetItem(digit_icon(drawing.image, 42), text)
        if right is not None:
            item.setForeground(RIGHT if right else WRONG)
        if drawing.held_out:
            about += "\nHeld out: never trained on, it measures how well the model reads you"
        if not in_classes(drawing, self.classes):
            about += (
                f"\nLabelled {drawing.label} as {drawing.name}: not a class of the weights in use,"
                " so left out of fine-tuning (Label as... makes it one)"
            )
        item.setToolTip(tip(about))
        item.setData(Qt.ItemDataRole.UserRole, drawing.id)
        return item

    def _show_counts(self) -> None:
        counts, problems = self.personal.counts(), self.personal.problems()
        # (to learn from, held out) of each class in use: its label under its name
        mine = [
            (counts[(i, name, False)], counts[(i, name, True)])
            for i, name in enumerate(self.classes)
        ]
        parts = [
            f"{name}: {kept}+{held}"
            for name, (kept, held) in zip(self.classes, mine, strict=True)
            if kept + held
        ]
        folder = str(self.personal.folder)
        home = str(Path.home())
        if folder.startswith(home + "/"):  # shorter, and no user name in screenshots
            folder = "~" + folder[len(home) :]
        total = counts.total()
        others = total - sum(kept + held for kept, held in mine)
        text = f"{total} drawing{'s' * (total != 1)} in {folder}" + (
            f" (to learn from + held out: {', '.join(parts)})" if parts else ""
        )
        if others:
            text += f"; {others} of classes the weights in use do not have, left out"
        marked = [
            self.readings[drawing.id][0] == drawing.label
            for drawing in self.personal.drawings()[0]
            if drawing.id in self.readings and in_classes(drawing, self.classes)
        ]
        if marked:
            text += f". The weights in use read {sum(marked)} of {len(marked)} right (✓)"
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            text += f"\nUnreadable, skipped: {problems[0]}{more}"
        self.counts.setText(text)
        self.empty_note.setVisible(total == 0)
        self.fine_tune.setEnabled(any(kept for kept, _ in mine))

    @Slot()
    def export_dialog(self) -> bool:
        def save(path: str, _filter: str) -> str:
            try:
                count = self.personal.export(path)
            except HandwritingError as error:
                raise OSError(errno.EIO, str(error)) from None
            self.message.emit(f"Exported {count} drawings to {path}")
            return path

        filters = "Zip of drawings (*.zip)"
        title = "Export your handwriting"
        return self.folders.save_as(self, title, "handwriting.zip", filters, save) is not None

    @Slot()
    def import_dialog(self) -> bool:
        """Ask for a zip and start importing it in its own thread, a progress dialog showing;
        True when the import started (`imported` is emitted when drawings were added)."""
        if self.job is not None:
            return False
        path = self.folders.open_file(
            self, "Import handwriting", "Zip of drawings (*.zip);;All files (*)"
        )
        if not path:
            return False
        self.job = ImportJob(self.personal, path, self.classes or None)
        self.job.progress.connect(self._on_import_progress)
        self.job.finished.connect(self._on_import_finished)
        self.progress = QProgressDialog(self)
        self.progress.setLabel(plain(QLabel(f"Checking the drawings of {path}")))
        self.progress.setWindowTitle("Importing handwriting")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setRange(0, 0)
        self.progress.setMinimumDuration(300)
        self.progress.canceled.connect(self._on_import_cancel)
        self.import_button.setEnabled(False)
        self.job.start()
        return True

    def importing(self) -> bool:
        return self.job is not None

    def stop_import(self) -> None:
        """Cancel an import under way and wait for its thread (nothing is added)."""
        if self.job is not None:
            self.job.join()  # its finished signal, queued, is handled if the loop runs again

    @Slot()
    def _on_import_cancel(self) -> None:
        if self.job is not None:
            self.job.cancelled = True

    @Slot(int, int)
    def _on_import_progress(self, done: int, total: int) -> None:
        dialog = self.progress
        if dialog is None or self.sender() is not self.job:
            return
        if 2 * done >= total:  # checked them all; now writing the new ones
            dialog.setLabelText("Adding the drawings")
        dialog.setRange(0, total)
        dialog.setValue(done)  # last: a modal progress dialog handles pending events here

    @Slot(object)
    def _on_import_finished(self, result) -> None:
        if self.sender() is not self.job:
            return
        self.job.join()  # it has finished: its thread ends at once
        self.job = None
        dialog, self.progress = self.progress, None
        dialog.hide()
        dialog.deleteLater()
        self.import_button.setEnabled(True)
        if isinstance(result, ImportCancelled):
            self.message.emit("Import cancelled: nothing was added.")
        elif isinstance(result, Exception):
            text = f"{result}\n\nYour drawings are unchanged."
            message_box(self, "critical", "Cannot import", text)
        else:
            added, known = result
            self.show_set(self.classes)
            self.imported.emit()
            self.message.emit(f"Imported {added} drawings ({known} were already here).")
