"""The drawing side of the window as a person uses it: keys that act on what has the focus, a
Clear that can be undone, a canvas that shows in any palette, test images and picture files in
the preview. Real widgets, real key and mouse events, real files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gui_support import circle, line, shown_probabilities
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QPalette
from PySide6.QtWidgets import QApplication

from mnistpad.cli import main
from mnistpad.gui.canvas import DrawingCanvas, send_stroke
from mnistpad.gui.session import DEFAULT_WEIGHTS
from mnistpad.model import LinearModel
from mnistpad.preprocess import deskew

pytestmark = pytest.mark.usefixtures("through_the_data_cache")  # `main` reads MNIST
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed on the keyboard: it goes to the widget that has the focus."""
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


def click(qtbot, gallery, row: int) -> None:
    item = gallery.item(row)
    qtbot.mouseClick(
        gallery.viewport(), Qt.MouseButton.LeftButton, pos=gallery.visualItemRect(item).center()
    )


def keep_drawings(window, qtbot, count: int) -> None:
    for _ in range(count):
        send_stroke(window.canvas, circle())
        qtbot.keyClick(window, "0")
    assert window.handwriting.gallery.count() == count


def test_delete_acts_on_what_has_the_focus_and_ctrl_z_undoes_it_there(window, qtbot):
    keep_drawings(window, qtbot, 2)
    window.tabs.setCurrentWidget(window.handwriting.parentWidget().parentWidget())
    gallery, personal = window.handwriting.gallery, window.handwriting.personal
    click(qtbot, gallery, 0)  # a drawing selected in the gallery, which has the focus
    assert QApplication.focusWidget() is gallery and gallery.selectedItems()

    send_stroke(window.canvas, circle())  # then a new drawing: the focus follows the pen
    assert QApplication.focusWidget() is window.canvas
    press(qtbot, Qt.Key.Key_Delete)
    assert window.canvas.is_empty()  # the drawing just made is cleared...
    assert gallery.count() == 2 and len(personal.drawings()[0]) == 2  # ...not a kept one
    press(qtbot, Qt.Key.Key_Z, CTRL)
    assert len(window.canvas.strokes) == 1  # and it comes back

    click(qtbot, gallery, 0)  # in the gallery, Delete deletes the selected drawing
    gone = gallery.item(0).data(Qt.ItemDataRole.UserRole)
    press(qtbot, Qt.Key.Key_Delete)
    assert gallery.count() == 1 and not (personal.folder / f"{gone}.json").exists()
    assert len(window.canvas.strokes) == 1  # the canvas is left alone
    assert "Ctrl+Z" in window.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_Z, CTRL)  # and Ctrl+Z there brings it back
    assert gallery.count() == 2 and (personal.folder / f"{gone}.json").exists()
    assert len(window.canvas.strokes) == 1
    gallery.clearSelection()
    press(qtbot, Qt.Key.Key_Delete)  # nothing selected: nothing deleted, the canvas kept
    assert gallery.count() == 2 and len(window.canvas.strokes) == 1


def test_clear_and_delete_can_be_undone_with_ctrl_z(window, qtbot):
    send_stroke(window.canvas, line((0.5, 0.15), (0.5, 0.85)))
    send_stroke(window.canvas, line((0.3, 0.3), (0.7, 0.3)))
    drawn = window.preview.image.copy()
    window.draw.clear_button.click()
    assert window.canvas.is_empty() and window.preview.image is None
    qtbot.keyClick(window, Qt.Key.Key_Z, CTRL)
    assert len(window.canvas.strokes) == 2  # the whole drawing, in one step
    np.testing.assert_array_equal(window.preview.image, drawn)

    window.canvas.setFocus()
    press(qtbot, Qt.Key.Key_Delete)
    assert window.canvas.is_empty()
    press(qtbot, Qt.Key.Key_Z, CTRL)
    np.testing.assert_array_equal(window.preview.image, drawn)
    press(qtbot, Qt.Key.Key_Z, CTRL)  # then the strokes, one by one
    assert len(window.canvas.strokes) == 1
    press(qtbot, Qt.Key.Key_Z, CTRL)
    press(qtbot, Qt.Key.Key_Z, CTRL)  # nothing left to undo: nothing happens
    assert window.canvas.is_empty() and window.preview.image is None


def dark_palette() -> QPalette:
    """A dark theme's palette where the paper, the window and Mid are all about one colour."""
    palette = QPalette()
    for role, grey in (("Window", 53), ("Base", 53), ("Mid", 60), ("Text", 230)):
        palette.setColor(getattr(QPalette.ColorRole, role), QColor(grey, grey, grey))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(230, 230, 230))
    return palette


