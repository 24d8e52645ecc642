"""Teaching the model a person's handwriting: labelled drawings kept on disk, held out, exported
and imported, and fine-tuning on them through the window, drawn with synthetic strokes."""

from __future__ import annotations

import itertools
import json
import re
import zipfile

import numpy as np
import pytest
from gui_support import wait_until_done
from PySide6.QtCore import QSignalBlocker

from mnistpad.gui.canvas import send_stroke
from mnistpad.handwriting import HandwritingError, PersonalSet, fine_tune_data

GLYPH_RNG = np.random.default_rng(42)
# A personal script: each class is written as its own fixed zigzag, unlike any MNIST digit.
GLYPHS = [GLYPH_RNG.uniform(0.2, 0.8, size=(5, 2)) for _ in range(10)]


def glyph(label: int, rng) -> list[tuple[float, float]]:
    """The class's zigzag as a person would draw it: a little shaky, shifted and resized."""
    corners = (GLYPHS[label] - 0.5) * rng.uniform(0.8, 1.1) + 0.5 + rng.normal(0, 0.03, 2)
    path = [corners[0]]
    for start, end in itertools.pairwise(corners):
        path += [start + (end - start) * t for t in np.linspace(0.1, 1, 6)]
    return [tuple(np.clip(p + rng.normal(0, 0.004, 2), 0.02, 0.98)) for p in path]


def draw_read_once(canvas, points) -> None:
    """send_stroke with the live reading done once, on the whole stroke, as after its last move:
    not on every move before it (a hundred drawings of 25 moves: 13 s of preprocessing)."""
    with QSignalBlocker(canvas):
        send_stroke(canvas, points)
    canvas.changed.emit()


def test_drawings_are_labelled_kept_held_out_and_survive_a_new_window(window, qtbot, tmp_path):
    rng = np.random.default_rng(0)
    for label in (3, 3, 3, 3, 3, 7):
        send_stroke(window.canvas, glyph(label, rng))
        qtbot.keyClick(window, str(label))  # the key of the class labels the drawing
        assert window.canvas.is_empty()  # ready for the next one
    drawings, problems = window.handwriting.personal.drawings()
    assert [d.label for d in drawings] == [3, 3, 3, 3, 3, 7] and problems == []
    assert [d.held_out for d in drawings] == [False] * 4 + [True, False]  # every fifth of a class
    assert len(drawings[0].strokes) == 1 and len(drawings[0].strokes[0]["points"]) >= 20
    again = PersonalSet(window.handwriting.personal.folder).drawings()[0]
    assert np.array_equal(again[0].image, drawings[0].image)
    window.draw.label_buttons[9].click()  # nothing drawn: nothing kept
    assert len(window.handwriting.personal.drawings()[0]) == 6
    assert window.handwriting.counts.text().startswith("6 drawings in ")


def test_fine_tuning_learns_a_personal_script_without_forgetting_mnist(window, qtbot, mnist):
    rng = np.random.default_rng(1)
    for _ in range(10):
        for label in range(10):
            draw_read_once(window.canvas, glyph(label, rng))
            window.draw.label_buttons[label].click()
    mnist_before = window.session.meta["metrics"]["test_accuracy"]
    marked_before = held_out_marks(window)
    window.fine_tuning.start()
    assert window.run.training
    wait_until_done(window, qtbot)
    result, text = window.run.worker.result, window.handwriting.result.text()
    # "...Your held-out drawings (never trained on): a of 20 read right before, b of 20 after..."
    before_mine, n, after_mine = (
        int(x) for x in re.search(r"(\d+) of (\d+) read right before, (\d+) of", text).groups()
    )
    mnist_after = result.test_accuracy
    print(f"fine-tune: MNIST {mnist_before:.4f} -> {mnist_after:.4f}")
    print(f"fine-tune: held-out drawings {before_mine} -> {after_mine} of {n}")
    assert text.startswith("Fine-tuned on 80 of your drawings mixed with MNIST, 5 epochs;")
    assert n == 20 and after_mine >= 18 and after_mine > before_mine + 8
    assert (before_mine, after_mine) == (marked_before, held_out_marks(window))  # the marks follow
    assert f"{mnist_before:.2%} before, {mnist_after:.2%} after" in text
    # the policy said is the one followed: fine-tuning keeps its last epoch, not the best dev one
    assert not result.config.keep_best and result.kept_epoch == len(result.history) == 5
    assert "kept its last epoch (5), as fine-tuning does" in text
    best = f"best at epoch {result.best_epoch}" if result.best_epoch != 5 else "also the best"
    assert best in text
    assert mnist_after > 0.9  # MNIST is not forgotten
    assert window.session.model is window.run.worker.result.model
    assert window.runs.in_use_run().model is window.session.model  # kept as a run
    assert window.session.meta["training"]["preset"] == "fine-tune"


