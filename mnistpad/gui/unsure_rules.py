"""The unsure rule (unsure.py) for the weights in use, fitted in a thread of its own.

Fitting takes about a second for the linear model and seconds for a CNN, so it runs off the
window's thread the first time a reading asks for the rule of the weights in use on the data in
use; the reading says nothing about trust until the rule is there, then `ready` asks for it
again. Weights made for other classes than the data's get no rule, and neither does the model
being trained (its weights change at every step).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from ..data import DataError
from ..networks import Model
from ..unsure import UnsureRule, digit_test, fit
from .session import Session


class UnsureRules(QObject):
    """The rule of the weights in use, once fitted."""

    ready = Signal()  # a rule was fitted: the reading can say whether to trust it
    _fitted = Signal(int, object)  # (which fit, the rule or the error)

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
        fitting it otherwise (None meanwhile)."""
        session = self.session
        if model is None or model is not session.model:
            return None
        if (
            self.model is model
            and self.dataset is not None
            and (session.dataset is None or session.dataset is self.dataset)
        ):
            return self.rule
        try:
            dataset = session.loaded_dataset()
        except DataError as error:
            self.problem = f"no data to compare with: {error}"
            return None
        self.rule, self.model, self.dataset, self.problem = None, model, dataset, ""
        self.fits += 1
        if list(dataset.classes) != session.classes:
            self.problem = "the weights are for other classes than the data in use"
            return None
        deskews, number, digits = session.deskews, self.fits, self.digits

        def work() -> None:
            try:
                if digits[0] is not dataset:  # the bundled CNN's test: once per dataset
                    digits[:] = [dataset, digit_test(dataset)]
                result = fit(model, dataset, deskews, digits[1])
            except Exception as error:  # overflow, no memory, a dataset too small: no rule
                result = error
            try:
                self._fitted.emit(number, result)
            except RuntimeError:  # the window was closed meanwhile
                pass

        threading.Thread(target=work, name="mnistpad-unsure", daemon=True).start()
        return None

    @Slot(int, object)
    def _on_fitted(self, number: int, result: UnsureRule | Exception) -> None:
        if number != self.fits:
            return  # other weights or data came since
        if isinstance(result, Exception):
            self.problem = f"cannot tell: {result}"
            return
        self.rule = result
        self.ready.emit()
