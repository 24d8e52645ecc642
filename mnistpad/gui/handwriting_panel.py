"""The Handwriting tab: the person's labelled drawings, fine-tuning on them, export and import."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..handwriting import Drawing, HandwritingError, PersonalSet
from .errors import digit_icon, icon_gallery
from .files import save_as


class HandwritingPanel(QWidget):
    """What the personal set holds, and the buttons that use it."""

    fine_tune_requested = Signal()
    imported = Signal()  # drawings were added from a file
    message = Signal(str)  # for the status bar

    def __init__(
        self, personal: PersonalSet, folder: Callable[[], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.personal, self.folder = personal, folder
        intro = QLabel(
            "<b>Teach it your handwriting.</b> Draw a digit, then press its key (0-9) or a"
            " <i>Label</i> button under the canvas: the drawing joins your own dataset, kept"
            " across sessions. Every fifth drawing of a class is held out to measure how well"
            " the model reads you. <i>Fine-tune</i> trains the weights in use further on your"
            " drawings mixed with MNIST, so MNIST is not forgotten."
        )
        intro.setWordWrap(True)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.fine_tune = QPushButton("Fine-tune on my handwriting")
        self.fine_tune.setToolTip("Train the weights in use 5 epochs on your drawings and MNIST")
        self.fine_tune.clicked.connect(self.fine_tune_requested)
        export = QPushButton("Export...")
        export.setToolTip("Save your drawings as one .zip, to keep or to use elsewhere")
        export.clicked.connect(self.export_dialog)
        import_ = QPushButton("Import...")
        import_.setToolTip("Add the drawings of a .zip exported by mnistpad")
        import_.clicked.connect(self.import_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(self.fine_tune)
        buttons.addStretch(1)
        buttons.addWidget(export)
        buttons.addWidget(import_)
        self.gallery = icon_gallery(
            42, "Your labelled drawings as the model sees them (held out: *)"
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.counts)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        layout.addWidget(self.gallery, 1)

    def show_set(self, classes: list[str]) -> list[Drawing]:
        """List the person's drawings, named by `classes`; return them."""
        drawings, problems = self.personal.drawings()
        per_class = Counter(d.label for d in drawings if not d.held_out)
        held_out = Counter(d.label for d in drawings if d.held_out)
        parts = [
            f"{name}: {per_class[i]}+{held_out[i]}" for i, name in enumerate(classes) if
            per_class[i] or held_out[i]
        ]  # fmt: skip
        text = f"<b>{len(drawings)}</b> drawings in {self.personal.folder}" + (
            f" (to learn from + held out: {', '.join(parts)})" if parts else ""
        )
        if problems:
            text += f"<br>{len(problems)} unreadable file(s) skipped: {problems[0]}"
        self.counts.setText(text)
        self.fine_tune.setEnabled(any(not d.held_out for d in drawings))
        self.gallery.clear()
        for drawing in reversed(drawings):  # newest first
            mark = "*" if drawing.held_out else ""
            item = QListWidgetItem(digit_icon(drawing.image, 42), f"{drawing.name}{mark}")
            item.setToolTip(f"{drawing.name}, {drawing.created[:19].replace('T', ' ')}")
            self.gallery.addItem(item)
        return drawings

    @Slot()
    def export_dialog(self) -> bool:
        def save(path: str, _filter: str) -> str:
            count = self.personal.export(path)
            self.message.emit(f"Exported {count} drawings to {path}")
            return path

        suggested = Path(self.folder()) / "handwriting.zip"
        filters = "Zip of drawings (*.zip)"
        return save_as(self, "Export your handwriting", suggested, filters, save) is not None

    @Slot()
    def import_dialog(self) -> bool:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import handwriting", self.folder(), "Zip of drawings (*.zip);;All files (*)"
        )
        if not path:
            return False
        try:
            added, known = self.personal.import_from(path)
        except (HandwritingError, OSError) as error:
            QMessageBox.critical(self, "Cannot import", f"{error}\n\nYour drawings are unchanged.")
            return False
        self.imported.emit()
        self.message.emit(f"Imported {added} drawings ({known} were already here).")
        return True
