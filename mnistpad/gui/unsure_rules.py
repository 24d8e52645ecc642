"""The unsure rule (unsure.py) for the weights in use, fitted in a thread of its own.

Fitting takes seconds (less once the cache keeps its parts), so it runs off the window's thread
the first time a reading asks for the rule of the weights in use on the data in use, reading the
data there too if no view has yet; the reading says nothing about trust until the rule is there,
then `ready` asks for it again. Weights made for other classes than the data's get no rule, and
neither does the model being trained (its weights change at every step).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..data import load_dataset
from ..networks import Model
from ..unsure import Cancelled, UnsureRule, digit_test, fit
from .session import Session

COLLECT_MS = 100  # how often the window's thread looks whether a fit is done
# One fit at a time in the whole process, whatever the windows: a fit that other weights made
# useless is skipped when its turn comes.
FITTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mnistpad-unsure")


class UnsureRules(QObject):
    """The rule of the weights in use, once fitted."""

    ready = Signal()  # a rule was fitted: the reading can say whether to trust it

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.rule: UnsureRule | None = None
        self.model: Model | None = None  # the model and data of `rule`, or of the fit under way
        self.dataset = None
        # fits started (only the last one's result is kept), in a list: the fitting thread reads
        # it, and must hold no reference to a Qt object (dropping the last one there would
        # delete it in the wrong thread)
        self.fits = [0]
        self.digits: list = [None, None]  # [a dataset, the bundled CNN's test for it]
        self.problem = ""  # why the weights in use have no rule, if they cannot have one
        # The fitting thread touches no Qt object (one could be deleted while it emits): its
        # Future is collected by a timer of the window's thread.
        self.under_way: tuple[int, Future] | None = None
        self.collector = QTimer(self)
        self.collector.setInterval(COLLECT_MS)
        self.collector.timeout.connect(self._collect)

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
        self.fits[0] += 1
        folder, classes, deskews = session.data_folder, session.classes, session.deskews
        number, digits, fits = self.fits[0], self.digits, self.fits

        def stop() -> bool:  # other weights came meanwhile, or the window closed
            return number != fits[0]

        def work() -> tuple:
            if stop():
                return folder, None, None
            data = dataset
            try:
                data = data or load_dataset(folder)
                if list(data.classes) != classes:
                    raise ValueError("the weights are for other classes than the data in use")
                if digits[0] is not data:  # the bundled CNN's test: once per dataset
                    digits[:] = [data, digit_test(data, stop)]
                result = fit(model, data, deskews, digits[1], stop)
            except Cancelled:
                return folder, None, None
            except Exception as error:  # no data, overflow, no memory: no rule, said why
                result = error
            return folder, data, result

        self.under_way = (number, FITTER.submit(work))
        self.collector.start()
        return None

    def discard(self) -> None:
        """No rule is wanted any more (the window closes): a fit under way gives up at its next
        chunk of images rather than computing for seconds, or holding up the program's exit."""
        self.fits[0] += 1
        self.rule, self.model, self.dataset, self.under_way = None, None, None, None
        self.collector.stop()

    @Slot()
    def _collect(self) -> None:
        if self.under_way is None or not self.under_way[1].done():
            return
        (number, future), self.under_way = self.under_way, None
        self.collector.stop()
        self._on_fitted(number, future.result())

    def _on_fitted(self, number: int, outcome: tuple) -> None:
        if number != self.fits[0]:
            return  # other weights or data came since
        folder, dataset, result = outcome
        if dataset is None:  # skipped
            return
        session = self.session
        if session.dataset is None and session.data_folder == folder and dataset is not None:
            session.dataset = dataset  # read here first: the window's other views use it too
        self.dataset = dataset
        if isinstance(result, Exception):
            self.problem = f"cannot tell: {result}"
            return
        self.rule = result
        self.ready.emit()
