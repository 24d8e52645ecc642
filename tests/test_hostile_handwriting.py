"""The personal handwriting set against hostile or broken input: imported zips whose ids leave the
folder, damaged or encrypted zips, named pipes and devices in the folder, imports too large for
memory (in points or in empty strokes), drawings that would be written larger than they can be
read, labels the weights do not have or name otherwise, a folder that cannot be used, names
written as HTML; and labelling that stays quick however many drawings there are. Anything that
could hang runs in a child process with a timeout, so a hang fails the test, not the suite."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import tracemalloc
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from gui_support import NAMES, circle
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtWidgets import QProgressDialog, QPushButton

import mnistpad.gui.handwriting_panel as panel_module
import mnistpad.handwriting as handwriting
from mnistpad.data import DIGITS
from mnistpad.gui.canvas import Stroke, send_stroke
from mnistpad.gui.dialogs import Folders
from mnistpad.gui.draw_pane import DrawPane
from mnistpad.gui.handwriting_panel import HandwritingPanel
from mnistpad.gui.window import DEFAULT_WEIGHTS
from mnistpad.handwriting import (
    MAX_FILE_BYTES,
    MAX_POINTS,
    MAX_STROKES,
    HandwritingError,
    ImportCancelled,
    PersonalSet,
    drawing_arrays,
    fine_tune_data,
)
from mnistpad.weights import load_weights, save_weights

HTML = "<img src=/nonexistent/x.png>"  # shown as HTML, Qt would try to load the image
ROOT = os.geteuid() == 0  # permissions do not stop root


def drawing_json(label: int = 1, ident: str | None = None, points: int = 3, **fields) -> str:
    data = {
        "format": "mnistpad-drawing",
        "version": 1,
        "id": uuid.uuid4().hex if ident is None else ident,
        "label": label,
        "name": str(label),
        "held_out": False,
        "created": "2024-01-01T00:00:00+00:00",
        "image": [0] * 392 + [255] * 392,
        "strokes": [{"width": 8, "points": [[1.5, 2.5, 1.0]] * points}],
    }
    return json.dumps(data | fields)


def zip_of(path: Path, members: dict, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def in_child(code: str, timeout: float = 30, memory: int | None = None) -> str:
    """Run `code` in a new Python; its output. A hang is killed and fails the test."""

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        preexec_fn=limit if memory else None,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- ids that would leave the folder ----------------------------------------------------------


@pytest.mark.parametrize(
    "ident", ["../../x", "ABS", "..", "a/b", "x\\y", "", "0" * 31 + "/", "A" * 32, "con"]
)
def test_ids_that_could_leave_the_folder_are_refused_whole(tmp_path, ident):
    ident = str(tmp_path / "abs") if ident == "ABS" else ident  # an absolute path
    folder = tmp_path / "a" / "b" / "handwriting"
    personal = PersonalSet(folder)
    zip_path = zip_of(
        tmp_path / "in.zip", {"good.json": drawing_json(), "bad.json": drawing_json(ident=ident)}
    )
    before = files_under(tmp_path)
    with pytest.raises(HandwritingError, match=r"bad\.json: the id must be 32 hexadecimal digits"):
        personal.import_from(zip_path)
    assert files_under(tmp_path) == before  # nothing written anywhere, not even the good one
    assert not Path(f"{tmp_path / 'abs'}.json").exists()
    assert personal.drawings() == ([], [])


def test_member_names_are_never_used_as_file_names(tmp_path):
    personal = PersonalSet(tmp_path / "deep" / "handwriting")
    ident = uuid.uuid4().hex
    zip_of(tmp_path / "in.zip", {"../../../evil.json": drawing_json(ident=ident)})
    assert personal.import_from(tmp_path / "in.zip") == (1, 0)
    assert files_under(tmp_path) == {
        tmp_path / "in.zip",
        tmp_path / "deep",
        personal.folder,
        personal.folder / f"{ident}.json",
    }


def test_ids_colliding_in_the_zip_are_refused_and_known_ids_are_not_replaced(tmp_path):
    personal = PersonalSet(tmp_path / "handwriting")
    ident = uuid.uuid4().hex
    twice = {"one.json": drawing_json(1, ident), "two.json": drawing_json(2, ident)}
    with pytest.raises(HandwritingError, match=r"two\.json: the same id as one\.json"):
        personal.import_from(zip_of(tmp_path / "twice.zip", twice))
    assert personal.drawings()[0] == [] and not personal.folder.exists()
    kept = personal.add(np.zeros((28, 28)), [], 3, "3")
    file = personal.folder / f"{kept.id}.json"
    mine = file.read_bytes()
    again = {"same.json": drawing_json(7, kept.id), "new.json": drawing_json(5)}
    assert personal.import_from(zip_of(tmp_path / "again.zip", again)) == (1, 1)
    assert file.read_bytes() == mine  # the drawing already here is kept as it was
    assert sorted(d.label for d in personal.drawings()[0]) == [3, 5]
    assert sorted(p.name for p in personal.folder.iterdir()) == sorted(
        f"{d.id}.json" for d in personal.drawings()[0]
    )


def test_a_file_whose_id_is_not_its_name_is_a_problem(tmp_path):
    folder = tmp_path / "handwriting"
    folder.mkdir()
    (folder / "copy.json").write_text(drawing_json())
    drawings, problems = PersonalSet(folder).drawings()
    assert drawings == [] and problems == ["copy.json: the id inside is not the file name"]


# -- named pipes, devices and damaged zips ----------------------------------------------------


def test_a_fifo_or_a_link_to_a_device_in_the_folder_is_a_problem_not_a_hang(tmp_path):
    folder = tmp_path / "handwriting"
    folder.mkdir()
    ident = uuid.uuid4().hex
    (folder / f"{ident}.json").write_text(drawing_json(4, ident))
    os.mkfifo(folder / "pipe.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    output = in_child(
        "import json; from mnistpad.handwriting import PersonalSet\n"
        f"drawings, problems = PersonalSet({str(folder)!r}).drawings()\n"
        "print(json.dumps([[d.label for d in drawings], problems]))",
        timeout=20,
    )
    labels, problems = json.loads(output)
    assert labels == [4]
    assert problems == [
        "pipe.json: cannot read (is a named pipe (FIFO), not a regular file)",
        "zero.json: cannot read (is a device, not a regular file)",
    ]


def test_a_fifo_as_the_zip_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "in.zip")
    output = in_child(
        "from mnistpad.handwriting import HandwritingError, PersonalSet\n"
        f"try: PersonalSet({str(tmp_path / 'h')!r}).import_from({str(tmp_path / 'in.zip')!r})\n"
        "except HandwritingError as error: print(error)",
        timeout=20,
    )
    assert "in.zip: cannot read (is a named pipe (FIFO), not a regular file)" in output


def patched(raw: bytes, method: int, flags: int = 0, size: int | None = None) -> bytes:
    """A zip of one member holding `raw` as its packed bytes, said to be packed with `method`
    (and `flags`, and `size` bytes unpacked) in both its local and its central header."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("member.json", raw)
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")
    for flag_at, size_at in ((6, 22), (central + 8, central + 24)):  # the method follows the flags
        struct.pack_into("<HH", data, flag_at, flags, method)
        if size is not None:
            struct.pack_into("<I", data, size_at, size)
    return bytes(data)