def held_out_marks(window) -> int:
    """How many held-out drawings (*) the gallery marks as read right by the weights in use."""
    gallery = window.handwriting.gallery
    texts = [gallery.item(row).text() for row in range(gallery.count())]
    assert all(text.endswith((" ✓", " ✗")) for text in texts)
    return sum(text.endswith("* ✓") for text in texts)


def test_export_and_import_move_a_personal_set(window, tmp_path):
    rng = np.random.default_rng(2)
    for label in (1, 2):
        send_stroke(window.canvas, glyph(label, rng))
        window.label_drawing(label)
    assert window.handwriting.personal.export(tmp_path / "mine.zip") == 2
    other = PersonalSet(tmp_path / "elsewhere")
    assert other.import_from(tmp_path / "mine.zip") == (2, 0)
    assert other.import_from(tmp_path / "mine.zip") == (0, 2)  # nothing twice
    assert sorted(d.label for d in other.drawings()[0]) == [1, 2]


def damaged_zips(tmp_path, good: bytes) -> dict:
    def zip_of(**members) -> bytes:
        path = tmp_path / "z.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return path.read_bytes()

    drawing = json.loads(good)
    return {
        "not a zip": (b"hello", "not a zip"),
        "not JSON": (zip_of(good=good, bad=b"{oops"), "not valid JSON"),
        "other JSON": (zip_of(bad=b'{"format": "x"}'), "not an mnistpad drawing"),
        "label out of range": (zip_of(bad=json.dumps(drawing | {"label": 999})), "label"),
        "short image": (zip_of(bad=json.dumps(drawing | {"image": [0] * 10})), "784"),
        "grey level 300": (zip_of(bad=json.dumps(drawing | {"image": [300] * 784})), "784"),
        "NaN in strokes": (
            zip_of(bad=json.dumps(drawing).replace('"points": [[', '"points": [[NaN, ')),
            "strokes",
        ),
        "huge member": (zip_of(bad=b" " * (2 << 20)), "too large"),
    }


def test_hostile_imports_are_refused_whole_with_the_reason(window, tmp_path):
    send_stroke(window.canvas, glyph(4, np.random.default_rng(3)))
    window.label_drawing(4)
    good = next(window.handwriting.personal.folder.glob("*.json")).read_bytes()
    target = PersonalSet(tmp_path / "target")
    for name, (data, reason) in damaged_zips(tmp_path, good).items():
        (tmp_path / "in.zip").write_bytes(data)
        with pytest.raises(HandwritingError, match=reason):
            target.import_from(tmp_path / "in.zip")
        assert target.drawings()[0] == [], name  # nothing half-imported


def test_a_damaged_file_in_the_folder_is_skipped_and_named(window):
    send_stroke(window.canvas, glyph(5, np.random.default_rng(4)))
    window.label_drawing(5)
    (window.handwriting.personal.folder / "broken.json").write_text("{not json")
    window.handwriting.personal.reload()  # the folder is read once; this reads it again
    drawings, problems = window.handwriting.personal.drawings()
    assert len(drawings) == 1 and problems and "broken.json" in problems[0]
    window.handwriting.show_set(window.session.classes)
    assert "Unreadable, skipped: broken.json" in window.handwriting.counts.text()


def test_fine_tune_data_mixes_mnist_with_the_drawings_repeated(mnist, tmp_path):
    personal = PersonalSet(tmp_path / "p")
    for label in range(5):
        personal.add(np.full((28, 28), label / 10, np.float32), [], label, str(label))
    data = fine_tune_data(mnist, personal.drawings()[0])
    assert len(data.train_labels) == 10_000 + 2_000 * 5
    assert data.dev_images is mnist.dev_images and data.test_images is mnist.test_images
    with pytest.raises(HandwritingError, match="no drawings"):
        fine_tune_data(mnist, [])


def test_the_tabs_export_and_import_buttons_move_the_set(window, qtbot, dialogs, tmp_path):
    shown, answers = dialogs
    send_stroke(window.canvas, glyph(6, np.random.default_rng(5)))
    window.label_drawing(6)
    answers["save"] = str(tmp_path / "out.zip")
    assert window.handwriting.export_dialog()
    window.handwriting.personal = PersonalSet(tmp_path / "fresh")
    answers["open"] = str(tmp_path / "out.zip")
    with qtbot.waitSignal(window.handwriting.imported, timeout=10_000):
        assert window.handwriting.import_dialog()  # started in its own thread
    assert [d.label for d in window.handwriting.personal.drawings()[0]] == [6]
    assert window.handwriting.counts.text().startswith("1 drawing in ")  # the tab shows it
    assert window.handwriting.gallery.count() == 1
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    answers["open"] = str(tmp_path / "junk.zip")
    assert window.handwriting.import_dialog()
    qtbot.waitUntil(lambda: not window.handwriting.importing(), timeout=10_000)
    assert "not a zip" in shown["critical"][-1][1] and "unchanged" in shown["critical"][-1][1]
