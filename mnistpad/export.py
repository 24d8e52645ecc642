"""The training curves of several runs as one CSV table, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

CURVE_FIELDS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "dev_loss",
    "dev_accuracy",
    "lr",
    "seconds",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would take as a formula, quoted with a leading apostrophe
    (OWASP's advice on CSV injection); numbers, negative ones included, stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def curves_csv(runs: list[tuple[str, dict, list[dict]]]) -> str:
    """One CSV table of the per-epoch curves of several runs: (name, settings, history) each,
    a row per epoch, with the run's name and its main settings in front."""
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    settings = ("preset", "batch_size", "seed", "deskew")
    table.writerow(("run", *settings, *CURVE_FIELDS))
    for name, config, history in runs:
        for row in history:
            cells = (name, *(config.get(key, "") for key in settings),
                     *(row.get(key, "") for key in CURVE_FIELDS))  # fmt: skip
            table.writerow([spreadsheet_safe(cell) for cell in cells])
    return out.getvalue()
