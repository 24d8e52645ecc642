"""The window's File menu: open and save weights, open a dataset, drop a file, never lose work.

Each action asks (a file dialog, a question before unsaved weights are dropped), does its work
through the core, and says what happened: a dialog when it failed (and what stays as it was), a
status-bar message when it worked. The folder of the last file opened or saved is remembered.
"""

from __future__ import annotations

import errno
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from ..data import DataError, bundled_mnist_dir
from ..networks import Model
from ..weights import WeightFile, WeightFileError, bundled_models, load_weights, save_weights
from .dialogs import Button, Folders, message
from .run_controller import RunController
from .session import DEFAULT_WEIGHTS, Session


def save_weights_as(
    parent: QWidget, folders: Folders, model: Model, meta: dict, name: str
) -> str | None:
    """Ask where to save `model` (suggesting `name`) and save it with `meta`; the path written,
    or None when the person cancelled or saving failed (a dialog says why)."""

    def save(path: str, _filter: str) -> str:
        try:
            return str(save_weights(path, model, meta))
        except WeightFileError as error:
            raise OSError(errno.EIO, f"{error.reason}; nothing was changed") from None

    return folders.save_as(parent, "Save weights", name, "mnistpad weights (*.npz)", save)


class FileActions(QObject):
    """Opening and saving for one window; `parent` is where its dialogs appear."""

    weights_opened = Signal(object, str)  # the WeightFile now in use, and its path if it is to
    # join the runs list ("" for the default weights opened at start)
    weights_saved = Signal(str)  # the path the weights in use were saved as
    status = Signal(str)  # a message for the status bar

    def __init__(
        self, parent: QWidget, session: Session, run: RunController, folders: Folders
    ) -> None:
        super().__init__(parent)
        self.window, self.session, self.run, self.folders = parent, session, run, folders

    # -- weights -------------------------------------------------------------------------------

    def open_weights(
        self, path: Path | str, instead: str = "The weights in use are unchanged.", listed=True
    ) -> bool:
        """Load a weight file and use it (and list it with the runs, if `listed`); on failure say
        why (and what happens instead)."""
        path = Path(path)
        try:
            loaded: WeightFile = load_weights(path)
        except WeightFileError as error:
            reason = f"{error.reason[0].upper()}{error.reason[1:]}."
            text = f"{error.path}\n\n{reason}\n\n{instead}"
            message(self.window, "critical", "Cannot open weights", text)
            return False
        default = path.resolve() == DEFAULT_WEIGHTS.resolve()
        bundled = default or path.resolve() in {known.resolve() for known in bundled_models()}
        source = "bundled default" if default else f"bundled {path.name}" if bundled else str(path)
        name = source if bundled else path.name
        self.session.use_weights(loaded.model, loaded.meta, source, unsaved=False, name=name)
        if not bundled:
            self.folders.remember(path.parent)
        self.weights_opened.emit(loaded, str(path) if listed else "")
        return True

    def open_weights_dialog(self) -> None:
        if self.run.training or not self.confirm_discard():
            return
        path = self.folders.open_file(
            self.window, "Open weights", "mnistpad weights (*.npz);;All files (*)"
        )
        if path:
            self.open_weights(path)

    def use_default_weights(self) -> None:
        self.open_bundled(DEFAULT_WEIGHTS)

    def open_bundled(self, path: Path) -> None:
        """Open one of the bundled weight files (File > Open bundled model)."""
        if not self.run.training and self.confirm_discard():
            self.open_weights(path)

    def save_weights_dialog(self) -> bool:
        """Ask where to save the weights in use; True when they were saved."""
        session = self.session
        if session.model is None or self.run.training:
            return False

        saved = save_weights_as(
            self.window, self.folders, session.model, session.meta, "mnistpad-weights.npz"
        )
        if saved is None:
            return False
        session.saved_as(Path(saved))
        self.weights_saved.emit(saved)
        self.status.emit(f"Saved {saved}")
        return True

    def confirm_discard(self) -> bool:
        """With unsaved trained weights, offer to save them; False means cancel."""
        if not self.session.unsaved:
            return True
        answer = message(
            self.window,
            "question",
            "Save the trained weights?",
            "The weights you trained in this session are not saved. Save them first?",
            Button.Save | Button.Discard | Button.Cancel,
            Button.Save,
        )
        if answer == Button.Save:
            return self.save_weights_dialog()
        return answer == Button.Discard

    def drop(self, path: str) -> None:
        """A weight file dropped on the window."""
        if self.run.training:
            self.status.emit("Stop training before opening another weight file.")
        elif self.confirm_discard():
            self.open_weights(path)

    # -- data ----------------------------------------------------------------------------------

    def open_dataset_dialog(self) -> None:
        if self.run.training:
            return
        folder = QFileDialog.getExistingDirectory(
            self.window, "Open a folder of IDX files", self.folders.last()
        )
        if folder:
            self.open_dataset(Path(folder))

    def use_bundled_mnist(self) -> None:
        if not self.run.training:
            self.open_dataset(bundled_mnist_dir())

    def open_dataset(self, folder: Path) -> bool:
        """Train and test on the IDX files in `folder` from now on; on failure say why."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            dataset = self.session.read_dataset(folder)  # in a thread: seconds for large data
        except DataError as error:
            text = f"{error}\n\nThe data in use is unchanged."
            message(self.window, "critical", "Cannot open the dataset", text)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.session.use_dataset(dataset, None if dataset.name == "bundled MNIST" else folder)
        names = ", ".join(dataset.classes)
        status = f"Data: {dataset.name}, {len(dataset.classes)} classes ({names})."
        if list(dataset.classes) != self.session.classes:
            status += " The weights in use are for other classes: train a model for this data."
        self.status.emit(status)
        if dataset.name != "bundled MNIST":
            self.folders.remember(folder.parent)
        return True
