"""Message boxes, save dialogs and texts from outside: shown as plain text, never as HTML.

Qt guesses whether a label's, a tooltip's or a message box's text is HTML. A class name, a file
name or a message quoting either comes from files that may come from anywhere, and as HTML
`<img src="/dev/zero">` would make Qt read a device until memory runs out. So every such text goes
through `message`, `plain` or `tip`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtGui import Qt as QtText
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMessageBox, QWidget

Button = QMessageBox.StandardButton
ICONS = {
    "critical": QMessageBox.Icon.Critical,
    "warning": QMessageBox.Icon.Warning,
    "question": QMessageBox.Icon.Question,
    "information": QMessageBox.Icon.Information,
}


def message(
    parent: QWidget | None,
    kind: str,
    title: str,
    text: str,
    buttons: Button = Button.Ok,
    default: Button = Button.NoButton,
    html: bool = False,
) -> Button:
    """A modal message box of `kind` (critical, warning, question, information) showing `text`
    as plain text (as HTML only with `html`, for mnistpad's own texts); returns the button
    pressed."""
    box = QMessageBox(ICONS[kind], title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.RichText if html else Qt.TextFormat.PlainText)
    if default != Button.NoButton:
        box.setDefaultButton(default)
    return Button(box.exec())


def plain(label: QLabel) -> QLabel:
    """`label`, set to show its text as plain text whatever it contains."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def choices(items: dict[str, str]) -> QComboBox:
    """A combo box showing the values of `items`, each with its key as its data."""
    box = QComboBox()
    for key, text in items.items():
        box.addItem(text, key)
    return box


def tip(text: str) -> str:
    """A tooltip that shows `text` literally (tooltips have no plain-text setting)."""
    return QtText.convertFromPlainText(text)


def save_as(
    parent: QWidget,
    title: str,
    suggested: Path,
    filters: str,
    save: Callable[[str, str], str],
) -> str | None:
    """Ask for a file name, give it the chosen filter's suffix if it has none of the filter's
    (asking before replacing a file of that name), then `save(path, chosen filter)`, which returns
    the path it wrote. Return that path, or None when the person cancelled or saving failed (which
    a dialog says)."""
    path, chosen = QFileDialog.getSaveFileName(parent, title, str(suggested), filters)
    if not path:
        return None
    known = re.findall(r"\*(\.\w+)", filters)
    if known and not path.lower().endswith(tuple(known)):
        path += (re.findall(r"\*(\.\w+)", chosen) or known)[0]
        if Path(path).exists() and not confirm_replace(parent, path):
            return None
    try:
        return save(path, chosen)
    except OSError as error:
        message(parent, "critical", "Cannot save", f"{path}\n\n{error.strerror or error}.")
        return None


def confirm_replace(parent: QWidget, path: str) -> bool:
    answer = message(
        parent,
        "question",
        "Replace the file?",
        f"{path} already exists. Replace it?",
        Button.Yes | Button.Cancel,
        Button.Cancel,
    )
    return answer == Button.Yes


class Folders:
    """Where file dialogs start: the folder of the last file opened or saved (remembered in the
    settings), else the Documents folder, else the home folder."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def last(self) -> str:
        try:
            folder = self.settings.value("last_folder", "", type=str)
        except (TypeError, ValueError):  # a damaged setting (bytes that are no text, say)
            folder = ""
        if folder and Path(folder).is_dir():
            return folder
        location = QStandardPaths.StandardLocation.DocumentsLocation
        documents = QStandardPaths.writableLocation(location)
        return documents if documents and Path(documents).is_dir() else str(Path.home())

    def remember(self, folder: Path | str) -> None:
        self.settings.setValue("last_folder", str(folder))

    def open_file(self, parent: QWidget, title: str, filters: str) -> str:
        """Ask for a file to open; "" when the person cancelled."""
        path, _ = QFileDialog.getOpenFileName(parent, title, self.last(), filters)
        if path:
            self.remember(Path(path).parent)
        return path

    def save_as(
        self,
        parent: QWidget,
        title: str,
        name: str,
        filters: str,
        save: Callable[[str, str], str],
    ) -> str | None:
        """`save_as` starting at `name` in the last folder, remembering where it saved."""
        saved = save_as(parent, title, Path(self.last()) / name, filters, save)
        if saved is not None:
            self.remember(Path(saved).parent)
        return saved
