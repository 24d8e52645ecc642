"""The window's menus, toolbar and keyboard shortcuts, and the help they give."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QStyle

from .. import __version__
from ..weights import bundled_models, real_handwriting_scores
from .dialogs import message
from .present import THEMES, system_look

SHORTCUTS = (
    ("Ctrl+O", "open a weight file (or drop one on the window)"),
    ("Ctrl+Shift+O", "read a picture of a digit (or drop one on the window)"),
    ("Ctrl+S", "save the weights in use"),
    ("Ctrl+D", "open a dataset folder"),
    ("Ctrl+T / Esc", "train / stop (asks first if more than 10 s of training would be lost)"),
    ("Ctrl+P / Ctrl+Shift+P", "pause or resume training / one step while paused"),
    ("0-9", "label the drawing as that class (Handwriting)"),
    ("Ctrl+Z / Delete", "undo the last stroke or Clear / clear the canvas"),
    ("Ctrl+Z / Delete in the gallery", "the same for the Handwriting tab's selected drawings"),
    ("Ctrl+Tab / Ctrl+Shift+Tab", "next / previous tab"),
    ("Tab / Shift+Tab", "move between controls"),
    ("Ctrl+= / Ctrl+- / Ctrl+0", "zoom in / out / back to 100% (fonts, canvas, charts)"),
    ("F11 / Esc", "full screen / leave full screen"),
    ("F9", "hide or show the training settings (more room on a projector)"),
    ("Ctrl+Shift+C", "copy a picture of the view (the drawing, or the tab last used)"),
    ("F1", "this list"),
    ("Ctrl+Q", "quit (offers to save trained weights)"),
)
ABOUT = (
    f"mnistpad {__version__}\n\nTrain digit classifiers (linear, MLP, CNN) on MNIST from"
    " scratch, watch them learn, and draw digits for them to read. numpy only; PySide6 and"
    " pyqtgraph for the window."
    "\n\nThe bundled MNIST database of handwritten digits is by Yann LeCun, Corinna Cortes and"
    " Christopher J. C. Burges, under the Creative Commons Attribution-Share Alike 3.0 licence"
    " (CC BY-SA 3.0)."
)

BEST_READER_WHY = (
    "Best on real handwriting: trained on MNIST's digits bent, stretched, slanted, written"
    " with a bold pen and scanned in black and white (the robust presets), so people's own"
    " styles look less foreign to it. The simplest, linear model stays the default."
)


@dataclass
class Actions:
    """The window's actions that change with its state."""

    open: QAction
    bundled: QMenu  # File > Open bundled model, listing the bundled files present
    save: QAction
    train: QAction
    stop: QAction
    pause: QAction  # Pause or Resume
    step: QAction
    files: tuple[QAction, ...]  # everything in the File menu that a run must not disturb


