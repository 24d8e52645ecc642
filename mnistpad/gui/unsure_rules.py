"""The unsure rule (unsure.py) for the weights in use, fitted in a thread of its own.

Fitting takes seconds (less once the cache keeps its parts), so it runs off the window's thread
the first time a reading asks for the rule of the weights in use on the data in use, reading the
data there too if no view has yet; the reading says nothing about trust until the rule is there,
then `ready` asks for it again. Weights made for other classes than the data's get no rule, and
neither does the model being trained (its weights change at every step).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from ..data import load_dataset
from ..networks import Model
from ..unsure import UnsureRule, digit_test, fit
from .session import Session


class UnsureRules(QObject):
    """The rule of the weights in use, once fitted."""

    ready = Signal()  # a rule was fitted: the reading can say whether to trust it
    _fitted = Signal(int, object)  # (which fit, (data folder, dataset, the rule or the error))

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.rule: UnsureRule | None = None
        self.model: Model | None = None  # the model and data of `rule`, or of the fit under way
        self.dataset = None
        self.fits = 0  # fits started: only the last one's result is kept
        self.digits: list = [None, None]  # [a dataset, the bundled CNN's test for it]
        self.problem = ""  # why the weights in use have no rule, if they cannot have one
        self._fitted.connect(self._on_fitted)

    def rule_for(self, model: Model | None) -> UnsureRule | None:
        """The rule for `model` if it is the weights in use and the rule is fitted; starts
        fitting it otherwise, the data read in the same thread if need be (None meanwhile)."""
        session = self.session
        if model is None or model is not session.model:
            return None
        dataset = session.dataset
        if self.model is model and (dataset is None or dataset is self.dataset):
            return self.rule  # fitted, or being fitted
        self.rule, self.model, self.dataset, self.problem = None, model, dataset, ""
        self.fits += 1
        folder, classes, deskews = session.data_folder, session.classes, session.deskews
        number, digits = self.fits, self.digits

        def work() -> None:
            data = dataset
            try:
                data = data or load_dataset(folder)
                if list(data.classes) != classes:
                    raise ValueError("the weights are for other classes than the data in use")
                if digits[0] is not data:  # the bundled CNN's test: once per dataset
                    digits[:] = [data, digit_test(data)]
                result = fit(model, data, deskews, digits[1])
            except Exception as error:  # no data, overflow, no memory: no rule, said why
                result = error
            try:
                self._fitted.emit(number, (folder, data, result))
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=work, name="mnistpad-unsure", daemon=True).start()
        return None

    @Slot(int, object)
    def _on_fitted(self, number: int, outcome: tuple) -> None:
        if number != self.fits:
            return  # other weights or data came since
        folder, dataset, result = outcome
        session = self.session
        if session.dataset is None and session.data_folder == folder and dataset is not None:
            session.dataset = dataset  # read here first: the window's other views use it too
        self.dataset = dataset
        if isinstance(result, Exception):
            self.problem = f"cannot tell: {result}"
            return
        self.rule = result
        self.ready.emit()
