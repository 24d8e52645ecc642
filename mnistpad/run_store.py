"""Every trained model kept: the runs of the window (and the weight files opened in it), each
written to a folder of the person's own as soon as it exists, and listed again after a restart.

An entry is an ordinary mnistpad weight file named `run-<number>.npz`, written atomically by
`save_weights`; its metadata also holds the entry's name, where it came from and where the person
saved it (`meta["run"]`). Reading the folder back trusts nothing in it: only names of that form
are read (a link is not followed, a path is never taken from inside a file), each file passes
`load_weights`' checks, and a file that does not is skipped and named. The folder's listing, the
number of entries and the memory their weights take are bounded (constants below).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .networks import KIND_NAMES, Model
from .weights import WeightFileError, load_weights, save_weights

RUN_FILE = re.compile(r"run-(\d{1,9})\.npz")
MAX_LISTED = 10_000  # folder entries looked at: a folder flooded with other files is not read out
MAX_RUNS = 50  # entries kept: more than a list can show usefully; the oldest go first (asked)
MAX_RUN_BYTES = 256 << 20  # their weights in memory; our largest model takes 0.9 MB
MAX_NAME = 120  # characters of a name as shown; longer names are cut


@dataclass(eq=False)
class StoredRun:
    """One entry: its weights and metadata, and its file in the store (None if it could not be
    written: then it lives only as long as the window)."""

    number: int
    path: Path | None
    model: Model
    meta: dict

    @property
    def info(self) -> dict:
        info = self.meta.get("run")
        return info if isinstance(info, dict) else {}

    @property
    def name(self) -> str:
        """Its name, as the person gave it (or a run was named), on one line."""
        name = self.info.get("name")
        if not isinstance(name, str) or not name.strip():
            return KIND_NAMES[self.model.kind]
        name = " ".join(name.split())  # one line: no newlines or tabs from a file
        return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"

    @property
    def title(self) -> str:
        """How the window names it: "3: CNN · cnn · 15 epochs"."""
        return f"{self.number}: {self.name}"

    @property
    def origin(self) -> str:
        """The file it was opened from ("" for a run trained in the window)."""
        origin = self.info.get("origin")
        return origin if isinstance(origin, str) else ""

    @property
    def saved_to(self) -> str:
        """Where the person saved it ("" if nowhere)."""
        saved = self.info.get("saved_to")
        return saved if isinstance(saved, str) else ""

    @property
    def kept_elsewhere(self) -> bool:
        """Whether removing it from the store loses nothing: it is in a file of the person's."""
        return bool(self.origin or self.saved_to)

    @property
    def nbytes(self) -> int:
        return model_bytes(self.model)

    @cached_property
    def digest(self) -> str:  # the weights of an entry never change
        return weights_digest(self.model)


def model_bytes(model: Model) -> int:
    return sum(value.nbytes for value in model.params.values())


def weights_digest(model: Model) -> str:
    """A fingerprint of the parameters: the same weights opened twice are one entry."""
    digest = hashlib.sha256(model.kind.encode())
    for name in sorted(model.params):
        digest.update(name.encode())
        digest.update(model.params[name].tobytes())
    return digest.hexdigest()


class RunStore:
    """The folder of kept entries. Its methods raise WeightFileError (with the reason) when a
    file cannot be written; reading never raises, it says what it skipped."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def read(self) -> tuple[list[StoredRun], list[str]]:
        """The entries in the folder, oldest first (at most MAX_RUNS, the newest ones, within
        MAX_RUN_BYTES), and a message for each file skipped or left out."""
        numbers, problems = self._listing()
        runs: list[StoredRun] = []
        total = 0
        for number in sorted(numbers, reverse=True):
            path = self.folder / f"run-{number}.npz"
            if len(runs) == MAX_RUNS:
                problems.append(f"{path}: not listed, over {MAX_RUNS} kept runs")
                continue
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # gone meanwhile: load_weights says so
            if total + size > MAX_RUN_BYTES:  # not even read: the budget is also start-up time
                problems.append(f"{path}: not listed, over {MAX_RUN_BYTES >> 20} MB of weights")
                continue
            try:
                loaded = load_weights(path)
            except WeightFileError as error:
                problems.append(f"{path}: skipped, {error.reason}")
                continue
            size = model_bytes(loaded.model)
            if total + size > MAX_RUN_BYTES:
                problems.append(f"{path}: not listed, over {MAX_RUN_BYTES >> 20} MB of weights")
                continue
            total += size
            runs.append(StoredRun(number, path, loaded.model, loaded.meta))
        return runs[::-1], problems

    def _listing(self) -> tuple[list[int], list[str]]:
        """The numbers of the regular files named run-<number>.npz, looking at MAX_LISTED entries
        at most; links and anything else are left alone."""
        numbers: list[int] = []
        try:
            with os.scandir(self.folder) as entries:
                for count, entry in enumerate(entries):
                    if count == MAX_LISTED:
                        return numbers, [
                            f"{self.folder}: more than {MAX_LISTED:,} files; not all read"
                        ]
                    match = RUN_FILE.fullmatch(entry.name)
                    if match and stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                        numbers.append(int(match.group(1)))
        except FileNotFoundError:
            return [], []
        except OSError as error:
            return [], [f"{self.folder}: cannot read the kept runs ({error.strerror or error})"]
        return numbers, []

    def add(self, model: Model, meta: dict, name: str, origin: str = "") -> StoredRun:
        """Keep `model` as a new entry named `name` (`origin`: the file it was opened from)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WeightFileError(self.folder, error.strerror or str(error)) from None
        numbers, _ = self._listing()
        number = max(numbers, default=0) + 1
        while True:  # claimed with O_EXCL: another mnistpad window writing at once takes another
            path = self.folder / f"run-{number}.npz"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                break
            except FileExistsError:
                number += 1
            except OSError as error:
                raise WeightFileError(path, error.strerror or str(error)) from None
        info = {"name": name, **({"origin": origin} if origin else {})}
        run = StoredRun(number, path, model, {**meta, "run": info})
        try:
            self.write(run)
        except WeightFileError:
            path.unlink(missing_ok=True)
            raise
        return run

    def write(self, run: StoredRun) -> None:
        """Write `run` again (renamed, or saved elsewhere); nothing to do for one not stored."""
        if run.path is not None:
            save_weights(run.path, run.model, run.meta)

    def rename(self, run: StoredRun, name: str) -> None:
        self._set(run, "name", name)

    def mark_saved(self, run: StoredRun, path: str) -> None:
        self._set(run, "saved_to", path)

    def _set(self, run: StoredRun, key: str, value: str) -> None:
        before = run.meta
        run.meta = {**before, "run": {**run.info, key: value}}
        try:
            self.write(run)
        except WeightFileError:
            run.meta = before
            raise

    def remove(self, run: StoredRun) -> None:
        """Delete the entry's file (raises WeightFileError if it cannot be)."""
        if run.path is None:
            return
        try:
            run.path.unlink(missing_ok=True)
        except OSError as error:
            raise WeightFileError(run.path, error.strerror or str(error)) from None
