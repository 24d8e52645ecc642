"""Presentation mode: full screen, one zoom for every font, picture and chart, a light or dark
theme, and a picture of the view on the clipboard or in a PNG file.

Qt scales the fonts of the widgets that follow the application's font; the few that set their own
size (the prediction's large letters) are scaled by the same ratio. pyqtgraph's plots draw in a
scene of their own, so their axes, titles, keys, texts and lines are restyled here, from sizes
each item is first seen with (the sizes its maker gave it at zoom 100%).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QObject, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QMainWindow, QScrollArea, QStyleFactory, QWidget

from ..files import write_atomically
from .views import configure_pyqtgraph, fit_legend

ZOOMS = (0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5)  # Ctrl+= and Ctrl+- step through these
THEMES = {"system": "&System", "light": "&Light", "dark": "&Dark"}
GROWN = ("canvas", "preview", "chart")  # the window's widgets whose least size grows with zoom
Role = QPalette.ColorRole
SIZE_RESOLVED = 0x2  # QFont::SizeResolved: a font whose size was set, not inherited


@dataclass(frozen=True)
class Look:
    """The application's font, palette and style as Qt chose them, before any zoom or theme."""

    font: QFont
    palette: QPalette
    style: str


_system: Look | None = None


def system_look() -> Look:
    """The look the application started with (taken once: later windows find it changed)."""
    global _system
    if _system is None:
        app = QApplication.instance()
        _system = Look(QFont(app.font()), QPalette(app.palette()), app.style().name())
    return _system


