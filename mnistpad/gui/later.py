"""Work the window does one piece per turn of its event loop, so that no turn keeps it long.

A run's end changes most of the window at once: the runs list, the curves, the reading, the Map.
Done in one turn, that work and the repaints and layouts it causes held the window 80-100 ms on
two busy cores; queued here, each piece and its repaint take a turn of their own, and a click or
a stroke between two pieces is handled at once. The state itself (the weights in use, the run
kept on disk) is settled before: a queued piece only shows it, as it is when the piece runs, so
one run late (after the person put other weights in use) shows the right thing. `finish` runs
what is left at once (before a run starts, when the window closes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Later(QObject):
    """A queue of work run in order, one piece per turn of the event loop."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.waiting: deque[Callable[[], object]] = deque()
        self.timer = QTimer(self)
        self.timer.setObjectName("mnistpad-later")
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)  # the next turn, after the events waiting (a repaint, a click)
        self.timer.timeout.connect(self._next)

    @property
    def busy(self) -> bool:
        return bool(self.waiting)

    def add(self, *work: Callable[[], object]) -> None:
        """Run each of `work` in a later turn, after the work queued before."""
        self.waiting.extend(work)
        self.timer.start()

    def finish(self) -> None:
        """Run what is queued now."""
        self.timer.stop()
        while self.waiting:
            self.waiting.popleft()()

    def _next(self) -> None:
        try:
            if self.waiting:
                self.waiting.popleft()()
        finally:
            if self.waiting:
                self.timer.start()
