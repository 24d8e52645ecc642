"""Asking where to save, and saying so when saving fails: one pattern for every export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


def save_as(
    parent: QWidget,
    title: str,
    suggested: Path,
    filters: str,
    save: Callable[[str, str], str],
) -> str | None:
    """Ask for a file name, then `save(path, chosen filter)`, which returns the path it wrote.
    Return that path, or None when the person cancelled or saving failed (which a dialog says)."""
    path, chosen = QFileDialog.getSaveFileName(parent, title, str(suggested), filters)
    if not path:
        return None
    try:
        return save(path, chosen)
    except OSError as error:
        QMessageBox.critical(parent, "Cannot save", f"{path}\n\n{error.strerror or error}.")
        return None