def test_the_empty_canvas_stands_out_from_the_window_in_light_and_dark(qtbot):
    for palette in (QPalette(QColor(239, 239, 239)), dark_palette()):
        canvas = DrawingCanvas()
        qtbot.addWidget(canvas)
        canvas.setPalette(palette)
        canvas.resize(300, 300)
        image = canvas.grab().toImage()
        window = palette.color(QPalette.ColorRole.Window).lightness()

        def lightness(x: int, y: int, image: QImage = image) -> int:
            return image.pixelColor(x, y).lightness()

        assert abs(lightness(1, 150) - window) > 60  # the frame, on every side
        assert abs(lightness(298, 150) - window) > 60
        assert abs(lightness(150, 1) - window) > 60
        assert abs(lightness(20, 20) - window) >= 10  # the paper, in a corner


def test_a_misread_test_image_is_inspected_with_its_true_class_and_reading(window, qtbot):
    window.tabs.setCurrentWidget(window.errors_page)
    errors = window.errors
    qtbot.waitUntil(lambda: errors.probabilities is not None, timeout=10_000)
    errors.show_cell(2, 8)
    item = errors.gallery.item(0)
    index = item.data(Qt.ItemDataRole.UserRole)
    sure = errors.probabilities[index, 8]
    errors.gallery.doItemsLayout()  # laid out now, not at the next idle moment
    where = errors.gallery.visualItemRect(item).center()
    qtbot.mouseClick(errors.gallery.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert window.draw.inspecting == ""  # a click selects the image
    qtbot.keyClick(errors.gallery, Qt.Key.Key_Return)  # Enter (or a double-click) inspects it
    caption = f"test image #{index}: true class 2, read as 8 ({sure:.1%})"
    assert window.draw.confidence.text().splitlines()[0] == caption
    assert caption in window.canvas.notice


def digit_png(path, image: np.ndarray) -> None:
    """An MNIST digit as a person's picture: dark ink on white paper, 4 times as large."""
    image = image.reshape(28, -1)  # one digit, or digits side by side
    grey = np.ascontiguousarray(np.round(255 * (1 - image)).astype(np.uint8))
    height, width = grey.shape
    picture = QImage(grey.data, width, height, width, QImage.Format.Format_Grayscale8)
    picture = picture.scaled(4 * width, 4 * height)
    assert picture.save(str(path))


def predicted_by_the_cli(path, capsys) -> np.ndarray:
    assert main(["predict", "--json", str(DEFAULT_WEIGHTS), str(path)]) == 0
    return np.array(json.loads(capsys.readouterr().out)["probabilities"])


def test_a_picture_opened_is_read_as_the_predict_command_reads_it(
    window, qtbot, dialogs, mnist, tmp_path, capsys
):
    _, answers = dialogs
    picture = tmp_path / "my seven.png"
    digit_png(picture, mnist.test_images[0])
    answers["open"] = str(picture)
    send_stroke(window.canvas, circle())
    qtbot.keyClick(window, Qt.Key.Key_O, CTRL_SHIFT)  # File > Open picture...

    np.testing.assert_allclose(shown_probabilities(window), predicted_by_the_cli(picture, capsys),
                               atol=2e-6)  # fmt: skip
    assert window.draw.prediction.text() == "7"
    assert window.draw.confidence.text().startswith("the picture my seven.png\n")
    assert "my seven.png" in window.canvas.notice  # the canvas says the preview is a picture
    assert len(window.canvas.strokes) == 1  # the drawing is still there...
    send_stroke(window.canvas, line((0.5, 0.2), (0.5, 0.8)))  # ...and drawing goes back to it
    assert window.draw.inspecting == "" and window.canvas.notice == ""


def drop(window, path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    actions, button = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    enter = QDragEnterEvent(QPoint(100, 100), actions, mime, button, Qt.KeyboardModifier(0))
    window.dragEnterEvent(enter)
    if enter.isAccepted():
        window.dropEvent(QDropEvent(QPointF(100, 100), actions, mime, button, enter.modifiers()))
    return enter.isAccepted()


def test_a_picture_dropped_is_read_and_a_damaged_one_said_and_ignored(
    window, qtbot, dialogs, mnist, tmp_path, capsys
):
    shown, _ = dialogs
    picture = tmp_path / "two.bmp"
    digit_png(picture, mnist.test_images[1])
    assert drop(window, picture)
    np.testing.assert_allclose(shown_probabilities(window), predicted_by_the_cli(picture, capsys),
                               atol=2e-6)  # fmt: skip
    assert window.draw.prediction.text() == "2"

    send_stroke(window.canvas, circle())
    drawn, probabilities = window.draw.field.copy(), shown_probabilities(window)
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(picture.read_bytes()[:60])  # cut short
    blank = tmp_path / "blank.png"
    white = QImage(50, 50, QImage.Format.Format_Grayscale8)
    white.fill(255)
    assert white.save(str(blank))
    for bad in (damaged, blank, tmp_path / "notes.txt"):
        bad.touch()
        assert drop(window, bad)
        title, text = shown["critical"][-1]
        assert title == "Cannot read the picture" and str(bad) in text and "unchanged" in text
        np.testing.assert_array_equal(window.draw.field, drawn)  # the canvas is as it was
        np.testing.assert_array_equal(shown_probabilities(window), probabilities)
        assert window.draw.inspecting == "" and len(window.canvas.strokes) == 1
    assert len(shown["critical"]) == 3
    assert "no ink" in shown["critical"][1][1]


def test_the_gallery_marks_what_the_weights_in_use_read_and_follows_them(window, qtbot):
    send_stroke(window.canvas, circle())
    qtbot.keyClick(window, "0")
    send_stroke(window.canvas, line((0.5, 0.12), (0.5, 0.88)))
    qtbot.keyClick(window, "1")
    panel, session = window.handwriting, window.session
    drawings = panel.personal.drawings()[0]
    images = np.array([drawing.image.reshape(-1) for drawing in drawings])
    read = session.model.probabilities(deskew(images) if session.deskews else images)
    for drawing, row in zip(drawings, read, strict=True):
        item = next(panel.gallery.item(r) for r in range(2) if panel.gallery.item(r).data(256)
                    == drawing.id)  # fmt: skip
        best = int(row.argmax())
        assert item.text().endswith(" ✓" if best == drawing.label else " ✗")
        said = f"Read as {best} ({row[best]:.0%}) by the weights in use"
        assert said in item.toolTip().replace("\xa0", " ")  # a tooltip keeps its spaces
    assert f"read {sum(read.argmax(axis=1) == [0, 1])} of 2 right" in panel.counts.text()

    zeros = LinearModel(W=np.zeros_like(session.model.W), b=np.zeros_like(session.model.b))
    session.use_weights(zeros, session.meta, "uniform", unsaved=False)  # reads everything as 0
    texts = sorted(panel.gallery.item(row).text() for row in range(2))
    assert texts == ["0 ✓", "1 ✗"]
    assert "read 1 of 2 right" in panel.counts.text()


def test_label_as_ticks_the_current_label(window, qtbot):
    keep_drawings(window, qtbot, 1)
    send_stroke(window.canvas, circle())
    qtbot.keyClick(window, "6")
    panel = window.handwriting
    panel.gallery.setCurrentRow(0)  # the newest: a 6
    relabel = panel.selection_menu().actions()[1].menu()
    assert [act.text() for act in relabel.actions() if act.isChecked()] == ["6"]
    panel.gallery.selectAll()
    relabel = panel.selection_menu().actions()[1].menu()
    assert [act.text() for act in relabel.actions() if act.isChecked()] == ["0", "6"]


def test_the_handwriting_tab_fits_a_1024_pixel_window(window, qtbot):
    window.resize(1024, 768)
    qtbot.waitUntil(lambda: window.width() == 1024)
    page = window.handwriting.parentWidget().parentWidget()
    window.tabs.setCurrentWidget(page)
    QApplication.processEvents()
    assert page.horizontalScrollBar().maximum() == 0  # nothing hidden to the right
    for button in (window.handwriting.import_button, window.handwriting.fine_tune):
        right = button.mapTo(page, QPoint(button.width(), 0)).x()
        assert button.isVisible() and right <= page.viewport().width()


def test_an_empty_handwriting_gallery_says_what_to_do(window, qtbot):
    window.tabs.setCurrentWidget(window.handwriting_page)
    note = window.handwriting.empty_note
    assert note.isVisible() and "press its key (0-9)" in note.text()
    send_stroke(window.canvas, circle())
    qtbot.keyClick(window, "0")
    assert window.handwriting.gallery.count() == 1 and not note.isVisible()


def test_a_picture_of_two_digits_is_read_with_a_warning_as_predict_gives(window, mnist, tmp_path):
    images, labels = mnist.test_images.reshape(-1, 28, 28), mnist.test_labels
    one, seven = (images[np.flatnonzero(labels == digit)[0]] for digit in (1, 7))
    seventeen = tmp_path / "17.png"
    digit_png(seventeen, np.hstack([one, seven]))
    assert window.draw.open_picture(seventeen)
    shown = window.draw.confidence.text() + window.canvas.notice
    assert "2 digits side by side: read as one digit, do not trust it" in shown
    alone = tmp_path / "7.png"
    digit_png(alone, seven)
    assert window.draw.open_picture(alone)
    assert "side by side" not in window.draw.confidence.text() + window.canvas.notice
