"""Names from outside (class names) on buttons, in menus and in labels: shown as they are
written, and never making the window larger than a 1024x768 screen.

A class name comes from a weight file or a dataset's classes.txt: up to 256 of them, each up to
100 characters, with "&" or line breaks in it. Qt takes "&x" on a button for a keyboard shortcut,
and a label grows to show its whole text (a 100-character name in the prediction's large font
made the window 4,077 pixels wide; one with line breaks, 4,205 tall).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QTextLayout, QTextOption
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from .dialogs import tip


def numbered(classes: list[str]) -> bool:
    """Whether the classes are shown by number under bars and on buttons: long names (Fashion-
    MNIST's) would overlap there, and names with line breaks would make them tall."""
    return any(len(name) > 3 or not name.isprintable() for name in classes)


def button_text(name: str) -> str:
    """A name from outside as the text of a button or a menu entry: its "&" doubled, or Qt would
    take "&x" for a keyboard shortcut (Alt+X) and show neither the "&" nor a lone "&"."""
    return name.replace("&", "&&")


class FittedLabel(QLabel):
    """A plain-text label that never asks for more room than it is given: it shows at most
    `lines` lines (wrapped to its width when `wrap`), in a smaller font (down to `smallest`
    points) if they are too wide, the last line cut short with "..." if need be, and its tooltip
    then adds the whole text. `text()` is the whole text."""

    def __init__(
        self,
        text: str = "",
        lines: int = 1,
        wrap: bool = False,
        smallest: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.lines, self.wrap, self.smallest, self.about = lines, wrap, smallest, ""
        self.setText(text)

    def setToolTip(self, text: str) -> None:
        self.about = text
        self._fit()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def shown(self) -> tuple[QFont, list[str], bool]:
        """The font and the lines drawn at the label's width, and whether text was left out."""
        font, width = QFont(self.font()), self.contentsRect().width()
        lines = []
        for paragraph in self.text().splitlines() or [""]:
            lines += _wrapped(paragraph, font, width) if self.wrap else [paragraph]
        if len(lines) > self.lines:  # the rest on the last line
            lines = [*lines[: self.lines - 1], " ".join(lines[self.lines - 1 :])]
        widest = max(self.fontMetrics().horizontalAdvance(line) for line in lines)
        if self.smallest and widest > width > 0:
            font.setPointSizeF(max(self.smallest, 0.97 * font.pointSizeF() * width / widest))
        elide = QFontMetrics(font).elidedText
        shown = [elide(line, Qt.TextElideMode.ElideRight, width) for line in lines]
        return font, shown, shown != lines

    def _fit(self) -> None:
        cut = self.shown()[2]
        whole = f"{self.about}\n\n{self.text()}".strip() if cut else self.about
        super().setToolTip(tip(whole) if whole else "")
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        """As wide as the text (layouts ignore that), as tall as `lines` lines whatever is shown,
        so that the layout does not jump."""
        metrics, margins = self.fontMetrics(), self.contentsMargins()
        widest = max(metrics.horizontalAdvance(line) for line in self.text().splitlines() or [""])
        return QSize(
            widest + margins.left() + margins.right(),
            self.lines * metrics.lineSpacing() + margins.top() + margins.bottom(),
        )

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        font, lines, _ = self.shown()
        painter = QPainter(self)
        painter.setFont(font)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            "\n".join(lines),
            self.foregroundRole(),
        )
        painter.end()


def _wrapped(text: str, font: QFont, width: int) -> list[str]:
    """`text` broken into lines of at most `width` pixels: between words, or inside a word too
    long for a line."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    layout.beginLayout()
    lines = []
    while (line := layout.createLine()).isValid():
        line.setLineWidth(width)
        lines.append(text[line.textStart() : line.textStart() + line.textLength()].rstrip())
    layout.endLayout()
    return lines or [""]


SCHEDULE_WORDS = {"onecycle": " in one cycle", "cosine": " with warm-up and cosine"}


def training_words(training: dict) -> str:
    """A file's training settings in a line: "batch 64, adam step 0.006 in one cycle, seed 0,
    deskewed inputs". Values from a file: the caller shows the line as plain text (or escaped)."""
    get = training.get
    return (
        f"batch {get('batch_size', '?')}, {get('optimizer', 'sgd')} step {get('lr', '?')}"
        f"{SCHEDULE_WORDS.get(str(get('schedule')), '')}, seed {get('seed', '?')}"
        + (", deskewed inputs" if get("deskew") else "")
        + (", augmented" if get("augment") else "")
        + (", real-writing styles" if get("styles") else "")
        + _knobs(get("train_size"), get("label_noise"))
    )


def _knobs(train_size, label_noise) -> str:
    """ ", 500 training images, 20% label noise" for a file's playground settings, if any."""
    text = f", {train_size:,} training images" if positive_number(train_size) else ""
    return text + (f", {label_noise:.0%} label noise" if positive_number(label_noise) else "")


def positive_number(value) -> bool:
    """Whether a value from a file is a number above 0 (not NaN, not a truth value)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