def damaged_zips() -> dict[str, tuple[bytes, str]]:
    good = drawing_json(points=200).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = packer.compress(good) + packer.flush()
    return {
        "truncated deflate": (patched(deflated[:100], 8, size=len(good)), "damaged"),
        "damaged deflate": (patched(b"\xff" * 100, 8), "damaged"),
        "encrypted": (patched(good, 0, flags=1), r"\(encrypted\)"),
        # bzip2 and LZMA could unpack a few bytes into gigabytes: refused unread
        "LZMA": (patched(b"\x09\x14\x05\x00" + b"\xff" * 100, 14), "method 14 not supported"),
        "BZIP2": (patched(b"BZh9" + b"\xff" * 100, 12), "method 12 not supported"),
        "method 99": (patched(good, 99), r"compression method 99 not supported"),
    }


@pytest.mark.parametrize("case", list(damaged_zips()))
def test_damaged_encrypted_and_unsupported_zips_are_refused_with_the_reason(tmp_path, case):
    data, reason = damaged_zips()[case]
    (tmp_path / "in.zip").write_bytes(data)
    personal = PersonalSet(tmp_path / "handwriting")
    with pytest.raises(
        HandwritingError, match=f"in.zip: cannot read member member.json .*{reason}"
    ):
        personal.import_from(tmp_path / "in.zip")
    assert not personal.folder.exists()