def build_actions(window: QMainWindow) -> Actions:
    """Make the actions of `window` (a MainWindow), its menus and its toolbar."""
    icon, P, keys = window.style().standardIcon, QStyle.StandardPixmap, QKeySequence.StandardKey
    files, canvas = window.files, window.canvas

    def action(text, slot, shortcut=None, tip="", pixmap=None) -> QAction:
        act = QAction(text, window)
        if pixmap is not None:
            act.setIcon(icon(pixmap))
        act.triggered.connect(slot)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(tip or text)
        act.setStatusTip(tip or text)
        window.addAction(act)
        return act

    open_ = action(
        "&Open weights...",
        files.open_weights_dialog,
        keys.Open,
        "Open a weight file (.npz); you can also drop one on the window",
        P.SP_DialogOpenButton,
    )
    picture = action(
        "Open &picture...",
        lambda: window.draw.open_picture_dialog(window.folders),
        "Ctrl+Shift+O",
        "Read a picture of a digit (PNG, JPEG, ...) as the predict command does; you can also"
        " drop one on the window",
    )
    bundled = QMenu("Open &bundled model", window)
    bundled.setToolTipsVisible(True)
    bundled.menuAction().setStatusTip("Use one of the weight files that come with mnistpad")

    def list_bundled() -> None:  # the files present when the menu opens
        bundled.clear()
        scores = {name: round(score, 3) for name, score in real_handwriting_scores().items()}
        top = max(scores.values(), default=None)  # as shown: files that tie are all the best
        for path, what in bundled_models().items():
            score = scores.get(path.name)
            text = what if score is None else f"{what} · real handwriting {score:.1%}"
            best = score is not None and score == top
            if best:
                text += " (best)"
            act = bundled.addAction(text.replace("&", "&&"))  # no accelerator, all the text
            tip = f"{what}: {path.name}"
            if score is not None:
                tip += (
                    f"\nReads {score:.1%} of 1,797 digits by 13 real writers (UCI optdigits;"
                    " the README's handwriting table)."
                )
            if best:
                tip += "\n" + BEST_READER_WHY
            act.setToolTip(tip)
            act.setStatusTip(tip.replace("\n", " "))
            act.triggered.connect(lambda _=False, path=path: files.open_bundled(path))
        if bundled.isEmpty():
            bundled.addAction("No bundled weights found").setEnabled(False)

    bundled.aboutToShow.connect(list_bundled)
    list_bundled()
    save = action(
        "&Save weights...",
        files.save_weights_dialog,
        keys.Save,
        "Save the weights in use, with their curves and settings",
        P.SP_DialogSaveButton,
    )
    default = action(
        "Use the &default weights", files.use_default_weights, tip="Go back to the bundled weights"
    )
    dataset = action(
        "Open &dataset folder...",
        files.open_dataset_dialog,
        "Ctrl+D",
        "Train and test on another folder of MNIST-format IDX files, such as Fashion-MNIST",
        P.SP_DirOpenIcon,
    )
    mnist = action(
        "Use the bundled &MNIST",
        files.use_bundled_mnist,
        tip="Train and test on the bundled MNIST again",
    )
    quit_ = action("&Quit", window.close, keys.Quit, "Quit mnistpad")
    train = action(
        "&Train",
        window.panel.train_button.click,
        "Ctrl+T",
        "Train a new model with the panel's settings",
        P.SP_MediaPlay,
    )
    stop = action(  # the panel's button asks first when a stop would lose much training
        "S&top", window.panel.stop_button.click, "Esc", "Stop training", P.SP_MediaStop
    )
    pause = action(
        "&Pause",
        window.panel.pause_button.click,
        "Ctrl+P",
        "Pause training after the current step, or resume it",
        P.SP_MediaPause,
    )
    step = action(
        "&Step",
        window.panel.step_button.click,
        "Ctrl+Shift+P",
        "While paused: one more step (a mini-batch, or one example at batch size 1)",
        P.SP_MediaSeekForward,
    )
    for act in (stop, pause, step):
        act.setEnabled(False)
    undo = action(
        "&Undo drawing",
        canvas.undo,
        keys.Undo,
        "Remove the last stroke, or bring back a cleared drawing",
        P.SP_ArrowBack,
    )
    clear = action(
        "&Clear canvas", canvas.clear, keys.Delete, "Clear the canvas", P.SP_DialogResetButton
    )
    tabs = window.tabs

    def step_tab(step: int) -> None:
        tabs.setCurrentIndex((tabs.currentIndex() + step) % tabs.count())

    next_tab = action("&Next tab", lambda: step_tab(1))
    previous_tab = action("&Previous tab", lambda: step_tab(-1))
    for act, standard in ((next_tab, keys.NextChild), (previous_tab, keys.PreviousChild)):
        act.setShortcuts(readable_first(QKeySequence.keyBindings(standard)))
    present = window.present
    zoom_in = action("Zoom &in", present.zoom_in, keys.ZoomIn, "Larger text, canvas and charts")
    zoom_in.setShortcuts(
        unique([QKeySequence("Ctrl+="), QKeySequence("Ctrl++"), zoom_in.shortcut()])
    )
    zoom_out = action("Zoom &out", present.zoom_out, "Ctrl+-", "Smaller text, canvas and charts")
    zoom_reset = action("&Actual size", present.reset_zoom, "Ctrl+0", "Zoom back to 100%")
    full_screen = action(
        "&Full screen", present.toggle_full_screen, "F11", "Full screen (Esc leaves it)"
    )
    settings_pane = action(
        "Training &settings",
        window.show_settings,
        "F9",
        "Show or hide the Train panel and the Weights box (more room for the drawing and tabs)",
    )
    settings_pane.setCheckable(True)
    settings_pane.setChecked(True)
    theme = QMenu("T&heme", window)
    themes = QActionGroup(theme)
    for name, text in THEMES.items():
        act = theme.addAction(text)
        act.setCheckable(True)
        act.setChecked(name == present.theme)
        act.setStatusTip(f"{text.replace('&', '')} colours for the window and its charts")
        themes.addAction(act)
        act.triggered.connect(lambda _=False, name=name: present.set_theme(name))
    copy_view = action(
        "&Copy view",
        present.copy_view,
        "Ctrl+Shift+C",
        "Copy a picture of the drawing with its reading, or of the tab shown (the one last used)",
    )
    save_view = action(
        "Sa&ve view as PNG...",
        present.save_view_dialog,
        tip="Save a picture of the drawing with its reading, or of the tab shown (the one last"
        " used)",
    )
    shortcuts = action("&Keyboard shortcuts", lambda: show_shortcuts(window), keys.HelpContents)
    about = action(
        "&About mnistpad", lambda: message(window, "information", "About mnistpad", ABOUT)
    )

    menus = window.menuBar()
    for title, items in (
        ("&File", (open_, bundled, save, default, picture, None, dataset, mnist, None, quit_)),
        ("&Edit", (undo, clear)),
        ("T&raining", (train, stop, pause, step)),
        (
            "&View",
            (
                next_tab,
                previous_tab,
                None,
                zoom_in,
                zoom_out,
                zoom_reset,
                full_screen,
                settings_pane,
                theme,
                None,
                copy_view,
                save_view,
            ),
        ),
        ("&Help", (shortcuts, about)),
    ):
        menu = menus.addMenu(title)
        for item in items:
            if item is None:
                menu.addSeparator()
            elif isinstance(item, QMenu):
                menu.addMenu(item)
            else:
                menu.addAction(item)
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for item in (open_, save, None, train, stop, None, undo, clear):
        toolbar.addSeparator() if item is None else toolbar.addAction(item)
    files_ = (open_, bundled.menuAction(), save, default, dataset, mnist)
    return Actions(open_, bundled, save, train, stop, pause, step, files_)


def unique(keys: list[QKeySequence]) -> list[QKeySequence]:
    """`keys` without repeats or empty ones, in order."""
    seen = []
    for key in keys:
        if not key.isEmpty() and key not in seen:
            seen.append(key)
    return seen


def readable_first(keys: list[QKeySequence]) -> list[QKeySequence]:
    """The same keys, the first (the one a menu shows) as a person names it: X11 calls the key
    Ctrl+Shift+Tab sends "Ctrl+Shift+Backtab"."""
    first = keys[0].toString() if keys else ""
    return [QKeySequence(first.replace("Backtab", "Tab")), *keys] if "Backtab" in first else keys


def show_shortcuts(parent) -> None:
    rows = "".join(f"<tr><td><b>{keys}</b></td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
    # mnistpad's own text (no outside names), unzoomed: the list fits a 768-pixel-high screen
    points = system_look().font.pointSizeF()
    text = f"<table cellspacing='4' style='font-size: {points:g}pt'>{rows}</table>"
    message(parent, "information", "Keyboard shortcuts", text, html=True)
