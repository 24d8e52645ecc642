"""The window's remembered settings (QSettings), opened only when their file is safe to read.

Qt reads the settings file when a QSettings object is made, and a settings file that is a named
pipe would block start-up forever; a huge one would be read whole. So the file names are found
first, through a probe that reads nothing, and a file that is not a regular file of a sensible
size is left alone: the session then keeps its settings in memory and says so.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

from ..files import check_regular

MAX_SETTINGS_BYTES = 1 << 20  # mnistpad writes a few kilobytes


def settings_files() -> list[Path]:
    """The files QSettings() reads for this application: its own and its organisation's."""
    probe_org = f"mnistpad-probe-{uuid.uuid4().hex}"  # no such files: the probe reads nothing
    probe = QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, probe_org, "probe")
    probe_file = Path(probe.fileName())
    base, suffix = probe_file.parent.parent, probe_file.suffix
    organisation = QCoreApplication.organizationName()
    application = QCoreApplication.applicationName()
    return [base / organisation / f"{application}{suffix}", base / f"{organisation}{suffix}"]


def open_settings() -> tuple[QSettings, str]:
    """mnistpad's QSettings and "" or, when a settings file cannot be read safely, settings kept
    for this session only and a message saying why."""
    for path in settings_files():
        if path.exists() or path.is_symlink():
            try:
                check_regular(path, MAX_SETTINGS_BYTES)
            except OSError as error:
                session = Path(tempfile.mkdtemp(prefix="mnistpad-settings-")) / "session.ini"
                return QSettings(str(session), QSettings.Format.IniFormat), (
                    f"Settings file {path} {error.strerror}: settings are not remembered"
                    " this session."
                )
    return QSettings(), ""