def test_bytes_flipped_anywhere_in_a_zip_give_a_handwriting_error_or_a_good_import(tmp_path):
    members = {f"{i}.json": drawing_json(i) for i in range(3)}
    good = zip_of(tmp_path / "good.zip", members).read_bytes()
    rng = np.random.default_rng(0)
    for trial in range(400):
        data = bytearray(good)
        for at in rng.integers(0, len(data), rng.integers(1, 5)):
            data[at] = rng.integers(0, 256)
        (tmp_path / "in.zip").write_bytes(data[: rng.integers(len(data) // 2, len(data) + 1)])
        personal = PersonalSet(tmp_path / f"h{trial}")
        try:
            personal.import_from(tmp_path / "in.zip")
        except HandwritingError:
            assert not personal.folder.exists()


# -- size limits --------------------------------------------------------------------------------


def test_an_import_over_the_point_budget_is_refused_in_bounded_memory(tmp_path):
    """1,000 drawings at the stroke-point limit (20 million points) took 4 GB and a minute;
    now the import stops at the budget, well under 1.5 GiB, having written nothing."""
    text = drawing_json(points=MAX_POINTS, ident="ID")
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(1000):
            z.writestr(f"{i}.json", text.replace('"ID"', f'"{uuid.uuid4().hex}"'))
    folder = tmp_path / "handwriting"
    output = in_child(
        "from mnistpad.handwriting import HandwritingError, PersonalSet\n"
        f"try: PersonalSet({str(folder)!r}).import_from({str(tmp_path / 'big.zip')!r})\n"
        "except HandwritingError as error: print(error)",
        timeout=60,
        memory=3 << 29,
    )
    assert "big.zip: more than 2,000,000 stroke points in all" in output
    assert not folder.exists()


def test_the_unpacked_size_and_the_number_of_files_are_checked_before_reading(
    tmp_path, monkeypatch
):
    reads = []
    read_member = handwriting._read_member
    monkeypatch.setattr(handwriting, "_read_member", lambda *a: reads.append(a) or read_member(*a))
    monkeypatch.setattr(handwriting, "MAX_IMPORT_UNPACKED", 3 << 20)
    members = {f"{i}.json": b" " * (1 << 20) for i in range(4)}
    with pytest.raises(HandwritingError, match="4,194,304 bytes unpacked, over the limit"):
        PersonalSet(tmp_path / "h").import_from(zip_of(tmp_path / "big.zip", members))
    monkeypatch.setattr(handwriting, "MAX_IMPORT_FILES", 3)
    members = {f"{i}.json": drawing_json() for i in range(4)}
    with pytest.raises(HandwritingError, match="more than 3 files"):
        PersonalSet(tmp_path / "h").import_from(zip_of(tmp_path / "many.zip", members))
    assert reads == []
    with pytest.raises(HandwritingError, match="more than 20,000 stroke points"):
        PersonalSet(tmp_path / "h").add(
            np.zeros((28, 28)), [{"width": 8, "points": [[1, 2, 1]] * 20_001}], 1, "1"
        )


def stroke_bomb(path: Path, drawings: int, strokes: int | None = None) -> Path:
    """The zip of the attack: drawings of nothing but empty strokes, as many as fit in a drawing's
    file (43,620), within the limits on files, unpacked bytes and points. 1,024 of them (a 2.9 MB
    zip) took about 23 GB to import."""
    head = json.dumps(json.loads(drawing_json(ident="f" * 32, points=0)) | {"strokes": []})
    if strokes is None:
        strokes = (MAX_FILE_BYTES - len(head)) // len('{"width":8,"points":[]},')
    empty = ",".join(['{"width":8,"points":[]}'] * strokes)
    text = head.replace('"strokes": []', f'"strokes": [{empty}]')
    assert len(text) <= MAX_FILE_BYTES
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(drawings):
            archive.writestr(f"{i}.json", text.replace("f" * 32, uuid.uuid4().hex))
    return path


def test_empty_strokes_count_and_a_stroke_bomb_is_refused_in_bounded_memory(tmp_path):
    """Each drawing is refused before one of its strokes is parsed: the import allocates at most
    what parsing one drawing's file takes (about 11 MB), where 16 such drawings took 350 MB."""
    personal = PersonalSet(tmp_path / "handwriting")
    bomb = stroke_bomb(tmp_path / "bomb.zip", drawings=16)
    tracemalloc.start()
    try:
        with pytest.raises(HandwritingError, match=r"bomb.zip: 0.json: more than 1,000 strokes$"):
            personal.import_from(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"{peak:,} bytes"
    assert not personal.folder.exists()
    # Strokes count for the whole import too: 201 drawings of 1,000 empty strokes are refused
    many = stroke_bomb(tmp_path / "many.zip", drawings=201, strokes=MAX_STROKES)
    with pytest.raises(HandwritingError, match=r"many.zip: more than 200,000 strokes in all$"):
        personal.import_from(many)
    assert not personal.folder.exists()
    # and when labelling, and in a file put in the folder by hand
    with pytest.raises(HandwritingError, match="the drawing: more than 1,000 strokes"):
        personal.add(np.zeros((28, 28)), [{"width": 8, "points": []}] * 1001, 1, "1")
    personal.folder.mkdir()
    ident = uuid.uuid4().hex
    with zipfile.ZipFile(bomb) as archive:
        text = archive.read("0.json").decode()
    (personal.folder / f"{ident}.json").write_text(text.replace(json.loads(text)["id"], ident))
    assert PersonalSet(personal.folder).drawings() == (
        [],
        [f"{ident}.json: more than 1,000 strokes"],
    )


# -- writing only what can be read back ---------------------------------------------------------


def test_an_import_writes_no_drawing_it_could_not_read_back(tmp_path):
    """Numbers are written back as floats: "9e15" (4 bytes) as "9000000000000000.0" (18), so a
    drawing accepted at 341 KB was written at 1.16 MB, over the 1 MiB the reader takes, and was
    refused at the next start. Now the import is refused, naming the drawing, and adds nothing."""
    points = ",".join(["[9e15,9e15,9e15]"] * MAX_POINTS)
    grows = drawing_json(points=1).replace("[[1.5, 2.5, 1.0]]", f"[{points}]")
    assert len(grows) < 400_000
    zip_of(tmp_path / "in.zip", {"good.json": drawing_json(3), "grows.json": grows})
    personal = PersonalSet(tmp_path / "handwriting")
    with pytest.raises(
        HandwritingError,
        match=r"in.zip: grows.json: would be written as 1,1\d\d,\d\d\d bytes, over the 1,048,576",
    ):
        personal.import_from(tmp_path / "in.zip")
    assert list(personal.folder.iterdir()) == [] and personal.drawings() == ([], [])
    # the same file put in the folder by hand is read, but relabelling it is refused, not lossy
    ident = json.loads(grows)["id"]
    (personal.folder / f"{ident}.json").write_text(grows)
    personal.reload()
    (drawing,), _ = personal.drawings()
    with pytest.raises(HandwritingError, match="the relabelled drawing: would be written as"):
        personal.relabel(drawing, 2, "2")
    assert (personal.folder / f"{ident}.json").read_text() == grows
    assert PersonalSet(personal.folder).drawings()[1] == []
    # what is written is read back as it was
    good = PersonalSet(tmp_path / "good")
    assert good.import_from(zip_of(tmp_path / "good.zip", {"g.json": drawing_json(3)})) == (1, 0)
    (kept,), problems = PersonalSet(good.folder).drawings()
    assert problems == [] and kept.label == 3 and kept.strokes[0]["points"].shape == (3, 3)


def test_a_drawing_of_as_many_points_as_allowed_from_the_canvas_is_kept_and_read_back(
    qtbot, tmp_path
):
    """Pen pressures and positions written in full took up to 56 bytes a point: a long tablet
    drawing was written larger than a drawing's file may be, and lost at the next start."""
    pane = DrawPane()
    qtbot.addWidget(pane)
    rng = np.random.default_rng(0)
    xy, pressures = rng.uniform(0, 280, (MAX_POINTS, 2)), rng.uniform(0.2, 1, MAX_POINTS)
    pane.canvas.strokes = [Stroke(22.0, [QPointF(x, y) for x, y in xy], pressures.tolist())]
    personal = PersonalSet(tmp_path / "handwriting")
    kept = personal.add(np.zeros((28, 28)), pane.strokes(), 1, "1")
    (again,), problems = PersonalSet(personal.folder).drawings()
    assert problems == [] and np.array_equal(again.strokes[0]["points"], kept.strokes[0]["points"])
    assert np.abs(kept.strokes[0]["points"][:, :2] - xy).max() <= 0.005


# -- labelling stays quick ----------------------------------------------------------------------


def write_drawings(folder: Path, n: int) -> None:
    """n drawings of classes 0-9 (200 each for 2,000), written directly: fast."""
    folder.mkdir(parents=True)
    text = drawing_json(ident="ID", points=50, created="CREATED", label=99)
    for i in range(n):
        ident = uuid.uuid4().hex
        data = text.replace('"ID"', f'"{ident}"').replace('"label": 99', f'"label": {i % 10}')
        data = data.replace('"name": "99"', f'"name": "{i % 10}"')
        (folder / f"{ident}.json").write_text(data.replace("CREATED", f"2024-01-01 {i:06d}"))


def test_labelling_reads_no_other_drawing_however_many_there_are(tmp_path, monkeypatch, qtbot):
    write_drawings(tmp_path / "handwriting", 2000)
    personal = PersonalSet(tmp_path / "handwriting")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel = HandwritingPanel(personal, Folders(settings))
    qtbot.addWidget(panel)
    panel.show_set([str(i) for i in range(10)])  # the folder is read once, here
    assert panel.gallery.count() == 2000
    reads, icons = [], []
    read_regular = handwriting.read_regular
    monkeypatch.setattr(handwriting, "read_regular", lambda *a: reads.append(a) or read_regular(*a))
    digit_icon = panel_module.digit_icon
    monkeypatch.setattr(panel_module, "digit_icon", lambda *a: icons.append(a) or digit_icon(*a))
    newest = panel.gallery.item(0)
    kept = []
    for _ in range(5):
        drawing = personal.add(
            np.zeros((28, 28)), [{"width": 8, "points": [[1.0, 2.0, 1.0]]}], 3, "3"
        )
        panel.add_drawing(drawing)
        kept.append(drawing)
    assert reads == [] and len(icons) == 5  # no file read, one gallery item made per drawing
    assert panel.gallery.count() == 2005 and panel.gallery.item(5) is newest
    assert panel.gallery.item(0).data(Qt.ItemDataRole.UserRole) == kept[-1].id
    assert [d.held_out for d in kept] == [False] * 4 + [True]  # the 205th drawing of class 3
    assert personal.counts()[(3, "3", False)] == 204 and personal.counts()[(3, "3", True)] == 1
    assert panel.counts.text().startswith("2005 drawings in ")
    assert "3: 204+1" in panel.counts.text()
    panel.remove_drawing(kept[-1])
    assert panel.gallery.count() == 2004 and personal.counts()[(3, "3", True)] == 0
    assert not (personal.folder / f"{kept[-1].id}.json").exists() and reads == []
    # the folder holds what the index says
    assert len(PersonalSet(personal.folder).drawings()[0]) == 2004


# -- labels the weights do not have ---------------------------------------------------------------


def test_labels_the_weights_do_not_have_are_refused_at_import(tmp_path):
    personal = PersonalSet(tmp_path / "handwriting")
    members = {"ok.json": drawing_json(2, name="c"), "stray.json": drawing_json(5)}
    with pytest.raises(
        HandwritingError, match=r"stray.json: label 5 is not a class of the weights in use \(they"
    ):
        personal.import_from(zip_of(tmp_path / "in.zip", members), classes=["a", "b", "c"])
    assert not personal.folder.exists()
    members = {"ok.json": drawing_json(2), "stray.json": drawing_json(5)}
    assert personal.import_from(zip_of(tmp_path / "in.zip", members), classes=DIGITS) == (2, 0)


def test_a_drawing_whose_name_is_not_its_class_is_refused_at_import(tmp_path):
    """A drawing named "7" with label 1 was accepted, and counted and learnt as a 1."""
    personal = PersonalSet(tmp_path / "handwriting")
    members = {"one.json": drawing_json(1), "seven.json": drawing_json(1, name="7")}
    zip_of(tmp_path / "in.zip", members)
    with pytest.raises(
        HandwritingError,
        match=r"seven.json: labelled 1 as '7', but class 1 of the weights in use is '1'$",
    ):
        personal.import_from(tmp_path / "in.zip", classes=DIGITS)
    assert not personal.folder.exists()
    assert personal.import_from(tmp_path / "in.zip") == (2, 0)  # no classes to match: kept as is


def test_drawings_of_other_classes_are_not_counted_or_learnt_as_the_label_they_share(
    window, dialogs, mnist, tmp_path
):
    """Drawings labelled "banana" (label 1) under fruit weights showed as "banana: 1" beside the
    digits' counts, and fine-tuning learnt them as the digit 1."""
    default = load_weights(DEFAULT_WEIGHTS)
    fruit = save_weights(tmp_path / "fruit.npz", default.model, {**default.meta, "classes": NAMES})
    assert window.files.open_weights(fruit)
    for _ in range(2):
        send_stroke(window.canvas, circle())
        assert window.label_drawing(1)  # key 1: a banana
    panel = window.handwriting
    assert "banana: 2+0" in panel.counts.text() and panel.fine_tune.isEnabled()
    window.files.use_default_weights()  # the digits
    text = panel.counts.text()
    assert text.startswith("2 drawings in ") and "1: " not in text and "banana" not in text
    assert "2 of classes the weights in use do not have, left out" in text
    assert not panel.fine_tune.isEnabled()
    shown = panel.gallery.item(0).toolTip().replace("\xa0", " ")  # tooltips keep their spaces
    assert "not a class of the weights in use" in shown
    bananas = panel.personal.drawings()[0]
    with pytest.raises(HandwritingError, match="none of your drawings is of one of the 10 classes"):
        fine_tune_data(mnist, bananas)
    send_stroke(window.canvas, circle())
    assert window.label_drawing(1)  # a real 1
    assert "(to learn from + held out: 1: 1+0);" in panel.counts.text()
    assert panel.fine_tune.isEnabled()
    drawings = panel.personal.drawings()[0]
    images, labels = drawing_arrays(drawings, held_out=False, classes=DIGITS)
    assert labels.tolist() == [1] and np.array_equal(images[0], drawings[-1].image.reshape(-1))
    data = fine_tune_data(mnist, drawings)
    assert len(data.train_labels) == 10_000 + 10_000  # the one 1, repeated: no banana among them
    panel.gallery.selectAll()  # "Label as 1" makes the bananas ones (they have that label already)
    panel.relabel_selected(1)
    assert "(to learn from + held out: 1: 3+0)" in panel.counts.text()
    assert "left out" not in panel.counts.text()


def test_fine_tune_data_leaves_out_drawings_of_classes_the_data_lacks(tiny, tmp_path):
    personal = PersonalSet(tmp_path / "handwriting")
    for label in (0, 1, 2, 12, 200):
        personal.add(np.full((28, 28), 0.5), [], label, str(label))
    data = fine_tune_data(tiny, personal.drawings()[0])
    assert data.train_labels.max() <= 9 and (data.train_labels[600:] <= 2).all()
    strays = [d for d in personal.drawings()[0] if d.label >= 10]
    with pytest.raises(HandwritingError, match="none of your drawings is of one of the 10 classes"):
        fine_tune_data(tiny, strays)


# -- a folder that cannot be used ---------------------------------------------------------------


def test_a_folder_that_is_a_file_is_named_when_labelling_listing_and_exporting(tmp_path):
    folder = tmp_path / "handwriting"
    folder.write_text("not a folder")
    personal = PersonalSet(folder)
    with pytest.raises(HandwritingError) as caught:
        personal.add(np.zeros((28, 28)), [], 1, "1")
    assert str(caught.value) == f"cannot keep the drawing in {folder}: it is a file, not a folder"
    assert personal.drawings() == (
        [],
        [f"{folder}: cannot read the folder (it is a file, not a folder)"],
    )
    with pytest.raises(HandwritingError, match=f"cannot read the folder {folder}: it is a file"):
        personal.export(tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_a_folder_under_a_file_names_that_file(tmp_path):
    (tmp_path / "data").write_text("a file")
    folder = tmp_path / "data" / "mnistpad" / "handwriting"
    personal = PersonalSet(folder)
    with pytest.raises(HandwritingError) as caught:
        personal.add(np.zeros((28, 28)), [], 1, "1")
    expected = f"cannot keep the drawing in {folder}: {tmp_path / 'data'} is a file"
    assert str(caught.value) == expected
    assert personal.problems() == [
        f"{folder}: cannot read the folder ({tmp_path / 'data'} is a file)"
    ]


@pytest.mark.skipif(ROOT, reason="permissions do not stop root")
def test_an_unreadable_or_unwritable_folder_is_named(tmp_path):
    folder = tmp_path / "handwriting"
    folder.mkdir()
    folder.chmod(0o500)  # readable, not writable
    try:
        with pytest.raises(HandwritingError, match=f"in {folder}: permission denied"):
            PersonalSet(folder).add(np.zeros((28, 28)), [], 1, "1")
        folder.chmod(0o000)
        personal = PersonalSet(folder)
        assert personal.problems() == [f"{folder}: cannot read the folder (permission denied)"]
        with pytest.raises(HandwritingError, match="permission denied"):
            personal.export(tmp_path / "out.zip")
    finally:
        folder.chmod(0o700)


def test_an_import_that_cannot_write_is_undone(tmp_path, monkeypatch):
    personal = PersonalSet(tmp_path / "handwriting")
    members = {f"{i}.json": drawing_json(i) for i in range(5)}
    zip_of(tmp_path / "in.zip", members)
    write = PersonalSet._write
    written = []

    def fail_third(self, drawing, source):
        if len(written) == 2:
            raise HandwritingError("disk full")
        write(self, drawing, source)
        written.append(drawing)

    monkeypatch.setattr(PersonalSet, "_write", fail_third)
    with pytest.raises(HandwritingError, match="disk full"):
        personal.import_from(tmp_path / "in.zip")
    assert list(personal.folder.iterdir()) == [] and personal.drawings()[0] == []


def test_a_cancelled_import_adds_nothing(tmp_path):
    members = {f"{i}.json": drawing_json(i) for i in range(5)}
    zip_of(tmp_path / "in.zip", members)
    personal = PersonalSet(tmp_path / "handwriting")
    for stop_at in (2, 7):  # while checking, then while writing
        calls = []

        def progress(done: int, total: int, calls=calls, stop_at=stop_at) -> bool:
            calls.append(done)
            return done < stop_at

        with pytest.raises(ImportCancelled, match="nothing was added"):
            personal.import_from(tmp_path / "in.zip", None, progress)
        assert calls[-1] == stop_at
        assert not any(personal.folder.glob("*.json")) and personal.drawings()[0] == []
    seen = []
    added = personal.import_from(tmp_path / "in.zip", None, lambda *a: seen.append(a) or True)
    assert added == (5, 0)
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)


# -- the window's tab -----------------------------------------------------------------------------


def test_the_import_runs_in_a_thread_with_a_progress_dialog(
    window, dialogs, qtbot, tmp_path, monkeypatch
):
    source = PersonalSet(tmp_path / "source")
    for label in (1, 2, 3):
        source.add(np.full((28, 28), 0.3), [], label, str(label))
    source.export(tmp_path / "mine.zip")
    threads = []
    import_from = PersonalSet.import_from

    def recorded(self, *args):
        threads.append(threading.current_thread())
        return import_from(self, *args)

    monkeypatch.setattr(PersonalSet, "import_from", recorded)
    panel = window.handwriting
    messages = []
    panel.message.connect(messages.append)
    shown, answers = dialogs
    answers["open"] = str(tmp_path / "mine.zip")
    with qtbot.waitSignal(panel.imported, timeout=10_000):
        assert panel.import_dialog()
        assert isinstance(panel.progress, QProgressDialog) and panel.importing()
        assert not panel.import_button.isEnabled()
    assert threads and threads[0] is not threading.main_thread()
    assert panel.progress is None and not panel.importing() and panel.import_button.isEnabled()
    assert panel.gallery.count() == 3 and panel.counts.text().startswith("3 drawings in ")
    assert messages[-1] == "Imported 3 drawings (0 were already here)."
    assert shown["critical"] == []


def test_cancelling_the_progress_dialog_adds_nothing(window, dialogs, qtbot, tmp_path, monkeypatch):
    zip_of(tmp_path / "in.zip", {f"{i}.json": drawing_json(i) for i in range(5)})
    go = threading.Event()
    import_from = PersonalSet.import_from

    def held(self, *args):
        assert go.wait(10)
        return import_from(self, *args)

    monkeypatch.setattr(PersonalSet, "import_from", held)
    panel = window.handwriting
    messages = []
    panel.message.connect(messages.append)
    _, answers = dialogs
    answers["open"] = str(tmp_path / "in.zip")
    assert panel.import_dialog()
    panel.progress.findChild(QPushButton).click()  # the person presses Cancel
    go.set()
    qtbot.waitUntil(lambda: not panel.importing(), timeout=10_000)
    assert messages[-1] == "Import cancelled: nothing was added."
    assert window.handwriting.personal.drawings()[0] == [] and panel.gallery.count() == 0


def test_names_from_outside_are_shown_as_plain_text(window, dialogs, qtbot, tmp_path):
    folder = window.handwriting.personal.folder
    folder.mkdir()
    ident = uuid.uuid4().hex
    (folder / f"{ident}.json").write_text(drawing_json(1, ident, name=HTML))
    (folder / f"{HTML.replace('/', '_')}.json").write_text("{broken")
    window.handwriting.personal = PersonalSet(folder)
    panel = window.handwriting
    panel.show_set(["zero", HTML])
    for label in (panel.counts, panel.result):
        assert label.textFormat() == Qt.TextFormat.PlainText
    text = panel.counts.text()
    assert f"{HTML}: 1+0" in text and "Unreadable, skipped: <img src=_nonexistent_x.png>" in text
    item = panel.gallery.item(0)
    assert item.text() == HTML
    assert "<img" not in item.toolTip() and "&lt;img" in item.toolTip()
    # an import naming a member as HTML: the message box shows it as plain text
    zip_of(tmp_path / "in.zip", {f"{HTML}.json": b"{oops"})
    shown, answers = dialogs
    answers["open"] = str(tmp_path / "in.zip")
    assert panel.import_dialog()
    qtbot.waitUntil(lambda: not panel.importing(), timeout=10_000)
    title, message = shown["critical"][-1]  # the fixture checks the box is plain text
    assert title == "Cannot import" and f"{HTML}.json: not valid JSON" in message