def theme_palette(theme: str) -> QPalette:
    """Fusion's light palette, or a dark one of the same roles."""
    if theme != "dark":
        return QStyleFactory.create("Fusion").standardPalette()
    palette = QPalette()
    colours = {
        Role.Window: "#353535",
        Role.WindowText: "#e6e6e6",
        Role.Base: "#242424",
        Role.AlternateBase: "#353535",
        Role.ToolTipBase: "#3c3c3c",
        Role.ToolTipText: "#e6e6e6",
        Role.PlaceholderText: "#9a9a9a",
        Role.Text: "#e6e6e6",
        Role.Button: "#404040",
        Role.ButtonText: "#e6e6e6",
        Role.BrightText: "#ff6b6b",
        Role.Light: "#505050",
        Role.Midlight: "#404040",
        Role.Mid: "#6a6a6a",
        Role.Dark: "#1a1a1a",
        Role.Shadow: "#000000",
        Role.Highlight: "#3d7ab8",
        Role.HighlightedText: "#ffffff",
        Role.Link: "#7ab0e6",
        Role.LinkVisited: "#b48ee0",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


def png_bytes(picture: QPixmap) -> bytes:
    """`picture` encoded as a PNG file."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    picture.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


class ScrolledPanes(QScrollArea):
    """The window's panes: as wide and tall as they need at 100% and less, so the window keeps
    its least size; zoomed larger, scrolled when they no longer fit."""

    def __init__(self, panes: QWidget) -> None:
        super().__init__()
        self.setWidget(panes)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scrolls = False

    def minimumSizeHint(self) -> QSize:
        return QSize(320, 240) if self.scrolls else self.widget().minimumSizeHint()

    @Slot()
    def fit(self) -> None:
        """Scrolled, the panes a little taller than their least height: there the canvas, a
        square, takes more than its least height, and the preview covered the check boxes under
        it (by 13 pixels at 150% and 200%)."""
        panes = self.widget()
        least = max(panes.widget(i).minimumSizeHint().height() for i in range(panes.count()))
        panes.setMinimumHeight(round(least * 1.08) if self.scrolls else 0)


STYLED = (pg.AxisItem, pg.LabelItem, pg.PlotDataItem, pg.InfiniteLine, pg.BarGraphItem, pg.TextItem)


def scaled_points(points: float, zoom: float) -> str:
    return f"{points * zoom:.3g}pt"


def style_plots(root: QWidget, zoom: float, palette: QPalette) -> None:
    """Every pyqtgraph plot under `root` in `palette`'s colours, its texts in the application's
    font and its lines and markers `zoom` times as wide as their makers drew them."""
    configure_pyqtgraph(palette)  # plots made from now on
    text, points = palette.color(Role.Text), QApplication.font().pointSizeF()
    look = (zoom, points, text.rgba())  # an item styled so already is left alone (1 ms, not 40)
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(palette.color(Role.Base))
        for item in view.scene().items():
            if isinstance(item, STYLED) and getattr(item, "styled", None) != look:
                _style_item(item, zoom, points, text)
                item.styled = look
        for legend in view.scene().items():
            if type(legend) is pg.LegendItem:  # (a Key is laid out by its plot)
                fit_legend(legend)
        for plots in _training_plots(view):
            if plots.key_points != points:
                plots.key_points = points
                plots.keyed = None  # the key is made again, at this size
                plots.redraw()


def _training_plots(view: pg.GraphicsView) -> list:
    from .views import TrainingPlots  # the loss plot's owner keeps its key's size

    owner = view.parentWidget()
    return [owner] if isinstance(owner, TrainingPlots) and view is owner.loss_plot else []


def _in_key(label: pg.LabelItem) -> bool:
    from .views import Key  # made again at each change, at its plots' key_points

    return isinstance(label.parentItem(), Key)


def _first_seen(item, **sizes) -> dict:
    """The sizes `item` had when first seen here (its maker's, at 100%)."""
    if not hasattr(item, "unzoomed"):
        item.unzoomed = sizes
    return item.unzoomed


def _style_item(item, zoom: float, points: float, text: QColor) -> None:
    if isinstance(item, pg.AxisItem):
        font = QFont(QApplication.font())
        item.setTickFont(font)
        item.setPen(text)
        item.setTextPen(text)
        style = {"color": text.name(), "font-size": scaled_points(points, 1)}
        if item.labelText:
            item.setLabel(item.labelText, item.labelUnits, item.labelUnitPrefix, **style)
        else:
            item.labelStyle = style
    elif isinstance(item, pg.LabelItem) and item.text and not _in_key(item):
        base = _first_seen(item, size=item.opts.get("size"))["size"]
        size = float(base[:-2]) if base else points / zoom  # "11pt", or the default font's
        item.setText(item.text, color=text.name(), size=scaled_points(size, zoom))
    elif isinstance(item, pg.PlotDataItem):
        pen = pg.mkPen(item.opts["pen"])
        base = _first_seen(item, width=pen.widthF(), symbol=item.opts["symbolSize"])
        pen.setWidthF(base["width"] * zoom)
        item.setPen(pen)
        item.setSymbolSize(base["symbol"] * zoom)
    elif isinstance(item, pg.InfiniteLine):
        pen = pg.mkPen(item.pen)
        pen.setWidthF(_first_seen(item, width=pen.widthF())["width"] * zoom)
        item.setPen(pen)
    elif isinstance(item, pg.BarGraphItem):
        item.setOpts()  # drawn again: its outline in the new foreground
    elif isinstance(item, pg.TextItem):
        font = item.textItem.font()
        font.setPointSizeF(_first_seen(item, points=font.pointSizeF())["points"] * zoom)
        item.setFont(font)


class Presentation(QObject):
    """The window's zoom, theme and full screen, remembered in `settings`, and pictures of its
    views. The theme is applied on creation (before the window's plots exist), the zoom by
    `restore` once the widgets do."""

    def __init__(self, window: QMainWindow, settings) -> None:
        super().__init__(window)
        self.window, self.settings = window, settings
        self.look = system_look()
        self.zoom = 1.0
        self.widths: list[int] = []  # the panes' widths at 100%
        self.fonts_zoom = 1.0  # the zoom the widgets' own font sizes carry
        self.theme = self._setting("view/theme", str, "system")
        if self.theme not in THEMES:
            self.theme = "system"
        self.least: dict[str, QSize] = {}  # the least sizes of GROWN at 100%
        self.active = "drawing"  # the view Copy view takes: "drawing" or "tab"
        self._apply_theme()
        QApplication.instance().focusChanged.connect(self._on_focus)

    def _setting(self, key: str, kind, default):
        try:
            return kind(self.settings.value(key, default))
        except (TypeError, ValueError, OverflowError):  # a damaged settings file
            return default

    def restore(self) -> None:
        """The widgets exist: take their least sizes, and zoom as last time."""
        self.least = {name: getattr(self.window, name).minimumSize() for name in GROWN}
        self.window.tabs.currentChanged.connect(self._on_tab)
        self.window.draw.input_changed.connect(self._on_drawing)
        zoom = self._setting("view/zoom", float, 1.0)
        zoom = zoom if zoom in ZOOMS else 1.0
        if zoom != 1 or QApplication.font() != self.look.font or self.theme != "system":
            self._zoom(zoom)  # else all is as made (this doubled the window's start-up time)
        self.widths = []  # the window's own (zoomed) widths come next, from the settings

    # -- zoom ----------------------------------------------------------------------------------

    @Slot()
    def zoom_in(self) -> None:
        self.set_zoom(next((z for z in ZOOMS if z > self.zoom), ZOOMS[-1]))

    @Slot()
    def zoom_out(self) -> None:
        self.set_zoom(next((z for z in reversed(ZOOMS) if z < self.zoom), ZOOMS[0]))

    @Slot()
    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def set_zoom(self, zoom: float) -> None:
        """Every font, the canvas, the preview and the charts at `zoom` (1.0: as Qt chose),
        kept for the next start."""
        self._zoom(zoom)
        self.settings.setValue("view/zoom", zoom)
        self.window.say(f"Zoom {zoom:.0%}")

    def _zoom(self, zoom: float) -> None:
        window, app = self.window, QApplication.instance()
        if self.zoom == 1 and zoom != 1:  # the panes' widths at 100%, to go back to
            self.widths = window.splitter.sizes()
        self.zoom = zoom
        font = QFont(self.look.font)
        font.setPointSizeF(self.look.font.pointSizeF() * zoom)
        if app.font() != font:  # Qt sends every widget a font change, even for the same font
            app.setFont(font)
        ratio = zoom / self.fonts_zoom
        for widget in window.findChildren(QWidget):  # those given a size of their own
            own = widget.font()  # (a child inherits it: its font is not its own)
            own_size = widget.testAttribute(Qt.WidgetAttribute.WA_SetFont) and (
                own.resolveMask() & SIZE_RESOLVED
            )
            if own_size and ratio != 1:
                own.setPointSizeF(own.pointSizeF() * ratio)
                widget.setFont(own)
        self.fonts_zoom = zoom
        for name, least in self.least.items():
            getattr(window, name).setMinimumSize(least * zoom)
        window.panes.scrolls = zoom > 1
        window.panes.updateGeometry()
        QTimer.singleShot(0, window.panes.fit)  # once the widgets have their new fonts
        if zoom == 1 and self.widths:
            # The panes as wide as they were at 100% (zoomed, the splitter widened those whose
            # least width grew), once the widgets have their new fonts.
            QApplication.sendPostedEvents()
            window.splitter.setSizes(self.widths)
        self.restyle()

    # -- theme ---------------------------------------------------------------------------------

    def set_theme(self, theme: str) -> None:
        self.theme = theme
        self._apply_theme()
        self.restyle()
        self.settings.setValue("view/theme", theme)

    def _apply_theme(self) -> None:
        app = QApplication.instance()
        system = self.theme == "system"
        style = self.look.style if system else "fusion"
        if app.style().name() != style:  # a new style polishes every widget again
            app.setStyle(style)
        app.setPalette(self.look.palette if system else theme_palette(self.theme))
        configure_pyqtgraph(app.palette())

    def restyle(self) -> None:
        """The plots in the zoom and theme (the ones made since, too: a tab's, a run's)."""
        palette = QApplication.palette()
        style_plots(self.window, self.zoom, palette)
        chart = getattr(self.window, "chart", None)
        if chart is not None:
            chart.hint.setColor(palette.color(Role.PlaceholderText))
            chart.value_label.setColor(palette.color(Role.Text))

    # -- full screen ---------------------------------------------------------------------------

    @Slot()
    def toggle_full_screen(self) -> None:
        """Full screen, or back to the window as it was (maximised or not)."""
        self.window.setWindowState(self.window.windowState() ^ Qt.WindowState.WindowFullScreen)

    # -- pictures of the view ------------------------------------------------------------------

    @Slot(object, object)
    def _on_focus(self, _old, new) -> None:
        if new is None or not self.window.isAncestorOf(new):
            return
        if self.window.draw.isAncestorOf(new):
            self.active = "drawing"
        elif self.window.tabs.isAncestorOf(new):
            self.active = "tab"

    @Slot()
    def _on_drawing(self) -> None:
        self.active = "drawing"

    @Slot()
    def _on_tab(self) -> None:
        self.active = "tab"
        self.restyle()  # a page's plots made while it was hidden

    def view(self) -> tuple[QWidget, str, str]:
        """The view a picture is taken of: the drawing with its reading (the left pane), or the
        tab shown (its whole page, scrolled parts too), whichever was used last; and what it is
        called in a message and in a file name."""
        window = self.window
        if self.active == "drawing":
            return window.splitter.widget(0), "the drawing and its reading", "drawing"
        page = window.tabs.currentWidget()
        if isinstance(page, QScrollArea):
            page = page.widget()
        name = window.tabs.tabText(window.tabs.currentIndex()).replace("&", "")
        return page, f"the {name} tab", name.lower()

    def picture(self) -> tuple[QPixmap, str, str]:
        widget, what, name = self.view()
        return widget.grab(), what, name

    @Slot()
    def copy_view(self) -> None:
        picture, what, _ = self.picture()
        QApplication.clipboard().setPixmap(picture)
        self.window.say(
            f"Copied {what} to the clipboard ({picture.width()} x {picture.height()} pixels)."
        )

    @Slot()
    def save_view_dialog(self) -> str | None:
        picture, what, name = self.picture()  # as shown now, before the dialog covers it

        def save(path: str, _filter: str) -> str:
            return str(write_atomically(path, lambda out: out.write(png_bytes(picture))))

        saved = self.window.folders.save_as(
            self.window, f"Save {what} as PNG", f"mnistpad-{name}.png", "PNG image (*.png)", save
        )
        if saved is not None:
            self.window.say(f"Saved {what} as {saved}")
        return saved

    def handle_escape(self) -> bool:
        """Esc leaves full screen (when no run is being stopped by it)."""
        if self.window.isFullScreen():
            self.toggle_full_screen()
            return True
        return False
