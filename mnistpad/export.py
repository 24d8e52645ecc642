"""Files mnistpad writes: every one atomically, and the training curves as CSV.

`write_atomically` writes into a temporary file beside the target, flushes it to disk and renames
it into place, so a failure (a full disk, a crash) never leaves a damaged file, and an existing
file is replaced only by a complete one.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CURVE_FIELDS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "dev_loss",
    "dev_accuracy",
    "lr",
    "seconds",
)


def write_atomically(path: Path | str, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write(stream)` to fill a temporary file, then rename it to `path`.

    Raises OSError whose strerror says "cannot write in FOLDER: ..." when the temporary file
    cannot be created, or "cannot write: ..." when writing fails; nothing is left behind.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:  # mode 0o666 lets the umask decide the permissions, as for any new file
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        message = f"cannot write in {path.parent}: {error.strerror or error}"
        raise OSError(error.errno, message) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write: {error.strerror or error}") from None
        raise
    return path


def curves_csv(runs: list[tuple[str, dict, list[dict]]]) -> str:
    """One CSV table of the per-epoch curves of several runs: (name, settings, history) each,
    a row per epoch, with the run's name and its main settings in front."""
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    settings = ("preset", "batch_size", "seed", "deskew")
    table.writerow(("run", *settings, *CURVE_FIELDS))
    for name, config, history in runs:
        for row in history:
            table.writerow((name, *(config.get(key, "") for key in settings),
                            *(row.get(key, "") for key in CURVE_FIELDS)))  # fmt: skip
    return out.getvalue()
